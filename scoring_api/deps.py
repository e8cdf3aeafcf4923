"""Dependencies: the app's services, the calling lender (auth, scope, rate limit), the model.

They are `async def` on purpose: a sync dependency costs a thread-pool hop per
request. Only a key not verified recently (scrypt, a database read) leaves the
event loop.

The scoring routes take one flat dependency, `scoring_caller`, that reads the
headers itself: FastAPI resolves each nested dependency at a cost (measured in
process: the nested key, scope, model and Idempotency-Key dependencies cost
0.27 ms a request, the flat one 0.01 ms), which on the hot path is a quarter
of a decision. Its OpenAPI description (security schemes, the Idempotency-Key
header) is declared on those routes with `SCORING_OPENAPI`. Every other route
uses the ordinary dependencies below; all share `authenticate` and `authorize`.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from credit_assets.core.platform.apikeys import SCOPES, VerifiedKey
from credit_assets.core.scoring import ScoringModel
from scoring_api.errors import ApiError, FieldError
from scoring_api.services import Services

bearer_scheme = HTTPBearer(
    auto_error=False, description="`Authorization: Bearer ck_...` with the lender's API key."
)
api_key_scheme = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The lender's API key (`ck_...`)."
)


async def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def authenticate(services: Services, presented: str | None) -> VerifiedKey:
    """The presented key, its lender and scopes; 401 when it is missing, invalid or revoked."""
    if not presented:
        raise ApiError(
            401, "missing API key: send Authorization: Bearer <key> or X-API-Key", CHALLENGE
        )
    verified = services.verifier.cached(presented)
    if verified is None:
        verified = await run_in_threadpool(services.verifier.verify, presented)
    if verified is None:
        raise ApiError(401, "invalid or revoked API key", CHALLENGE)
    return verified


def authorize(services: Services, key: VerifiedKey, scope: str) -> str:
    """The key's lender if it holds `scope` and is within its rate limit.

    403 for a valid key without `scope` (the body names it); then 429 over the rate
    limit, so a refused request costs no budget."""
    if not key.allows(scope):
        raise ApiError(403, f"this API key lacks the scope {scope}")
    wait = services.limiter.take(key.lender)
    if wait is not None:
        services.metrics.rate_limited.inc()
        raise ApiError(
            429,
            f"rate limit of {services.api_settings.rate_limit_per_second:g} requests per second exceeded",
            {"Retry-After": str(max(1, math.ceil(wait)))},
        )
    return key.lender


async def verified_key(
    services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> VerifiedKey:
    """The caller's key, its lender and scopes; 401 when it is missing, invalid or revoked."""
    return await authenticate(services, bearer.credentials if bearer is not None else api_key)


VerifiedKeyDep = Annotated[VerifiedKey, Depends(verified_key)]


def require_scope(scope: str) -> Callable[..., Awaitable[str]]:
    """A dependency giving the lender of a valid key that holds `scope`: 401, 403, then 429."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}: choose from {', '.join(SCOPES)}")

    async def lender_with_scope(services: ServicesDep, key: VerifiedKeyDep) -> str:
        return authorize(services, key, scope)

    return lender_with_scope


DecisionsLender = Annotated[str, Depends(require_scope("decisions:read"))]
ModelsLender = Annotated[str, Depends(require_scope("models:read"))]

# For a route's `responses=`: what the key dependencies can answer.
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, invalid or revoked API key."},
    403: {"description": "The API key is valid but lacks the scope this operation needs."},
    429: {"description": "Rate limit exceeded; see Retry-After."},
}


async def serving_model(services: ServicesDep) -> ScoringModel:
    """The model this request scores with, read once: a swap mid-request does not affect it."""
    return services.holder.require()


ServingModel = Annotated[ScoringModel, Depends(serving_model)]

IDEMPOTENCY_KEY_MAX = 180


def checked_idempotency_key(key: str | None) -> str | None:
    if key is not None and not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX:
        raise FieldError(
            ["header", "Idempotency-Key"], f"must be 1 to {IDEMPOTENCY_KEY_MAX} characters"
        )
    return key




# -- the scoring routes' flat dependency ---------------------------------------------------


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key in `Authorization: Bearer <key>`, else in `X-API-Key` (as the two schemes read them)."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials:
            return credentials
    return headers.get("x-api-key")


@dataclass(frozen=True)
class Caller:
    """Who is scoring, with which model (read once: a swap mid-request does not affect it)."""

    services: Services
    lender: str
    model: ScoringModel
    idempotency_key: str | None


async def scoring_caller(request: Request) -> Caller:
    """401, 403 (`scores:write`), 429, 503 without a model, 422 for a bad Idempotency-Key."""
    services: Services = request.app.state.services
    headers = request.headers
    key = await authenticate(services, presented_key(headers))
    lender = authorize(services, key, "scores:write")
    return Caller(
        services,
        lender,
        services.holder.require(),
        checked_idempotency_key(headers.get("idempotency-key")),
    )


ScoringCaller = Annotated[Caller, Depends(scoring_caller)]

SCORING_OPENAPI: dict[str, Any] = {
    "security": [{"HTTPBearer": []}, {"APIKeyHeader": []}],
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "Optional. Repeat a request with the same key and body to get the "
            "same decision back (logged once); the same key with another body is refused with "
            f"422. 1 to {IDEMPOTENCY_KEY_MAX} characters.",
            "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX},
        }
    ],
}
