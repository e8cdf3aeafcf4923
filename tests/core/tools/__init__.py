"""Tests of credit_assets/core/tools."""
