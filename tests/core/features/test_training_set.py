"""The training set: labels, splits, point-in-time features and protected attributes kept apart."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from credit_assets.core.contracts import POLARS_TYPES, load_contract, load_contracts
from credit_assets.core.features import (
    build_training_set,
    feature_catalogue,
    model_feature_names,
    training_set_summary,
)
from tests.support.paths import REPO_ROOT

GERMAN_CSV = REPO_ROOT.parent / "shared" / "datasets" / "german_credit.csv"
GERMAN = {
    "german_credit": load_contract(
        REPO_ROOT / "contracts/examples/german_credit/german_credit.yaml"
    )
}
CONTRACTS = load_contracts(REPO_ROOT / "contracts")


@pytest.fixture(scope="module")
def german_raw() -> pl.DataFrame:
    contract = GERMAN["german_credit"]
    raw = pl.read_csv(GERMAN_CSV, infer_schema=False)
    return raw.select(pl.col(c.name).cast(POLARS_TYPES[c.type]) for c in contract.columns.values())


@pytest.fixture(scope="module")
def german(german_raw) -> pl.DataFrame:
    return build_training_set({"german_credit": german_raw.lazy()}, GERMAN, seed=42)


def test_default_flag_is_one_where_the_contract_says_risk_0_is_bad(german, german_raw):
    assert german.height == german_raw.height == 1000
    assert german["default_flag"].dtype == pl.Int8
    assert german["default_flag"].to_list() == (german_raw["risk"] == 0).cast(pl.Int8).to_list()


def test_undated_applications_get_a_seeded_stratified_split(german):
    by_split = german.group_by("split").agg(pl.len(), pl.col("default_flag").mean()).sort("split")
    assert by_split["split"].to_list() == ["test", "train", "validation"]
    assert by_split["len"].to_list() == [200, 600, 200]
    assert by_split["default_flag"].to_list() == pytest.approx([0.3, 0.3, 0.3])


def test_the_split_is_reproducible_for_a_seed_and_moves_with_another(german, german_raw):
    again = build_training_set({"german_credit": german_raw.lazy()}, GERMAN, seed=42)
    other = build_training_set({"german_credit": german_raw.lazy()}, GERMAN, seed=7)
    assert again["split"].equals(german["split"])
    assert not other["split"].equals(german["split"])


def test_protected_attributes_are_kept_apart_and_never_model_features(german):
    assert {"protected_sex", "protected_age"} <= set(german.columns)
    assert not {"sex", "age", "risk"} & set(german.columns)
    names = model_feature_names(german, feature_catalogue(GERMAN))
    assert names == [
        "job",
        "housing",
        "saving_accounts",
        "checking_account",
        "credit_amount",
        "duration",
        "purpose",
    ]


def test_summary_reports_rows_default_rate_and_missing_shares(german):
    summary = training_set_summary(german)
    assert summary["rows"] == 1000
    assert summary["default_rate"] == pytest.approx(0.3)
    assert summary["missing_share"]["job"] == 0.0
    assert "protected_sex" not in summary["missing_share"]


# -- dated applications with an outcomes source ------------------------------------------------

MONTHS = [date(2023, m, 1) for m in range(1, 11)]


def dated_sources() -> dict[str, pl.LazyFrame]:
    apps, outcomes, bills = [], [], []
    for m, month in enumerate(MONTHS):
        for i in range(10):
            app_id, borrower = f"a{m}-{i}", f"b{m}-{i}"
            applied = month + timedelta(days=i)
            apps.append(
                {
                    "application_id": app_id,
                    "borrower_id": borrower,
                    "application_date": applied,
                    "loan_amount": 1000.0 + i,
                    "term_months": 12,
                    "product": "bnpl",
                    "declared_monthly_income": 2000.0,
                    "employment_length_years": 2.0,
                    "employment_type": "salaried",
                    "housing_status": "rent",
                    "region": "north",
                }
            )
            if i < 9:  # the tenth application of each month has not matured yet
                outcomes.append(
                    {
                        "application_id": app_id,
                        "borrower_id": borrower,
                        "outcome_date": applied + timedelta(days=365),
                        "default_12m": int(i % 3 == 0),
                    }
                )
            # one bill paid on time before the application, one missed on the application day
            for due, paid in (
                (applied - timedelta(days=20), applied - timedelta(days=20)),
                (applied, None),
            ):
                bills.append(
                    {
                        "bill_id": f"{borrower}-{due}",
                        "borrower_id": borrower,
                        "provider": None,
                        "due_date": due,
                        "paid_date": paid,
                        "amount_due": 30.0,
                        "amount_paid": None,
                        "days_late": None,
                    }
                )
    demographics = [
        {
            "borrower_id": f"b{m}-{i}",
            "sex": "female" if i % 2 else "male",
            "age_band": "25-34",
            "ethnicity_group": None,
        }
        for m in range(len(MONTHS))
        for i in range(10)
    ]

    def typed(rows: list[dict], name: str) -> pl.LazyFrame:
        contract = CONTRACTS[name]
        schema = {c: POLARS_TYPES[contract.columns[c].type] for c in rows[0]}
        return pl.DataFrame(rows, schema=schema).lazy()

    return {
        "applications": typed(apps, "applications"),
        "outcomes": typed(outcomes, "outcomes"),
        "utility_payments": typed(bills, "utility_payments"),
        "demographics": typed(demographics, "demographics"),
    }


@pytest.fixture(scope="module")
def dated() -> pl.DataFrame:
    return build_training_set(dated_sources(), CONTRACTS)


def test_only_matured_applications_with_outcomes_are_in_the_training_set(dated):
    assert dated.height == 90
    assert dated["default_flag"].sum() == 30


def test_dated_applications_get_an_out_of_time_split(dated):
    months = dated.group_by("split").agg(
        pl.col("application_date").min().alias("first"),
        pl.col("application_date").max().alias("last"),
    )
    span = {r["split"]: (r["first"], r["last"]) for r in months.iter_rows(named=True)}
    assert span["train"][1] < span["validation"][0]
    assert span["validation"][1] < span["test"][0]
    assert span["test"][1] == dated["application_date"].max()
    assert (dated["split"] == "test").sum() == 18  # the two latest months, 20 % of 90 rows


def test_features_are_as_of_each_application_date(dated):
    assert dated["utility_on_time_ratio_3m"].to_list() == [1.0] * 90
    assert dated["utility_missed_payments_3m"].to_list() == [0] * 90


def test_ids_dates_and_protected_columns_are_kept_but_not_model_features(dated):
    assert dated.columns[:3] == ["application_id", "borrower_id", "application_date"]
    assert {"protected_sex", "protected_age_band", "protected_ethnicity_group"} <= set(
        dated.columns
    )
    names = model_feature_names(dated, feature_catalogue(CONTRACTS))
    assert "loan_amount" in names and "utility_on_time_ratio_3m" in names
    assert not [n for n in names if n.startswith("protected_") or n.endswith("_id")]
    assert "region" not in dated.columns
