"""Source frames as the feature code reads them: columns per kind, dtypes, month windows.

Sources are found by their contract's kind, never by name. Each fixed kind has
the columns listed in `KIND_COLUMNS`; a contract of that kind that lacks one is
rejected with the source and the column named.
"""

from __future__ import annotations

import polars as pl

from credit_assets.core.contracts import (
    PAYMENT_KINDS,
    POLARS_TYPES,
    Contract,
    Role,
    SourceKind,
    contract_of_kind,
)
from credit_assets.core.features.specs import FeatureDtype, FeatureSpec, Monotone

BORROWER = "borrower_id"
AS_OF = "as_of_date"
APPLICATION_ID = "application_id"
KEYS = [BORROWER, AS_OF]

KIND_COLUMNS: dict[SourceKind, tuple[str, ...]] = {
    **{
        kind: ("borrower_id", "due_date", "paid_date", "amount_due", "amount_paid", "days_late")
        for kind in PAYMENT_KINDS
    },
    SourceKind.BANK_TRANSACTIONS: ("borrower_id", "booked_date", "amount", "category", "balance"),
}

# Columns of KIND_COLUMNS a contract may leave out: an aggregator without a running
# balance (Plaid) still gives every bank feature but the balance and overdraft-day ones.
OPTIONAL_KIND_COLUMNS: dict[SourceKind, tuple[str, ...]] = {
    SourceKind.BANK_TRANSACTIONS: ("balance",)
}

# Feature-name stem per kind: utility_on_time_ratio_12m, has_bank, ...
KIND_STEMS: dict[SourceKind, str] = {
    SourceKind.UTILITY_PAYMENTS: "utility",
    SourceKind.TELECOM_PAYMENTS: "telecom",
    SourceKind.RENT_PAYMENTS: "rent",
    SourceKind.BANK_TRANSACTIONS: "bank",
}

ALTERNATIVE_KINDS: tuple[SourceKind, ...] = (*PAYMENT_KINDS, SourceKind.BANK_TRANSACTIONS)


class SourceColumnError(ValueError):
    """A source (contract or frame) lacks a column the feature code needs."""


def polars_dtype(contract: Contract, column: str) -> pl.DataType:
    return POLARS_TYPES[contract.columns[column].type]


def check_kind_columns(contract: Contract) -> None:
    """Raise naming the source and the column when a fixed-kind contract lacks one."""
    optional = OPTIONAL_KIND_COLUMNS.get(contract.kind, ())
    needed = [c for c in KIND_COLUMNS.get(contract.kind, ()) if c not in optional]
    for column in needed:
        if column not in contract.columns:
            also = f" (and may declare {', '.join(optional)})" if optional else ""
            raise SourceColumnError(
                f"source {contract.name!r} ({contract.kind.value}) has no column {column!r}; "
                f"a {contract.kind.value} contract needs {', '.join(needed)}{also}"
            )


def kind_columns(contract: Contract) -> list[str]:
    """The KIND_COLUMNS of the contract's kind that it declares (optional ones may be absent)."""
    return [c for c in KIND_COLUMNS.get(contract.kind, ()) if c in contract.columns]


def alternative_contracts(contracts: dict[str, Contract]) -> list[Contract]:
    """The payment and bank sources declared, in a fixed order (utility, telecom, rent, bank)."""
    found = []
    for kind in ALTERNATIVE_KINDS:
        contract = contract_of_kind(contracts, kind)
        if contract is not None:
            check_kind_columns(contract)
            found.append(contract)
    return found


def generic_feature_contracts(contracts: dict[str, Contract]) -> list[Contract]:
    """Generic sources that declare at least one feature column, by name."""
    found = [
        c
        for c in contracts.values()
        if c.kind is SourceKind.GENERIC and c.columns_with(Role.FEATURE)
    ]
    for contract in found:
        if contract.borrower_column is None or contract.timestamp is None:
            raise SourceColumnError(
                f"source {contract.name!r} declares feature columns but no "
                f"{'borrower_id' if contract.borrower_column is None else 'timestamp'} column; "
                "point-in-time features need both"
            )
    return sorted(found, key=lambda c: c.name)


