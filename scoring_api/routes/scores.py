"""POST /v1/scores and /v1/scores/batch."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from scoring_api.deps import AUTH_RESPONSES, SCORING_OPENAPI, ScoringCallDep
from scoring_api.errors import ApiError, FieldError
from scoring_api.gate import GatedRoute
from scoring_api.schemas import BatchScoreRequest, BatchScoreResponse, ScoreRequest, ScoreResponse

SCORE_PATH = "/v1/scores"
# The request gate has read, bounded and parsed the body: the routes take it as it is.
router = APIRouter(prefix=SCORE_PATH, tags=["scores"], route_class=GatedRoute)

_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    413: {"description": "The body is larger than CREDIT_API_MAX_BODY_BYTES."},
    422: {
        "description": "A field is invalid (an identifier with a control character, NaN or "
        "Infinity, a NUL character, JSON nested more than 64 deep); `detail[].loc` names it."
    },
    503: {"description": "No verified model loaded, or the database is unavailable; retry later."},
}


def json_response(body: str, replayed: bool = False) -> Response:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return Response(content=body, media_type="application/json", headers=headers)


@router.post(
    "",
    response_model=ScoreResponse,
    summary="Score one borrower",
    openapi_extra=SCORING_OPENAPI,
    responses={
        **_ERRORS,
        404: {"description": "Unknown borrower_id (not in the feature snapshot)."},
    },
)
async def score(call: ScoringCallDep, body: ScoreRequest) -> Response:
    """Score by `borrower_id` (features from the latest published snapshot) or inline from an
    `application` and its alternative-data `records`. The decision is in the decision log
    before it is returned. (By-id requests usually take the same path through
    `scoring_api.fastpath`, without FastAPI's per-request overhead.)"""
    started = time.perf_counter()
    services, caller = call.services, call.caller
    result = await services.scoring.score(caller.lender, body, call.model, caller.idempotency_key)
    services.metrics.score_latency.observe(time.perf_counter() - started)
    return json_response(result.body_json, result.replayed)


@router.post(
    "/batch",
    response_model=BatchScoreResponse,
    summary="Score many borrowers",
    openapi_extra=SCORING_OPENAPI,
    responses={
        **_ERRORS,
        413: {
            "description": "More items than CREDIT_API_MAX_BATCH, or a body larger than "
            "CREDIT_API_MAX_BODY_BYTES."
        },
    },
)
async def score_batch(call: ScoringCallDep, body: BatchScoreRequest) -> Response:
    """Up to CREDIT_API_MAX_BATCH items, each scored as by POST /v1/scores. An item that fails
    (unknown borrower, invalid field) gets its own status and error; the others are scored.
    With an Idempotency-Key, item *i* is logged under `<key>#<i>`."""
    services, caller, model = call.services, call.caller, call.model
    limit = services.api_settings.max_batch
    if len(body.items) > limit:
        raise ApiError(413, f"items: {len(body.items)} items, at most {limit} per batch")
    started = time.perf_counter()
    outcomes = await services.scoring.score_batch(
        caller.lender, body.items, model, caller.idempotency_key
    )
    results = []
    for index, outcome in outcomes:
        if isinstance(outcome, ApiError):
            error = outcome.body()["detail"] if isinstance(outcome, FieldError) else outcome.detail
            results.append(
                f'{{"index":{index},"status":{outcome.status},"decision":null,'
                f'"error":{json.dumps({"detail": error})}}}'
            )
        else:
            results.append(
                f'{{"index":{index},"status":200,"decision":{outcome.body_json},"error":null}}'
            )
    scored = sum(1 for _, o in outcomes if not isinstance(o, ApiError))
    payload = (
        f'{{"model_version":{json.dumps(model.version)},"scored":{scored},'
        f'"failed":{len(outcomes) - scored},"results":[{",".join(results)}]}}'
    )
    services.metrics.batch_latency.observe(time.perf_counter() - started)
    return json_response(payload)
