"""Who is calling: the one rule that decides whether a request may do what it asks.

`authorize` decides a caller from a verified API key: the lender, if the key holds the
operation's scope, the Idempotency-Key it sent is well formed and the lender is within its
rate limit. The FastAPI dependencies (`scoring_api.deps`) and the by-id fast path
(`scoring_api.fastpath`) both call it, so a scope, the header or the limit is judged in
one place.

The checks that cost nothing come first and the rate limit last: 403 without the scope,
422 for a malformed Idempotency-Key, then 429; a refused request spends no budget. That is
also what lets the fast path call the same function and hand any refusal to FastAPI: the
request is decided again there, identically, and answered by the app's handlers.

Before that, `authenticate` proves the key (401 when it is missing, invalid or revoked):
a key verified within the cache TTL is known without I/O (`ApiKeyVerifier.cached`), any
other costs scrypt and a database read, in the thread pool. The fast path takes only a
cached key and leaves the others to FastAPI, so it never waits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fastapi.concurrency import run_in_threadpool

from credit_assets.core.platform.apikeys import SCOPES, ApiKeyVerifier, VerifiedKey
from scoring_api.errors import ApiError, FieldError, RateLimitedError
from scoring_api.services.ratelimit import RateLimiter


def known_scope(scope: str) -> str:
    """`scope` if an API key can hold it (`apikeys.SCOPES`), else ValueError naming them."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}: choose from {', '.join(SCOPES)}")
    return scope


SCORES_WRITE = known_scope("scores:write")  # POST /v1/scores, /v1/scores/batch
DECISIONS_READ = known_scope("decisions:read")  # GET /v1/decisions/{decision_id}
MODELS_READ = known_scope("models:read")  # GET /v1/models/current
DATA_WRITE = known_scope("data:write")  # POST /v1/sources/{source}/..., GET /v1/uploads/{id}

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 180  # characters
IDEMPOTENCY_LOC: list[str | int] = ["header", IDEMPOTENCY_HEADER]

CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True, slots=True)
class Caller:
    """A request allowed to proceed: its lender and the Idempotency-Key it sent (checked)."""

    lender: str
    idempotency_key: str | None = None


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key in `Authorization: Bearer <key>`, else in `X-API-Key` (as the two security
    schemes in `scoring_api.deps` read them)."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials:
            return credentials
    return headers.get("x-api-key")


async def authenticate(verifier: ApiKeyVerifier, presented: str | None) -> VerifiedKey:
    """The presented key, its lender and scopes; 401 when it is missing, invalid or revoked."""
    if not presented:
        raise ApiError(
            401, "missing API key: send Authorization: Bearer <key> or X-API-Key", CHALLENGE
        )
    verified = verifier.cached(presented)
    if verified is None:
        verified = await run_in_threadpool(verifier.verify, presented)
    if verified is None:
        raise ApiError(401, "invalid or revoked API key", CHALLENGE)
    return verified


def checked_idempotency_key(key: str | None) -> str | None:
    """The Idempotency-Key header as sent (None when absent); 422 naming it when malformed."""
    if key is not None and not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX:
        raise FieldError(IDEMPOTENCY_LOC, f"must be 1 to {IDEMPOTENCY_KEY_MAX} characters")
    return key


def authorize(
    key: VerifiedKey, scope: str, limiter: RateLimiter, idempotency_key: str | None = None
) -> Caller:
    """The caller, if `key` holds `scope`, `idempotency_key` is well formed and the lender is
    within its rate limit: 403 (the body names the scope), then 422, then 429 with
    Retry-After. Only an allowed request spends a token."""
    if not key.allows(scope):
        raise ApiError(403, f"this API key lacks the scope {scope}")
    checked = checked_idempotency_key(idempotency_key)
    wait = limiter.take(key.lender)
    if wait is not None:
        raise RateLimitedError(limiter.rate, wait)
    return Caller(key.lender, checked)
