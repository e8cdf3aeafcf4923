"""Training/serving parity: one borrower's payload gives exactly the batch feature row."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credit_assets.core.contracts import POLARS_TYPES, load_contract, load_contracts
from credit_assets.core.features import compute_features, feature_catalogue, features_for_payload
from credit_assets.core.features.frames import KIND_COLUMNS
from tests.support.paths import REPO_ROOT

CONTRACTS = load_contracts(REPO_ROOT / "contracts")
BASE = date(2024, 6, 15)
CATEGORIES = CONTRACTS["bank_transactions"].columns["category"].allowed

offsets = st.integers(min_value=-800, max_value=40)
money = st.integers(min_value=-500_000, max_value=500_000).map(lambda c: c / 100)


@st.composite
def bill(draw):
    due = BASE + timedelta(days=draw(offsets))
    delay = draw(st.one_of(st.none(), st.integers(0, 90)))
    paid = None if delay is None else due + timedelta(days=delay)
    days_late = draw(st.one_of(st.none(), st.just(delay)) if delay is not None else st.none())
    amount = draw(st.integers(0, 50_000)) / 100
    return {
        "due_date": due,
        "paid_date": paid,
        "amount_due": amount,
        "amount_paid": None if paid is None else amount,
        "days_late": days_late,
    }


@st.composite
def transaction(draw):
    return {
        "booked_date": BASE + timedelta(days=draw(offsets)),
        "amount": draw(money),
        "category": draw(st.sampled_from(CATEGORIES)),
        "balance": draw(st.one_of(money, st.floats(-50_000, 1_000_000, allow_nan=False))),
    }


@st.composite
def bureau_reports(draw):
    days = draw(st.lists(offsets, max_size=3, unique=True))
    return [
        {
            "report_date": BASE + timedelta(days=d),
            "bureau_score": draw(st.one_of(st.none(), st.integers(300, 850))),
            "open_accounts": draw(st.integers(0, 100)),
            "delinquencies_24m": draw(st.integers(0, 50)),
            "credit_utilization": draw(st.one_of(st.none(), st.floats(0, 5, allow_nan=False))),
            "months_since_oldest_account": draw(st.one_of(st.none(), st.integers(0, 720))),
        }
        for d in days
    ]


@st.composite
def application(draw):
    apps = CONTRACTS["applications"].columns
    return {
        "loan_amount": draw(st.floats(100, 100_000, allow_nan=False)),
        "term_months": draw(st.sampled_from(apps["term_months"].allowed)),
        "product": draw(st.sampled_from(apps["product"].allowed)),
        "declared_monthly_income": draw(st.one_of(st.none(), st.floats(0, 200_000))),
        "employment_length_years": draw(st.one_of(st.none(), st.floats(0, 60))),
        "employment_type": draw(
            st.one_of(st.none(), st.sampled_from(apps["employment_type"].allowed))
        ),
        "housing_status": draw(st.sampled_from(apps["housing_status"].allowed)),
    }


@st.composite
def borrower(draw):
    records = {
        source: draw(st.lists(bill(), max_size=14))
        for source in ("utility_payments", "telecom_payments", "rent_payments")
    }
    records["bank_transactions"] = draw(st.lists(transaction(), max_size=30))
    records["bureau"] = draw(bureau_reports())
    as_of = BASE + timedelta(days=draw(st.integers(-60, 60)))
    return draw(application()), records, as_of


def batch_frames(borrowers: list[tuple]) -> tuple[pl.LazyFrame, dict[str, pl.LazyFrame]]:
    apps_contract = CONTRACTS["applications"]
    app_rows = [
        {**app, "application_id": f"a{i}", "borrower_id": f"b{i}", "application_date": as_of}
        for i, (app, _, as_of) in enumerate(borrowers)
    ]
    sources = {"applications": frame(app_rows, apps_contract, [*app_rows[0]])}
    for source in borrowers[0][1]:
        rows = [
            {**r, "borrower_id": f"b{i}"}
            for i, (_, recs, _) in enumerate(borrowers)
            for r in recs[source]
        ]
        contract = CONTRACTS[source]
        columns = list(KIND_COLUMNS.get(contract.kind, ())) or list(contract.columns)
        sources[source] = frame(rows, contract, columns)
    spine = pl.LazyFrame(
        {
            "borrower_id": [f"b{i}" for i in range(len(borrowers))],
            "as_of_date": [as_of for _, _, as_of in borrowers],
            "application_id": [f"a{i}" for i in range(len(borrowers))],
        }
    )
    return spine, sources


def frame(rows: list[dict], contract, columns: list[str]) -> pl.LazyFrame:
    schema = {c: POLARS_TYPES[contract.columns[c].type] for c in columns}
    return pl.DataFrame([{c: r.get(c) for c in columns} for r in rows], schema=schema).lazy()


def as_payload(records: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """What a lender sends: JSON-like values, dates as ISO strings."""
    return {
        source: [
            {k: v.isoformat() if isinstance(v, date) else v for k, v in r.items()} for r in rows
        ]
        for source, rows in records.items()
    }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(borrower(), min_size=1, max_size=3))
def test_payload_features_equal_the_batch_row_exactly(borrowers):
    spine, sources = batch_frames(borrowers)
    batch = compute_features(spine, sources, CONTRACTS).collect()
    # The batch row is the spine's keys and the features; the payload gives the features only.
    feature_names = set(batch.columns) - set(spine.collect_schema().names())
    assert feature_names == set(feature_catalogue(CONTRACTS).names)
    for i, (app, records, as_of) in enumerate(borrowers):
        online = features_for_payload(
            {**app, "application_id": f"a{i}", "borrower_id": f"b{i}"},
            as_payload(records),
            as_of,
            CONTRACTS,
        )
        # The same features on both paths: one missing on either side is a parity failure.
        assert set(online) == feature_names, (
            sorted(feature_names - set(online)),
            sorted(set(online) - feature_names),
        )
        expected = {k: v for k, v in batch.row(i, named=True).items() if k in feature_names}
        assert online == expected


def test_german_credit_payload_gives_the_application_features():
    german = {
        "german_credit": load_contract(
            REPO_ROOT / "contracts/examples/german_credit/german_credit.yaml"
        )
    }
    features = features_for_payload(
        {
            "job": 2,
            "housing": "own",
            "saving_accounts": None,
            "checking_account": "little",
            "credit_amount": "1169",
            "duration": 6,
            "purpose": "radio/TV",
            "sex": "male",
        },
        {},
        date(2024, 1, 1),
        german,
    )
    assert features == {
        "job": "2",
        "housing": "own",
        "saving_accounts": None,
        "checking_account": "little",
        "credit_amount": 1169.0,
        "duration": 6,
        "purpose": "radio/TV",
    }


@pytest.mark.parametrize(
    ("records", "message"),
    [
        (
            {"utility_payments": [{"due_date": "2024-13-01", "amount_due": 5}]},
            r"utility_payments\[0\]\.due_date",
        ),
        (
            {
                "bank_transactions": [
                    {"booked_date": "2024-01-01", "amount": "ten", "category": "rent", "balance": 1}
                ]
            },
            r"bank_transactions\[0\]\.amount",
        ),
        (
            {
                "bank_transactions": [
                    {"booked_date": "2024-01-01", "amount": 1, "category": "lottery", "balance": 1}
                ]
            },
            r"bank_transactions\[0\]\.category",
        ),
        (
            {"rent_payments": [{"amount_due": 10.0}]},
            r"rent_payments\[0\].due_date: a value is required",
        ),
        ({"bureau": ["not a record"]}, r"bureau\[0\]"),
        ({"demographics": []}, "demographics"),
    ],
)
def test_a_bad_record_is_a_value_error_naming_source_and_field(records, message):
    with pytest.raises(ValueError, match=message):
        features_for_payload(
            {"loan_amount": 1000, "term_months": 12, "product": "bnpl", "housing_status": "own"},
            records,
            BASE,
            CONTRACTS,
        )


def test_a_bad_application_value_names_the_field():
    with pytest.raises(ValueError, match=r"applications\.term_months"):
        features_for_payload(
            {"loan_amount": 1000, "term_months": 7, "product": "bnpl", "housing_status": "own"},
            {},
            BASE,
            CONTRACTS,
        )
