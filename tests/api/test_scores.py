"""POST /v1/scores and /v1/scores/batch against the real app, model, snapshot and decision log."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from credit_assets.core.platform.decision_log import inputs_digest
from credit_assets.core.scoring import INSUFFICIENT_HISTORY
from tests.support.scoring import (
    RunningApi,
    application,
    concurrent_requests_share_batches,
    payloads,
    running_api,
    utility_records,
)

SCORABLE = ("b-good", "b-late", "b-bureau")


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningApi]:
    """A fresh workspace and app: for tests that count decision-log rows or change settings."""
    with running_api(monkeypatch) as running:
        yield running


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    """One app for the tests that only read answers (starting an app per test is slow)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("CREDIT_HOME", str(tmp_path_factory.mktemp("shared_home")))
        monkeypatch.delenv("CREDIT_DATABASE_URL", raising=False)
        with running_api(monkeypatch) as running:
            yield running


def test_scoring_by_borrower_id_returns_a_complete_decision(shared_api: RunningApi) -> None:
    response = shared_api.score({"borrower_id": "b-late"})
    assert response.status_code == 200
    body = response.json()
    assert body["scorable"] is True
    assert 300 <= body["score"] <= 850 and 0 < body["pd"] < 1
    assert body["band"] in {"A", "B", "C", "D", "E"}
    contributions = [r["contribution"] for r in body["reasons"]]
    assert 1 <= len(body["reasons"]) <= 4 and contributions == sorted(contributions, reverse=True)
    assert all(set(r) == {"code", "text", "contribution"} for r in body["reasons"])
    assert body["model_version"] == shared_api.champion.version
    assert body["lineage"] == {
        "model_run_id": shared_api.champion.run_id,
        "feature_snapshot_id": shared_api.snapshot_id,
        "feature_source": "online_store",
    }
    assert body["not_scorable_reason"] is None and body["decision_id"] and body["scored_at"]


@pytest.mark.parametrize("borrower", SCORABLE)
def test_inline_scoring_equals_scoring_by_id(shared_api: RunningApi, borrower: str) -> None:
    by_id = shared_api.score({"borrower_id": borrower}).json()
    inline = shared_api.score(payloads()[borrower]).json()
    for field in ("scorable", "score", "pd", "band", "reasons", "model_version"):
        assert inline[field] == by_id[field], field
    assert inline["lineage"]["feature_source"] == "inline"
    assert inline["lineage"]["feature_snapshot_id"] is None


def test_a_thin_file_is_not_scorable_and_says_why(shared_api: RunningApi) -> None:
    body = shared_api.score({"borrower_id": "b-thin"}).json()
    assert body["scorable"] is False
    assert body["not_scorable_reason"] == INSUFFICIENT_HISTORY
    assert body["score"] is None and body["pd"] is None and body["reasons"] == []


def test_every_decision_returned_is_in_the_decision_log(api: RunningApi) -> None:
    bodies = [api.score({"borrower_id": b}).json() for b in ("b-good", "b-thin")]
    bodies.append(api.score(payloads()["b-late"]).json())
    batch = api.batch([{"borrower_id": "b-bureau"}, {"borrower_id": "nobody"}]).json()
    bodies.append(batch["results"][0]["decision"])
    rows = {row.decision_id: row for row in api.decision_rows()}
    assert set(rows) == {b["decision_id"] for b in bodies}
    for body in bodies:
        row = rows[body["decision_id"]]
        assert json.loads(row.response) == body
        assert (row.lender, row.model_version, row.score, row.band) == (
            "acme-bank",
            api.champion.version,
            body["score"],
            body["band"],
        )
        assert json.loads(row.reasons) == body["reasons"]
        assert row.latency_ms > 0 and len(row.inputs_digest) == 64
    by_id = rows[bodies[0]["decision_id"]]
    assert by_id.borrower_id == "b-good" and by_id.feature_snapshot_id == api.snapshot_id
    assert by_id.inputs_digest == inputs_digest({"borrower_id": "b-good"})


