"""Request and response models: the contract lenders read in /docs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from credit_assets.core.contracts import FileFormat

IDENTIFIER_MAX = 100  # characters


def identifier_problem(value: str, max_length: int = IDENTIFIER_MAX) -> str | None:
    """What is wrong with `value` as an identifier (a borrower, application, decision or
    upload id, a source name, an Idempotency-Key), or None: it must be 1 to `max_length`
    printable characters. A control character (NUL, tab, newline, an escape code) is never
    part of an id, and the database refuses NUL outright."""
    if not 1 <= len(value) <= max_length:
        return f"must be 1 to {max_length} characters"
    if not value.isprintable():
        bad = next(c for c in value if not c.isprintable())
        return f"must be printable characters only, not {bad!r}"
    return None


def printable_identifier(value: str) -> str:
    """`value` if `identifier_problem` finds nothing, else ValueError saying what."""
    problem = identifier_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


# Every identifier a request carries, checked before anything is looked up or logged.
Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=IDENTIFIER_MAX),
    AfterValidator(printable_identifier),
]

_APPLICATION_EXAMPLE: dict[str, Any] = {
    "application_id": "APP-2024-000917",
    "borrower_id": "B0001234",
    "application_date": "2024-06-15",
    "loan_amount": 4000,
    "term_months": 24,
    "product": "personal_loan",
    "declared_monthly_income": 2600,
    "employment_length_years": 1.5,
    "employment_type": "gig",
    "housing_status": "rent",
}
_RECORDS_EXAMPLE: dict[str, Any] = {
    "utility_payments": [
        {
            "due_date": "2024-05-01",
            "paid_date": "2024-05-03",
            "amount_due": 72.5,
            "amount_paid": 72.5,
            "days_late": 2,
        },
    ],
    "rent_payments": [
        {
            "due_date": "2024-05-01",
            "paid_date": "2024-05-01",
            "amount_due": 950,
            "amount_paid": 950,
            "days_late": 0,
        },
    ],
}


class ScoreRequest(BaseModel):
    """Score one borrower: give `borrower_id`, or `application` (with optional `records`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"borrower_id": "B0001234"},
                {"application": _APPLICATION_EXAMPLE, "records": _RECORDS_EXAMPLE},
            ]
        },
    )

    borrower_id: Identifier | None = Field(
        default=None,
        description="Score with the borrower's features from the latest published feature "
        "snapshot (the online store). Leave out when sending `application`. 1 to 100 "
        "printable characters.",
        examples=["B0001234"],
    )
    application: dict[str, Any] | None = Field(
        default=None,
        description="Score inline: the application's attributes as declared in the "
        "`applications` data contract. Its date (`application_date`) is the as-of date of "
        "every feature; without it, today.",
        examples=[_APPLICATION_EXAMPLE],
    )
    records: dict[Identifier, list[dict[str, Any]]] | None = Field(
        default=None,
        description="Inline only: the borrower's alternative-data records by source name "
        "(`utility_payments`, `telecom_payments`, `rent_payments`, `bank_transactions`, "
        "`bureau`), each a list of records with that source's contract columns. Only records "
        "dated before the as-of date count. A missing source is normal for a thin file.",
        examples=[_RECORDS_EXAMPLE],
    )


