"""Bill-payment features on a hand-computed history (utility; telecom and rent share the code)."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from credit_assets.core.contracts import load_contracts
from credit_assets.core.features import compute_features
from tests.support.paths import REPO_ROOT

CONTRACTS = load_contracts(REPO_ROOT / "contracts")
AS_OF = date(2024, 7, 1)

# (due, paid, days_late); months before 2024-07-01 in the comment.
BILLS = [
    (date(2023, 5, 10), date(2023, 5, 10), 0),  # 13: outside 12 months
    (date(2024, 1, 10), date(2024, 1, 10), 0),  # 5
    (date(2024, 2, 10), date(2024, 2, 10), 0),  # 4
    (date(2024, 3, 10), None, None),  # 3: missed
    (date(2024, 4, 10), date(2024, 4, 10), 0),  # 2
    (date(2024, 5, 10), date(2024, 5, 20), 10),  # 1
    (date(2024, 6, 10), date(2024, 6, 10), 0),  # 0
    (date(2024, 6, 25), date(2024, 7, 3), 8),  # 0: paid after the as-of date, so unpaid then
    (date(2024, 7, 1), date(2024, 7, 1), 0),  # due on the as-of date: not yet known
    (date(2024, 8, 10), None, None),  # future
]


def bills_frame(rows: list[tuple], borrower: str = "b1") -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "bill_id": [f"{borrower}-{i}" for i in range(len(rows))],
            "borrower_id": [borrower] * len(rows),
            "provider": ["acme"] * len(rows),
            "due_date": [r[0] for r in rows],
            "paid_date": [r[1] for r in rows],
            "amount_due": [40.0] * len(rows),
            "amount_paid": [None if r[1] is None else 40.0 for r in rows],
            "days_late": [r[2] for r in rows],
        },
        schema_overrides={"paid_date": pl.Date, "days_late": pl.Int64, "amount_paid": pl.Float64},
    )


def features(source: str = "utility_payments", rows: list[tuple] = BILLS) -> dict:
    spine = pl.LazyFrame({"borrower_id": ["b1"], "as_of_date": [AS_OF]})
    return (
        compute_features(spine, {source: bills_frame(rows)}, CONTRACTS).collect().row(0, named=True)
    )


def test_on_time_ratio_counts_bills_due_in_each_window():
    row = features()
    assert row["utility_on_time_ratio_3m"] == pytest.approx(2 / 4)
    assert row["utility_on_time_ratio_6m"] == pytest.approx(4 / 7)
    assert row["utility_on_time_ratio_12m"] == pytest.approx(4 / 7)


def test_days_late_mean_and_max_use_bills_paid_before_the_as_of_date():
    row = features()
    assert row["utility_days_late_mean_3m"] == pytest.approx(10 / 3)
    assert row["utility_days_late_max_3m"] == 10
    assert row["utility_days_late_mean_12m"] == pytest.approx(10 / 5)
    assert row["utility_days_late_max_12m"] == 10


def test_a_bill_unpaid_on_the_as_of_date_is_missed_even_if_paid_later():
    row = features()
    assert row["utility_missed_payments_3m"] == 1
    assert row["utility_missed_payments_6m"] == 2
    assert row["utility_missed_payments_12m"] == 2


def test_history_months_streak_and_coverage():
    row = features()
    assert row["utility_longest_on_time_streak"] == 3
    assert row["utility_history_months"] == 14
    assert row["months_of_data_utility"] == 7
    assert row["has_utility"] == 1
    assert row["n_alternative_sources"] == 1


def test_days_late_falls_back_to_paid_minus_due_when_missing():
    row = features(rows=[(date(2024, 6, 1), date(2024, 6, 5), None)])
    assert row["utility_days_late_max_3m"] == 4
    assert row["utility_on_time_ratio_3m"] == 0.0


def test_windows_without_bills_have_null_ratios_but_zero_counts():
    row = features(rows=[(date(2023, 1, 10), date(2023, 1, 10), 0)])
    assert row["utility_on_time_ratio_12m"] is None
    assert row["utility_days_late_mean_12m"] is None
    assert row["utility_missed_payments_12m"] == 0
    assert row["has_utility"] == 1


@pytest.mark.parametrize(
    ("source", "stem"), [("telecom_payments", "telecom"), ("rent_payments", "rent")]
)
def test_every_payment_kind_gets_the_same_features_under_its_own_prefix(source, stem):
    row = features(source)
    assert row[f"{stem}_on_time_ratio_6m"] == pytest.approx(4 / 7)
    assert row[f"{stem}_missed_payments_12m"] == 2
    assert row[f"has_{stem}"] == 1
    assert row["has_utility"] == 0
    assert row["utility_on_time_ratio_12m"] is None
