"""When an experiment's report is due: one rule for the daemon and for the command line.

`experiment_report` has one partition per experiment. The guardrail sensor (with the daemon)
and `credit-platform materialize` / `experiment report` (without it) add those partitions and
measure the reports that are due by the same rule (`report_due`): while an experiment runs,
always (the sensor asks once a day, by its run key); once it has stopped, until a report has
measured it stopped, and again whenever outcomes were ingested after its newest report
(outcomes mature months after the decisions, long after a stop).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import dagster as dg

from credit_assets.core.contracts import Contract, SourceKind
from credit_assets.core.platform.experiments import RUNNING, STOPPED, Experiment
from credit_assets.defs.common.resources import PlatformResource

EXPERIMENTS = dg.DynamicPartitionsDefinition(name="experiments")
EXPERIMENT_REPORT = dg.AssetKey("experiment_report")


@dataclass(frozen=True)
class MeasuredReport:
    """The newest `experiment_report` of one experiment: when, and what it recommended."""

    measured_at: float  # the materialization's timestamp (seconds since the epoch)
    status: str  # the experiment's status when it was measured (running or stopped)
    recommendation: str | None
    reason: str | None
    html: str | None


def report_due(
    experiment: Experiment, newest: MeasuredReport | None, outcomes_at: float | None
) -> bool:
    """Whether `experiment`'s report should be measured (again), given its `newest` report
    and when outcomes were last ingested (`outcomes_at`, None if never)."""
    if experiment.status == RUNNING:
        return True
    if newest is None or newest.status != STOPPED:
        return True  # no report since the stop: the final figures are still to be measured
    return outcomes_at is not None and outcomes_at > newest.measured_at


def outcomes_contracts(platform: PlatformResource) -> list[Contract]:
    return [c for c in platform.contracts().values() if c.kind is SourceKind.OUTCOMES]


def outcomes_ingested_at(instance: dg.DagsterInstance, platform: PlatformResource) -> float | None:
    """When outcomes were last ingested: the newest materialization of an outcomes source."""
    stamps = [
        event.timestamp
        for contract in outcomes_contracts(platform)
        if (event := instance.get_latest_materialization_event(dg.AssetKey(contract.asset_name)))
    ]
    return max(stamps) if stamps else None


def newest_report(instance: dg.DagsterInstance, experiment_id: str) -> MeasuredReport | None:
    """The newest `experiment_report` materialization of the experiment, or None."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=EXPERIMENT_REPORT, asset_partitions=[experiment_id]),
        limit=1,
    ).records
    materialization = records[0].asset_materialization if records else None
    if materialization is None:
        return None
    metadata = {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}

    def text(name: str) -> str | None:
        value = metadata.get(name)
        return None if value is None else str(value)

    return MeasuredReport(
        measured_at=records[0].timestamp,
        status=text("status") or RUNNING,
        recommendation=text("recommendation"),
        reason=text("reason"),
        html=text("html"),
    )


def reports_due(
    instance: dg.DagsterInstance, platform: PlatformResource, experiments: Iterable[Experiment]
) -> list[Experiment]:
    """The experiments whose report is due (`report_due`), in the order given."""
    outcomes_at = outcomes_ingested_at(instance, platform)
    return [
        e
        for e in experiments
        if report_due(e, newest_report(instance, e.experiment_id), outcomes_at)
    ]