class BatchScoreRequest(BaseModel):
    """Many borrowers in one call; each item is scored (or fails) on its own."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"items": [{"borrower_id": "B0001234"}, {"borrower_id": "B0005678"}]}]
        },
    )

    items: list[ScoreRequest] = Field(
        min_length=1,
        description="The requests, as for POST /v1/scores. At most CREDIT_API_MAX_BATCH "
        "(default 1000) items; more is refused with 413.",
    )


class Reason(BaseModel):
    code: str = Field(description="Reason code from the feature catalogue.", examples=["U03"])
    text: str = Field(
        description="Consumer-facing text of the reason (for an adverse action notice).",
        examples=["Missed payments on utility bills"],
    )
    contribution: float = Field(
        description="How much this reason raised the log-odds of default above the model's "
        "average applicant (exact SHAP, summed over the reason's features). Always positive; "
        "reasons come largest first.",
        examples=[0.42],
    )


class Lineage(BaseModel):
    model_run_id: str | None = Field(
        description="Dagster run that promoted the model (trace the decision to its training).",
        examples=["5f1c0a7e-3b1d-4a57-9a8e-2a0c1d9e7f21"],
    )
    feature_snapshot_id: str | None = Field(
        description="Online feature snapshot the features were read from; null when scored inline.",
        examples=["20240615-3fa85f6457"],
    )
    feature_source: Literal["online_store", "inline"] = Field(
        description="Where the features came from.", examples=["online_store"]
    )


class ScoreResponse(BaseModel):
    """A decision. Unscorable borrowers get `scorable: false` and `not_scorable_reason` only."""

    decision_id: str = Field(
        description="Identifier of this decision in the decision log; quote it in any dispute.",
        examples=["5c3e9d1b2a7f4e60b8d1c2a3f4e5d6c7"],
    )
    scorable: bool = Field(description="False when there is too little history to score.")
    score: int | None = Field(
        default=None,
        ge=300,
        le=850,
        description="Credit score, 300-850; higher is lower risk.",
        examples=[642],
    )
    pd: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Probability of default.", examples=[0.041]
    )
    band: str | None = Field(
        default=None, description="Risk band, A (lowest risk) to E.", examples=["C"]
    )
    reasons: list[Reason] = Field(
        default_factory=list,
        max_length=4,
        description="Up to 4 principal reasons that raised the risk, largest first.",
    )
    not_scorable_reason: str | None = Field(
        default=None,
        description="Why no score was given.",
        examples=["insufficient history: no alternative data or bureau record"],
    )
    model_version: str = Field(
        description="Model version that decided.", examples=["20240616T020000Z-1a2b3c4d"]
    )
    lineage: Lineage
    scored_at: datetime = Field(description="When the decision was made (UTC).")
    experiment_id: str | None = Field(
        default=None,
        description="Only while a champion/challenger experiment runs: its id.",
        examples=["exp_3f9a1c0d5e7b2a64"],
    )
    arm: Literal["champion", "challenger"] | None = Field(
        default=None,
        description="Only while an experiment runs: the arm this borrower is assigned to (the "
        "same every time), whose model (`model_version`) decided.",
    )


_DECISION_RECORD_EXAMPLE: dict[str, Any] = {
    "decision_id": "5c3e9d1b2a7f4e60b8d1c2a3f4e5d6c7",
    "scorable": True,
    "score": 642,
    "pd": 0.041,
    "band": "C",
    "reasons": [
        {"code": "U03", "text": "Missed payments on utility bills", "contribution": 0.42},
    ],
    "not_scorable_reason": None,
    "model_version": "20240616T020000Z-1a2b3c4d",
    "lineage": {
        "model_run_id": "5f1c0a7e-3b1d-4a57-9a8e-2a0c1d9e7f21",
        "feature_snapshot_id": "20240615-3fa85f6457",
        "feature_source": "online_store",
    },
    "scored_at": "2024-06-16T09:12:44.512301Z",
    "logged_at": "2024-06-16T09:12:44.512301Z",
}


class DecisionRecord(ScoreResponse):
    """A logged decision, exactly as it was returned to the lender, and when it was logged.

    For adverse action notices and disputes: the score, band and principal reasons the
    lender was given, the model version and the lineage that trace it back."""

    model_config = ConfigDict(json_schema_extra={"examples": [_DECISION_RECORD_EXAMPLE]})

    logged_at: datetime = Field(
        description="Timestamp of the decision's row in the decision log (UTC). The row was "
        "durable before the original response was sent.",
        examples=["2024-06-16T09:12:44.512301Z"],
    )


class ItemError(BaseModel):
    detail: str | list[dict[str, Any]] = Field(
        description="What went wrong; for 422, a list of {loc, msg, type} naming the field."
    )


class BatchItemResult(BaseModel):
    index: int = Field(description="Position of the item in the request.")
    status: int = Field(
        description="HTTP status the item would have had alone (200, 404, 422, 503)."
    )
    decision: ScoreResponse | None = Field(
        default=None, description="The decision when status is 200."
    )
    error: ItemError | None = Field(default=None, description="The problem when status is not 200.")


class BatchScoreResponse(BaseModel):
    model_version: str = Field(description="Model version that decided every item.")
    scored: int = Field(description="Items with a decision (status 200).")
    failed: int = Field(description="Items with an error.")
    results: list[BatchItemResult] = Field(description="One result per item, in request order.")


class ModelInfo(BaseModel):
    """The model serving decisions now."""

    version: str = Field(examples=["20240616T020000Z-1a2b3c4d"])
    manifest_sha256: str = Field(description="Checksum of the artifact manifest, verified at load.")
    family: Literal["catboost", "scorecard"] = Field(
        description="The model family: CatBoost (reasons by exact SHAP) or a WoE scorecard "
        "(reasons by the points method)."
    )
    promoted_at: datetime | None = Field(description="When the model became champion (UTC).")
    metrics: dict[str, Any] = Field(
        description="Test-set metrics at promotion (AUC, Gini, KS, Brier)."
    )
    fairness: dict[str, Any] = Field(
        description="Fairness summary at promotion (adverse impact ratios)."
    )
    override_reason: str | None = Field(
        description="Documented reason if a promotion gate was overridden."
    )
    lineage: dict[str, Any] = Field(
        description="Runs and data the model came from (training, evaluation, promotion)."
    )
    features: list[str] = Field(description="Model inputs, in model order.")
    score_scale: dict[str, Any] = Field(description="Points-to-double-odds scaling of scores.")
    risk_bands: dict[str, Any] = Field(description="Score cut-offs of the risk bands.")


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class ModelRefusal(BaseModel):
    version: str = Field(description="Champion version the service refused to load.")
    reason: str = Field(description="Why (e.g. a checksum mismatch).")
    at: datetime


class ShadowStatus(BaseModel):
    state: Literal["active", "refused", "none", "disabled"] = Field(
        description="`active`: a challenger is scored in shadow; `refused`: it failed "
        "verification, so nothing is; `none`: no challenger newer than the champion; "
        "`disabled`: CREDIT_API_SHADOW is off. Never affects readiness."
    )
    version: str | None = Field(
        description="Challenger version in shadow (or refused).", examples=[None]
    )
    reason: str | None = Field(default=None, description="Why it was refused.")


class ExperimentStatus(BaseModel):
    experiment_id: str
    challenger_version: str
    share: float = Field(description="Share of borrowers assigned to the challenger arm.")
    state: Literal["active", "fallback"] = Field(
        description="`active`: the challenger decides its arm; `fallback`: its artifact was "
        "refused, so the champion decides every arm (`reason`). Never affects readiness."
    )
    reason: str | None = Field(default=None, description="Why the challenger was refused.")


class Readiness(BaseModel):
    ready: bool = Field(
        description="True when a verified model is loaded and the database answers."
    )
    model_version: str | None = Field(description="Version serving now.")
    champion_version: str | None = Field(description="Champion in the registry at the last check.")
    refused: ModelRefusal | None = Field(description="Last champion refused at load, if any.")
    shadow: ShadowStatus = Field(description="The challenger scored in shadow on live traffic.")
    experiment: ExperimentStatus | None = Field(
        default=None, description="The champion/challenger experiment this process serves, if any."
    )
    database: str = Field(description="`ok`, or why the platform database is unavailable.")
    detail: str | None = Field(default=None, description="Why the service is not ready.")


UploadStatusName = Literal["received", "ingesting", "ingested", "rejected", "failed"]


class UploadReceipt(BaseModel):
    """What POST /v1/sources/{source}/files (or /records) received."""

    upload_id: str = Field(description="Follow it with GET /v1/uploads/{upload_id}.")
    status: UploadStatusName = Field(
        description="`received` for a new upload; for identical content sent before, the "
        "status that upload has reached."
    )
    source: str
    bytes: int = Field(description="Size of the body as received.")
    sha256: str = Field(description="SHA-256 of the body, hex.")
    duplicate: bool = Field(
        description="True when this lender already sent identical content to this source: "
        "nothing new was landed and `upload_id` is the earlier upload."
    )


class UploadRecord(BaseModel):
    """An upload and how far ingestion has taken it."""

    upload_id: str
    source: str
    status: UploadStatusName = Field(
        description="`received` (in the landing zone), `ingesting` (a Dagster run has it), "
        "`ingested` (rows written: see the counts), `rejected` (set aside: see `reason`) or "
        "`failed` (the run failed: see `reason`; a retried run moves it on)."
    )
    file_name: str = Field(description="The file's name in the landing zone (its partition).")
    format: FileFormat = Field(description="csv, jsonl, parquet or excel (an .xlsx workbook).")
    bytes: int
    sha256: str
    received_at: datetime
    updated_at: datetime
    run_id: str | None = Field(description="The Dagster run that ingested (or is ingesting) it.")
    rows_accepted: int | None = Field(description="Valid rows written, once ingested.")
    rows_rejected: int | None = Field(description="Rows quarantined with a reason, once ingested.")
    reason: str | None = Field(
        description="Why it was rejected or failed; for an ingested file, why its rows do not "
        "reach the features yet (too large a share quarantined)."
    )
