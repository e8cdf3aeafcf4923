"""Bill-payment behaviour (utility, telecom, rent): one function for every payment kind.

Point in time: a bill counts when its due date is strictly before the as-of
date, and it counts as paid only when it was paid strictly before that date too
(a bill paid later was still unpaid on the as-of date).
"""

from __future__ import annotations

import polars as pl

from credit_assets.core.contracts import Contract
from credit_assets.core.features.frames import (
    AS_OF,
    INTEGER_BORROWER,
    KEYS,
    KIND_COLUMNS,
    KIND_STEMS,
    integer_borrowers,
    months_before,
    point_in_time,
    ratio,
    source_frame,
    spec_maker,
)
from credit_assets.core.features.specs import FeatureSpec

WINDOWS = (3, 6, 12)
_B = INTEGER_BORROWER

_BILLS = {"utility": "utility bills", "telecom": "phone and internet bills", "rent": "rent"}
_CODE_LETTER = {"utility": "U", "telecom": "T", "rent": "R"}


def payment_feature_names(stem: str) -> list[str]:
    names = []
    for w in WINDOWS:
        names += [
            f"{stem}_on_time_ratio_{w}m",
            f"{stem}_days_late_mean_{w}m",
            f"{stem}_days_late_max_{w}m",
            f"{stem}_missed_payments_{w}m",
        ]
    return names + [
        f"{stem}_longest_on_time_streak",
        f"{stem}_history_months",
        f"months_of_data_{stem}",
        f"has_{stem}",
    ]


def payment_feature_specs(contract: Contract) -> list[FeatureSpec]:
    stem = KIND_STEMS[contract.kind]
    bills, letter = _BILLS[stem], _CODE_LETTER[stem]

    spec = spec_maker(contract, letter)

    specs = []
    for w in WINDOWS:
        specs += [
            spec(
                f"{stem}_on_time_ratio_{w}m",
                f"Share of {bills} due in the last {w} months paid on or before the due date.",
                "float",
                "decreasing",
                1,
                f"Late payments on {bills}",
                0.0,
                1.0,
            ),
            spec(
                f"{stem}_days_late_mean_{w}m",
                f"Mean days late of {bills} due in the last {w} months and paid before the as-of date.",
                "float",
                "increasing",
                2,
                f"{bills.capitalize()} paid many days late",
                0.0,
            ),
            spec(
                f"{stem}_days_late_max_{w}m",
                f"Most days late of any {bills[:-1] if bills.endswith('s') else bills} payment due in the last {w} months.",
                "int",
                "increasing",
                2,
                f"{bills.capitalize()} paid many days late",
                0.0,
            ),
            spec(
                f"{stem}_missed_payments_{w}m",
                f"Number of {bills} due in the last {w} months still unpaid on the as-of date.",
                "int",
                "increasing",
                3,
                f"Missed payments on {bills}",
                0.0,
                None,
            ),
        ]
    specs += [
        spec(
            f"{stem}_longest_on_time_streak",
            f"Longest run of consecutive {bills} paid on time, over the whole history.",
            "int",
            "decreasing",
            4,
            f"Few consecutive on-time payments on {bills}",
            0.0,
            None,
        ),
        spec(
            f"{stem}_history_months",
            f"Months since the oldest {bills} record (length of the payment history).",
            "int",
            "none",
            5,
            f"Limited payment history on {bills}",
            1.0,
            None,
        ),
        spec(
            f"months_of_data_{stem}",
            f"Number of months with at least one {bills} record before the as-of date (0 when none).",
            "int",
            "none",
            5,
            f"Limited payment history on {bills}",
            0.0,
            None,
        ),
        spec(
            f"has_{stem}",
            f"1 when any {bills} record exists before the as-of date, else 0.",
            "int",
            "none",
            5,
            f"Limited payment history on {bills}",
            0.0,
            1.0,
        ),
    ]
    return specs


def payment_features(
    keys: pl.LazyFrame, sources: dict[str, pl.LazyFrame], contract: Contract
) -> pl.LazyFrame:
    """Per (borrower_id, as_of_date) with at least one bill before the date; flags fill in later."""
    stem = KIND_STEMS[contract.kind]
    keyed, bills = integer_borrowers(
        keys, source_frame(sources, contract, list(KIND_COLUMNS[contract.kind]))
    )
    as_of = keyed.select(_B, AS_OF)
    return (
        _window_aggregates(bills, as_of, stem)
        .join(_longest_streaks(bills, as_of, stem), on=[_B, AS_OF])
        .join(keyed, on=[_B, AS_OF])
        .with_columns(*_window_ratios(stem), pl.lit(1, dtype=pl.Int8).alias(f"has_{stem}"))
        .select(*KEYS, *payment_feature_names(stem))
    )


