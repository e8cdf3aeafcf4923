"""Tests of credit_assets/core/compliance."""
