"""A promotion gate as an asset check.

A gate's check never blocks: a gate that says no is an outcome. The check shows
red (ERROR) in the UI when a deciding gate fails, yellow (WARN) when an advisory
gate fails or a gate could not be assessed, and `champion_model` holds the
challenger back from the same verdicts (`credit_assets.core.promotion`).
"""

from typing import Any

import dagster as dg

from credit_assets.core.promotion import Gate


def gate_check_spec(name: str, asset: str, description: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name, asset=asset, blocking=False, description=description)


def gate_check_result(
    gate: Gate, check_name: str | None = None, **metadata: Any
) -> dg.AssetCheckResult:
    """The check result of one gate: its verdict, figure, threshold and detail."""
    severity = (
        dg.AssetCheckSeverity.ERROR
        if gate.deciding and gate.assessed
        else dg.AssetCheckSeverity.WARN
    )
    return dg.AssetCheckResult(
        check_name=check_name or gate.name,
        passed=gate.passed and gate.assessed,
        severity=severity,
        description=gate.detail,
        metadata={
            "verdict": gate.verdict,
            "deciding": gate.deciding,
            "figure": gate.figure,
            "threshold": gate.threshold,
            "detail": gate.detail,
            **metadata,
        },
    )
