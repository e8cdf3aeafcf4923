"""The traffic simulator's payloads, its income shock, and its refusal to leave this machine.

No server here: payload building and the shift are pure functions, and the
request loop runs against an `httpx.MockTransport`. Scoring through a real API
is covered by the end-to-end tests.
"""

from __future__ import annotations

import json
from datetime import date

import httpx
import polars as pl
import pytest

from credit_assets.core.contracts import load_contracts
from credit_assets.core.features import features_for_payload
from credit_assets.core.tools.traffic import (
    RECORD_SOURCES,
    apply_shift,
    build_payloads,
    check_loopback,
    simulate_traffic,
    synthetic_payloads,
)
from tests.support.paths import REPO_ROOT


def tiny_frames() -> dict[str, pl.DataFrame]:
    applications = pl.DataFrame(
        {
            "application_id": ["A1", "A2"],
            "borrower_id": ["B1", "B2"],
            "application_date": [date(2026, 5, 1), date(2026, 6, 1)],
            "declared_monthly_income": [3000.0, None],
        }
    )
    bank = pl.DataFrame(
        {
            "transaction_id": ["T1", "T2", "T3", "T4"],
            "borrower_id": ["B1", "B1", "B1", "B2"],
            "booked_date": [date(2026, 1, 1), date(2026, 1, 5), date(2026, 2, 1), date(2026, 1, 1)],
            "amount": [2000.0, -500.0, 500.0, 100.0],
            "category": ["payroll", "rent", "other_income", "returned_payment"],
            "balance": [2000.0, 1500.0, 2000.0, 100.0],
        }
    )
    utility = pl.DataFrame(
        {
            "bill_id": [f"U{i}" for i in range(400)],
            "borrower_id": ["B1"] * 400,
            "due_date": [date(2025, 1, 1)] * 400,
            "paid_date": [date(2025, 1, 3)] * 399 + [None],
            "amount_due": [50.0] * 400,
            "amount_paid": [50.0] * 399 + [None],
            "days_late": [2] * 399 + [None],
        }
    )
    return {"applications": applications, "bank_transactions": bank, "utility_payments": utility}


def test_payloads_group_records_by_borrower_with_iso_dates() -> None:
    payloads = build_payloads(tiny_frames())
    assert [p["application"]["application_id"] for p in payloads] == ["A1", "A2"]
    first, second = payloads
    assert first["application"]["application_date"] == "2026-05-01"
    assert set(first["records"]) == {"bank_transactions", "utility_payments"}
    assert [r["transaction_id"] for r in first["records"]["bank_transactions"]] == [
        "T1",
        "T2",
        "T3",
    ]
    assert first["records"]["bank_transactions"][0]["booked_date"] == "2026-01-01"
    assert "borrower_id" not in first["records"]["bank_transactions"][0]
    # B2 has no utility bills: the source is absent, as for a real thin file.
    assert set(second["records"]) == {"bank_transactions"}
    json.dumps(payloads)


def test_income_shock_cuts_declared_income_and_income_inflows_by_40_percent() -> None:
    shocked = apply_shift(tiny_frames(), "income_shock")
    assert shocked["applications"]["declared_monthly_income"].to_list() == [1800.0, None]
    bank = shocked["bank_transactions"]
    # payroll and other_income fall; rent and a returned payment do not.
    assert bank["amount"].to_list() == [1200.0, -500.0, 300.0, 100.0]
    # Balances fall by the income lost so far: 800, then 800, then 800 + 200.
    assert bank["balance"].to_list() == [1200.0, 700.0, 1000.0, 100.0]


def test_income_shock_makes_paid_bills_later_and_keeps_missed_bills_missed() -> None:
    before = tiny_frames()["utility_payments"]
    after = apply_shift(tiny_frames(), "income_shock", seed=1)["utility_payments"]
    paid = after.head(399)
    later = paid.filter(pl.col("days_late") > 2)
    assert 0.25 < later.height / 399 < 0.45
    assert later["days_late"].min() >= 17 and later["days_late"].max() <= 62
    assert (paid["paid_date"] - paid["due_date"]).dt.total_days().to_list() == paid[
        "days_late"
    ].to_list()
    assert after.row(399) == before.row(399)


def test_no_shift_returns_the_frames_unchanged() -> None:
    frames = tiny_frames()
    for shift in (None, "none"):
        shifted = apply_shift(frames, shift)
        assert all(shifted[k].equals(frames[k]) for k in frames)


def test_an_unknown_shift_is_refused() -> None:
    with pytest.raises(ValueError, match="shift must be one of"):
        apply_shift(tiny_frames(), "rate_hike")


def test_synthetic_payloads_are_accepted_by_the_online_feature_code() -> None:
    contracts = load_contracts(REPO_ROOT / "contracts")
    payloads = list(synthetic_payloads(3, "income_shock"))
    assert len(payloads) == 3
    assert {s for p in payloads for s in p["records"]} <= set(RECORD_SOURCES)
    for payload in payloads:
        features = features_for_payload(
            payload["application"], payload["records"], date(2026, 9, 30), contracts
        )
        assert features


