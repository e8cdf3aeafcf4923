"""Tests of credit_assets/core/features."""
