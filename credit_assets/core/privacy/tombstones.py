"""Keeping erased borrowers out: what ingestion does with a file that still holds them.

A lender may send an old file again, or a partner a file made before the erasure. After a
file is ingested, the rows of borrowers (or applications) on the tombstone list are removed
from its raw and quarantined rows and from the archived file, so no later computation sees
them; the count is reported with the ingestion (never the ids).
"""

from __future__ import annotations

import io
import json

import polars as pl

from credit_assets.core.contracts import Contract
from credit_assets.core.platform.storage.keys import quarantine_key, raw_key
from credit_assets.core.privacy.context import PrivacyContext
from credit_assets.core.privacy.records import any_tombstones, tombstoned
from credit_assets.core.privacy.redaction import redact_frames, redact_quarantine, redact_zone

APPLICATION_PREFIX = "application:"
"""Application ids are tombstoned as `application:<id>`, borrower ids as themselves."""


def _values(ctx: PrivacyContext, key: str, column: str) -> set[str]:
    if not ctx.store.exists(key):
        return set()
    data = ctx.store.get_bytes(key)
    columns = pl.read_parquet_schema(io.BytesIO(data))
    if column in columns:
        values = pl.read_parquet(data, columns=[column])[column].drop_nulls().unique()
        return {str(v) for v in values.to_list()}
    if "record" in columns:  # quarantined rows: the row as JSON
        found = set()
        for record in pl.read_parquet(data, columns=["record"])["record"].drop_nulls().to_list():
            value = json.loads(record).get(column) if record.startswith("{") else None
            if value is not None:
                found.add(str(value))
        return found
    return set()


def erased_in_partition(
    ctx: PrivacyContext, contract: Contract, partition_key: str
) -> dict[str, list[str]]:
    """The contract's identifying columns and the erased values the partition holds."""
    keys = (raw_key(contract.name, partition_key), quarantine_key(contract.name, partition_key))
    match: dict[str, list[str]] = {}
    for column, prefix in (
        (contract.borrower_column, ""),
        (contract.id_column, APPLICATION_PREFIX),
    ):
        if not column:
            continue
        values = set().union(*(_values(ctx, key, column) for key in keys))
        prefixed = {prefix + v: v for v in values}
        erased = tombstoned(ctx.engine, ctx.key, prefixed)
        if erased:
            match[column] = sorted(prefixed[v] for v in erased)
    return match


def honour_tombstones(ctx: PrivacyContext, contract: Contract, partition_key: str) -> int:
    """Remove erased borrowers' rows from a just-ingested file's raw and quarantined rows
    and from its delivered copies; returns the rows removed from the raw rows."""
    if not any_tombstones(ctx.engine):  # the common case costs one query
        return 0
    match = erased_in_partition(ctx, contract, partition_key)
    if not match:
        return 0
    removed = redact_frames(ctx.store, raw_key(contract.name, partition_key), match)
    identifiers = [v for values in match.values() for v in values]
    redact_quarantine(ctx.store, quarantine_key(contract.name, partition_key), identifiers)
    redact_zone(ctx.landing, contract, match)
    return sum(r.rows_removed for r in removed)
