"""Tests of credit_assets/core/ingestion."""
