"""Tests of credit_assets/core/scoring."""
