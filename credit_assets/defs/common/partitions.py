"""Partitions several layers share: borrower-hash buckets, the daily monitoring window, and
the dependency on every file of every raw source."""

import dagster as dg

from credit_assets.core.contracts import Contract
from credit_assets.core.platform.settings import get_settings

DAILY = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_offset=1)


def bucket_partitions() -> dg.StaticPartitionsDefinition:
    """Borrower hash buckets (CREDIT_FEATURE_BUCKETS, 8 by default) so a backfill fans out.

    Call it when the code location loads (inside a `@dg.definitions` function), never at
    import, so the buckets follow the environment of the process that loads the definitions.
    """
    n = get_settings().feature_buckets
    return dg.StaticPartitionsDefinition([f"{b:02d}" for b in range(n)])


def raw_deps(contracts: dict[str, Contract]) -> list[dg.AssetDep]:
    """Every raw source, all of its partitions (files)."""
    return [
        dg.AssetDep(c.asset_name, partition_mapping=dg.AllPartitionMapping())
        for c in contracts.values()
    ]