def test_unknown_borrower_is_404(shared_api: RunningApi) -> None:
    logged = len(shared_api.decision_rows())
    response = shared_api.score({"borrower_id": "nobody"})
    assert response.status_code == 404
    assert "unknown borrower" in response.json()["detail"]
    assert len(shared_api.decision_rows()) == logged


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (
            {"application": application("x", loan_amount="lots")},
            ["body", "application", "loan_amount"],
        ),
        ({"application": application("x", product="yacht")}, ["body", "application", "product"]),
        (
            {"application": application("x", application_date="15/06/2024")},
            ["body", "application", "application_date"],
        ),
        (
            {
                "application": application("x"),
                "records": {"utility_payments": [{**utility_records(1, 0)[0], "due_date": "soon"}]},
            },
            ["body", "records", "utility_payments", 0, "due_date"],
        ),
        ({"application": application("x"), "records": {"horoscopes": []}}, ["body", "records"]),
        ({}, ["body", "borrower_id"]),
        ({"borrower_id": "b-good", "application": application("x")}, ["body", "application"]),
        ({"borrower_id": ""}, ["body", "borrower_id"]),
        ({"borrower_id": "b-good", "colour": "red"}, ["body", "colour"]),
    ],
)
def test_bad_input_is_422_naming_the_field(shared_api: RunningApi, body: dict, loc: list) -> None:
    response = shared_api.score(body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


def test_a_malformed_json_body_is_422_not_500(shared_api: RunningApi) -> None:
    response = shared_api.client.post(
        "/v1/scores",
        content=b"{not json",
        headers={**shared_api.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422


def test_batch_reports_errors_per_item_and_scores_the_rest(api: RunningApi) -> None:
    response = api.batch(
        [
            {"borrower_id": "b-good"},
            {"borrower_id": "nobody"},
            {"application": application("x", loan_amount=-5)},
            payloads()["b-thin"],
        ]
    )
    assert response.status_code == 200
    body = response.json()
    assert [r["status"] for r in body["results"]] == [200, 404, 422, 200]
    assert (body["scored"], body["failed"]) == (2, 2)
    assert body["results"][2]["error"]["detail"][0]["loc"] == [
        "body",
        "items",
        2,
        "application",
        "loan_amount",
    ]
    assert body["results"][3]["decision"]["scorable"] is False
    assert len(api.decision_rows()) == 2


def test_batch_and_single_scoring_give_identical_decisions(shared_api: RunningApi) -> None:
    items = [{"borrower_id": b} for b in SCORABLE] + [payloads()[b] for b in SCORABLE]
    batch = shared_api.batch(items).json()["results"]
    for item, result in zip(items, batch, strict=True):
        single = shared_api.score(item).json()
        for field in ("scorable", "score", "pd", "band", "reasons", "lineage"):
            assert result["decision"][field] == single[field]


def test_a_batch_over_the_limit_is_413(monkeypatch: pytest.MonkeyPatch) -> None:
    with running_api(monkeypatch, max_batch=3) as api:
        response = api.batch([{"borrower_id": "b-good"}] * 4)
        assert response.status_code == 413
        assert "at most 3" in response.json()["detail"]
        assert api.batch([{"borrower_id": "b-good"}] * 3).status_code == 200


def test_the_same_idempotency_key_and_body_returns_the_same_decision_logged_once(
    api: RunningApi,
) -> None:
    first = api.score({"borrower_id": "b-good"}, **{"Idempotency-Key": "loan-77"})
    again = api.score({"borrower_id": "b-good"}, **{"Idempotency-Key": "loan-77"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(api.decision_rows()) == 1


def test_the_same_idempotency_key_with_another_body_is_422(api: RunningApi) -> None:
    api.score({"borrower_id": "b-good"}, **{"Idempotency-Key": "loan-78"})
    response = api.score({"borrower_id": "b-late"}, **{"Idempotency-Key": "loan-78"})
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert (
        detail["loc"] == ["header", "Idempotency-Key"] and "different request body" in detail["msg"]
    )
    assert len(api.decision_rows()) == 1


def test_a_batch_retried_with_its_idempotency_key_is_logged_once(api: RunningApi) -> None:
    items = [{"borrower_id": "b-good"}, {"borrower_id": "b-late"}]
    first = api.batch(items, **{"Idempotency-Key": "batch-1"}).json()
    again = api.batch(items, **{"Idempotency-Key": "batch-1"}).json()
    assert again == first
    assert len(api.decision_rows()) == 2


def test_without_a_valid_api_key_the_answer_is_401(shared_api: RunningApi) -> None:
    body = {"borrower_id": "b-good"}
    assert shared_api.client.post("/v1/scores", json=body).status_code == 401
    bad = shared_api.key[:-4] + "abcd"
    assert (
        shared_api.client.post(
            "/v1/scores", json=body, headers={"Authorization": f"Bearer {bad}"}
        ).status_code
        == 401
    )
    assert (
        shared_api.client.post(
            "/v1/scores", json=body, headers={"X-API-Key": "ck_nonsense"}
        ).status_code
        == 401
    )
    assert (
        shared_api.client.post(
            "/v1/scores", json=body, headers={"X-API-Key": shared_api.key}
        ).status_code
        == 200
    )
    assert shared_api.client.get("/v1/models/current").status_code == 401


def test_a_lender_over_its_rate_limit_gets_429_with_retry_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with running_api(monkeypatch, rate_limit_per_second=0.5, rate_limit_burst=2) as api:
        statuses = [api.score({"borrower_id": "b-good"}).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        limited = api.score({"borrower_id": "b-good"})
        assert int(limited.headers["Retry-After"]) >= 1


def test_a_database_failure_is_503_not_500(
    api: RunningApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*_args, **_kwargs):
        raise sa.exc.OperationalError(
            "SELECT features", {}, ConnectionRefusedError("connection refused")
        )

    monkeypatch.setattr("scoring_api.services.store.read_many", down)
    response = api.score({"borrower_id": "b-good"})
    assert response.status_code == 503
    assert "database is unavailable" in response.json()["detail"]
    assert response.headers["Retry-After"]


def test_metrics_count_decisions_by_band_and_name_the_model(api: RunningApi) -> None:
    band = api.score({"borrower_id": "b-good"}).json()["band"]
    api.score({"borrower_id": "b-thin"})
    text = api.client.get("/metrics").text
    assert f'credit_api_decisions_total{{band="{band}"}} 1.0' in text
    assert 'credit_api_decisions_total{band="not_scorable"} 1.0' in text
    assert f'credit_api_model_info{{version="{api.champion.version}"}} 1.0' in text
    assert 'credit_api_scoring_latency_seconds_count{endpoint="score"} 2.0' in text


def test_concurrent_requests_share_reads_and_commits(api: RunningApi) -> None:
    concurrent_requests_share_batches(api)
