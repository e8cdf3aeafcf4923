"""GET /v1/models/current."""

from __future__ import annotations

from datetime import UTC

from fastapi import APIRouter

from scoring_api.deps import AUTH_RESPONSES, ModelsLender, ServingModel
from scoring_api.schemas import ModelInfo

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get(
    "/current",
    response_model=ModelInfo,
    summary="The model serving decisions",
    responses={
        **AUTH_RESPONSES,
        503: {"description": "No verified model is loaded; retry later."},
    },
)
async def current_model(_lender: ModelsLender, model: ServingModel) -> ModelInfo:
    """Version, test metrics and fairness summary at promotion, when it was promoted, and the
    runs it came from. Needs the `models:read` scope. 503 when no verified model is loaded."""
    record = model.record
    lineage = dict(record.lineage) if record else {}
    if record is not None:
        lineage.setdefault("model_run_id", record.run_id)
    lineage.setdefault("catalogue_version", model.manifest.get("catalogue_version"))
    lineage.setdefault("training_snapshot_id", model.manifest.get("training_snapshot_id"))
    return ModelInfo(
        version=model.version,
        manifest_sha256=model.manifest_sha256,
        family=model.family,
        # The registry stores naive UTC; the API promises RFC 3339 with an offset.
        promoted_at=record.promoted_at.replace(tzinfo=UTC)
        if record and record.promoted_at
        else None,
        metrics=record.metrics if record else dict(model.manifest.get("metrics", {})),
        fairness=record.fairness if record else {},
        override_reason=record.override_reason if record else None,
        lineage=lineage,
        features=model.feature_names,
        score_scale=model.scale.to_dict(),
        risk_bands=model.bands.to_dict(),
    )
