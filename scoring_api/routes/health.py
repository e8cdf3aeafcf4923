"""Liveness, readiness and Prometheus metrics (no API key: for the platform, not lenders)."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from scoring_api.deps import ServicesDep
from scoring_api.schemas import (
    ExperimentStatus,
    Health,
    ModelRefusal,
    Readiness,
    ShadowStatus,
)
from scoring_api.services.model_holder import ModelHolder

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="The process is up")
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Ready to score",
    responses={503: {"model": Readiness, "description": "Not ready; the body says why."}},
)
def readyz(services: ServicesDep) -> JSONResponse:
    """200 when a verified model is loaded and the database answers. A champion refused at load
    (checksum mismatch) is reported in `refused` while the previous model keeps serving; the
    challenger scored in shadow (or refused for shadow) in `shadow`; a running experiment,
    and whether its challenger decides or fell back to the champion, in `experiment`."""
    holder = services.holder
    try:
        with services.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        database = "ok"
    except Exception as exc:
        database = f"unavailable ({type(exc).__name__})"
    model = holder.current
    refusal = holder.refusal
    ready = model is not None and database == "ok"
    detail = None
    if model is None:
        detail = holder.unavailable_reason()
    elif database != "ok":
        detail = "the platform database is unavailable"
    body = Readiness(
        ready=ready,
        model_version=model.version if model else None,
        champion_version=holder.champion_version,
        refused=(
            ModelRefusal(version=refusal.version, reason=refusal.reason, at=refusal.at)
            if refusal
            else None
        ),
        shadow=_shadow_status(holder),
        experiment=_experiment_status(holder),
        database=database,
        detail=detail,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ready else 503)


def _experiment_status(holder: ModelHolder) -> ExperimentStatus | None:
    active = holder.experiment
    if active is None:
        return None
    experiment = active.experiment
    return ExperimentStatus(
        experiment_id=experiment.experiment_id,
        challenger_version=experiment.challenger_version,
        share=experiment.share,
        state="active" if active.model is not None else "fallback",
        reason=active.fallback_reason,
    )


def _shadow_status(holder: ModelHolder) -> ShadowStatus:
    state = holder.shadow_state()
    shadow, refusal = holder.shadow, holder.shadow_refusal
    if state == "active" and shadow is not None:
        return ShadowStatus(state="active", version=shadow.version)
    if state == "refused" and refusal is not None:
        return ShadowStatus(state="refused", version=refusal.version, reason=refusal.reason)
    return ShadowStatus(state="disabled" if state == "disabled" else "none", version=None)


@router.get("/metrics", summary="Prometheus metrics of this process", include_in_schema=False)
async def metrics(services: ServicesDep) -> Response:
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
