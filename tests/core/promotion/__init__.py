"""Tests of credit_assets/core/promotion."""
