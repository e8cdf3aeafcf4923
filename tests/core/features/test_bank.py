"""Bank-transaction features on a hand-computed three-month history."""

from __future__ import annotations

import statistics
from datetime import date

import polars as pl
import pytest

from credit_assets.core.contracts import load_contracts
from credit_assets.core.features import compute_features
from tests.support.paths import REPO_ROOT

CONTRACTS = load_contracts(REPO_ROOT / "contracts")
AS_OF = date(2024, 4, 1)

# (booked, amount, category, balance after)
TRANSACTIONS = [
    (date(2024, 1, 5), 2000.0, "payroll", 2000.0),
    (date(2024, 1, 5), -300.0, "groceries", 1700.0),
    (date(2024, 1, 20), -200.0, "gambling", 1500.0),
    (date(2024, 2, 5), 2000.0, "payroll", 3500.0),
    (date(2024, 2, 10), -3600.0, "rent", -100.0),
    (date(2024, 2, 11), -25.0, "overdraft_fee", -125.0),
    (date(2024, 2, 15), 500.0, "other_income", 375.0),
    (date(2024, 3, 5), -10.0, "returned_payment", 365.0),
    (date(2024, 3, 20), -100.0, "transfer_out", 265.0),
    (date(2024, 4, 1), 2000.0, "payroll", 2265.0),  # on the as-of date: not yet known
]


def transactions_frame(rows: list[tuple], borrower: str = "b1") -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "transaction_id": [f"{borrower}-{i}" for i in range(len(rows))],
            "borrower_id": [borrower] * len(rows),
            "booked_date": [r[0] for r in rows],
            "amount": [r[1] for r in rows],
            "category": [r[2] for r in rows],
            "balance": [r[3] for r in rows],
            "counterparty": [None] * len(rows),
        },
        schema_overrides={"counterparty": pl.String},
    )


def features(rows: list[tuple] = TRANSACTIONS, as_of: date = AS_OF) -> dict:
    spine = pl.LazyFrame({"borrower_id": ["b1"], "as_of_date": [as_of]})
    sources = {"bank_transactions": transactions_frame(rows)}
    return compute_features(spine, sources, CONTRACTS).collect().row(0, named=True)


def test_mean_monthly_inflow_over_the_observed_months():
    row = features()
    # Jan 2000, Feb 2500, Mar 0 (three months of history)
    assert row["bank_inflow_mean_3m"] == pytest.approx(1500.0)
    assert row["bank_inflow_mean_12m"] == pytest.approx(1500.0)


def test_inflow_stability_is_the_coefficient_of_variation_of_monthly_inflow():
    row = features()
    assert row["bank_inflow_cv_12m"] == pytest.approx(
        statistics.pstdev([2000, 2500, 0]) / statistics.mean([2000, 2500, 0])
    )


def test_payroll_regularity_is_the_share_of_months_with_a_salary():
    assert features()["bank_payroll_month_share_6m"] == pytest.approx(2 / 3)


def test_expense_to_income_ratio():
    assert features()["bank_expense_to_income_ratio_12m"] == pytest.approx(4235 / 4500)


def test_overdraft_days_count_every_day_ending_below_zero():
    row = features()
    assert row["bank_overdraft_days_3m"] == 5  # Feb 10 (1 day) + Feb 11 to Feb 15 (4 days)
    assert row["bank_overdraft_fee_count_12m"] == 1
    assert row["bank_returned_payment_count_12m"] == 1


def test_overdraft_days_do_not_depend_on_the_order_of_same_day_transactions():
    shuffled = TRANSACTIONS[:4] + [TRANSACTIONS[5], TRANSACTIONS[4]] + TRANSACTIONS[6:]
    same_day = [
        (date(2024, 3, 25), 1000.0, "other_income", 1265.0),
        (date(2024, 3, 25), -2000.0, "transfer_out", -735.0),
    ]
    assert features(TRANSACTIONS[:-1] + same_day)["bank_overdraft_days_3m"] == 5 + 7
    assert features(TRANSACTIONS[:-1] + same_day[::-1])["bank_overdraft_days_3m"] == 5 + 7
    assert features(shuffled)["bank_overdraft_days_3m"] == 5


def test_days_before_the_first_transaction_are_not_overdrawn():
    # Overdrawn before the first transaction we see, back in the black 10 days later.
    row = features(
        [
            (date(2024, 3, 1), -20.0, "groceries", -70.0),
            (date(2024, 3, 11), 100.0, "other_income", 30.0),
        ]
    )
    assert row["bank_overdraft_days_3m"] == 10


def test_a_negative_balance_carries_over_days_without_transactions():
    row = features([(date(2023, 1, 1), -50.0, "shopping", -50.0)])
    assert row["bank_overdraft_days_3m"] == (AS_OF - date(2024, 1, 1)).days
    assert row["bank_overdraft_days_12m"] == (AS_OF - date(2023, 4, 1)).days
    assert row["bank_inflow_mean_3m"] == 0.0


def test_gambling_share_and_balance_minimum_and_volatility_after_each_transaction():
    row = features()
    assert row["bank_gambling_outflow_share_12m"] == pytest.approx(200 / 4235)
    assert row["bank_balance_min_12m"] == -125.0
    balances = [t[3] for t in TRANSACTIONS if t[0] < AS_OF]
    assert row["bank_balance_volatility_12m"] == pytest.approx(statistics.pstdev(balances))


def test_cash_flow_trend_is_the_slope_of_monthly_net_flow():
    # net flow Jan 1500, Feb -1125, Mar -110: least-squares slope (-110 - 1500) / 2
    assert features()["bank_net_flow_trend_12m"] == pytest.approx(-805.0)


def test_months_of_data_and_flag():
    row = features()
    assert row["months_of_data_bank"] == 3
    assert row["has_bank"] == 1


def test_stability_needs_three_months_of_history():
    row = features(TRANSACTIONS[:3], as_of=date(2024, 2, 15))  # two months of history
    assert row["bank_inflow_cv_12m"] is None
    assert row["bank_net_flow_trend_12m"] is None


def test_a_returned_debit_comes_back_as_a_credit_that_is_not_income():
    row = features(
        [
            (date(2024, 1, 5), 2100.0, "payroll", 2100.0),
            (date(2024, 2, 10), -600.0, "rent", 1500.0),
            (date(2024, 2, 11), 600.0, "returned_payment", 2100.0),
        ]
    )
    assert row["bank_inflow_mean_3m"] == pytest.approx(700.0)
    assert row["bank_expense_to_income_ratio_3m"] == 0.0
    assert row["bank_returned_payment_count_12m"] == 1


def test_each_borrower_gets_their_own_transactions_in_a_large_batch():
    n = 400
    frame = pl.concat(
        [
            transactions_frame(
                [(date(2024, 3, 1), float(i), "payroll", float(i))], borrower=f"b{i:03d}"
            )
            for i in range(1, n + 1)
        ]
    )
    spine = pl.LazyFrame(
        {"borrower_id": [f"b{i:03d}" for i in range(n, 0, -1)], "as_of_date": [AS_OF] * n}
    )
    out = compute_features(spine, {"bank_transactions": frame}, CONTRACTS).collect()
    expected = [float(i) for i in range(n, 0, -1)]  # one month of history
    assert out["bank_inflow_mean_3m"].to_list() == pytest.approx(expected)
