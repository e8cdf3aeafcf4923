"""The experiment guardrails: a sensor that stops a running experiment by itself.

Every minute it judges the running experiment, if any: `--max-days` or `--max-decisions`
reached, or the challenger arm outside its bounds against the champion arm over the
rolling window (approval rate, mean PD, worst adverse impact ratio on the protected
attributes the platform holds for the borrowers decided). A stop is recorded on the
experiment (by `experiment_guardrail_sensor`, with the reason) and as an alert; the API
sends everyone to the champion from its next model poll.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl

from credit_assets.core.contracts import Role
from credit_assets.core.ingestion.landing import scan_source
from credit_assets.core.monitoring.experiments import (
    GuardrailBounds,
    arm_summaries,
    guardrail_breaches,
)
from credit_assets.core.platform.alerts import record_alert
from credit_assets.core.platform.experiments import (
    decisions_by_arm,
    limit_reached,
    running_experiment,
    stop_experiment,
    window_decisions,
)
from credit_assets.defs.common.resources import PlatformResource

GUARDRAIL = "experiment_guardrail_sensor"


def protected_attributes(platform: PlatformResource) -> pl.DataFrame | None:
    """borrower_id and every protected attribute the platform's sources hold (latest row)."""
    frames = []
    for contract in platform.contracts().values():
        protected = [c.name for c in contract.columns_with(Role.PROTECTED)]
        borrower = contract.borrower_column
        if not protected or borrower is None:
            continue
        frame = (
            scan_source(platform.store, contract)
            .select(pl.col(borrower).cast(pl.String).alias("borrower_id"), *protected)
            .unique("borrower_id", keep="last")
            .collect()
        )
        frames.append(frame)
    if not frames:
        return None
    merged = frames[0]
    for frame in frames[1:]:
        merged = merged.join(frame, on="borrower_id", how="full", coalesce=True)
    return merged


def judge_running_experiment(platform: PlatformResource) -> str:
    """Stop the running experiment if a limit or a guardrail says so; what was decided."""
    engine, settings = platform.engine, platform.settings
    experiment = running_experiment(engine)
    if experiment is None:
        return "no experiment is running"
    decided = sum(decisions_by_arm(engine, experiment.experiment_id).values())
    reason = limit_reached(experiment, decided)
    summaries = None
    if reason is None:
        now = datetime.now(UTC).replace(tzinfo=None)
        since = max(experiment.started_at, now - timedelta(hours=settings.experiment_window_hours))
        summaries = arm_summaries(
            window_decisions(engine, experiment.experiment_id, since),
            cutoff=settings.approval_cutoff_score,
            protected=protected_attributes(platform),
            min_group_size=settings.fairness_min_group_size,
        )
        bounds = GuardrailBounds(
            min_decisions=settings.experiment_min_decisions,
            max_approval_gap=settings.experiment_max_approval_gap,
            max_pd_gap=settings.experiment_max_pd_gap,
            max_air_drop=settings.experiment_max_air_drop,
            min_air=settings.min_adverse_impact_ratio,
            min_group_size=settings.fairness_min_group_size,
        )
        breaches = guardrail_breaches(summaries, bounds)
        if breaches:
            reason = "guardrail: " + "; ".join(breaches)
    if reason is None:
        return f"experiment {experiment.experiment_id} within its guardrails ({decided} decisions)"
    stopped = stop_experiment(
        engine, stopped_by=GUARDRAIL, reason=reason, experiment_id=experiment.experiment_id
    )
    record_alert(
        engine,
        "experiment_stopped",
        f"experiment {stopped.experiment_id} stopped: {reason}",
        None,
        {
            "experiment_id": stopped.experiment_id,
            "challenger": stopped.challenger_version,
            "arms": {arm: s.as_dict() for arm, s in (summaries or {}).items()},
        },
        webhook_url=settings.alert_webhook_url,
    )
    return f"stopped experiment {stopped.experiment_id}: {reason}"


@dg.sensor(
    name=GUARDRAIL,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Stops the running champion/challenger experiment when --max-days or "
    "--max-decisions is reached, or when the challenger arm's approval rate, mean PD or "
    "worst adverse impact ratio leaves its bounds against the champion arm over "
    "CREDIT_EXPERIMENT_WINDOW_HOURS (CREDIT_EXPERIMENT_MAX_APPROVAL_GAP, _MAX_PD_GAP, "
    "_MAX_AIR_DROP). The stop is recorded with its reason and raised as an alert.",
)
def experiment_guardrail_sensor(context: dg.SensorEvaluationContext, platform: PlatformResource):
    outcome = judge_running_experiment(platform)
    if outcome.startswith("stopped"):
        context.log.warning(outcome)
    return dg.SkipReason(outcome)
