"""Tests of credit_assets/core/contracts."""
