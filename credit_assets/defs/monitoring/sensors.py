"""Automation for monitoring: the daily drift report, retrain on drift, alerts on failures."""

import dagster as dg

from credit_assets.core.platform.alerts import record_alert
from credit_assets.core.platform.db import migrated_engine
from credit_assets.core.platform.settings import get_settings
from credit_assets.defs.common.partitions import DAILY

RETRAIN_JOB = "retrain_job"  # defined by the modeling layer; targeted by name

drift_job = dg.define_asset_job(
    name="drift_job",
    selection=dg.AssetSelection.assets("drift_report"),
    partitions_def=DAILY,
    description="Drift of one day's decisions against the champion's training baseline.",
)

daily_drift_report = dg.build_schedule_from_partitioned_job(
    drift_job, hour_of_day=0, minute_of_hour=15, default_status=dg.DefaultScheduleStatus.RUNNING
)


@dg.asset_sensor(
    asset_key=dg.AssetKey("drift_report"),
    job_name=RETRAIN_JOB,
    name="drift_retrain_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A drift report that comes out significant (a red score PSI or feature CSI) "
    "requests a run that retrains and re-evaluates the modeling group.",
)
def drift_retrain_sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
    materialization = asset_event.asset_materialization
    metadata = materialization.metadata if materialization else {}
    significant = metadata.get("significant")
    if significant is None or not significant.value:
        return dg.SkipReason("latest drift report shows no significant drift")
    psi = metadata.get("score_psi")
    return dg.RunRequest(
        run_key=f"retrain-after-drift-{asset_event.run_id}-{materialization.partition}",
        tags={
            "credit/trigger": "drift",
            "credit/drift_partition": str(materialization.partition),
            "credit/score_psi": f"{psi.value:.4f}" if psi else "n/a",
        },
    )


@dg.run_failure_sensor(
    name="run_failure_alerts",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every failed run becomes an alert row in the platform database and, when "
    "CREDIT_ALERT_WEBHOOK_URL is set, a webhook POST.",
)
def run_failure_alerts(context: dg.RunFailureSensorContext):
    run = context.dagster_run
    settings = get_settings()
    record_alert(
        migrated_engine(settings.resolved_database_url),
        "run_failure",
        f"{run.job_name} failed: {context.failure_event.message}",
        run.run_id,
        {"job": run.job_name, "tags": dict(run.tags)},
        webhook_url=settings.alert_webhook_url,
    )
