"""Tests of scoring_api: real HTTP against the scoring service."""
