"""Generic sources (e.g. a bureau summary): the `feature` columns of the latest
record dated strictly before the as-of date, declared entirely by the contract."""

from __future__ import annotations

import polars as pl

from credit_assets.core.contracts import Contract, Role
from credit_assets.core.features.frames import AS_OF, BORROWER, KEYS, point_in_time, source_frame
from credit_assets.core.features.specs import _CONTRACT_DTYPES, FeatureSpec


def generic_feature_name(contract: Contract, column: str) -> str:
    return column if column.startswith(contract.name) else f"{contract.name}_{column}"


def generic_feature_columns(contract: Contract) -> list[str]:
    return [
        c.name for c in contract.columns_with(Role.FEATURE) if c.type not in ("date", "datetime")
    ]


def generic_feature_specs(contract: Contract) -> list[FeatureSpec]:
    specs = []
    for name in generic_feature_columns(contract):
        column = contract.columns[name]
        specs.append(
            FeatureSpec(
                name=generic_feature_name(contract, name),
                description=column.description
                or f"{name} on the latest {contract.name} record before the as-of date",
                source=contract.name,
                dtype=_CONTRACT_DTYPES[column.type],
                monotone=column.monotone,
                reason_code=column.reason_code,
                reason_text=column.reason_text,
                min_value=column.min,
                max_value=column.max,
            )
        )
    return specs


def generic_features(
    keys: pl.LazyFrame, sources: dict[str, pl.LazyFrame], contract: Contract
) -> pl.LazyFrame:
    """Per (borrower_id, as_of_date): the latest record's feature columns (nulls kept as nulls)."""
    assert contract.borrower_column is not None and contract.timestamp is not None
    columns = generic_feature_columns(contract)
    timestamp = contract.timestamp
    records = source_frame(
        sources, contract, [contract.borrower_column, timestamp, *columns]
    ).rename({contract.borrower_column: BORROWER} if contract.borrower_column != BORROWER else {})
    # A record timestamped during the as-of day is not yet known on that day.
    day = (
        pl.col(timestamp).dt.date()
        if contract.columns[timestamp].type == "datetime"
        else pl.col(timestamp)
    )
    latest = (
        point_in_time(records.with_columns(day.alias("_day")), keys, "_day")
        .group_by(KEYS)
        .agg(
            pl.col(c).sort_by(timestamp).last().alias(generic_feature_name(contract, c))
            for c in columns
        )
    )
    return latest.select(BORROWER, AS_OF, *(generic_feature_name(contract, c) for c in columns))
