"""OpenTelemetry spans never carry a borrower id: with CREDIT_API_OPENTELEMETRY on, FastAPI's
server span records the request's `url.path`, and a borrower-rights path
(`/v1/borrowers/{borrower_id}/...`) holds the borrower's id. Spans are exported to a tracing
backend the platform cannot erase from, so an erased borrower's id would outlive them there
(as it would in the access log, which `urls.install_access_log_redaction` already covers).

`PathRedaction` is a span processor that rewrites `url.path` with `urls.redacted` when a
span starts, before any exporter sees it (exporters read spans when they end). It is added to
the process's tracer provider when that provider takes processors (the OpenTelemetry SDK's
does); with no SDK provider configured nothing is recorded, so there is nothing to redact.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import trace

from scoring_api.urls import redacted

_log = logging.getLogger(__name__)
URL_PATH = "url.path"


class PathRedaction:
    """An OpenTelemetry span processor (the SDK's `SpanProcessor` interface, duck-typed so
    the API process does not need the SDK): `url.path` redacted as the access log is."""

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        path = (span.attributes or {}).get(URL_PATH)
        if isinstance(path, str) and (clean := redacted(path)) != path:
            span.set_attribute(URL_PATH, clean)

    def _on_ending(self, span: Any) -> None:
        """Called by SDKs that know it; nothing to do when a span ends."""

    def on_end(self, span: Any) -> None:
        """Nothing: the path was redacted when the span started."""

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing is buffered here."""
        return True


_installed: set[int] = set()


def install_span_redaction() -> bool:
    """Add `PathRedaction` to the global tracer provider (once per provider). False when the
    provider takes no processors (no SDK configured: spans are not recorded)."""
    provider = trace.get_tracer_provider()
    add = getattr(provider, "add_span_processor", None)
    if add is None:
        return False
    if id(provider) not in _installed:
        add(PathRedaction())
        _installed.add(id(provider))
        _log.info("OpenTelemetry: borrower ids are redacted from url.path of every span")
    return True