def test_synthetic_borrowers_are_not_training_borrowers() -> None:
    payload = next(synthetic_payloads(1))
    assert payload["application"]["borrower_id"] >= "B90000000"


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5:8000",
        "https://example.com",
        "http://127.0.0.1.example.com",
        "ftp://127.0.0.1",
    ],
)
def test_a_base_url_off_this_machine_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="base_url|this machine"):
        simulate_traffic(url, "key", 1)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/", "http://localhost:8000", "http://[::1]:8000"]
)
def test_loopback_urls_are_accepted(url: str) -> None:
    assert check_loopback(url) == url.rstrip("/")


def test_a_shift_cannot_apply_to_borrower_id_requests() -> None:
    with pytest.raises(ValueError, match="inline requests only"):
        simulate_traffic("http://127.0.0.1:8000", "k", 2, "income_shock", borrower_ids=["B1"])


def test_simulation_counts_statuses_bands_and_errors() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        borrower = json.loads(request.content)["borrower_id"]
        if borrower == "B3":
            return httpx.Response(422, json={"detail": "unknown borrower"})
        return httpx.Response(200, json={"band": "A" if borrower == "B1" else None})

    result = simulate_traffic(
        "http://127.0.0.1:8000",
        "secret",
        6,
        borrower_ids=["B1", "B2", "B3"],
        concurrency=2,
        transport=httpx.MockTransport(handler),
    )
    assert result["sent"] == 6 and not result["timed_out"]
    assert result["status_counts"] == {"200": 4, "422": 2}
    assert result["bands"] == {"A": 2, "not scorable": 2}
    assert result["errors"] == 2 and "unknown borrower" in result["error_samples"][0]
    assert result["latency_ms"]["p50"] is not None
    assert {r.url.path for r in seen} == {"/v1/scores"}
    assert {r.headers["authorization"] for r in seen} == {"Bearer secret"}


def test_a_success_that_is_not_a_decision_is_an_error_not_a_crash() -> None:
    """A 2xx whose body is not JSON, or JSON but not an object (a proxy's page, a list), is
    counted and sampled as an error; the run goes on (it raised AttributeError in a worker)."""
    bodies = {"B1": b"[1, 2]", "B2": b"<html>maintenance</html>", "B3": b'{"band": "B"}'}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=bodies[json.loads(request.content)["borrower_id"]])

    result = simulate_traffic(
        "http://127.0.0.1:8000",
        "secret",
        3,
        borrower_ids=["B1", "B2", "B3"],
        concurrency=1,
        transport=httpx.MockTransport(handler),
    )
    assert result["status_counts"] == {"200": 3} and result["bands"] == {"B": 1}
    assert result["errors"] == 2
    assert sorted(result["error_samples"]) == [
        "200: response is JSON but not an object (list), so not a decision",
        "200: response is not JSON",
    ]


def test_experiment_traffic_counts_arms_and_writes_the_generators_outcomes(tmp_path) -> None:
    """While an experiment runs the summary counts the arms; `outcomes_dir` gets the
    generator's outcomes (drawn from the true PDs) of exactly the applications decided."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        number = int(body["application"]["application_id"][1:])
        if number % 10 == 0:
            return httpx.Response(422, json={"detail": "bad"})
        arm = "challenger" if number % 5 == 1 else "champion"
        return httpx.Response(200, json={"band": "B", "arm": arm, "experiment_id": "exp_1"})

    result = simulate_traffic(
        "http://127.0.0.1:8000",
        "secret",
        40,
        concurrency=2,
        transport=httpx.MockTransport(handler),
        outcomes_dir=tmp_path / "landing" / "outcomes",
    )
    decided = result["status_counts"]["200"]
    assert sum(result["arms"].values()) == decided and result["arms"]["challenger"] > 0
    outcomes = pl.read_csv(result["outcomes_file"])
    assert outcomes.columns == ["application_id", "borrower_id", "outcome_date", "default_12m"]
    assert 0 < outcomes.height <= decided  # only matured applications have an outcome
    assert not any(int(a[1:]) % 10 == 0 for a in outcomes["application_id"])


def test_a_second_simulation_scores_new_borrowers_from_first_borrower(tmp_path) -> None:
    """`first_borrower` moves the population: a second experiment's traffic (and its
    outcomes file) never repeats the first one's borrowers."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"band": "B", "arm": "champion"})

    files = [
        simulate_traffic(
            "http://127.0.0.1:8000",
            "secret",
            30,
            first_borrower=first,
            transport=httpx.MockTransport(handler),
            outcomes_dir=tmp_path,
        )["outcomes_file"]
        for first in (90_000_000, 90_000_250)
    ]
    first, second = (set(pl.read_csv(f)["borrower_id"]) for f in files)
    assert files[0] != files[1] and first and second and not first & second
    assert min(second) >= "B90000250"


@pytest.mark.parametrize("first_borrower", [-1, 99_999_900])
def test_a_first_borrower_outside_the_eight_digits_is_refused(first_borrower, capsys) -> None:
    from credit_assets.cli import main

    argv = ["simulate-traffic", "--api-key", "k", "--requests", "300"]
    assert main([*argv, "--first-borrower", str(first_borrower)]) == 2
    assert "first_borrower must be between 0 and 99999500" in capsys.readouterr().err
