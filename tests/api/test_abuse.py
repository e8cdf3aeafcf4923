"""Abuse of the API is cheap to refuse (`scoring_api.gate`): a request is authenticated and its
scope checked before a byte of its body is read, every body is bounded, a JSON body is strict
and shallow, identifiers are printable, a key never travels in a URL, and guessing keys is
braked. Where what the app reads matters, requests go straight to the app's ASGI callable
(`tests.support.asgi`); over real HTTP, see tests/reliability/test_api_abuse.py.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from uvicorn.logging import AccessFormatter

from credit_assets.core.platform import apikeys
from credit_assets.core.platform.apikeys import ApiKeyVerifier, create_api_key
from credit_assets.core.platform.db import migrated_engine
from scoring_api.gate import body_route
from scoring_api.jsonbody import MAX_DEPTH, NUL, TOO_DEEP
from scoring_api.urls import AccessLogRedaction
from tests.support.asgi import asgi_request
from tests.support.scoring import (
    RunningApi,
    application,
    key_headers,
    running_api,
    utility_records,
)

LIMIT = 64 * 1024  # CREDIT_API_MAX_BODY_BYTES and CREDIT_INGEST_MAX_BYTES in these tests
BODY_ROUTES = [
    "/v1/scores",
    "/v1/scores/batch",
    "/v1/sources/utility_payments/records",
    "/v1/sources/utility_payments/files",
]
JSON = {"Content-Type": "application/json"}
CHUNKED = {**JSON, "Transfer-Encoding": "chunked"}
WRONG_KEY = f"ck_{'0' * 16}_not-the-secret"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningApi]:
    monkeypatch.setenv("CREDIT_INGEST_MAX_BYTES", str(LIMIT))
    with running_api(
        monkeypatch, shadow="false", max_body_bytes=LIMIT, failed_key_limit=3
    ) as running:
        yield running


def endless(chunk: bytes = b" " * 8192) -> Iterator[bytes]:
    return itertools.repeat(chunk)


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def detail(response: Any) -> dict[str, Any]:
    [error] = response.json()["detail"]
    return error


# -- authentication before the body -------------------------------------------------------


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_a_body_route_refuses_a_missing_wrong_or_unscoped_key_before_reading_the_body(
    api: RunningApi, path: str
) -> None:
    models_only = key_headers(api, "acme-bank", "models:read")
    for headers, status in (
        ({}, 401),
        ({"Authorization": f"Bearer {WRONG_KEY}"}, 401),
        (models_only, 403),
    ):
        answer = asgi_request(api, "POST", path, headers={**headers, **CHUNKED}, chunks=endless())
        assert (answer.status, answer.reads) == (status, 0)
        assert answer.headers["connection"] == "close"  # the body still on the wire is not read


def test_a_key_checked_while_the_database_is_down_is_503_and_no_failed_attempt(
    api: RunningApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_key = key_headers(api, "acme-bank")

    def down(*_args: Any, **_kwargs: Any) -> None:
        raise sa.exc.OperationalError("SELECT", {}, ConnectionRefusedError("refused"))

    monkeypatch.setattr(apikeys, "_live_key", down)
    answers = [
        asgi_request(api, "POST", "/v1/scores", headers={**new_key, **CHUNKED}, chunks=endless())
        for _ in range(4)  # more than the failed-key limit of 3: none of them is a failure
    ]
    assert [(a.status, a.reads) for a in answers] == [(503, 0)] * 4
    assert answers[0].headers["retry-after"] == "5"


def test_every_operation_that_takes_a_body_is_guarded(api: RunningApi) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    taking = sorted(
        (method.upper(), path)
        for path, operations in paths.items()
        for method, operation in operations.items()
        if "requestBody" in operation
    )
    assert [path for _, path in taking] == [
        "/v1/borrowers/{borrower_id}/consents",
        "/v1/borrowers/{borrower_id}/erasure",
        "/v1/scores",
        "/v1/scores/batch",
        "/v1/sources/{source}/files",
        "/v1/sources/{source}/records",
    ]
    for method, path in taking:
        named = path.replace("{source}", "rent_payments").replace("{borrower_id}", "B0001234")
        assert body_route(method, named) is not None


# -- bounded bodies -------------------------------------------------------------------------


def test_a_declared_length_over_the_limit_is_413_before_a_byte_is_read(api: RunningApi) -> None:
    for path in ("/v1/scores", "/v1/models/current"):
        answer = asgi_request(
            api,
            "POST" if path == "/v1/scores" else "GET",
            path,
            headers={**api.headers, **JSON, "Content-Length": str(10**9)},
            chunks=endless(),
        )
        assert (answer.status, answer.reads) == (413, 0)
        assert answer.json() == {
            "detail": f"the body is larger than {LIMIT} bytes (CREDIT_API_MAX_BODY_BYTES)"
        }
        assert answer.headers["connection"] == "close"


@pytest.mark.parametrize(
    ("path", "content_type", "setting"),
    [
        ("/v1/scores", "application/json", "CREDIT_API_MAX_BODY_BYTES"),
        ("/v1/scores/batch", "text/plain", "CREDIT_API_MAX_BODY_BYTES"),
        ("/v1/sources/utility_payments/records", "application/json", "CREDIT_API_MAX_BODY_BYTES"),
        ("/v1/sources/utility_payments/files", "text/csv", "CREDIT_INGEST_MAX_BYTES"),
    ],
)
def test_a_streamed_body_is_413_as_soon_as_it_passes_the_limit(
    api: RunningApi, path: str, content_type: str, setting: str
) -> None:
    writer = key_headers(api, "acme-bank", "scores:write", "data:write")
    answer = asgi_request(
        api,
        "POST",
        path,
        headers={**writer, "Content-Type": content_type, "Transfer-Encoding": "chunked"},
        chunks=endless(b"x" * 8192),
    )
    assert answer.status == 413
    assert answer.reads == LIMIT // 8192 + 1  # the first chunk past the limit, no further
    assert setting in answer.json()["detail"]


# -- JSON bodies: strict and shallow ---------------------------------------------------------


@pytest.mark.parametrize("path", BODY_ROUTES[:3])
def test_json_nested_5000_deep_is_422_naming_the_problem_never_500(
    api: RunningApi, path: str
) -> None:
    writer = key_headers(api, "acme-bank", "scores:write", "data:write")
    response = api.client.post(path, content=nested(5000), headers={**writer, **JSON})
    assert response.status_code == 422
    assert detail(response) == {"type": "value_error", "loc": ["body"], "msg": TOO_DEEP}


def test_json_is_refused_one_level_past_the_bound_and_named_where(api: RunningApi) -> None:
    # Two levels of objects, then arrays: MAX_DEPTH levels in all, then one more.
    deep = b'{"borrower_id": "b-good", "records": {"x": ' + nested(MAX_DEPTH - 2) + b"}}"
    too_deep = b'{"borrower_id": "b-good", "records": {"x": ' + nested(MAX_DEPTH - 1) + b"}}"
    at_bound = api.client.post("/v1/scores", content=deep, headers={**api.headers, **JSON})
    past = api.client.post("/v1/scores", content=too_deep, headers={**api.headers, **JSON})
    assert at_bound.status_code == 422 and detail(at_bound)["msg"] != TOO_DEEP
    assert past.status_code == 422 and detail(past)["msg"] == TOO_DEEP
    assert detail(past)["loc"][:4] == ["body", "records", "x", 0]


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_nan_and_infinity_are_422_naming_the_field_everywhere_a_number_goes(
    api: RunningApi, token: str
) -> None:
    inline = {
        "application": application("b-nan"),
        "records": {"utility_payments": utility_records(3, 0)},
    }
    body = _with_number(inline, '"loan_amount": 8000', token)
    scored = api.client.post("/v1/scores", content=body, headers={**api.headers, **JSON})
    assert scored.status_code == 422
    assert detail(scored)["loc"] == ["body", "application", "loan_amount"]
    assert "is not a JSON number" in detail(scored)["msg"]

    late = _with_number(inline, '"days_late": 0', token)
    batch = b'{"items": [{"borrower_id": "b-good"}, ' + late + b"]}"
    batched = api.client.post("/v1/scores/batch", content=batch, headers={**api.headers, **JSON})
    assert detail(batched)["loc"] == [
        "body",
        "items",
        1,
        "records",
        "utility_payments",
        0,
        "days_late",
    ]

    writer = key_headers(api, "acme-bank", "data:write")
    record = f'[{{"bill_id": "u1", "amount_due": {token}}}]'.encode()
    pushed = api.client.post(
        "/v1/sources/utility_payments/records", content=record, headers={**writer, **JSON}
    )
    assert pushed.status_code == 422 and detail(pushed)["loc"] == ["body", 0, "amount_due"]
    assert api.decision_rows() == []


def _with_number(payload: dict[str, Any], field: str, token: str) -> bytes:
    import json

    text = json.dumps(payload)
    assert field in text
    return text.replace(field, field.split(":")[0] + ": " + token, 1).encode()


# -- identifiers -----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["b\x00good", "b\x1b[31mgood", "b\ngood", "b\u202egood", "b" * 101])
def test_a_borrower_id_must_be_printable_and_of_sane_length(api: RunningApi, bad: str) -> None:
    alone = api.score({"borrower_id": bad})
    batch = api.batch([{"borrower_id": "b-good"}, {"borrower_id": bad}])
    inline = api.score({"application": application(bad, application_id="a-1"), "records": {}})
    assert alone.status_code == batch.status_code == inline.status_code == 422
    assert detail(alone)["loc"] == ["body", "borrower_id"]
    assert detail(batch)["loc"] == ["body", "items", 1, "borrower_id"]
    assert detail(inline)["loc"] == ["body", "application", "borrower_id"]
    assert api.decision_rows() == []  # nothing reached the decision log


def test_other_identifiers_must_be_printable_too(api: RunningApi) -> None:
    ids = application("b-good", application_id="app\x1b[2J")
    inline = api.score({"application": ids, "records": {}})
    assert detail(inline)["loc"] == ["body", "application", "application_id"]
    keyed = api.score({"borrower_id": "b-good"}, **{"Idempotency-Key": "k\x7f1"})
    assert detail(keyed)["loc"] == ["header", "Idempotency-Key"]
    decision = api.client.get("/v1/decisions/abc%E2%80%AEdef", headers=api.headers)
    assert decision.status_code == 422 and detail(decision)["loc"] == ["path", "decision_id"]
    upload = api.client.get(
        "/v1/uploads/up%00x", headers=key_headers(api, "acme-bank", "data:write")
    )
    assert upload.status_code == 422 and detail(upload)["loc"] == ["path"]
    nul_text = api.score(
        {"application": application("b-x", product="personal\x00loan"), "records": {}}
    )
    assert detail(nul_text) == {
        "type": "value_error",
        "loc": ["body", "application", "product"],
        "msg": NUL,
    }
    assert api.decision_rows() == []


@pytest.mark.postgres
def test_a_nul_borrower_id_on_postgres_is_422_and_fails_no_request_beside_it(
    monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    # Before, the NUL reached the feature read and the decision-log write a batch of
    # requests shares: PostgreSQL refused it, and every request in that batch got 503.
    monkeypatch.setenv("CREDIT_DATABASE_URL", postgres_url)
    with running_api(monkeypatch, shadow="false") as api:
        borrowers = ["b-good", "b-late", "b-thin", "b\x00evil"] * 50
        barrier = threading.Barrier(len(borrowers))
        answers: list[tuple[str, int]] = []

        def one(borrower: str) -> None:
            barrier.wait()
            answers.append((borrower, api.score({"borrower_id": borrower}).status_code))

        threads = [threading.Thread(target=one, args=(b,)) for b in borrowers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted({("\x00" in borrower, status) for borrower, status in answers}) == [
            (False, 200),
            (True, 422),
        ]
        assert len(api.decision_rows()) == 150


# -- keys in URLs ---------------------------------------------------------------------------


def test_a_key_in_the_url_is_refused_and_says_to_use_the_header(api: RunningApi) -> None:
    for query in (f"api_key={api.key}", f"anything={api.key}", "access_token=abc"):
        refused = api.client.post(f"/v1/scores?{query}", json={"borrower_id": "b-good"})
        assert refused.status_code == 400
        assert "Authorization: Bearer" in refused.json()["detail"]
    with_header_too = api.client.get(f"/v1/models/current?apikey={api.key}", headers=api.headers)
    assert with_header_too.status_code == 400
    assert api.decision_rows() == []


def test_the_access_log_shows_no_key_whatever_the_url() -> None:
    secret = "s3cr3t-Value_x"
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        (
            "127.0.0.1:5000",
            "POST",
            f"/v1/scores?a=1&api_key=ck_{'a' * 16}_{secret}&b=2",
            "1.1",
            400,
        ),
        None,
    )
    assert AccessLogRedaction().filter(record)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s').format(record)
    assert secret not in line
    assert line == (
        '127.0.0.1:5000 - "POST /v1/scores?a=1&api_key=[redacted]&b=2 HTTP/1.1" 400 Bad Request'
    )


# -- guessing keys ---------------------------------------------------------------------------


@pytest.fixture
def scrypts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every secret scrypt hashes from now on."""
    hashed: list[str] = []
    real = apikeys._hash_secret

    def counting(secret: str, salt: bytes) -> bytes:
        hashed.append(secret)
        return real(secret, salt)

    monkeypatch.setattr(apikeys, "_hash_secret", counting)
    return hashed


