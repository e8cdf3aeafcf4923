"""Dependencies: the app's services, the calling lender (auth + rate limit), the serving model.

They are `async def` on purpose: a sync dependency costs a thread-pool hop per
request. Only a key not verified recently (scrypt, a database read) leaves the
event loop.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

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


async def authenticated_lender(
    services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> str:
    """The lender the API key belongs to; 401 without a valid key, 429 over the rate limit."""
    presented = bearer.credentials if bearer is not None else api_key
    challenge = {"WWW-Authenticate": "Bearer"}
    if not presented:
        raise ApiError(
            401, "missing API key: send Authorization: Bearer <key> or X-API-Key", challenge
        )
    lender = services.verifier.cached(presented)
    if lender is None:
        lender = await run_in_threadpool(services.verifier.verify, presented)
    if lender is None:
        raise ApiError(401, "invalid or revoked API key", challenge)
    wait = services.limiter.take(lender)
    if wait is not None:
        services.metrics.rate_limited.inc()
        raise ApiError(
            429,
            f"rate limit of {services.api_settings.rate_limit_per_second:g} requests per second exceeded",
            {"Retry-After": str(max(1, math.ceil(wait)))},
        )
    return lender


Lender = Annotated[str, Depends(authenticated_lender)]


async def serving_model(services: ServicesDep) -> ScoringModel:
    """The model this request scores with, read once: a swap mid-request does not affect it."""
    return services.holder.require()


ServingModel = Annotated[ScoringModel, Depends(serving_model)]

IDEMPOTENCY_KEY_MAX = 180


async def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Optional. Repeat a request with the same key and body to get the same "
            "decision back (logged once); the same key with another body is refused with 422.",
        ),
    ] = None,
) -> str | None:
    if key is not None and not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX:
        raise FieldError(
            ["header", "Idempotency-Key"], f"must be 1 to {IDEMPOTENCY_KEY_MAX} characters"
        )
    return key


IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]
