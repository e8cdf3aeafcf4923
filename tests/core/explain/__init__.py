"""Tests of credit_assets/core/explain."""
