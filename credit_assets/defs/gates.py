"""Promotion gates as asset checks, and the evidence `champion_model` decides on.

A gate's check never blocks: a gate that says no is an outcome. The check shows
red (ERROR) in the UI when a deciding gate fails, yellow (WARN) when an advisory
gate fails or a gate could not be assessed, and `champion_model` holds the
challenger back from the same verdicts (`credit_assets.core.promotion`).
"""

import json
from typing import Any

import dagster as dg

from credit_assets.core.promotion import Gate
from credit_assets.defs.resources import PlatformResource


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


def report_key(kind: str, version: str, extension: str = "json") -> str:
    """Where a report of a model version is stored: `reports/<kind>/<version>.<ext>`."""
    return f"reports/{kind}/{version}.{extension}"


def read_report(platform: PlatformResource, kind: str, version: str) -> dict[str, Any] | None:
    key = report_key(kind, version)
    store = platform.store
    return json.loads(store.get_bytes(key)) if store.exists(key) else None


def write_report(platform: PlatformResource, kind: str, version: str, payload: dict) -> str:
    return platform.store.put_bytes(
        report_key(kind, version), json.dumps(payload, indent=2, default=str).encode()
    )
