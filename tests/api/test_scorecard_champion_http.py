"""A scorecard champion serves like CatBoost: over real HTTP (uvicorn on 127.0.0.1), loaded
from the registry with its checksum verified, hot-reloaded in place of a CatBoost champion,
answering with the same decision shape and points-based reasons."""

from __future__ import annotations

import httpx

from credit_assets.core.features import feature_catalogue
from credit_assets.core.platform.apikeys import create_api_key
from credit_assets.core.platform.db import migrated_engine
from credit_assets.core.platform.settings import Settings
from credit_assets.core.scoring import ScoringModel
from tests.support.production import (
    free_port,
    http_status,
    process_env,
    running,
    scoring_api_command,
)
from tests.support.scoring import (
    built_model,
    built_scorecard,
    contracts,
    payload_features,
    payloads,
    publish_borrowers,
    save_and_register,
    tamper_registry_sha,
    wait_for,
)


def _ready_version(port: int) -> str | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).json().get("model_version")
    except (httpx.HTTPError, ValueError):
        return None


def test_a_scorecard_champion_replaces_catboost_and_answers_with_points_reasons(tmp_path) -> None:
    settings = Settings()
    catboost = save_and_register(settings, built_model())
    publish_borrowers(settings)
    key = create_api_key(migrated_engine(settings.resolved_database_url), "acme-bank")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = process_env({"CREDIT_API_MODEL_POLL_SECONDS": "0.2"})
    headers = {"X-API-Key": key}
    with running("scoring-api", scoring_api_command(port), tmp_path / "logs", env=env) as api:
        api.wait_until(lambda: http_status(f"{base}/readyz") == 200, timeout=90, what="/readyz")
        first = httpx.post(f"{base}/v1/scores", json={"borrower_id": "b-late"}, headers=headers)
        assert first.status_code == 200 and first.json()["model_version"] == catboost.version

        scorecard = save_and_register(settings, built_scorecard())
        assert wait_for(lambda: _ready_version(port) == scorecard.version, 60), "no hot reload"
        current = httpx.get(f"{base}/v1/models/current", headers=headers).json()
        assert current["family"] == "scorecard" and current["version"] == scorecard.version
        assert current["manifest_sha256"] == scorecard.manifest_sha256

        local = ScoringModel.load(settings, scorecard)
        texts = {f.reason_code: f.reason_text for f in feature_catalogue(contracts()).features}
        for borrower in ("b-good", "b-late"):
            response = httpx.post(
                f"{base}/v1/scores", json={"borrower_id": borrower}, headers=headers
            )
            assert response.status_code == 200, response.text
            body = response.json()
            expected = local.score_one(payload_features(payloads()[borrower]))
            assert body["model_version"] == scorecard.version and body["scorable"]
            assert body["score"] == expected.score and body["band"] == expected.band
            assert abs(body["pd"] - expected.pd) < 1e-9
            reasons = body["reasons"]
            assert [r["code"] for r in reasons] == [r.code for r in expected.reasons]
            assert len(reasons) <= 4 and all(texts[r["code"]] == r["text"] for r in reasons)
        late = httpx.post(f"{base}/v1/scores", json={"borrower_id": "b-late"}, headers=headers)
        # Late utility payments lose the most points: they lead the late payer's reasons.
        top = late.json()["reasons"][0]
        top_features = local.reason_map.code_features[local.reason_map.codes.index(top["code"])]
        assert any(name.startswith("utility_") for name in top_features), top

        # A scorecard whose artifact fails its checksum is refused; the champion keeps serving.
        tampered = save_and_register(settings, built_scorecard(seed=7))
        tamper_registry_sha(settings, tampered.version)
        assert wait_for(
            lambda: (
                (httpx.get(f"{base}/readyz", timeout=2).json().get("refused") or {}).get("version")
                == tampered.version
            )
        )
        assert _ready_version(port) == scorecard.version
