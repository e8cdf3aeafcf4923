"""Open-banking cash flow: income level and stability, payroll regularity, spending,
overdrafts, returned payments, gambling, balance and the trend of net flow.

Money is summed in integer cents so every aggregate is exact and independent of
row order, and every float division is column by column (Polars turns division
by a literal into multiplication by its reciprocal on multi-row columns, which
can differ in the last bit): the batch path and the single-borrower path agree
to the last bit.
Monthly figures use months relative to the as-of date (`months_before`); a month
with no transaction inside the observed history counts as zero flow.
"""

from __future__ import annotations

import polars as pl

from credit_assets.core.contracts import Contract
from credit_assets.core.features.frames import (
    AS_OF,
    INTEGER_BORROWER,
    KEYS,
    integer_borrowers,
    kind_columns,
    months_before,
    point_in_time,
    ratio,
    source_frame,
    spec_maker,
    window_start,
)
from credit_assets.core.features.specs import FeatureSpec

INFLOW_WINDOWS = (3, 6, 12)
PAYROLL_WINDOWS = (6, 12)
EXPENSE_WINDOWS = (3, 12)
OVERDRAFT_WINDOWS = (3, 12)
MIN_MONTHS_FOR_STABILITY = 3  # a CV or a trend over fewer months says little
_INFLOW_SUM_WINDOWS = sorted({*INFLOW_WINDOWS, *EXPENSE_WINDOWS, 12})

BANK_FEATURES = [
    *(f"bank_inflow_mean_{w}m" for w in INFLOW_WINDOWS),
    "bank_inflow_cv_12m",
    *(f"bank_payroll_month_share_{w}m" for w in PAYROLL_WINDOWS),
    *(f"bank_expense_to_income_ratio_{w}m" for w in EXPENSE_WINDOWS),
    *(f"bank_overdraft_days_{w}m" for w in OVERDRAFT_WINDOWS),
    "bank_overdraft_fee_count_12m",
    "bank_returned_payment_count_12m",
    "bank_gambling_outflow_share_12m",
    "bank_balance_min_12m",
    "bank_balance_volatility_12m",
    "bank_net_flow_trend_12m",
    "months_of_data_bank",
    "has_bank",
]


# Read from the running balance: left out for a source that has none (see `bank_features`).
BALANCE_FEATURES = (
    *(f"bank_overdraft_days_{w}m" for w in OVERDRAFT_WINDOWS),
    "bank_balance_min_12m",
    "bank_balance_volatility_12m",
)


def bank_feature_names(contract: Contract) -> list[str]:
    """BANK_FEATURES this source gives: all of them, or without a balance all but those."""
    if "balance" in contract.columns:
        return list(BANK_FEATURES)
    return [name for name in BANK_FEATURES if name not in BALANCE_FEATURES]


def bank_feature_specs(contract: Contract) -> list[FeatureSpec]:
    specs = _bank_feature_specs(contract)
    names = set(bank_feature_names(contract))
    return [s for s in specs if s.name in names]