def source_frame(
    sources: dict[str, pl.LazyFrame], contract: Contract, columns: list[str]
) -> pl.LazyFrame:
    """`columns` of a source cast to their contract dtypes; an empty frame when no data arrived.

    A declared source without data is a thin file, not an error.
    """
    schema = {c: polars_dtype(contract, c) for c in columns}
    frame = sources.get(contract.name)
    if frame is None:
        return pl.LazyFrame(schema=schema)
    present = frame.collect_schema().names()
    missing = [c for c in columns if c not in present]
    if missing:
        raise SourceColumnError(
            f"source {contract.name!r} frame has no column {missing[0]!r} "
            f"(columns present: {', '.join(present)})"
        )
    return frame.select(pl.col(c).cast(dtype) for c, dtype in schema.items())


def months_before(date: pl.Expr, as_of: pl.Expr) -> pl.Expr:
    """Whole months between a record date and the as-of date (0 = the month just before).

    A record is in the last W months when `months_before < W`, which is exactly
    `date >= as_of.dt.offset_by(f"-{W}mo")` (month ends clip as `offset_by` does).
    Integer calendar arithmetic, no per-row strings.
    """
    diff = (as_of.dt.year().cast(pl.Int32) * 12 + as_of.dt.month().cast(pl.Int32)) - (
        date.dt.year().cast(pl.Int32) * 12 + date.dt.month().cast(pl.Int32)
    )
    boundary_day = pl.min_horizontal(as_of.dt.day(), date.dt.days_in_month())
    return diff - (date.dt.day() >= boundary_day).cast(pl.Int32)


def ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """numerator / denominator as a float, null when the denominator is not positive (no
    bills, no inflow: no ratio)."""
    return pl.when(denominator > 0).then(numerator.cast(pl.Float64) / denominator.cast(pl.Float64))


def window_start(as_of: pl.Expr, months: int) -> pl.Expr:
    """First day inside the last `months` months before `as_of`."""
    return as_of.dt.offset_by(f"-{months}mo")


def spine_keys(spine: pl.LazyFrame) -> pl.LazyFrame:
    """Distinct (borrower_id, as_of_date) pairs: each is aggregated once, however many rows share it."""
    return spine.select(pl.col(BORROWER).cast(pl.String), pl.col(AS_OF).cast(pl.Date)).unique()


def point_in_time(
    records: pl.LazyFrame, keys: pl.LazyFrame, date_column: str, on: str = BORROWER
) -> pl.LazyFrame:
    """Each record paired with every as-of date of its borrower, kept only when dated strictly before."""
    # The spine is the small side: hash it and stream the records past it.
    return records.join(keys, on=on, how="inner", build_side="prefer_right").filter(
        pl.col(date_column) < pl.col(AS_OF)
    )


INTEGER_BORROWER = "_b"


def integer_borrowers(
    keys: pl.LazyFrame, records: pl.LazyFrame
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(keys with `_b`, records keyed by `_b` instead of borrower_id).

    Hash tables and sorts over an integer key take about half the memory of a
    string key at tens of millions of rows. The inner join also drops records of
    borrowers outside the spine (a bucket). The key is a dense rank, not a row
    index, because it must not depend on row order: the subplan may run once per use.
    """
    borrowers = (
        keys.select(BORROWER)
        .unique()
        .with_columns(pl.col(BORROWER).rank("dense").alias(INTEGER_BORROWER))
    )
    keyed = keys.join(borrowers, on=BORROWER)
    records = records.join(borrowers, on=BORROWER, build_side="prefer_right").drop(BORROWER)
    return keyed, records


def spec_maker(contract: Contract, code_letter: str):  # type: ignore[no-untyped-def]
    """A FeatureSpec builder for one source: reason codes `<letter><nn>`, source = the contract."""

    def spec(
        name: str,
        description: str,
        dtype: FeatureDtype,
        monotone: Monotone,
        code: int,
        text: str,
        lo: float | None = None,
        hi: float | None = None,
    ) -> FeatureSpec:
        return FeatureSpec(
            name=name,
            description=description,
            source=contract.name,
            dtype=dtype,
            monotone=monotone,
            reason_code=f"{code_letter}{code:02d}",
            reason_text=text,
            min_value=lo,
            max_value=hi,
        )

    return spec
