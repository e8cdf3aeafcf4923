"""Retraining: weekly, and whenever the drift sensor asks for it."""

import dagster as dg

RETRAIN_SELECTION = (
    dg.AssetSelection.assets("training_set")
    | dg.AssetSelection.groups("modeling")
    | dg.AssetSelection.groups("compliance")
)

retrain_job = dg.define_asset_job(
    name="retrain_job",
    selection=RETRAIN_SELECTION,
    description="Rebuild the training set, retrain and re-evaluate the challenger, rerun the "
    "compliance reports and promote through the blocking gates.",
)

weekly_retrain = dg.ScheduleDefinition(
    name="weekly_retrain",
    job=retrain_job,
    cron_schedule="0 3 * * 1",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every Monday 03:00: retrain on the latest matured outcomes.",
)
