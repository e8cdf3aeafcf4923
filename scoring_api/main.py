"""The scoring API: `uvicorn scoring_api.main:create_app --factory` (`credit-platform serve`)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp

from credit_assets.core.contracts import load_contracts
from credit_assets.core.platform.settings import Settings, get_settings
from scoring_api.errors import install_error_handlers
from scoring_api.fastpath import ScoreByIdFastPath
from scoring_api.gate import RequestGate
from scoring_api.routes import decisions, health, models, rights, scores, uploads
from scoring_api.services import Services
from scoring_api.services.callers import (
    BORROWERS_ERASE,
    BORROWERS_READ,
    CONSENTS_WRITE,
    DATA_WRITE,
    DECISIONS_READ,
    MODELS_READ,
    SCORES_WRITE,
)
from scoring_api.settings import ApiSettings, get_api_settings
from scoring_api.telemetry import install_span_redaction
from scoring_api.urls import install_access_log_redaction

DESCRIPTION = f"""
Credit scores for thin-file borrowers from alternative data (utility, telecom and
rent payments, bank transactions) and application attributes.

Every response carries a score (300-850), the probability of default, a risk band
(A-E), up to four principal reasons, the model version and the lineage of the
decision; every decision is in the decision log before it is returned.
Authenticate with `Authorization: Bearer <key>` or `X-API-Key: <key>`
(`credit-platform apikey create --lender NAME [--scope SCOPE ...]`); a key in the URL
(`?api_key=`) is refused with 400, since URLs are logged. A key holds
scopes: `{SCORES_WRITE}` (POST /v1/scores, /v1/scores/batch), `{DECISIONS_READ}`
(GET /v1/decisions/{{decision_id}} and its /explanation), `{MODELS_READ}` (GET
/v1/models/current) and, granted only by name, `{DATA_WRITE}` (POST
/v1/sources/{{source}}/files and /records, GET /v1/uploads/{{upload_id}}), `{BORROWERS_READ}`
(GET /v1/borrowers/{{borrower_id}}/export), `{CONSENTS_WRITE}` (POST
/v1/borrowers/{{borrower_id}}/consents, DELETE .../consents/{{source}}) and `{BORROWERS_ERASE}`
(POST /v1/borrowers/{{borrower_id}}/erasure). A data partner's key holds `{DATA_WRITE}` only.
A missing, invalid or revoked key is 401; a valid key without the operation's
scope is 403 naming it; over the lender's rate limit, or after too many failed key attempts
from one address, 429. The key is checked before a request body is read; a body larger than
CREDIT_API_MAX_BODY_BYTES is 413, JSON nested more than 64 deep, NaN or Infinity, a NUL
character or an identifier with a control character is 422 naming where.
"""


def settle_heap() -> None:
    """Move everything alive now (the model, its SHAP tables, the catalogue: hundreds of
    thousands of objects) out of the garbage collector's reach. Without it, each full
    collection walks them all while requests wait, and those pauses make the p99."""
    gc.collect()
    gc.freeze()


class ScoringApp(FastAPI):
    """FastAPI with the by-id fast path around its whole middleware stack (see `fastpath`),
    and the request gate in front of both (see `gate`)."""

    def build_middleware_stack(self) -> ASGIApp:
        return RequestGate(ScoreByIdFastPath(super().build_middleware_stack()))


def create_app(
    settings: Settings | None = None, api_settings: ApiSettings | None = None
) -> FastAPI:
    """A new app; settings default to the environment (CREDIT_* and CREDIT_API_*)."""
    settings = settings or get_settings()
    api_settings = api_settings or get_api_settings()
    # Read once: the upload routes' source enum and the services share them.
    contracts = load_contracts(settings.resolved_contracts_dir)
    install_access_log_redaction()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if api_settings.opentelemetry:
            install_span_redaction()  # the provider is configured by now (OTEL_* / SDK setup)
        services = await Services.start(settings, api_settings, contracts)
        app.state.services = services
        settle_heap()
        try:
            yield
        finally:
            await services.stop()

    telemetry = api_settings.opentelemetry
    app = ScoringApp(
        telemetry={
            "tracing": telemetry,
            "metrics": telemetry,
            "logs": telemetry,
            "operation_spans": telemetry,
        },
        title="Credit scoring API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "scores", "description": "Decisions for one borrower or many."},
            {"name": "decisions", "description": "Decisions already made, from the decision log."},
            {"name": "models", "description": "The model that decides."},
            {
                "name": "data",
                "description": "Files and records pushed into the landing zone, and their "
                "ingestion.",
            },
            {
                "name": "borrower rights",
                "description": "What is held about a borrower, explanations of decisions, "
                "consents to consent-based sources, erasure; each recorded in the audit.",
            },
            {"name": "health", "description": "Liveness and readiness probes."},
        ],
    )
    install_error_handlers(app)
    app.include_router(scores.router)
    app.include_router(decisions.router)
    app.include_router(models.router)
    app.include_router(uploads.data_router(sorted(contracts), api_settings.max_records))
    app.include_router(uploads.router)
    app.include_router(rights.router)
    app.include_router(health.router)
    return app
