"""Daily feature refresh: every borrower bucket, then the online snapshot (eager on them)."""

import dagster as dg

from credit_assets.defs.common.partitions import bucket_partitions


def daily_feature_refresh(context: dg.ScheduleEvaluationContext):
    scheduled = context.scheduled_execution_time
    day = scheduled.strftime("%Y-%m-%d") if scheduled else "manual"
    for bucket in bucket_partitions().get_partition_keys():
        yield dg.RunRequest(run_key=f"features-{day}-{bucket}", partition_key=bucket)


@dg.definitions
def feature_schedule_defs() -> dg.Definitions:
    """Built when the code location loads, so the buckets follow CREDIT_FEATURE_BUCKETS."""
    job = dg.define_asset_job(
        name="feature_refresh_job",
        selection=dg.AssetSelection.assets("borrower_features"),
        partitions_def=bucket_partitions(),
        description="Recompute borrower features for one bucket as of the snapshot date.",
    )
    schedule = dg.schedule(
        job=job,
        name="daily_feature_refresh",
        cron_schedule="30 1 * * *",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Daily 01:30: refresh every bucket; online_features publishes once they are done.",
    )(daily_feature_refresh)
    return dg.Definitions(jobs=[job], schedules=[schedule])