def guess(api: RunningApi, key: str, client: str) -> Any:
    headers = {"Authorization": f"Bearer {key}", **JSON}
    return asgi_request(api, "POST", "/v1/scores", headers=headers, chunks=[b"{}"], client=client)


def test_after_three_failed_keys_an_address_gets_429_without_scrypt(
    api: RunningApi, scrypts: list[str]
) -> None:
    assert api.score({"borrower_id": "b-good"}).status_code == 200  # the lender's key, proven
    scrypts.clear()
    wrong = [f"ck_{i:016x}_guess-{i}" for i in range(5)]
    statuses = [guess(api, key, "10.0.0.66").status for key in wrong]
    assert statuses == [401, 401, 401, 429, 429]
    assert len(scrypts) == 3  # the refused ones were never checked
    limited = guess(api, wrong[0], "10.0.0.66")
    assert limited.status == 429 and int(limited.headers["retry-after"]) >= 1
    # A key this process proved is never braked; a new one is, from that address only.
    assert guess(api, api.key, "10.0.0.66").status == 422  # authenticated: `{}` is no request
    new_key = create_api_key(migrated_engine(api.settings.resolved_database_url), "acme-bank")
    assert guess(api, new_key, "10.0.0.66").status == 429
    assert guess(api, new_key, "10.0.0.7").status == 422


