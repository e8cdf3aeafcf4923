"""Tests of credit_assets/defs and orchestration: the asset graph, real Dagster runs."""