def _paid() -> pl.Expr:
    """Paid strictly before the as-of date."""
    return pl.col("paid_date").is_not_null() & (pl.col("paid_date") < pl.col(AS_OF))


def _days_late() -> pl.Expr:
    """Days late of a bill paid before the as-of date (the stated figure, else paid - due);
    null for a bill still unpaid then."""
    days_late = pl.coalesce(
        pl.col("days_late"), (pl.col("paid_date") - pl.col("due_date")).dt.total_days().clip(0)
    )
    return pl.when(_paid()).then(days_late).cast(pl.Int64)


def _on_time() -> pl.Expr:
    """Paid before the as-of date and not late."""
    return _paid() & (_days_late() <= 0)


def _window_flags(stem: str) -> dict[str, pl.Expr]:
    """Per window, by column name: bills due, on time, settled and missed, to be counted."""
    flags: dict[str, pl.Expr] = {}
    for w in WINDOWS:
        due = pl.col("_k") < w
        flags |= {
            f"_n_{w}": due,
            f"_on_time_{w}": due & pl.col("_on_time"),
            f"_late_n_{w}": due & pl.col("_paid"),
            f"{stem}_missed_payments_{w}m": due & ~pl.col("_paid"),
        }
    return flags


def _window_aggregates(bills: pl.LazyFrame, as_of: pl.LazyFrame, stem: str) -> pl.LazyFrame:
    """Per (_b, as_of_date): counts and days late per window, history length, months of data."""
    # Row-level columns first, plain aggregations after: the engines' fast path.
    flags = _window_flags(stem)
    # Only the bills settled inside the window (`_late_n_`) have days late to average.
    windowed_late = {
        f"_late_{w}": pl.when(flags[f"_late_n_{w}"]).then(pl.col("_late")) for w in WINDOWS
    }
    return (
        point_in_time(bills, as_of, "due_date", on=_B)
        .select(
            _B,
            AS_OF,
            months_before(pl.col("due_date"), pl.col(AS_OF)).alias("_k"),
            _paid().alias("_paid"),
            _days_late().alias("_late"),
            _on_time().alias("_on_time"),
        )
        .select(
            _B,
            AS_OF,
            "_k",
            *(flag.cast(pl.Int64).alias(name) for name, flag in flags.items()),
            *(value.alias(name) for name, value in windowed_late.items()),
        )
        .group_by(_B, AS_OF)
        .agg(
            pl.col(*flags).sum(),
            *(pl.col(f"_late_{w}").sum().alias(f"_late_sum_{w}") for w in WINDOWS),
            *(pl.col(f"_late_{w}").max().alias(f"{stem}_days_late_max_{w}m") for w in WINDOWS),
            (pl.col("_k").max().cast(pl.Int64) + 1).alias(f"{stem}_history_months"),
            pl.col("_k").n_unique().cast(pl.Int64).alias(f"months_of_data_{stem}"),
        )
    )


def _longest_streaks(bills: pl.LazyFrame, as_of: pl.LazyFrame, stem: str) -> pl.LazyFrame:
    """Per (_b, as_of_date): the longest run of consecutive on-time bills."""
    # The streak needs the bills in due-date order: a window over a slim frame.
    return (
        point_in_time(bills, as_of, "due_date", on=_B)
        .select(_B, AS_OF, "due_date", _on_time().alias("_on_time"))
        .select(_B, AS_OF, _running_on_time_streak().alias("_streak"))
        .group_by(_B, AS_OF)
        .agg(pl.col("_streak").max().alias(f"{stem}_longest_on_time_streak"))
    )


def _window_ratios(stem: str) -> list[pl.Expr]:
    """Per window, the on-time ratio and the mean days late from the counts."""
    ratios = []
    for w in WINDOWS:
        ratios += [
            ratio(pl.col(f"_on_time_{w}"), pl.col(f"_n_{w}")).alias(f"{stem}_on_time_ratio_{w}m"),
            ratio(pl.col(f"_late_sum_{w}"), pl.col(f"_late_n_{w}")).alias(
                f"{stem}_days_late_mean_{w}m"
            ),
        ]
    return ratios


def _running_on_time_streak() -> pl.Expr:
    """At each bill, the number of consecutive on-time bills ending with it (by due date).

    The on-time count so far minus its value at the latest late or missed bill;
    the longest streak is the maximum of this column.
    """
    on_time = pl.col("_on_time").cast(pl.Int64)
    so_far = on_time.cum_sum()
    at_last_break = pl.when(on_time == 0).then(so_far).otherwise(0).cum_max()
    # Ties on the due date are ordered late-then-on-time, so the result is deterministic.
    return (so_far - at_last_break).over([_B, AS_OF], order_by=["due_date", "_on_time"])
