"""GET /v1/decisions/{decision_id}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import AfterValidator

from scoring_api.deps import AUTH_RESPONSES, DecisionsLender, ServicesDep
from scoring_api.errors import ApiError
from scoring_api.schemas import DecisionRecord, printable_identifier
from scoring_api.services.decisions import logged_decision_json

router = APIRouter(prefix="/v1/decisions", tags=["decisions"])

DecisionId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        description="`decision_id` of the response, as returned by POST /v1/scores or in a "
        "batch result.",
        examples=["5c3e9d1b2a7f4e60b8d1c2a3f4e5d6c7"],
    ),
    AfterValidator(printable_identifier),
]


@router.get(
    "/{decision_id}",
    response_model=DecisionRecord,
    summary="A logged decision",
    responses={
        **AUTH_RESPONSES,
        404: {"description": "No decision with this id for your lender."},
        503: {"description": "The database is unavailable; retry later."},
    },
)
def get_decision(
    lender: DecisionsLender, decision_id: DecisionId, services: ServicesDep
) -> Response:
    """The decision exactly as it was returned (score, band, reasons, model version, lineage)
    and when it was logged: for adverse action notices and disputes. Needs the
    `decisions:read` scope. Only the lender that requested a decision can read it; any other
    id is 404, whether it exists or not."""
    body = logged_decision_json(services.engine, lender, decision_id)
    if body is None:
        raise ApiError(404, "no decision with this id for your lender")
    return Response(content=body, media_type="application/json")