def _bank_feature_specs(contract: Contract) -> list[FeatureSpec]:
    balance = contract.columns.get("balance")

    spec = spec_maker(contract, "C")

    specs = [
        spec(
            f"bank_inflow_mean_{w}m",
            f"Mean monthly money received into the bank account over the last {w} months "
            "(returned-payment reversals excluded).",
            "float",
            "decreasing",
            1,
            "Low income received into bank account",
            0.0,
        )
        for w in INFLOW_WINDOWS
    ]
    specs.append(
        spec(
            "bank_inflow_cv_12m",
            "Coefficient of variation of monthly inflow over the last 12 months "
            f"(null with fewer than {MIN_MONTHS_FOR_STABILITY} months or no inflow).",
            "float",
            "increasing",
            2,
            "Irregular income received into bank account",
            0.0,
        )
    )
    specs += [
        spec(
            f"bank_payroll_month_share_{w}m",
            f"Share of the last {w} months with at least one salary (payroll) deposit.",
            "float",
            "decreasing",
            3,
            "Salary not received regularly",
            0.0,
            1.0,
        )
        for w in PAYROLL_WINDOWS
    ]
    specs += [
        spec(
            f"bank_expense_to_income_ratio_{w}m",
            f"Money paid out (net of returned payments) divided by money received over the "
            f"last {w} months.",
            "float",
            "increasing",
            4,
            "Spending is high relative to income",
            0.0,
        )
        for w in EXPENSE_WINDOWS
    ]
    specs += [
        spec(
            f"bank_overdraft_days_{w}m",
            f"Days in the last {w} months that ended with a negative balance (a balance "
            "carries over days without transactions; days before the first transaction "
            "are not counted).",
            "int",
            "increasing",
            5,
            "Bank account frequently overdrawn",
            0.0,
            31.0 * w,
        )
        for w in OVERDRAFT_WINDOWS
    ]
    specs += [
        spec(
            "bank_overdraft_fee_count_12m",
            "Overdraft fees charged in the last 12 months.",
            "int",
            "increasing",
            5,
            "Bank account frequently overdrawn",
            0.0,
        ),
        spec(
            "bank_returned_payment_count_12m",
            "Payments returned unpaid (bounced) in the last 12 months.",
            "int",
            "increasing",
            6,
            "Payments returned unpaid by the bank",
            0.0,
        ),
        spec(
            "bank_gambling_outflow_share_12m",
            "Share of money paid out in the last 12 months that went to gambling.",
            "float",
            "increasing",
            7,
            "Gambling transactions",
            0.0,
            1.0,
        ),
        spec(
            "bank_balance_min_12m",
            "Lowest account balance after any transaction in the last 12 months.",
            "float",
            "decreasing",
            8,
            "Low or unstable bank account balance",
            balance.min if balance else None,
            balance.max if balance else None,
        ),
        spec(
            "bank_balance_volatility_12m",
            "Standard deviation of the balance after each transaction in the last 12 months.",
            "float",
            "none",
            8,
            "Low or unstable bank account balance",
            0.0,
        ),
        spec(
            "bank_net_flow_trend_12m",
            "Slope of monthly net flow (in minus out) over the last 12 months, per month "
            f"(null with fewer than {MIN_MONTHS_FOR_STABILITY} months).",
            "float",
            "none",
            9,
            "Net cash flow is declining",
        ),
        spec(
            "months_of_data_bank",
            "Number of months with at least one bank transaction before the as-of date (0 when none).",
            "int",
            "none",
            10,
            "Limited bank account history",
            0.0,
        ),
        spec(
            "has_bank",
            "1 when any bank transaction exists before the as-of date, else 0.",
            "int",
            "none",
            10,
            "Limited bank account history",
            0.0,
            1.0,
        ),
    ]
    return specs


def _cents(column: str) -> pl.Expr:
    return (pl.col(column) * 100).round().cast(pl.Int64)


# One pass over the transactions: each one is paired with its borrower's as-of
# dates, reduced to row-level columns, then summed per month and per as-of date.
# No per-day grouping and no window functions: at 50 M transactions a hash table
# per borrower-day or a sort dominated memory. Aggregations are plain columns
# (expressions inside `agg` leave the engines' fast path, measured 5-10x slower),
# and borrowers are keyed by a dense integer inside the query.
_B = INTEGER_BORROWER
_ROW = "_row"
_DAY_OFFSET = 2**20  # days are shifted to be non-negative before packing


def _day_number(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.Int32).cast(pl.Int64)


def _overdraft_terms(months: int) -> list[pl.Expr]:
    """Per-transaction terms of the days spent below zero in the last `months` months.

    The balance before a transaction is its balance minus its amount, so the
    sign of the balance at any time t is the sign before the first transaction
    plus the sum of (sign after - sign before) over transactions up to t. Summed
    over the days of the window, each transaction inside it adds
    (sign after - sign before) x days from it to the as-of date, and those before
    it add to the sign the window opens with.
    """
    start = window_start(pl.col(AS_OF), months)
    inside = pl.col("booked_date") >= start
    change = pl.col("_neg_after") - pl.col("_neg_before")
    days_left = (pl.col(AS_OF) - pl.col("booked_date")).dt.total_days()
    return [
        pl.when(inside).then(change * days_left).otherwise(0).alias(f"_od_inside_{months}"),
        pl.when(inside).then(0).otherwise(change).alias(f"_od_before_{months}"),
    ]


