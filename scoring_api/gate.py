"""What every request passes before any route reads a byte of its body.

`RequestGate` is the outermost ASGI layer (`main.ScoringApp`, in front of the fast path and
FastAPI). Refusing abuse has to be cheap, and what makes it expensive is reading, buffering
and parsing a body nobody asked for. So, in this order:

1. A credential in the URL (`?api_key=...`) is refused, 400: URLs are written to access logs
   and proxies' caches (the access log redacts it, `scoring_api.urls`).
2. A path holding a control character is refused, 422: no resource is named so.
3. On a route that takes a body (`BODY_ROUTES`), the key is checked: 401 when missing,
   invalid or revoked, 429 after too many failed attempts (`callers.authenticate`), 403
   without the route's scope. The key is left in the scope (`VERIFIED_KEY`) for the route's
   dependency and the fast path, which decide the rest as before (Idempotency-Key, rate limit).
4. A declared Content-Length over the route's limit is refused at once, 413; a streamed body
   is counted and refused as soon as it passes the limit.
5. A body the route reads into memory as JSON (scores, batches, records, consents, erasures)
   is read here whole, bounded by that limit, and checked (`jsonbody.checked_json`: strict
   JSON, nesting depth, no NaN or Infinity, no NUL), 422 naming where. The parsed value is
   left in the scope (`PARSED_JSON`), so the routes do not parse it again (`GatedRoute`).

A refusal sent while the client still has body to send closes the connection, so nothing
refused is read after all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scoring_api.errors import ApiError, BodyTooLargeError, FieldError, error_response
from scoring_api.jsonbody import checked_json
from scoring_api.services import Services
from scoring_api.services.callers import (
    BORROWERS_ERASE,
    CONSENTS_WRITE,
    DATA_WRITE,
    SCORES_WRITE,
    authenticate,
    presented_key,
    require_scope,
)
from scoring_api.urls import URL_CREDENTIAL_REFUSED, credential_in_query

VERIFIED_KEY = "credit.verified_key"  # scope key: the VerifiedKey the gate checked
PARSED_JSON = "credit.parsed_json"  # scope key: the JSON body the gate parsed and checked
CLIENT_BODY = "CREDIT_API_MAX_BODY_BYTES"
INGEST_BODY = "CREDIT_INGEST_MAX_BYTES"
THREAD_PARSE_BYTES = 256 * 1024  # larger bodies are checked off the event loop
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # a route checks its parameters further


@dataclass(frozen=True)
class BodyRoute:
    """A route that takes a body: the scope its key needs, whether the route reads the body
    into memory as JSON (checked here first) or streams it, and the settings bounding it
    (the smallest applies)."""

    path: re.Pattern[str]
    scope: str
    in_memory: bool
    limits: tuple[str, ...]


BODY_ROUTES = (
    BodyRoute(re.compile(r"/v1/scores(?:/batch)?"), SCORES_WRITE, True, (CLIENT_BODY,)),
    BodyRoute(
        re.compile(r"/v1/sources/[^/]+/records"), DATA_WRITE, True, (CLIENT_BODY, INGEST_BODY)
    ),
    BodyRoute(re.compile(r"/v1/sources/[^/]+/files"), DATA_WRITE, False, (INGEST_BODY,)),
    BodyRoute(re.compile(r"/v1/borrowers/[^/]+/consents"), CONSENTS_WRITE, True, (CLIENT_BODY,)),
    BodyRoute(re.compile(r"/v1/borrowers/[^/]+/erasure"), BORROWERS_ERASE, True, (CLIENT_BODY,)),
)


def body_route(method: str, path: str) -> BodyRoute | None:
    """The body route `method path` names, or None (nothing there reads a body)."""
    if method != "POST":
        return None
    return next((r for r in BODY_ROUTES if r.path.fullmatch(path)), None)


def body_limit(route: BodyRoute | None, services: Services) -> tuple[int, str]:
    """(bytes, the setting that sets it) for a request to `route` (None: any other route)."""
    values = {
        CLIENT_BODY: services.api_settings.max_body_bytes,
        INGEST_BODY: services.settings.ingest_max_bytes,
    }
    names = route.limits if route is not None else (CLIENT_BODY,)
    name = min(names, key=lambda n: values[n])
    return values[name], name


class RequestGate:
    """ASGI middleware in front of everything (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = Body(receive, scope)
        try:
            passed = await self._admit(scope, body)
        except Exception as exc:  # a refusal, or the database down while checking a key: 503
            response = await error_response(scope, exc)
            if body.pending:
                response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        await self.app(scope, passed, send)

    async def _admit(self, scope: Scope, body: Body) -> Receive:
        """The `receive` the app gets once the request has passed everything above."""
        if scope["query_string"] and credential_in_query(scope["query_string"]):
            raise ApiError(400, URL_CREDENTIAL_REFUSED)
        if _CONTROL.search(scope["path"]):
            raise FieldError(["path"], "the URL path may not contain control characters")
        services: Services = scope["app"].state.services
        route = body_route(scope["method"], scope["path"])
        if route is not None:
            client = scope.get("client")
            key = await authenticate(
                services.verifier,
                presented_key(Headers(scope=scope)),
                failures=services.key_failures,
                address=client[0] if client else None,
            )
            require_scope(key, route.scope)
            scope[VERIFIED_KEY] = key
        body.limit, body.setting = body_limit(route, services)
        if body.declared is not None and body.declared > body.limit:
            raise BodyTooLargeError(body.limit, body.setting)
        if route is None or not route.in_memory or not _is_json(scope):
            return body.receive
        data = await body.read()
        if not data:  # the route says what an empty body lacks
            return replayed(data, body.receive)
        if len(data) > THREAD_PARSE_BYTES:
            scope[PARSED_JSON] = await run_in_threadpool(checked_json, data)
        else:
            scope[PARSED_JSON] = checked_json(data)
        return replayed(data, body.receive)


class Body:
    """A request's body as it arrives: counted against `limit`, 413 once it passes it."""

    def __init__(self, receive: Receive, scope: Scope) -> None:
        self._receive = receive
        self.limit = 0
        self.setting = CLIENT_BODY
        self.received = 0
        headers = Headers(scope=scope)
        length = headers.get("content-length", "")
        self.declared = int(length) if length.isdigit() else None
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        # Whether the client may still be sending: answering now must close the connection.
        self.pending = bool(self.declared) or chunked

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                raise BodyTooLargeError(self.limit, self.setting)
            if not message.get("more_body", False):
                self.pending = False
        return message

    async def read(self) -> bytes:
        """The whole body (at most `limit` bytes)."""
        chunks = []
        while True:
            message = await self.receive()
            if message["type"] != "http.request":
                break  # the client went away; the route sees the disconnect too
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def replayed(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the app the body already read, then whatever comes next."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


def _is_json(scope: Scope) -> bool:
    """Content-Type `application/json` or `application/<x>+json`: what FastAPI parses as JSON."""
    media = Headers(scope=scope).get("content-type", "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class GatedRequest(Request):
    """A request whose JSON body the gate already parsed and checked."""

    async def json(self) -> Any:
        if PARSED_JSON in self.scope:
            return self.scope[PARSED_JSON]
        return await super().json()


class GatedRoute(APIRoute):
    """A FastAPI route that takes the gate's parsed body instead of parsing it again."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def gated(request: Request) -> Response:
            return await handler(GatedRequest(request.scope, request.receive))

        return gated
