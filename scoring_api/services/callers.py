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
other costs scrypt and a database read, in the thread pool. Guessing is braked: a client
address or a key id with too many failed attempts in a window (CREDIT_API_FAILED_KEY_LIMIT,
CREDIT_API_FAILED_KEY_WINDOW_SECONDS) is answered 429 without running scrypt, unless the key
was already proven in this process. On a route that takes a body, the request gate
(`scoring_api.gate`) authenticates and checks the scope before the body is read; the
dependencies and the fast path take the key it verified.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fastapi.concurrency import run_in_threadpool

from credit_assets.core.platform.apikeys import (
    SCOPES,
    ApiKeyVerifier,
    VerifiedKey,
    parse_api_key,
)
from scoring_api.errors import ApiError, FieldError, KeyAttemptsLimitedError, RateLimitedError
from scoring_api.schemas import identifier_problem
from scoring_api.services.ratelimit import FailedKeyLimiter, RateLimiter


def known_scope(scope: str) -> str:
    """`scope` if an API key can hold it (`apikeys.SCOPES`), else ValueError naming them."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}: choose from {', '.join(SCOPES)}")
    return scope


SCORES_WRITE = known_scope("scores:write")  # POST /v1/scores, /v1/scores/batch
DECISIONS_READ = known_scope("decisions:read")  # GET /v1/decisions/{decision_id}
MODELS_READ = known_scope("models:read")  # GET /v1/models/current
DATA_WRITE = known_scope("data:write")  # POST /v1/sources/{source}/..., GET /v1/uploads/{id}
BORROWERS_READ = known_scope("borrowers:read")  # GET /v1/borrowers/{borrower_id}/export
CONSENTS_WRITE = known_scope("consents:write")  # POST, DELETE /v1/borrowers/{id}/consents...
BORROWERS_ERASE = known_scope("borrowers:erase")  # POST /v1/borrowers/{borrower_id}/erasure

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


async def authenticate(
    verifier: ApiKeyVerifier,
    presented: str | None,
    *,
    failures: FailedKeyLimiter | None = None,
    address: str | None = None,
) -> VerifiedKey:
    """The presented key, its lender and scopes; 401 when it is missing, invalid or revoked,
    429 (without checking it) when its key id or the client `address` has failed too often."""
    if not presented:
        raise ApiError(
            401, "missing API key: send Authorization: Bearer <key> or X-API-Key", CHALLENGE
        )
    verified = verifier.cached(presented)
    if verified is not None:
        return verified
    if failures is None or verifier.proven(presented):
        # A key this process has proven costs no scrypt to re-check: it is never braked, so
        # a flood of guesses at a lender's key id cannot lock out its running systems.
        verified = await run_in_threadpool(verifier.verify, presented)
    else:
        verified = await _attempt(verifier, presented, failures, _subjects(presented, address))
    if verified is None:
        raise ApiError(401, "invalid or revoked API key", CHALLENGE)
    return verified


async def _attempt(
    verifier: ApiKeyVerifier,
    presented: str,
    failures: FailedKeyLimiter,
    subjects: tuple[str, ...],
) -> VerifiedKey | None:
    """Verify a key not yet proven here, within the brake on failed attempts: 429 without
    checking it when its subjects have failed too often."""
    key = verifier.fingerprint(presented)
    wait = failures.begin(subjects, key)
    if wait is not None:
        raise KeyAttemptsLimitedError(wait)
    verified = None
    refused = False
    try:
        # A key already refused here is refused again without the thread pool or scrypt.
        if not verifier.refused(presented):
            verified = await run_in_threadpool(verifier.verify, presented)
        refused = verified is None
    finally:  # an error (the database down) is nobody's failed attempt
        failures.end(subjects, key, failed=refused)
    return verified


def _subjects(presented: str, address: str | None) -> tuple[str, ...]:
    """Who an attempt counts against: the client address and the key id it names."""
    parsed = parse_api_key(presented)
    return (
        *((f"address {address}",) if address else ()),
        *((f"key {parsed[0]}",) if parsed else ()),
    )


def require_scope(key: VerifiedKey, scope: str) -> None:
    """403 (the body names the scope) unless `key` holds `scope`."""
    if not key.allows(scope):
        raise ApiError(403, f"this API key lacks the scope {scope}")


def checked_idempotency_key(key: str | None) -> str | None:
    """The Idempotency-Key header as sent (None when absent); 422 naming it when malformed."""
    if key is not None:
        problem = identifier_problem(key, IDEMPOTENCY_KEY_MAX)
        if problem is not None:
            raise FieldError(IDEMPOTENCY_LOC, problem)
    return key


def authorize(
    key: VerifiedKey, scope: str, limiter: RateLimiter, idempotency_key: str | None = None
) -> Caller:
    """The caller, if `key` holds `scope`, `idempotency_key` is well formed and the lender is
    within its rate limit: 403 (the body names the scope), then 422, then 429 with
    Retry-After. Only an allowed request spends a token."""
    require_scope(key, scope)
    checked = checked_idempotency_key(idempotency_key)
    wait = limiter.take(key.lender)
    if wait is not None:
        raise RateLimitedError(limiter.rate, wait)
    return Caller(key.lender, checked)
