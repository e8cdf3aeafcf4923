"""Tests of credit_assets/core: the domain, no Dagster."""
