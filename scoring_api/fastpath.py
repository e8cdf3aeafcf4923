"""POST /v1/scores by borrower id, answered without FastAPI's per-request machinery.

FastAPI's handling of a request (routing through the included router, dependency
resolution, body validation, the exception and exit-stack middleware) costs about as
much CPU as deciding it. The common request (a borrower id, a loaded model, allowed by
`services.callers.authorize` as the route's dependency allows it) is answered here,
through the same services, the same `ScoringService.score` and the same response as the
route in `routes/scores.py`, which stays the definition of the operation (OpenAPI,
validation, errors).

It wraps the app's whole middleware stack (`ScoringApp.build_middleware_stack`),
so the common request skips FastAPI's error, telemetry and body-limit layers as
well; the request gate in front of it (`scoring_api.gate`) has already checked the key
(left in the scope), bounded and checked the body. It reads a body only when the request
declares a Content-Length of at most `FAST_BODY_MAX` bytes (a borrower id is well under
that).

Anything else is handed to FastAPI untouched, before anything has happened: a
body without a Content-Length or longer than `FAST_BODY_MAX`, an
inline payload, a body the schema refuses, no model, and every refusal of `authorize`
(a missing scope, a bad Idempotency-Key, a lender over its rate limit): `authorize`
spends a rate-limit token only when it allows the request, so FastAPI decides the
request again, identically, and answers it. Errors once scoring has started (unknown
borrower, database down, idempotency conflict) are rendered by the app's own exception
handlers, as the route's would be, and so is anything unexpected (the handler for
`Exception`: a 500 with a plain message).
"""

from __future__ import annotations

import time

from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from credit_assets.core.platform.apikeys import VerifiedKey
from credit_assets.core.scoring import ScoringModel
from scoring_api.errors import ApiError, error_response
from scoring_api.gate import VERIFIED_KEY, replayed
from scoring_api.routes.scores import SCORE_PATH, json_response
from scoring_api.schemas import ScoreRequest
from scoring_api.services import Services
from scoring_api.services.callers import IDEMPOTENCY_HEADER, SCORES_WRITE, Caller, authorize

FAST_BODY_MAX = 4096  # bytes; a by-id request body is a few dozen


class ScoreByIdFastPath:
    """ASGI middleware around the app's middleware stack for `POST /v1/scores` by borrower id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != SCORE_PATH
            or not _small_body(scope)
        ):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        try:
            call = None if body is None else _fast_call(scope, body)
        except Exception as exc:  # as FastAPI's ServerErrorMiddleware would answer it
            await (await error_response(scope, exc))(scope, receive, send)
            return
        if call is None:
            await self.app(scope, replayed(body or b"", receive), send)
            return
        services, caller, model, request = call
        started = time.perf_counter()
        try:
            result = await services.scoring.score(
                caller.lender, request, model, caller.idempotency_key
            )
        except Exception as exc:
            await (await error_response(scope, exc))(scope, receive, send)
            return
        services.metrics.score_latency.observe(time.perf_counter() - started)
        await json_response(result.body_json, result.replayed)(scope, receive, send)


def _small_body(scope: Scope) -> bool:
    """The request declares a body of at most FAST_BODY_MAX bytes."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.isdigit() and int(value) <= FAST_BODY_MAX
    return False


FastCall = tuple[Services, Caller, ScoringModel, ScoreRequest]


def _fast_call(scope: Scope, body: bytes) -> FastCall | None:
    """What the route's dependency would give, or None to let FastAPI handle the request.

    Everything that may hand the request over comes before `authorize`, the one step that
    spends a rate-limit token, so a request handed over has spent nothing."""
    services: Services = scope["app"].state.services
    headers = Headers(scope=scope)
    if headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return None
    key: VerifiedKey | None = scope.get(VERIFIED_KEY)
    if key is None:
        return None  # not checked by the gate: FastAPI authenticates it
    model = services.holder.current
    if model is None:
        return None
    try:
        request = ScoreRequest.model_validate_json(body)
    except ValidationError:
        return None
    if request.borrower_id is None or request.application is not None or request.records:
        return None
    try:
        caller = authorize(key, SCORES_WRITE, services.limiter, headers.get(IDEMPOTENCY_HEADER))
    except ApiError:
        return None  # nothing spent: FastAPI refuses it again and answers
    return services, caller, model, request


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None when the client went away first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
