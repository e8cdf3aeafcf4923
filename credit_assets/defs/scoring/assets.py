"""Batch scoring: every borrower of the feature snapshot, scored by the champion."""

import dagster as dg
import polars as pl

from credit_assets.core.platform.registry import current_champion
from credit_assets.core.platform.storage.keys import (
    BATCH_SCORES_PREFIX,
    batch_scores_key,
    bucket_key,
)
from credit_assets.core.reports.metadata import markdown_table
from credit_assets.core.scoring import ScoringModel
from credit_assets.defs.common.partitions import bucket_partitions
from credit_assets.defs.common.resources import PlatformResource

NO_CHAMPION_NOTE = "no champion has been promoted yet (see the registry): nothing scored"


def batch_scores(context: dg.AssetExecutionContext, platform: PlatformResource):
    """Score, PD, risk band and up to four principal reasons for every borrower of one
    borrower-features bucket, from the current champion, with the same core scoring function
    the API uses (exact SHAP from the model's leaf tables). Where alternative-data or bureau
    sources are declared, borrowers with neither are marked not scorable with that reason;
    where only applications are, every applicant with application attributes is scored."""
    settings = platform.settings
    champion = current_champion(platform.engine)
    if champion is None:
        # Every challenger so far was held back by a gate: nothing may score anyone yet.
        return dg.MaterializeResult(
            metadata={"dagster/row_count": 0, "note": NO_CHAMPION_NOTE, "model_version": ""}
        )
    model = ScoringModel.load(settings, champion)
    parts = []
    for bucket in sorted(context.partition_keys):
        features = platform.store.read_frame(bucket_key(bucket))
        if features.height == 0:
            continue  # no borrower in this bucket (or no borrower-level sources at all)
        scored_bucket = model.score_frame(features, thread_count=settings.threads)
        platform.store.write_frame(batch_scores_key(bucket), scored_bucket)
        parts.append(scored_bucket)
    scored = pl.concat(parts) if parts else pl.DataFrame()
    uri = platform.store.uri(BATCH_SCORES_PREFIX)
    bands = (
        scored.filter(pl.col("scorable")).group_by("band").len().sort("band").to_dicts()
        if scored.height
        else []
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": scored.height,
            "model_version": champion.version,
            "scorable_share": float(scored["scorable"].mean() or 0.0) if scored.height else 0.0,
            "bands": dg.MetadataValue.md(markdown_table(bands, ["band", "len"])),
            "uri": dg.MetadataValue.path(uri),
        }
    )


@dg.definitions
def scoring_defs() -> dg.Definitions:
    """Built when the code location loads: the buckets follow CREDIT_FEATURE_BUCKETS then."""
    asset = dg.asset(
        name="batch_scores",
        group_name="scoring",
        partitions_def=bucket_partitions(),
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=["borrower_features", "champion_model"],
        owners=["team:lending"],
        kinds={"catboost", "parquet"},
        automation_condition=dg.AutomationCondition.eager(),
    )(batch_scores)
    return dg.Definitions(assets=[asset])
