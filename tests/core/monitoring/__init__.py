"""Tests of credit_assets/core/monitoring."""
