"""Application attributes: the applications contract's `feature` columns, passed through.

Categoricals stay strings (CatBoost takes them as they are). A spine row with an
`application_id` gets that application's attributes; a spine row without one (a
snapshot of borrowers) gets the borrower's latest application strictly before
the as-of date.
"""

from __future__ import annotations

import polars as pl

from credit_assets.core.contracts import Contract, SourceKind, contract_of_kind
from credit_assets.core.features.frames import (
    APPLICATION_ID,
    BORROWER,
    KEYS,
    point_in_time,
    polars_dtype,
)
from credit_assets.core.features.specs import application_feature_specs

LINEAGE_KEY = ("_source_file", "_row_number")


def applications_contract(contracts: dict[str, Contract]) -> Contract | None:
    return contract_of_kind(contracts, SourceKind.APPLICATIONS)


def application_key(contract: Contract) -> pl.Expr:
    """The application identifier: the contract's id column, else the landing row identity."""
    if contract.id_column is not None:
        return pl.col(contract.id_column).cast(pl.String)
    return pl.concat_str(
        pl.col("_source_file").cast(pl.String), pl.lit("#"), pl.col("_row_number").cast(pl.String)
    )


def application_feature_names(contract: Contract) -> list[str]:
    return application_feature_specs(contract).names


def _applications(sources: dict[str, pl.LazyFrame], contract: Contract) -> pl.LazyFrame:
    features = application_feature_names(contract)
    frame = sources.get(contract.name)
    if frame is None:  # no applications on file: the attributes are simply unknown
        frame = pl.LazyFrame(
            schema={
                **{c: polars_dtype(contract, c) for c in contract.columns},
                "_source_file": pl.String,
                "_row_number": pl.Int64,
            }
        )
    present = frame.collect_schema().names()
    needed = [*features]
    if contract.id_column is None:
        needed += list(LINEAGE_KEY)
    if contract.borrower_column:
        needed.append(contract.borrower_column)
    if contract.timestamp:
        needed.append(contract.timestamp)
    missing = [c for c in needed if c not in present]
    if missing:
        raise ValueError(
            f"applications source {contract.name!r} frame has no column {missing[0]!r}"
        )
    return frame.with_columns(
        *(pl.col(c).cast(polars_dtype(contract, c)) for c in features),
        application_key(contract).alias(APPLICATION_ID),
    )


def application_features_by_id(
    sources: dict[str, pl.LazyFrame], contract: Contract
) -> pl.LazyFrame:
    """application_id plus the feature columns, one row per application."""
    features = application_feature_names(contract)
    return (
        _applications(sources, contract)
        .select(APPLICATION_ID, *features)
        .unique(subset=APPLICATION_ID, keep="last")
    )


def latest_application_features(
    keys: pl.LazyFrame, sources: dict[str, pl.LazyFrame], contract: Contract
) -> pl.LazyFrame:
    """Per (borrower_id, as_of_date): the latest application strictly before the date."""
    if contract.borrower_column is None or contract.timestamp is None:
        raise ValueError(
            f"applications source {contract.name!r} has no borrower_id or timestamp column, so a "
            "spine without application_id cannot be matched to it; pass application_id in the spine"
        )
    features = application_feature_names(contract)
    timestamp = contract.timestamp
    frame = _applications(sources, contract).select(
        pl.col(contract.borrower_column).cast(pl.String).alias(BORROWER),
        pl.col(timestamp).cast(pl.Date).alias("_applied"),
        APPLICATION_ID,
        *features,
    )
    return (
        point_in_time(frame, keys, "_applied")
        .group_by(KEYS)
        .agg(pl.col(c).sort_by(["_applied", APPLICATION_ID]).last() for c in features)
    )
