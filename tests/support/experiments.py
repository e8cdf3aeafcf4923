"""Shared pieces of the experiment tests: the gates a challenger must have passed, and the
report materialized for an experiment in a real (in-process) Dagster run."""

from __future__ import annotations

from typing import Any

import dagster as dg

from credit_assets.core.platform.experiments import COMPLIANCE_GATES
from credit_assets.core.promotion.verdicts import QUALITY, Gate, decide
from credit_assets.defs.common.resources import PlatformResource

COMPLIANT = [Gate(name, True, "ok") for name in COMPLIANCE_GATES]


def held_back_decision(gates: list[Gate] | None = None) -> dict[str, Any]:
    """A promotion decision that passed `gates` (default: every compliance gate) and failed
    the quality gate: a challenger an experiment may test."""
    return decide([*(gates or COMPLIANT), Gate(QUALITY, False, "AUC lower by 0.02")]).to_dict()


def materialize_report(instance: dg.DagsterInstance, experiment_id: str) -> Any:
    """`experiment_report` for one experiment; its materialization's metadata."""
    from credit_assets.defs.monitoring.experiments import experiment_report

    instance.add_dynamic_partitions("experiments", [experiment_id])
    run = dg.materialize(
        [experiment_report],
        partition_key=experiment_id,
        instance=instance,
        resources={"platform": PlatformResource()},
    )
    assert run.success
    [materialization] = run.asset_materializations_for_node("experiment_report")
    return materialization.metadata
