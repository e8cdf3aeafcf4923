"""The serving model: champion from the registry, hot reload, refusal on a checksum mismatch."""

from __future__ import annotations

import pytest

from tests.support.scoring import (
    built_model,
    running_api,
    save_and_register,
    tamper_registry_sha,
    wait_for,
)


def test_without_a_champion_the_service_is_not_ready_and_scoring_is_503(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with running_api(monkeypatch, champion=False) as api:
        assert api.client.get("/healthz").json() == {"status": "ok"}
        ready = api.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["ready"] is False and "no champion" in ready.json()["detail"]
        scored = api.score({"borrower_id": "b-good"})
        assert scored.status_code == 503
        assert "no champion" in scored.json()["detail"]
        assert api.client.get("/v1/models/current", headers=api.headers).status_code == 503


def test_a_newly_promoted_champion_is_served_without_a_restart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with running_api(monkeypatch, model_poll_seconds=0.1) as api:
        assert api.score({"borrower_id": "b-good"}).json()["model_version"] == api.champion.version
        newer = save_and_register(api.settings, built_model(iterations=80))
        assert wait_for(lambda: api.client.get("/readyz").json()["model_version"] == newer.version)
        assert api.score({"borrower_id": "b-good"}).json()["model_version"] == newer.version
        metrics = api.client.get("/metrics").text
        assert f'credit_api_model_info{{version="{newer.version}"}} 1.0' in metrics
        assert api.champion.version not in metrics


def test_a_request_in_flight_keeps_the_model_it_started_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with running_api(monkeypatch) as api:
        holder = api.services.holder
        taken = holder.require()
        newer = save_and_register(api.settings, built_model(iterations=80))
        assert holder.reload().version == newer.version
        assert taken.version == api.champion.version
        assert holder.require().version == newer.version


def test_a_champion_failing_its_checksum_is_refused_and_the_old_model_keeps_serving(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with running_api(monkeypatch) as api:
        newer = save_and_register(api.settings, built_model(iterations=80))
        tamper_registry_sha(api.settings, newer.version)
        api.services.holder.reload()
        ready = api.client.get("/readyz")
        assert ready.status_code == 200
        body = ready.json()
        assert body["model_version"] == api.champion.version
        assert body["champion_version"] == newer.version
        assert body["refused"]["version"] == newer.version
        assert "ArtifactIntegrityError" in body["refused"]["reason"]
        assert api.score({"borrower_id": "b-good"}).json()["model_version"] == api.champion.version
        assert "credit_api_model_refusals_total 1.0" in api.client.get("/metrics").text


def test_current_model_reports_version_metrics_fairness_and_lineage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with running_api(monkeypatch) as api:
        body = api.client.get("/v1/models/current", headers=api.headers).json()
        assert body["version"] == api.champion.version
        assert body["manifest_sha256"] == api.champion.manifest_sha256
        assert body["metrics"] == {"auc": 0.71}
        assert body["fairness"] == {"worst_adverse_impact_ratio": 0.93}
        assert body["promoted_at"] is not None
        assert body["lineage"]["model_run_id"] == api.champion.run_id
        assert body["lineage"]["training_set_sha256"] == "abc123"
        assert body["features"][0] == "loan_amount" and body["risk_bands"]["floor_band"] == "E"


def test_the_openapi_contract_documents_every_route_and_field(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with running_api(monkeypatch) as api:
        spec = api.client.get("/openapi.json").json()
    assert {
        "/v1/scores",
        "/v1/scores/batch",
        "/v1/models/current",
        "/v1/decisions/{decision_id}",
        "/healthz",
        "/readyz",
    } <= set(spec["paths"])
    schemas = spec["components"]["schemas"]
    for name in ("ScoreResponse", "DecisionRecord"):
        fields = schemas[name]["properties"]
        assert all("description" in field or "$ref" in field for field in fields.values())
    assert spec["components"]["schemas"]["ScoreRequest"]["examples"]
    assert schemas["DecisionRecord"]["description"] and schemas["DecisionRecord"]["examples"]
    for path, method in (("/v1/decisions/{decision_id}", "get"), ("/v1/models/current", "get")):
        assert {"401", "403", "429"} <= set(spec["paths"][path][method]["responses"])
    # The scoring routes read their key and Idempotency-Key without FastAPI dependencies
    # (deps.SCORING_OPENAPI): the contract must still say so.
    schemes = set(spec["components"]["securitySchemes"])
    for path in ("/v1/scores", "/v1/scores/batch"):
        operation = spec["paths"][path]["post"]
        assert {"401", "403", "422", "429", "503"} <= set(operation["responses"])
        assert {name for requirement in operation["security"] for name in requirement} == schemes
        assert [p["name"] for p in operation["parameters"] if p["in"] == "header"] == [
            "Idempotency-Key"
        ]
