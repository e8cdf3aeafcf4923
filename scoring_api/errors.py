"""Errors the services raise and how each becomes an HTTP answer: a clear 4xx or a 503, never a 500."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Scope

from credit_assets.core.platform.decision_log import DecisionLogClosedError

log = logging.getLogger("scoring_api")

Loc = Sequence[str | int]


class NoModelError(RuntimeError):
    """No verified champion is loaded; scoring is unavailable (503)."""


class DatabaseUnavailableError(RuntimeError):
    """The database did not answer (connection refused or lost, timeout, server error): 503."""


class ApiError(Exception):
    """An answer other than 200 with a plain message: 404, 409, 413, 503..."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail}


class RateLimitedError(ApiError):
    """429: the lender is over its rate limit; `Retry-After` says when a request is allowed."""

    def __init__(self, rate_per_second: float, wait_seconds: float) -> None:
        super().__init__(
            429,
            f"rate limit of {rate_per_second:g} requests per second exceeded",
            {"Retry-After": str(max(1, math.ceil(wait_seconds)))},
        )


class KeyAttemptsLimitedError(ApiError):
    """429: too many failed API-key attempts from this address or for this key id; the key
    is not even checked (no scrypt) until `Retry-After` seconds have passed."""

    def __init__(self, wait_seconds: float) -> None:
        super().__init__(
            429,
            "too many failed API key attempts from this address or for this key id; "
            "retry later with a valid key",
            {"Retry-After": str(max(1, math.ceil(wait_seconds)))},
        )


class BodyTooLargeError(HTTPException):
    """413 once a request body passes its limit; the connection is closed with the answer, so
    the rest of the body is never read. Starlette's HTTPException, because one raised while
    FastAPI reads a body must reach its handler as it is (any other becomes a 400)."""

    def __init__(self, limit: int, setting: str) -> None:
        super().__init__(
            413,
            f"the body is larger than {limit} bytes ({setting})",
            headers={"Connection": "close"},
        )


class FieldError(ApiError):
    """422 naming the field at fault, in the same shape as FastAPI's own validation errors."""

    def __init__(self, loc: Loc, msg: str, kind: str = "value_error") -> None:
        super().__init__(422, msg)
        self.loc = list(loc)
        self.kind = kind

    def body(self) -> dict[str, Any]:
        return {"detail": [{"type": self.kind, "loc": self.loc, "msg": self.detail}]}

    def prefixed(self, prefix: Loc) -> FieldError:
        return FieldError(
            [*prefix, *self.loc[1:]] if self.loc[:1] == ["body"] else [*prefix, *self.loc],
            self.detail,
            self.kind,
        )


DATABASE_UNAVAILABLE = "the platform database is unavailable; retry later"

_WHERE = re.compile(
    r"^(?P<name>[A-Za-z0-9_\-]+)(?:\[(?P<index>\d+)\])?(?:\.(?P<field>[^:]+))?: (?P<msg>.*)$", re.S
)


def payload_field_error(message: str, application_source: str | None) -> FieldError:
    """A `features_for_payload` ValueError ("utility_payments[3].due_date: ...") as a FieldError."""
    match = _WHERE.match(message)
    if match is None:
        return FieldError(["body"], message)
    name, index, field = match["name"], match["index"], match["field"]
    if name in ("application", "records"):
        loc: list[str | int] = ["body", name]
    elif name == application_source and index is None:
        loc = ["body", "application"]
    else:
        loc = ["body", "records", name] + ([int(index)] if index is not None else [])
    if field:
        loc.append(field)
    return FieldError(loc, message)


async def error_response(scope: Scope, exc: Exception) -> Response:
    """The response the app's exception handler for `exc` gives (most specific class first),
    for the ASGI layers in front of FastAPI (`gate`, `fastpath`) to answer as a route would."""
    handlers = scope["app"].exception_handlers
    for cls in type(exc).__mro__:
        if cls in handlers:
            response: Response = await handlers[cls](Request(scope), exc)
            return response
    raise exc


def _retry_later(detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "5"})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RateLimitedError)
    @app.exception_handler(KeyAttemptsLimitedError)
    async def _rate_limited(request: Request, exc: ApiError) -> JSONResponse:
        # Counted where it is answered: a refusal the fast path hands to FastAPI counts once.
        request.app.state.services.metrics.rate_limited.inc()
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(NoModelError)
    async def _no_model(_request: Request, exc: NoModelError) -> JSONResponse:
        return _retry_later(str(exc))

    @app.exception_handler(DBAPIError)
    async def _database(_request: Request, exc: DBAPIError) -> JSONResponse:
        log.warning(
            "database error: %s", type(exc.orig).__name__ if exc.orig else type(exc).__name__
        )
        return _retry_later(DATABASE_UNAVAILABLE)

    @app.exception_handler(DatabaseUnavailableError)
    async def _database_async(_request: Request, exc: DatabaseUnavailableError) -> JSONResponse:
        log.warning("database error: %s", exc)
        return _retry_later(DATABASE_UNAVAILABLE)

    @app.exception_handler(DecisionLogClosedError)
    @app.exception_handler(TimeoutError)
    async def _log_unavailable(_request: Request, exc: Exception) -> JSONResponse:
        return _retry_later(f"the decision log is unavailable ({exc}); nothing was decided")

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's shape without echoing the input back (it may identify the borrower).
        errors = [{k: e[k] for k in ("type", "loc", "msg") if k in e} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error: %s", type(exc).__name__)
        return JSONResponse({"detail": "internal error; it has been logged"}, status_code=500)
