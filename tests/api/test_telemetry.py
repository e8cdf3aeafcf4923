"""With CREDIT_API_OPENTELEMETRY on, FastAPI's spans go to the process's tracer provider (here
the OpenTelemetry SDK's, exporting to memory): a borrower-rights path's borrower id is in none
of them, while the route, method and status still are."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from scoring_api.telemetry import PathRedaction, install_span_redaction
from tests.support.scoring import RunningApi, key_headers, running_api

BORROWER = "B0004711"


def sdk_provider() -> TracerProvider:
    """The global SDK provider: set once per process (OpenTelemetry refuses a second)."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    return provider


@pytest.fixture
def exported() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    sdk_provider().add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, exported: InMemorySpanExporter) -> Iterator[RunningApi]:
    with running_api(
        monkeypatch, shadow="false", opentelemetry="true", scopes=("scores:write", "borrowers:read")
    ) as running:
        yield running


def test_no_span_holds_the_borrower_id_of_a_rights_path(
    api: RunningApi, exported: InMemorySpanExporter
) -> None:
    response = api.client.get(
        f"/v1/borrowers/{BORROWER}/export", headers=key_headers(api, "acme-bank", "borrowers:read")
    )
    assert response.status_code in {200, 404}
    spans = exported.get_finished_spans()
    [server] = [s for s in spans if s.kind == trace.SpanKind.SERVER]
    assert server.attributes is not None
    assert server.attributes["url.path"] == "/v1/borrowers/[redacted]/export"
    assert server.attributes["http.route"] == "/v1/borrowers/{borrower_id}/export"
    assert server.attributes["http.response.status_code"] == response.status_code
    for span in spans:
        text = " ".join([span.name, *(str(v) for v in (span.attributes or {}).values())])
        assert BORROWER not in text, span.name


def test_other_paths_are_recorded_as_they_are(
    api: RunningApi, exported: InMemorySpanExporter
) -> None:
    api.client.get("/healthz")
    [server] = [s for s in exported.get_finished_spans() if s.kind == trace.SpanKind.SERVER]
    assert server.attributes is not None and server.attributes["url.path"] == "/healthz"


def test_without_the_processor_the_sdk_records_the_id() -> None:
    """What the processor prevents: a span started with the path keeps it, unless redacted."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    path = f"/v1/borrowers/{BORROWER}/consents/bank_transactions"
    provider.get_tracer("t").start_span("GET", attributes={"url.path": path}).end()
    provider.add_span_processor(PathRedaction())
    provider.get_tracer("t").start_span("GET", attributes={"url.path": path}).end()
    raw, redacted = (s.attributes["url.path"] for s in exporter.get_finished_spans())  # type: ignore[index]
    assert (raw, redacted) == (path, "/v1/borrowers/[redacted]/consents/bank_transactions")


def test_a_provider_that_takes_no_processors_is_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: trace.NoOpTracerProvider())
    assert install_span_redaction() is False
