"""Point-in-time correctness, thin files, generic sources, the catalogue and snapshots."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from credit_assets.core.contracts import Contract, load_contract, load_contracts
from credit_assets.core.features import (
    SourceColumnError,
    borrower_bucket,
    compute_features,
    feature_catalogue,
    snapshot_features,
    stable_hash,
)
from credit_assets.core.features.catalogue import behavioural_feature_names
from tests.support.paths import REPO_ROOT

CONTRACTS = load_contracts(REPO_ROOT / "contracts")
GERMAN = {
    "german_credit": load_contract(
        REPO_ROOT / "contracts/examples/german_credit/german_credit.yaml"
    )
}
AS_OF = date(2024, 7, 1)
COVERAGE = {"has_utility", "has_telecom", "has_rent", "has_bank", "n_alternative_sources"}


def payments(borrower: str, rows: list[tuple]) -> pl.DataFrame:
    """rows: (due, paid, days_late)"""
    return pl.DataFrame(
        {
            "bill_id": [f"{borrower}-{r[0]}-{i}" for i, r in enumerate(rows)],
            "borrower_id": [borrower] * len(rows),
            "provider": [None] * len(rows),
            "due_date": [r[0] for r in rows],
            "paid_date": [r[1] for r in rows],
            "amount_due": [50.0] * len(rows),
            "amount_paid": [50.0] * len(rows),
            "days_late": [r[2] for r in rows],
        },
        schema_overrides={"paid_date": pl.Date, "days_late": pl.Int64, "provider": pl.String},
    )


def transactions(borrower: str, rows: list[tuple]) -> pl.DataFrame:
    """rows: (booked, amount, category, balance)"""
    return pl.DataFrame(
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


def bureau(borrower: str, rows: list[tuple]) -> pl.DataFrame:
    """rows: (report_date, score, open, delinquencies, utilization, months since oldest)"""
    names = [
        "report_date",
        "bureau_score",
        "open_accounts",
        "delinquencies_24m",
        "credit_utilization",
        "months_since_oldest_account",
    ]
    frame = pl.DataFrame([dict(zip(names, r, strict=True)) for r in rows])
    return frame.with_columns(pl.lit(borrower).alias("borrower_id"))


def good_history(borrower: str, end: date) -> dict[str, pl.DataFrame]:
    """A year of clean records strictly before `end`."""
    months = [end - timedelta(days=30 * m + 5) for m in range(12, 0, -1)]
    bills = [(d, d, 0) for d in months]
    tx = []
    balance = 500.0
    for d in months:
        balance += 2500
        tx.append((d, 2500.0, "payroll", balance))
        balance -= 1800
        tx.append((d + timedelta(days=2), -1800.0, "rent", balance))
    return {
        "utility_payments": payments(borrower, bills),
        "telecom_payments": payments(borrower, bills),
        "rent_payments": payments(borrower, bills),
        "bank_transactions": transactions(borrower, tx),
        "bureau": bureau(borrower, [(end - timedelta(days=90), 720, 3, 0, 0.2, 120)]),
    }


def bad_records_from(borrower: str, start: date) -> dict[str, pl.DataFrame]:
    """Dreadful behaviour dated on or after `start`: any leak would move every feature."""
    days = [start + timedelta(days=d) for d in range(0, 400, 9)]
    bills = [(d, None, None) for d in days] + [(d, d + timedelta(days=60), 60) for d in days]
    bills += [(start + timedelta(days=401 + i),) * 2 + (0,) for i in range(20)]  # a long streak
    tx, balance = [], 0.0
    for i, d in enumerate(days):
        for amount, category in (
            (300.0 * (i % 5), "other_income"),
            (-700.0, "gambling"),
            (-35.0, "overdraft_fee"),
            (-15.0 - i, "returned_payment"),
        ):
            balance += amount  # a running balance, as a bank reports it
            tx.append((d, amount, category, balance))
    return {
        "utility_payments": payments(borrower, bills),
        "telecom_payments": payments(borrower, bills),
        "rent_payments": payments(borrower, bills),
        "bank_transactions": transactions(borrower, tx),
        "bureau": bureau(borrower, [(start, 420, 9, 12, 3.5, 12)]),
    }


def combined(*parts: dict[str, pl.DataFrame]) -> dict[str, pl.LazyFrame]:
    names = {n for p in parts for n in p}
    return {n: pl.concat([p[n] for p in parts if n in p], how="diagonal").lazy() for n in names}


def one_row(sources: dict[str, pl.LazyFrame], as_of: date, borrower: str = "b1") -> dict:
    spine = pl.LazyFrame({"borrower_id": [borrower], "as_of_date": [as_of]})
    return compute_features(spine, sources, CONTRACTS).collect().row(0, named=True)


def test_records_on_or_after_the_as_of_date_change_no_feature():
    clean = one_row(combined(good_history("b1", AS_OF)), AS_OF)
    leaky = combined(good_history("b1", AS_OF), bad_records_from("b1", AS_OF))
    assert one_row(leaky, AS_OF) == clean

    # The same records do move every behavioural feature once they are in the past.
    later = one_row(leaky, AS_OF + timedelta(days=450))
    unchanged = {n for n in behavioural_feature_names(CONTRACTS) if later[n] == clean[n]}
    assert unchanged <= COVERAGE


def test_a_bill_paid_after_the_as_of_date_was_unpaid_on_it():
    bill = {"utility_payments": payments("b1", [(AS_OF - timedelta(days=3), AS_OF, 3)])}
    row = one_row(combined(bill), AS_OF)
    assert row["utility_missed_payments_3m"] == 1
    assert row["utility_days_late_max_3m"] is None


def test_thin_file_borrower_gets_zero_flags_and_null_aggregates():
    row = one_row(combined(good_history("someone_else", AS_OF)), AS_OF, borrower="thin")
    behavioural = behavioural_feature_names(CONTRACTS)
    assert {n: row[n] for n in COVERAGE} == dict.fromkeys(COVERAGE, 0)
    assert all(row[f"months_of_data_{s}"] == 0 for s in ("utility", "telecom", "rent", "bank"))
    others = [n for n in behavioural if n not in COVERAGE and not n.startswith("months_of_data_")]
    assert all(row[n] is None for n in others)


def test_declared_sources_without_data_are_thin_not_errors():
    row = one_row({}, AS_OF)
    assert row["n_alternative_sources"] == 0


def test_generic_source_uses_its_latest_report_strictly_before_the_as_of_date():
    reports = bureau(
        "b1",
        [
            (date(2024, 1, 1), 600, 1, 2, 0.9, 30),
            (date(2024, 3, 1), 650, 2, 1, None, 32),
            (AS_OF, 700, 3, 0, 0.1, 36),
        ],
    )
    row = one_row({"bureau": reports.lazy()}, AS_OF)
    assert row["bureau_score"] == 650
    assert row["bureau_open_accounts"] == 2
    assert row["bureau_credit_utilization"] is None
    assert row["bureau_months_since_oldest_account"] == 32


def test_protected_columns_never_become_features():
    names = feature_catalogue(CONTRACTS).names
    assert not {"sex", "age_band", "ethnicity_group", "demographics_sex", "region"} & set(names)
    assert {"sex", "age"}.isdisjoint(feature_catalogue(GERMAN).names)


def test_application_features_by_application_id_or_latest_before_the_date():
    apps = pl.LazyFrame(
        {
            "application_id": ["a1", "a2", "a3"],
            "borrower_id": ["b1", "b1", "b1"],
            "application_date": [date(2024, 1, 1), date(2024, 5, 1), AS_OF],
            "loan_amount": [1000.0, 2000.0, 3000.0],
            "term_months": [12, 24, 36],
            "product": ["bnpl", "personal_loan", "auto_loan"],
            "declared_monthly_income": [None, 2500.0, 2600.0],
            "employment_length_years": [1.0, 1.5, 2.0],
            "employment_type": ["gig", "salaried", "salaried"],
            "housing_status": ["rent", "rent", "own"],
            "region": ["north"] * 3,
        }
    )
    by_id = compute_features(
        pl.LazyFrame({"borrower_id": ["b1"], "as_of_date": [AS_OF], "application_id": ["a1"]}),
        {"applications": apps},
        CONTRACTS,
    ).collect()
    assert by_id.row(0, named=True)["product"] == "bnpl"
    assert by_id.schema["product"] == pl.String
    assert one_row({"applications": apps}, AS_OF)["loan_amount"] == 2000.0


def test_catalogue_covers_every_computed_column_with_an_approved_reason():
    spine = pl.LazyFrame({"borrower_id": ["b1"], "as_of_date": [AS_OF]})
    computed = compute_features(spine, combined(good_history("b1", AS_OF)), CONTRACTS)
    features = [c for c in computed.collect_schema().names() if c not in spine.collect_schema()]
    catalogue = feature_catalogue(CONTRACTS)
    assert features == catalogue.names
    assert catalogue.without_reason(behavioural_feature_names(CONTRACTS)) == []
    assert len(catalogue) >= 70


def test_each_reason_code_has_one_consumer_text():
    texts: dict[str, set[str]] = {}
    for spec in feature_catalogue(CONTRACTS).features:
        texts.setdefault(spec.reason_code or "", set()).add(spec.reason_text or "")
    assert {code: t for code, t in texts.items() if len(t) > 1} == {}


def test_applications_only_contract_set_has_only_application_features():
    assert feature_catalogue(GERMAN).names == [
        "job",
        "housing",
        "saving_accounts",
        "checking_account",
        "credit_amount",
        "duration",
        "purpose",
    ]


def test_a_payment_contract_without_a_required_column_names_source_and_column():
    data = CONTRACTS["rent_payments"].model_dump(exclude={"path"})
    del data["columns"]["days_late"]
    broken = {**CONTRACTS, "rent_payments": Contract.model_validate(data)}
    with pytest.raises(SourceColumnError, match="'rent_payments'.*'days_late'"):
        feature_catalogue(broken)


def test_a_frame_missing_a_column_names_source_and_column():
    frame = payments("b1", [(date(2024, 1, 1), None, None)]).drop("paid_date").lazy()
    with pytest.raises(SourceColumnError, match="'utility_payments'.*'paid_date'"):
        one_row({"utility_payments": frame}, AS_OF)


def test_one_output_row_per_spine_row_in_spine_order():
    spine = pl.LazyFrame(
        {
            "borrower_id": ["b2", "b1", "b2", "b1"],
            "as_of_date": [AS_OF, AS_OF, AS_OF, date(2023, 1, 1)],
            "application_id": ["x", "y", "z", "w"],
        }
    )
    out = compute_features(spine, combined(good_history("b1", AS_OF)), CONTRACTS).collect()
    assert out["application_id"].to_list() == ["x", "y", "z", "w"]
    assert out["has_bank"].to_list() == [0, 1, 0, 0]


def test_snapshot_has_one_row_per_borrower_seen_before_the_date_and_buckets_partition_it():
    sources = combined(
        good_history("b1", AS_OF), good_history("b2", AS_OF), bad_records_from("late", AS_OF)
    )
    snapshot = snapshot_features(sources, CONTRACTS, AS_OF).collect()
    assert snapshot["borrower_id"].to_list() == ["b1", "b2"]
    parts = [
        snapshot_features(sources, CONTRACTS, AS_OF, bucket=b, n_buckets=4).collect()
        for b in range(4)
    ]
    assert pl.concat(parts).sort("borrower_id").equals(snapshot)


def test_borrower_bucket_is_pinned_so_partitions_never_move():
    ids = pl.DataFrame({"borrower_id": ["B0000001", "B0000002", "borrower-xyz", ""]})
    pinned = ids.select(
        bucket=borrower_bucket(pl.col("borrower_id"), 8), hash=stable_hash(pl.col("borrower_id"))
    )
    # Values fixed when the scheme was introduced; a change would reshuffle every partition.
    assert pinned["bucket"].to_list() == [5, 6, 1, 0]
    assert pinned["hash"].to_list() == [4251424957, 1709331990, 755707305, 0]
