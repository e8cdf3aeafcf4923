"""FastAPI dependencies: the app's services, the calling lender, the model.

Who may call is decided in `scoring_api.services.callers` (`authenticate`, then
`authorize`); these only adapt it to FastAPI. On a route that takes a body, the request
gate (`scoring_api.gate`) has authenticated the key and checked its scope before the body
was read; the dependencies take the key it left in the request's scope. They are `async def` on purpose: a sync
dependency costs a thread-pool hop per request. Only a key not verified recently (scrypt,
a database read) leaves the event loop.

The scoring routes take one flat dependency, `scoring_call`, that reads the headers
itself: FastAPI resolves each nested dependency at a cost that, on the hot path, is a fair
share of a decision. Its OpenAPI description (security schemes, the Idempotency-Key
header) is declared on those routes with `SCORING_OPENAPI`. The other routes read the key
through the security schemes below, which also put them in the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from credit_assets.core.platform.apikeys import VerifiedKey
from credit_assets.core.scoring import ScoringModel
from scoring_api.gate import VERIFIED_KEY
from scoring_api.services import Services
from scoring_api.services.callers import (
    BORROWERS_ERASE,
    BORROWERS_READ,
    CONSENTS_WRITE,
    DATA_WRITE,
    DECISIONS_READ,
    IDEMPOTENCY_HEADER,
    IDEMPOTENCY_KEY_MAX,
    MODELS_READ,
    SCORES_WRITE,
    Caller,
    authenticate,
    authorize,
    known_scope,
    presented_key,
)

bearer_scheme = HTTPBearer(
    auto_error=False, description="`Authorization: Bearer ck_...` with the lender's API key."
)
api_key_scheme = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The lender's API key (`ck_...`)."
)


async def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


async def verified_key(
    request: Request,
    services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> VerifiedKey:
    """The caller's key, its lender and scopes; 401 when it is missing, invalid or revoked
    (429 after too many failed attempts). On a route that takes a body, the request gate
    has checked it already, before the body was read."""
    gated: VerifiedKey | None = request.scope.get(VERIFIED_KEY)
    if gated is not None:
        return gated
    presented = bearer.credentials if bearer is not None else api_key
    return await _authenticate(request, services, presented)


async def _authenticate(request: Request, services: Services, presented: str | None) -> VerifiedKey:
    return await authenticate(
        services.verifier,
        presented,
        failures=services.key_failures,
        address=request.client.host if request.client else None,
    )


VerifiedKeyDep = Annotated[VerifiedKey, Depends(verified_key)]


def require_scope(scope: str) -> Callable[..., Awaitable[str]]:
    """A dependency giving the lender of a valid key that holds `scope`: 401, 403, then 429."""
    known_scope(scope)

    async def lender_with_scope(services: ServicesDep, key: VerifiedKeyDep) -> str:
        return authorize(key, scope, services.limiter).lender

    return lender_with_scope


DecisionsLender = Annotated[str, Depends(require_scope(DECISIONS_READ))]
ModelsLender = Annotated[str, Depends(require_scope(MODELS_READ))]
DataLender = Annotated[str, Depends(require_scope(DATA_WRITE))]


def require_key_with(scope: str) -> Callable[..., Awaitable[VerifiedKey]]:
    """As `require_scope`, giving the key itself: for a route that records which key asked."""
    known_scope(scope)

    async def key_with_scope(services: ServicesDep, key: VerifiedKeyDep) -> VerifiedKey:
        authorize(key, scope, services.limiter)
        return key

    return key_with_scope


DecisionsReader = Annotated[VerifiedKey, Depends(require_key_with(DECISIONS_READ))]
BorrowersReader = Annotated[VerifiedKey, Depends(require_key_with(BORROWERS_READ))]
ConsentsWriter = Annotated[VerifiedKey, Depends(require_key_with(CONSENTS_WRITE))]
BorrowersEraser = Annotated[VerifiedKey, Depends(require_key_with(BORROWERS_ERASE))]

# For a route's `responses=`: what the key dependencies can answer.
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "An API key in the URL: refused (send it in a header)."},
    401: {"description": "Missing, invalid or revoked API key."},
    403: {"description": "The API key is valid but lacks the scope this operation needs."},
    429: {
        "description": "Rate limit exceeded, or too many failed API key attempts from this "
        "address or for this key id; see Retry-After."
    },
}


async def serving_model(services: ServicesDep) -> ScoringModel:
    """The model this request scores with, read once: a swap mid-request does not affect it."""
    return services.holder.require()


ServingModel = Annotated[ScoringModel, Depends(serving_model)]


# -- the scoring routes' flat dependency ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScoringCall:
    """Who is scoring, with which model (read once: a swap mid-request does not affect it)."""

    services: Services
    caller: Caller
    model: ScoringModel


async def scoring_call(request: Request) -> ScoringCall:
    """401, 403 (`scores:write`), 422 for a bad Idempotency-Key, 429, then 503 without a model."""
    services: Services = request.app.state.services
    headers = request.headers
    key: VerifiedKey | None = request.scope.get(VERIFIED_KEY)  # the gate checked it
    if key is None:
        key = await _authenticate(request, services, presented_key(headers))
    caller = authorize(key, SCORES_WRITE, services.limiter, headers.get(IDEMPOTENCY_HEADER))
    return ScoringCall(services, caller, services.holder.require())


ScoringCallDep = Annotated[ScoringCall, Depends(scoring_call)]

SCORING_OPENAPI: dict[str, Any] = {
    "security": [{"HTTPBearer": []}, {"APIKeyHeader": []}],
    "parameters": [
        {
            "name": IDEMPOTENCY_HEADER,
            "in": "header",
            "required": False,
            "description": "Optional. Repeat a request with the same key and body to get the "
            "same decision back (logged once); the same key with another body is refused with "
            f"422. 1 to {IDEMPOTENCY_KEY_MAX} characters.",
            "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX},
        }
    ],
}
