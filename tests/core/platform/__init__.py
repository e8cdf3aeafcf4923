"""Tests of credit_assets/core/platform."""
