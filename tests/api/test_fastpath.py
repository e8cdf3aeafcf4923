"""The by-id fast path (`scoring_api.fastpath`): it answers exactly as the route does, and hands
every other request to FastAPI before anything has happened. The request gate in front of it
has already checked the key (`scoring_api.gate`), so a request without a valid key or with
the wrong scope never reaches it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from scoring_api import fastpath
from tests.support.scoring import RunningApi, application, key_headers, running_api


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Per POST /v1/scores, whether the fast path took it (True) or handed it to FastAPI."""
    taken: list[bool] = []
    original = fastpath._fast_call

    def recording(scope: Any, body: bytes) -> Any:
        call = original(scope, body)
        taken.append(call is not None)
        return call

    monkeypatch.setattr(fastpath, "_fast_call", recording)
    return taken


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningApi]:
    with running_api(monkeypatch, shadow="false") as running:
        yield running


def comparable(body: dict) -> dict:
    """A decision without what differs between two decisions on the same inputs."""
    return {k: v for k, v in body.items() if k not in ("decision_id", "scored_at")}


def test_a_by_id_request_is_answered_as_the_route_answers_it(
    api: RunningApi, served: list[bool]
) -> None:
    first = api.score({"borrower_id": "b-good"})  # the gate verifies the new key first
    second = api.score({"borrower_id": "b-good"})  # now cached
    assert served == [True, True]
    assert first.status_code == second.status_code == 200
    assert first.headers["content-type"] == second.headers["content-type"] == "application/json"
    assert comparable(first.json()) == comparable(second.json())
    assert second.json()["reasons"] and second.json()["lineage"]["feature_snapshot_id"]
    assert [r.decision_id for r in api.decision_rows()] == [
        first.json()["decision_id"],
        second.json()["decision_id"],
    ]
    text = api.client.get("/metrics").text
    assert 'credit_api_scoring_latency_seconds_count{endpoint="score"} 2.0' in text


def test_everything_but_the_common_case_is_handed_to_fastapi(
    api: RunningApi, served: list[bool]
) -> None:
    assert api.score({"borrower_id": "b-good"}).status_code == 200  # caches the key
    served.clear()
    inline = api.score({"application": application("new-1"), "records": {}})
    extra_field = api.score({"borrower_id": "b-good", "colour": "red"})
    no_key = api.client.post("/v1/scores", json={"borrower_id": "b-good"})
    long_key = api.score({"borrower_id": "b-good"}, **{"Idempotency-Key": "k" * 181})
    not_json = api.client.post(
        "/v1/scores",
        content=b'{"borrower_id": "b-good"}',
        headers={**api.headers, "Content-Type": "text/plain"},
    )
    assert served == [False, False, False, False]  # no_key: refused by the gate before it
    assert inline.status_code == 200 and inline.json()["lineage"]["feature_source"] == "inline"
    assert extra_field.status_code == 422
    assert extra_field.json()["detail"][0]["loc"] == ["body", "colour"]
    assert no_key.status_code == 401
    assert long_key.status_code == 422
    assert long_key.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert not_json.status_code == 422


def test_a_key_without_the_scope_is_refused_before_the_fast_path_even_once_cached(
    api: RunningApi, served: list[bool]
) -> None:
    models_only = key_headers(api, "acme-bank", "models:read")
    assert api.client.get("/v1/models/current", headers=models_only).status_code == 200
    refused = api.client.post("/v1/scores", json={"borrower_id": "b-good"}, headers=models_only)
    assert served == []  # the gate refused it before its body was read
    assert refused.status_code == 403
    assert refused.json() == {"detail": "this API key lacks the scope scores:write"}


def test_errors_after_scoring_started_come_from_the_apps_handlers(
    api: RunningApi, served: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert api.score({"borrower_id": "b-good"}).status_code == 200
    unknown = api.score({"borrower_id": "nobody"})
    first = api.score({"borrower_id": "b-late"}, **{"Idempotency-Key": "fp-1"})
    again = api.score({"borrower_id": "b-late"}, **{"Idempotency-Key": "fp-1"})
    conflict = api.score({"borrower_id": "b-good"}, **{"Idempotency-Key": "fp-1"})

    def down(*_args: Any, **_kwargs: Any) -> None:
        raise sa.exc.OperationalError("SELECT", {}, ConnectionRefusedError("refused"))

    monkeypatch.setattr("scoring_api.services.store.read_many", down)
    unavailable = api.score({"borrower_id": "b-good"})
    assert served == [True, True, True, True, True, True]
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "unknown borrower: not in the current feature snapshot"}
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert conflict.status_code == 422
    assert conflict.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert unavailable.status_code == 503 and unavailable.headers["Retry-After"]
    assert "database is unavailable" in unavailable.json()["detail"]


def test_a_lender_over_its_limit_is_answered_429_by_fastapi_once(
    monkeypatch: pytest.MonkeyPatch, served: list[bool]
) -> None:
    with running_api(
        monkeypatch, shadow="false", rate_limit_per_second=0.5, rate_limit_burst=3
    ) as api:
        statuses = [api.score({"borrower_id": "b-good"}).status_code for _ in range(4)]
        text = api.client.get("/metrics").text
    # 1st to 3rd: the fast path (the gate verified the key), 4th: refused, handed over.
    assert statuses == [200, 200, 200, 429]
    assert served == [True, True, True, False]
    assert "credit_api_rate_limited_total 1.0" in text


def test_a_body_without_a_small_declared_length_is_left_to_fastapi_unread(
    api: RunningApi, served: list[bool]
) -> None:
    assert api.score({"borrower_id": "b-good"}).status_code == 200  # caches the key
    served.clear()
    headers = {**api.headers, "Content-Type": "application/json"}
    # Valid JSON, but longer than the fast path ever buffers.
    padded = b'{"borrower_id": "b-good"' + b" " * (fastpath.FAST_BODY_MAX + 1) + b"}"
    long_body = api.client.post("/v1/scores", content=padded, headers=headers)

    def chunks() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding chunked
        yield b'{"borrower_id": '
        yield b'"b-good"}'

    chunked = api.client.post("/v1/scores", content=chunks(), headers=headers)
    assert served == []  # the fast path never looked at either body
    assert long_body.status_code == chunked.status_code == 200
    assert len(api.decision_rows()) == 3


def test_an_unexpected_error_in_the_fast_path_is_the_apps_500(
    api: RunningApi, served: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert api.score({"borrower_id": "b-good"}).status_code == 200

    def broken(_lender: str) -> None:
        raise RuntimeError("limiter state corrupted")

    monkeypatch.setattr(api.services.limiter, "take", broken)
    failed = api.score({"borrower_id": "b-good"})
    assert failed.status_code == 500
    assert failed.json() == {"detail": "internal error; it has been logged"}
    assert len(api.decision_rows()) == 1  # nothing was decided
