"""Reading what an upstream asset's latest materialization recorded (its version, its URI)."""

from typing import Any

import dagster as dg


def latest_metadata(context: dg.AssetExecutionContext, asset: str) -> dict[str, Any]:
    """Metadata values of the latest materialization of `asset`; a clear failure if none."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey(asset))
    if event is None or event.asset_materialization is None:
        raise dg.Failure(f"{asset} has not been materialized yet; materialize it first")
    values = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    values["_run_id"] = event.run_id
    return values


LINEAGE_LDA_OF = "lda_of"
"""Registry lineage key of a challenger adopted from another version's LDA search."""
LINEAGE_LDA_CANDIDATE = "lda_candidate"
"""Registry lineage key: which candidate of that search it is."""
