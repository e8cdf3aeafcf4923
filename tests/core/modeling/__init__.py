"""Tests of credit_assets/core/modeling."""
