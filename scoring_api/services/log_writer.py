"""A decision as the lender sees it (response JSON) and as the log keeps it (one row)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from credit_assets.core.platform.decision_log import StoredDecision
from credit_assets.core.scoring import Decision, ScoringModel
from scoring_api.errors import FieldError
from scoring_api.services.callers import IDEMPOTENCY_HEADER
from scoring_api.services.features import RequestFeatures


def new_decision_id() -> str:
    """A UUIDv7 (RFC 9562) as 32 hex digits: the Unix time in milliseconds, then 74 random
    bits. Ids grow with time, so the decision log's primary key takes each new row at its
    right edge instead of on a random page of an index that grows forever, which costs
    PostgreSQL less CPU per group insert than uuid4's random ids."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # the RFC variant
    return f"{value:032x}"


@dataclass(frozen=True)
class LoggedDecision:
    """What a request returns: the response body and whether it replays an earlier decision."""

    decision_id: str
    body: dict[str, Any]
    body_json: str
    band: str | None
    replayed: bool = False


def _response_body(
    decision_id: str,
    now: datetime,
    model: ScoringModel,
    decision: Decision,
    features: RequestFeatures,
    reasons: list[dict[str, Any]],
) -> dict[str, Any]:
    """The response as the lender reads it, before any experiment fields."""
    return {
        "decision_id": decision_id,
        "scorable": decision.scorable,
        "score": decision.score,
        "pd": decision.pd,
        "band": decision.band,
        "reasons": reasons,
        "not_scorable_reason": decision.not_scorable_reason,
        "model_version": model.version,
        "lineage": {
            "model_run_id": model.record.run_id if model.record else None,
            "feature_snapshot_id": features.snapshot_id,
            "feature_source": features.source,
        },
        "scored_at": now.isoformat().replace("+00:00", "Z"),
    }


def _logged_features(model: ScoringModel, features: RequestFeatures) -> str:
    """What the decision was made from, for drift monitoring and to reproduce it: the
    online-store row as stored (it holds every model input), else the model's inputs."""
    if features.stored_json is not None:
        return features.stored_json
    return orjson.dumps(
        {name: features.features.get(name) for name in model.feature_names},
        default=str,
        option=orjson.OPT_SERIALIZE_NUMPY,
    ).decode()


def build_decision(
    *,
    lender: str,
    model: ScoringModel,
    decision: Decision,
    features: RequestFeatures,
    digest: str,
    idempotency_key: str | None,
    latency_ms: float,
    experiment_id: str | None = None,
    arm: str | None = None,
) -> tuple[LoggedDecision, dict[str, Any]]:
    """The response and its decision-log row. Inside an experiment both carry its id and the
    arm that decided; outside one, neither has them (responses are as they always were)."""
    decision_id = new_decision_id()
    now = datetime.now(UTC)
    reasons = decision.reasons_json()
    body = _response_body(decision_id, now, model, decision, features, reasons)
    if experiment_id is not None:
        body["experiment_id"] = experiment_id
        body["arm"] = arm
    body_json = orjson.dumps(body).decode()
    row = {
        "decision_id": decision_id,
        "lender": lender,
        "created_at": now.replace(tzinfo=None),
        "borrower_id": features.borrower_id,
        "inputs_digest": digest,
        "feature_snapshot_id": features.snapshot_id,
        "model_version": model.version,
        "scorable": decision.scorable,
        "score": decision.score,
        "pd": decision.pd,
        "band": decision.band,
        "reasons": orjson.dumps(reasons).decode(),
        "features": _logged_features(model, features),
        "latency_ms": latency_ms,
        "idempotency_key": idempotency_key,
        "response": body_json,
        "experiment_id": experiment_id,
        "arm": arm,
    }
    return LoggedDecision(decision_id, body, body_json, decision.band), row


def replay(stored: StoredDecision, digest: str, loc: list[str | int]) -> LoggedDecision:
    """The stored decision when the same request comes again under the same idempotency key."""
    if stored.inputs_digest != digest or stored.response is None:
        raise FieldError(
            loc,
            f"this {IDEMPOTENCY_HEADER} was already used with a different request body; "
            "use a new key for a new request",
        )
    body = json.loads(stored.response)
    return LoggedDecision(
        stored.decision_id, body, stored.response, body.get("band"), replayed=True
    )


def canonical_input(request_body: Mapping[str, Any]) -> Mapping[str, Any]:
    """What the inputs digest covers: the request as sent, without absent fields."""
    return {k: v for k, v in request_body.items() if v is not None}
