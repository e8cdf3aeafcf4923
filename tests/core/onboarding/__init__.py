"""Tests of credit_assets/core/onboarding."""
