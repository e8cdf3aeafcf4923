"""Declarative automation: assets with an automation condition refresh themselves.

Explicitly running (not left to the deployment's default) so `make demo`'s daemon
evaluates `quarantine`, `online_features`, `performance_report` and `batch_scores`.
"""

import dagster as dg

automation_condition_sensor = dg.AutomationConditionSensorDefinition(
    "automation_condition_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Evaluates every asset's automation condition (eager refresh on upstream change).",
)
