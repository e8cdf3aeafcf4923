"""Shadow scoring: a registered, unpromoted challenger decides on live traffic off the response path."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from credit_assets.core.monitoring.shadow_comparison import shadow_comparison
from credit_assets.core.platform.db import migrated_engine, shadow_decisions
from credit_assets.core.platform.decision_log import load_shadow_pairs
from credit_assets.core.platform.registry import RegistryRecord, promote, shadow_candidate
from credit_assets.core.scoring import ScoringModel
from scoring_api.schemas import ScoreRequest
from scoring_api.services.shadow import ShadowScorer
from tests.support.scoring import (
    RunningApi,
    built_model,
    payloads,
    running_api,
    save_and_register,
)

CHALLENGER_ITERATIONS = 80  # another model than the champion's 60 trees: other scores
# Single requests by id and inline (one thin file, not scorable) and a batch of three.
SINGLE = [
    {"borrower_id": "b-good"},
    {"borrower_id": "b-late"},
    {"borrower_id": "b-bureau"},
    {"borrower_id": "b-thin"},
    payloads()["b-late"],
    payloads()["b-good"],
]
BATCH = [{"borrower_id": "b-bureau"}, {"borrower_id": "b-good"}, payloads()["b-late"]]
N_DECISIONS = len(SINGLE) + len(BATCH)
PER_REQUEST = ("decision_id", "scored_at")  # differ between any two requests


def _traffic(api: RunningApi) -> list[dict[str, Any]]:
    """The decisions returned for SINGLE then BATCH, in order."""
    bodies = []
    for body in SINGLE:
        response = api.score(body)
        assert response.status_code == 200
        bodies.append(response.json())
    batch = api.batch(BATCH)
    assert batch.status_code == 200
    bodies += [item["decision"] for item in batch.json()["results"]]
    return bodies


def _comparable(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in PER_REQUEST}


def _register_challenger(api: RunningApi) -> RegistryRecord:
    record = save_and_register(
        api.settings, built_model(iterations=CHALLENGER_ITERATIONS), promote_it=False
    )
    api.services.holder.reload()  # what the poller does every CREDIT_API_MODEL_POLL_SECONDS
    return record


def _shadow_rows(api: RunningApi) -> list[Any]:
    engine = migrated_engine(api.settings.resolved_database_url)
    with engine.connect() as conn:
        return conn.execute(sa.select(shadow_decisions)).fetchall()


def _wait_for_rows(api: RunningApi, n: int, timeout: float = 15.0) -> list[Any]:
    deadline = time.monotonic() + timeout
    rows = _shadow_rows(api)
    while len(rows) < n and time.monotonic() < deadline:
        time.sleep(0.05)
        rows = _shadow_rows(api)
    return rows


def _tamper_artifact(record: RegistryRecord) -> None:
    model_file = Path(record.artifact_uri) / "model.cbm"
    os.chmod(model_file, os.stat(model_file).st_mode | stat.S_IWUSR)
    with open(model_file, "ab") as handle:
        handle.write(b"tampered")


def test_shadow_scoring_leaves_the_champions_responses_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with running_api(monkeypatch) as api:
        without_challenger = _traffic(api)
        challenger = _register_challenger(api)
        assert api.client.get("/readyz").json()["shadow"] == {
            "state": "active",
            "version": challenger.version,
            "reason": None,
        }
        with_challenger = _traffic(api)
    assert [_comparable(b) for b in with_challenger] == [_comparable(b) for b in without_challenger]
    assert {b["model_version"] for b in with_challenger} == {api.champion.version}


def test_shadow_decisions_are_the_challengers_scores_keyed_by_the_champions_decision(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with running_api(monkeypatch) as api:
        challenger = _register_challenger(api)
        bodies = _traffic(api)
        rows = {r.decision_id: r for r in _wait_for_rows(api, N_DECISIONS)}
        features = [
            api.services.scoring.features_for(ScoreRequest(**body)).features
            for body in SINGLE + BATCH
        ]
        metrics = api.client.get("/metrics").text
    assert set(rows) == {b["decision_id"] for b in bodies}
    assert {r.model_version for r in rows.values()} == {challenger.version}
    reference = ScoringModel.load(api.settings, challenger)
    for body, row_features in zip(bodies, features, strict=True):
        expected = reference.score_one(row_features)
        row = rows[body["decision_id"]]
        assert (row.score, row.band, row.pd) == (expected.score, expected.band, expected.pd)
    assert any(rows[b["decision_id"]].score != b["score"] for b in bodies if b["scorable"])
    assert f'credit_api_shadow_decisions_total{{outcome="logged"}} {N_DECISIONS}.0' in metrics
    assert 'credit_api_shadow_decisions_total{outcome="dropped"} 0.0' in metrics


def test_a_challenger_failing_its_checksum_is_refused_for_shadow_and_the_champion_is_unaffected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with running_api(monkeypatch) as api:
        challenger = save_and_register(
            api.settings, built_model(iterations=CHALLENGER_ITERATIONS), promote_it=False
        )
        _tamper_artifact(challenger)
        api.services.holder.reload()
        ready = api.client.get("/readyz")
        bodies = _traffic(api)
        time.sleep(0.2)  # room for a (wrong) background write to land
        rows = _shadow_rows(api)
    assert ready.status_code == 200 and ready.json()["ready"] is True
    shadow = ready.json()["shadow"]
    assert shadow["state"] == "refused" and shadow["version"] == challenger.version
    assert "ArtifactIntegrityError" in shadow["reason"]
    assert ready.json()["refused"] is None and ready.json()["model_version"] == api.champion.version
    assert {b["model_version"] for b in bodies} == {api.champion.version}
    assert rows == []


def test_shadow_scoring_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    with running_api(monkeypatch, shadow="false") as api:
        _register_challenger(api)
        assert api.client.get("/readyz").json()["shadow"] == {
            "state": "disabled",
            "version": None,
            "reason": None,
        }
        _traffic(api)
        time.sleep(0.2)
        assert _shadow_rows(api) == []
        assert "credit_api_shadow_decisions_total" not in api.client.get("/metrics").text


def test_shadow_pairs_yield_agreement_and_band_migration(monkeypatch: pytest.MonkeyPatch) -> None:
    with running_api(monkeypatch) as api:
        challenger = _register_challenger(api)
        _traffic(api)
        assert len(_wait_for_rows(api, N_DECISIONS)) == N_DECISIONS
        champion, shadow = load_shadow_pairs(
            migrated_engine(api.settings.resolved_database_url), challenger.version
        )
    comparison = shadow_comparison(champion, shadow)
    assert comparison.n_compared == N_DECISIONS
    assert comparison.n_champion_only == comparison.n_shadow_only == 0
    assert comparison.band_agreement is not None and 0.0 <= comparison.band_agreement <= 1.0
    assert comparison.mean_abs_score_shift is not None and comparison.mean_abs_score_shift > 0
    assert sum(sum(row.values()) for row in comparison.migration.values()) == N_DECISIONS
    assert comparison.migration["not scorable"] == {"not scorable": 1}


def test_only_a_challenger_newer_than_the_champions_promotion_is_shadowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from credit_assets.core.platform.settings import Settings

    settings = Settings()
    engine = migrated_engine(settings.resolved_database_url)
    save_and_register(settings, built_model(), promote_it=False)  # passed over
    champion = save_and_register(settings, built_model(iterations=CHALLENGER_ITERATIONS))
    assert shadow_candidate(engine, champion) is None
    assert shadow_candidate(engine, None) is None
    newer = save_and_register(settings, built_model(), promote_it=False)
    assert shadow_candidate(engine, champion).version == newer.version
    promoted = promote(engine, newer.version, run_id="promo")
    assert shadow_candidate(engine, promoted) is None  # passed_over predates every promotion


class _Holder:
    def __init__(self, shadow: Any) -> None:
        self.shadow = shadow


def test_a_full_shadow_queue_drops_and_counts_instead_of_waiting() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    # Not started: nothing drains the queue, as under a burst the thread cannot keep up with.
    scorer = ShadowScorer(sa.create_engine("sqlite://"), _Holder(object()), registry, capacity=3)
    started = time.perf_counter()
    scorer.submit([("d1", {}), ("d2", {})])
    scorer.submit([("d3", {}), ("d4", {})])
    scorer.submit([("d5", {})])
    assert time.perf_counter() - started < 0.05
    assert (scorer.pending, scorer.dropped) == (3, 2)
    text = generate_latest(registry).decode()
    assert 'credit_api_shadow_decisions_total{outcome="dropped"} 2.0' in text
    assert "credit_api_shadow_queue_depth 3.0" in text


def test_without_a_shadow_model_nothing_is_queued() -> None:
    from prometheus_client import CollectorRegistry

    scorer = ShadowScorer(sa.create_engine("sqlite://"), _Holder(None), CollectorRegistry())
    scorer.submit([("d1", {})])
    assert (scorer.pending, scorer.dropped) == (0, 0)