def test_guesses_at_one_key_id_are_braked_from_every_address(
    api: RunningApi, scrypts: list[str]
) -> None:
    key_id = api.key.split("_")[1]
    statuses = [guess(api, f"ck_{key_id}_guess{i}", f"10.0.1.{i}").status for i in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    assert len(scrypts) == 3
    assert api.score({"borrower_id": "b-good"}).status_code == 429  # not proven here yet
    assert guess(api, api.key, "10.0.1.99").status == 429


def test_one_new_key_sent_by_many_threads_at_once_is_one_attempt(api: RunningApi) -> None:
    headers = key_headers(api, "acme-bank")
    barrier = threading.Barrier(12)
    statuses: list[int] = []

    def one() -> None:
        barrier.wait()
        response = api.client.post("/v1/scores", json={"borrower_id": "b-good"}, headers=headers)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=one) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 12  # a limit of 3 failed attempts never saw 12 attempts


def test_a_wrong_key_being_checked_does_not_hold_up_a_valid_one(
    api: RunningApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = migrated_engine(api.settings.resolved_database_url)
    verifier = ApiKeyVerifier(engine)
    release = threading.Event()
    real = apikeys._hash_secret

    def slow_for_guesses(secret: str, salt: bytes) -> bytes:
        if secret.startswith("guess"):
            release.wait(10)
        return real(secret, salt)

    monkeypatch.setattr(apikeys, "_hash_secret", slow_for_guesses)
    guessing = threading.Thread(target=verifier.verify, args=(f"ck_{'1' * 16}_guess",))
    guessing.start()
    try:
        started = time.perf_counter()
        assert verifier.verify(create_api_key(engine, "acme-bank")) is not None
        assert time.perf_counter() - started < 2.0  # not behind the guess still being checked
        assert guessing.is_alive()
    finally:
        release.set()
        guessing.join()
