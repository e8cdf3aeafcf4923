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


class FieldError(ApiError):
    """422 naming the field at fault, in the same shape as FastAPI's own validation errors."""

    def __init__(self, loc: Loc, msg: str) -> None:
        super().__init__(422, msg)
        self.loc = list(loc)

    def body(self) -> dict[str, Any]:
        return {"detail": [{"type": "value_error", "loc": self.loc, "msg": self.detail}]}

    def prefixed(self, prefix: Loc) -> FieldError:
        return FieldError(
            [*prefix, *self.loc[1:]] if self.loc[:1] == ["body"] else [*prefix, *self.loc],
            self.detail,
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


def _retry_later(detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "5"})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RateLimitedError)
    async def _rate_limited(request: Request, exc: RateLimitedError) -> JSONResponse:
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
