"""API-key scopes: 401 is about the key, 403 about what the key may do, 429 comes after both."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from credit_assets.core.platform.apikeys import revoke_api_key
from credit_assets.core.platform.db import migrated_engine
from tests.support.scoring import RunningApi, key_headers, running_api

SCORE = {"borrower_id": "b-good"}


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    """One app for the tests that only read answers (starting an app per test is slow)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("CREDIT_HOME", str(tmp_path_factory.mktemp("scopes_home")))
        monkeypatch.delenv("CREDIT_DATABASE_URL", raising=False)
        with running_api(monkeypatch, shadow="false") as running:
            yield running


def test_a_key_without_scores_write_gets_403_naming_the_scope(shared_api: RunningApi) -> None:
    models_only = key_headers(shared_api, "acme-bank", "models:read")
    single = shared_api.client.post("/v1/scores", json=SCORE, headers=models_only)
    batch = shared_api.client.post("/v1/scores/batch", json={"items": [SCORE]}, headers=models_only)
    for refused in (single, batch):
        assert refused.status_code == 403
        assert refused.json() == {"detail": "this API key lacks the scope scores:write"}
    assert len(shared_api.decision_rows()) == 0


def test_a_models_read_key_reads_the_current_model(shared_api: RunningApi) -> None:
    models_only = key_headers(shared_api, "acme-bank", "models:read")
    current = shared_api.client.get("/v1/models/current", headers=models_only)
    assert current.status_code == 200
    assert current.json()["version"] == shared_api.champion.version


def test_a_key_without_models_read_gets_403_on_the_current_model(shared_api: RunningApi) -> None:
    scoring_only = key_headers(shared_api, "acme-bank", "scores:write")
    refused = shared_api.client.get("/v1/models/current", headers=scoring_only)
    assert refused.status_code == 403
    assert refused.json() == {"detail": "this API key lacks the scope models:read"}


def test_401_is_for_the_key_and_403_for_its_scope(shared_api: RunningApi) -> None:
    client, path = shared_api.client, "/v1/models/current"
    scoring_only = key_headers(shared_api, "acme-bank", "scores:write")
    revoked = key_headers(shared_api, "acme-bank", "models:read")
    key_id = revoked["Authorization"].split("_")[1]
    assert revoke_api_key(migrated_engine(shared_api.settings.resolved_database_url), key_id)

    missing = client.get(path)
    invalid = client.get(path, headers={"X-API-Key": "ck_0123456789abcdef_nonsense"})
    not_yet_cached_then_revoked = client.get(path, headers=revoked)
    for unauthenticated in (missing, invalid, not_yet_cached_then_revoked):
        assert unauthenticated.status_code == 401
        assert unauthenticated.headers["WWW-Authenticate"] == "Bearer"

    forbidden = client.get(path, headers=scoring_only)
    assert forbidden.status_code == 403
    assert "WWW-Authenticate" not in forbidden.headers  # the key is fine; it may not do this
    assert client.get(path, headers={"X-API-Key": shared_api.key}).status_code == 200


def test_a_request_refused_for_its_scope_costs_no_rate_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with running_api(
        monkeypatch, rate_limit_per_second=0.01, rate_limit_burst=2, shadow="false"
    ) as api:
        scoring_only = key_headers(api, "acme-bank", "scores:write")
        statuses = [
            api.client.get("/v1/models/current", headers=scoring_only).status_code for _ in range(4)
        ]
        statuses += [
            api.client.get("/v1/models/current", headers=api.headers).status_code for _ in range(3)
        ]
        assert statuses == [403, 403, 403, 403, 200, 200, 429]


def test_a_malformed_idempotency_key_is_refused_before_it_costs_rate_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with running_api(
        monkeypatch, rate_limit_per_second=0.01, rate_limit_burst=2, shadow="false"
    ) as api:
        # The first is refused by FastAPI, the others by the fast path's call to the same rule.
        statuses = [
            api.score(SCORE, **{"Idempotency-Key": "k" * 181}).status_code for _ in range(3)
        ]
        statuses += [api.score(SCORE).status_code for _ in range(3)]
        assert statuses == [422, 422, 422, 200, 200, 429]


def test_the_scoring_routes_read_the_key_as_the_security_schemes_do() -> None:
    from scoring_api.services.callers import presented_key

    assert presented_key({"authorization": "Bearer ck_a", "x-api-key": "ck_b"}) == "ck_a"
    assert presented_key({"authorization": "bearer ck_a"}) == "ck_a"  # scheme is case-blind
    assert presented_key({"authorization": "Basic dXNlcg==", "x-api-key": "ck_b"}) == "ck_b"
    assert presented_key({"authorization": "Bearer ", "x-api-key": "ck_b"}) == "ck_b"
    assert presented_key({}) is None
