"""The scoring path on PostgreSQL: online features, decision log, idempotency, hot reload."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.scoring import (
    RunningApi,
    built_model,
    concurrent_requests_share_batches,
    running_api,
    save_and_register,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, postgres_url: str) -> Iterator[RunningApi]:
    monkeypatch.setenv("CREDIT_DATABASE_URL", postgres_url)
    with running_api(monkeypatch) as running:
        yield running


def test_scoring_by_id_on_postgres_is_logged_with_its_snapshot(api: RunningApi) -> None:
    body = api.score({"borrower_id": "b-good"}).json()
    [row] = api.decision_rows()
    assert row.decision_id == body["decision_id"]
    assert row.feature_snapshot_id == api.snapshot_id
    assert row.model_version == api.champion.version


def test_idempotent_retries_on_postgres_are_logged_once(api: RunningApi) -> None:
    first = api.score({"borrower_id": "b-late"}, **{"Idempotency-Key": "pg-1"}).json()
    assert api.score({"borrower_id": "b-late"}, **{"Idempotency-Key": "pg-1"}).json() == first
    assert api.score({"borrower_id": "b-good"}, **{"Idempotency-Key": "pg-1"}).status_code == 422
    assert len(api.decision_rows()) == 1


def test_batch_on_postgres_reads_features_in_one_query_and_reports_unknowns(
    api: RunningApi,
) -> None:
    results = api.batch([{"borrower_id": b} for b in ("b-good", "nobody", "b-thin")]).json()[
        "results"
    ]
    assert [r["status"] for r in results] == [200, 404, 200]
    assert len(api.decision_rows()) == 2


def test_hot_reload_on_postgres(api: RunningApi) -> None:
    newer = save_and_register(api.settings, built_model(iterations=80))
    assert api.services.holder.reload().version == newer.version
    assert api.score({"borrower_id": "b-good"}).json()["model_version"] == newer.version


def test_concurrent_requests_share_reads_and_commits_on_postgres(api: RunningApi) -> None:
    concurrent_requests_share_batches(api)
