"""Point-in-time features for a spine of (borrower_id, as_of_date[, application_id]).

One output row per spine row, in spine order. Only records dated strictly
before the row's as-of date are used. A source a borrower has no record in is
a coverage flag of 0 and null aggregates, never an error.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from credit_assets.core.contracts import Contract, SourceKind
from credit_assets.core.features.applications import (
    application_feature_names,
    application_features_by_id,
    applications_contract,
    latest_application_features,
)
from credit_assets.core.features.bank import bank_features
from credit_assets.core.features.catalogue import N_ALTERNATIVE_SOURCES, feature_catalogue
from credit_assets.core.features.frames import (
    APPLICATION_ID,
    AS_OF,
    BORROWER,
    KEYS,
    KIND_STEMS,
    alternative_contracts,
    generic_feature_contracts,
    spine_keys,
)
from credit_assets.core.features.generic import generic_features
from credit_assets.core.features.hashing import borrower_bucket
from credit_assets.core.features.payments import payment_features


def compute_features(
    spine: pl.LazyFrame, sources: dict[str, pl.LazyFrame], contracts: dict[str, Contract]
) -> pl.LazyFrame:
    """Spine columns followed by every catalogue feature, in catalogue order.

    `sources` maps contract name to its validated frame (lineage columns are
    ignored); a declared source missing from `sources` is treated as empty.
    """
    spine_columns = spine.collect_schema().names()
    for required in KEYS:
        if required not in spine_columns:
            raise ValueError(f"the spine needs a {required!r} column; it has {spine_columns}")
    catalogue = feature_catalogue(contracts)
    clash = [c for c in spine_columns if c in catalogue]
    if clash:
        raise ValueError(f"spine columns {clash} have the names of features")

    spine = spine.with_columns(pl.col(BORROWER).cast(pl.String), pl.col(AS_OF).cast(pl.Date))
    keys = spine_keys(spine)
    frame = spine

    applications = applications_contract(contracts)
    if applications is not None and application_feature_names(applications):
        if APPLICATION_ID in spine_columns:
            frame = frame.with_columns(pl.col(APPLICATION_ID).cast(pl.String)).join(
                application_features_by_id(sources, applications),
                on=APPLICATION_ID,
                how="left",
                maintain_order="left",
            )
        else:
            frame = frame.join(
                latest_application_features(keys, sources, applications),
                on=KEYS,
                how="left",
                maintain_order="left",
            )

    alternatives = alternative_contracts(contracts)
    for contract in alternatives:
        block = (
            bank_features(keys, sources, contract)
            if contract.kind is SourceKind.BANK_TRANSACTIONS
            else payment_features(keys, sources, contract)
        )
        frame = frame.join(block, on=KEYS, how="left", maintain_order="left")
    for contract in generic_feature_contracts(contracts):
        frame = frame.join(
            generic_features(keys, sources, contract), on=KEYS, how="left", maintain_order="left"
        )

    if alternatives:
        stems = [KIND_STEMS[c.kind] for c in alternatives]
        frame = frame.with_columns(
            *(pl.col(f"has_{s}").fill_null(0).cast(pl.Int8) for s in stems),
            *(pl.col(f"months_of_data_{s}").fill_null(0) for s in stems),
        ).with_columns(
            pl.sum_horizontal(f"has_{s}" for s in stems).cast(pl.Int8).alias(N_ALTERNATIVE_SOURCES)
        )
    return frame.select(*spine_columns, *catalogue.names)


def snapshot_features(
    sources: dict[str, pl.LazyFrame],
    contracts: dict[str, Contract],
    as_of: date,
    bucket: int | None = None,
    n_buckets: int = 8,
) -> pl.LazyFrame:
    """Features as of `as_of` for every borrower seen in any dated source before it.

    With `bucket`, only the borrowers whose `borrower_bucket` is `bucket`: a
    partition that a backfill can compute on its own. Sorted by borrower_id.
    """
    if bucket is not None and not 0 <= bucket < n_buckets:
        raise ValueError(f"bucket must be in [0, {n_buckets}), got {bucket}")
    seen = []
    for contract in contracts.values():
        frame = sources.get(contract.name)
        if (
            frame is None
            or contract.kind is SourceKind.OUTCOMES
            or contract.borrower_column is None
            or contract.timestamp is None
        ):
            continue
        seen.append(
            frame.filter(pl.col(contract.timestamp).cast(pl.Date) < as_of)
            .select(pl.col(contract.borrower_column).cast(pl.String).alias(BORROWER))
            .unique()
        )
    borrowers = pl.concat(seen).unique() if seen else pl.LazyFrame(schema={BORROWER: pl.String})
    if bucket is not None:
        borrowers = borrowers.filter(borrower_bucket(pl.col(BORROWER), n_buckets) == bucket)
    spine = borrowers.sort(BORROWER).with_columns(pl.lit(as_of, dtype=pl.Date).alias(AS_OF))
    return compute_features(spine, sources, contracts)