def monthly_activity(transactions: pl.LazyFrame, keys: pl.LazyFrame) -> pl.LazyFrame:
    """Per (_b, as_of_date, months before): flows, counted events and balance sums.

    Inflow is money received other than returned-payment reversals (a returned
    debit comes back as a credit: it undoes spending, it is not income); outflow
    is money paid out net of those reversals.
    """
    amount = _cents("amount")
    balance = _cents("balance")
    category = pl.col("category")
    income = (amount > 0) & (category != "returned_payment")
    # The earliest transaction (by date, then source order) packed with the sign
    # of the balance before it: a plain `min` recovers both.
    first = (
        ((_day_number(pl.col("booked_date")) + _DAY_OFFSET) * 2**33)
        + pl.col(_ROW).cast(pl.Int64) * 2
        + pl.col("_neg_before")
    )
    return (
        point_in_time(transactions, keys, "booked_date", on=_B)
        .with_columns(
            (balance < 0).cast(pl.Int64).alias("_neg_after"),
            (balance - amount < 0).cast(pl.Int64).alias("_neg_before"),
        )
        .select(
            _B,
            AS_OF,
            months_before(pl.col("booked_date"), pl.col(AS_OF)).alias("k"),
            pl.when(income).then(amount).otherwise(0).alias("inflow"),
            pl.when(income).then(0).otherwise(-amount).alias("outflow"),
            ((category == "payroll") & (amount > 0)).alias("payroll"),
            pl.when(category == "gambling")
            .then((-amount).clip(lower_bound=0))
            .otherwise(0)
            .alias("gambling"),
            (category == "overdraft_fee").cast(pl.Int64).alias("fees"),
            (category == "returned_payment").cast(pl.Int64).alias("returned"),
            pl.col("balance").alias("min_balance"),
            balance.alias("balance_sum"),
            (balance.cast(pl.Int128) * balance.cast(pl.Int128)).alias("balance_sq"),
            pl.lit(1, dtype=pl.Int64).alias("transactions"),
            *(term for w in OVERDRAFT_WINDOWS for term in _overdraft_terms(w)),
            first.alias("_first"),
        )
        .group_by(_B, AS_OF, "k")
        .agg(
            pl.col(
                "inflow",
                "outflow",
                "gambling",
                "fees",
                "returned",
                "balance_sum",
                "balance_sq",
                "transactions",
                *(f"_od_{part}_{w}" for w in OVERDRAFT_WINDOWS for part in ("inside", "before")),
            ).sum(),
            pl.col("payroll").max(),
            pl.col("min_balance", "_first").min(),
        )
    )


def _within(w: int, column: str | pl.Expr, name: str) -> pl.Expr:
    """`column` in the months inside the last `w`, null outside the window."""
    value = pl.col(column) if isinstance(column, str) else column
    return pl.when(pl.col("k") < w).then(value).alias(name)


def _windowed_sums() -> list[pl.Expr]:
    """Monthly columns kept inside their window, to be summed per as-of date."""
    k = pl.col("k")
    net = pl.col("inflow") - pl.col("outflow")
    inflow128 = pl.col("inflow").cast(pl.Int128)
    return [
        *(_within(w, "inflow", f"_in_{w}") for w in _INFLOW_SUM_WINDOWS),
        *(_within(w, "outflow", f"_out_{w}") for w in EXPENSE_WINDOWS),
        _within(12, inflow128 * inflow128, "_in_sq_12"),
        *(_within(w, pl.col("payroll").cast(pl.Int64), f"_payroll_{w}") for w in PAYROLL_WINDOWS),
        _within(12, "fees", "bank_overdraft_fee_count_12m"),
        _within(12, "returned", "bank_returned_payment_count_12m"),
        _within(12, "gambling", "_gambling_12"),
        _within(12, "transactions", "_balance_n"),
        _within(12, pl.col("balance_sum").cast(pl.Int128), "_balance_sum"),
        _within(12, "balance_sq", "_balance_sq"),
        _within(12, net, "_net_sum"),
        _within(12, k.cast(pl.Int64) * net, "_net_k"),
    ]


def _sums_per_as_of(monthly: pl.LazyFrame) -> pl.LazyFrame:
    """Per (_b, as_of_date): windowed sums, minima, months of history and months with data."""
    windowed = _windowed_sums()
    summed = [e.meta.output_name() for e in windowed]
    overdraft_terms = [
        f"_od_{part}_{w}" for w in OVERDRAFT_WINDOWS for part in ("inside", "before")
    ]
    return (
        monthly.with_columns(
            *windowed,
            _within(12, "min_balance", "_min_balance_12"),
            pl.col("k").cast(pl.Int64).alias("_history"),
        )
        .group_by(_B, AS_OF)
        .agg(
            pl.col(*summed, *overdraft_terms).sum(),
            pl.col("_min_balance_12", "_first").min(),
            pl.col("_history").max() + 1,
            pl.len().cast(pl.Int64).alias("months_of_data_bank"),
        )
    )


def _months_in(w: int) -> pl.Expr:
    """Months of the last `w` inside the observed history."""
    return pl.min_horizontal(pl.col("_history"), pl.lit(w, dtype=pl.Int64))


