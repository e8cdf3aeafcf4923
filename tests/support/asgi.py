"""A request sent straight to a started app's ASGI callable, on its TestClient's event loop, to
see what the app reads before it answers: how many body messages it pulled, from which client
address it thought the request came. (The TestClient itself reads a request's whole body
before the app sees it, so it cannot show that.) Imported by tests; holds none.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.support.scoring import RunningApi


@dataclass
class AsgiAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    reads: int  # body messages the app pulled with `receive()`

    def json(self) -> Any:
        return json.loads(self.body)


def asgi_request(
    api: RunningApi,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    chunks: Iterable[bytes] = (),
    query: bytes = b"",
    client: str = "127.0.0.1",
) -> AsgiAnswer:
    """`method path` with `headers`, its body in `chunks` (an endless iterator is a body that
    never ends), from `client`; the app's answer and how much of the body it read."""
    body = iter(chunks)
    upcoming = next(body, None)
    reads = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal upcoming, reads
        reads += 1
        chunk, upcoming = upcoming, next(body, None)
        if chunk is None and reads > 1:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunk or b"", "more_body": upcoming is not None}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": (client, 50_000),
        "server": ("127.0.0.1", 8000),
    }
    api.client.portal.call(api.client.app, scope, receive, send)  # type: ignore[union-attr]
    start = next(m for m in sent if m["type"] == "http.response.start")
    return AsgiAnswer(
        status=start["status"],
        headers={k.decode(): v.decode() for k, v in start["headers"]},
        body=b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"),
        reads=reads,
    )