def _inflow_cv_12m() -> pl.Expr:
    n12 = _months_in(12)
    in12 = pl.col("_in_12").cast(pl.Int128)
    return (
        pl.when((n12 >= MIN_MONTHS_FOR_STABILITY) & (in12 > 0))
        .then(
            (n12.cast(pl.Int128) * pl.col("_in_sq_12") - in12 * in12).cast(pl.Float64).sqrt()
            / in12.cast(pl.Float64)
        )
        .alias("bank_inflow_cv_12m")
    )


def _overdraft_days(w: int) -> pl.Expr:
    # Days before the first transaction are not counted: the window opens at
    # the later of its start and the first transaction.
    first_day = pl.col("_first") // 2**33 - _DAY_OFFSET
    opens = pl.max_horizontal(_day_number(window_start(pl.col(AS_OF), w)), first_day)
    length = _day_number(pl.col(AS_OF)) - opens
    negative_at_open = pl.col("_first") % 2 + pl.col(f"_od_before_{w}")
    days = pl.col(f"_od_inside_{w}") + length * negative_at_open
    return days.clip(lower_bound=0, upper_bound=length).alias(f"bank_overdraft_days_{w}m")


def _balance_volatility_12m() -> pl.Expr:
    balance_n = pl.col("_balance_n").cast(pl.Int128)
    return (
        pl.when(balance_n >= 2)
        .then(
            (balance_n * pl.col("_balance_sq") - pl.col("_balance_sum") * pl.col("_balance_sum"))
            .cast(pl.Float64)
            .sqrt()
            / (balance_n * 100).cast(pl.Float64)
        )
        .alias("bank_balance_volatility_12m")
    )


def _net_flow_trend_12m() -> pl.Expr:
    """Least-squares slope of monthly net flow, from its sum and its sum weighted by k."""
    n12 = _months_in(12)
    trend_numerator = 6 * (n12 - 1) * pl.col("_net_sum") - 12 * pl.col("_net_k")
    return (
        pl.when(n12 >= MIN_MONTHS_FOR_STABILITY)
        .then(trend_numerator.cast(pl.Float64) / (n12 * (n12 * n12 - 1) * 100).cast(pl.Float64))
        .alias("bank_net_flow_trend_12m")
    )


def bank_features_from_monthly(monthly: pl.LazyFrame) -> pl.LazyFrame:
    """Per (_b, as_of_date) with at least one transaction before the date."""
    features = _sums_per_as_of(monthly).with_columns(
        *(
            ratio(pl.col(f"_in_{w}"), _months_in(w) * 100).alias(f"bank_inflow_mean_{w}m")
            for w in INFLOW_WINDOWS
        ),
        _inflow_cv_12m(),
        *(
            ratio(pl.col(f"_payroll_{w}"), _months_in(w)).alias(f"bank_payroll_month_share_{w}m")
            for w in PAYROLL_WINDOWS
        ),
        *(
            ratio(pl.col(f"_out_{w}").clip(lower_bound=0), pl.col(f"_in_{w}")).alias(
                f"bank_expense_to_income_ratio_{w}m"
            )
            for w in EXPENSE_WINDOWS
        ),
        *(_overdraft_days(w) for w in OVERDRAFT_WINDOWS),
        ratio(pl.col("_gambling_12"), pl.col("_out_12"))
        .clip(upper_bound=1.0)
        .alias("bank_gambling_outflow_share_12m"),
        pl.col("_min_balance_12").alias("bank_balance_min_12m"),
        _balance_volatility_12m(),
        _net_flow_trend_12m(),
        pl.lit(1, dtype=pl.Int8).alias("has_bank"),
    )
    return features.select(_B, AS_OF, *BANK_FEATURES)


def bank_features(
    keys: pl.LazyFrame, sources: dict[str, pl.LazyFrame], contract: Contract
) -> pl.LazyFrame:
    """Per (borrower_id, as_of_date) with at least one transaction before the date."""
    transactions = source_frame(sources, contract, kind_columns(contract)).with_row_index(
        _ROW
    )  # source order breaks ties between same-day transactions
    if "balance" not in contract.columns:
        # Without a running balance the balance features are not in the catalogue; a zero
        # balance only keeps the shared query whole, and nothing computed from it is kept.
        transactions = transactions.with_columns(pl.lit(0.0).alias("balance"))
    keyed, transactions = integer_borrowers(keys, transactions)
    monthly = monthly_activity(transactions, keyed.select(_B, AS_OF))
    return (
        bank_features_from_monthly(monthly)
        .join(keyed, on=[_B, AS_OF])
        .select(*KEYS, *bank_feature_names(contract))
    )
