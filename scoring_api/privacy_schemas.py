"""Request and response models of the borrower-rights routes (`routes/rights.py`): access,
explanation, consent and erasure, as lenders read them in /docs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from scoring_api.schemas import Identifier, printable_identifier

OPERATOR_MAX = 60  # characters: `api:<key id>:<by>` fits the audit's 100
REASON_MAX = 500  # characters


def borrower_identifier(value: str) -> str:
    """A borrower id as the scoring route takes it (1 to 100 printable characters), without
    surrounding spaces: the privacy services strip some ids and not others, so an id with
    them would name two borrowers."""
    if value != value.strip():
        raise ValueError("must not start or end with whitespace")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Operator = Annotated[
    str,
    StringConstraints(min_length=1, max_length=OPERATOR_MAX),
    AfterValidator(printable_identifier),
    AfterValidator(_not_blank),
]

_OPERATOR_HELP = (
    "Optional: the name of your operator handling the request, recorded in the audit after "
    "the key id (`api:<key id>:<by>`). 1 to 60 printable characters."
)


class ConsentRequest(BaseModel):
    """Grant a borrower's consent to a consent-based source."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"source": "bank_transactions"}]}
    )

    source: Identifier = Field(
        description="A source whose data contract says `consent: required` (open-banking data "
        "under the CFPB's section 1033 rule). Another name is 422, naming the consent-based "
        "sources.",
        examples=["bank_transactions"],
    )
    by: Operator | None = Field(default=None, description=_OPERATOR_HELP, examples=["dpo-team"])


class ErasureRequest(BaseModel):
    """Erase a borrower from every store the platform writes."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"reason": "GDPR Art. 17 request of 2024-06-20, ref 4411"}]
        },
    )

    reason: Annotated[
        str,
        StringConstraints(min_length=1, max_length=REASON_MAX),
        AfterValidator(_not_blank),
    ] = Field(
        description="Why the borrower is erased (recorded in the audit): 1 to 500 characters.",
        examples=["GDPR Art. 17 request of 2024-06-20, ref 4411"],
    )
    by: Operator | None = Field(default=None, description=_OPERATOR_HELP, examples=["dpo-team"])


_CONSENT_EXAMPLE: dict[str, Any] = {
    "consent_id": "9f0c2d6e1a3b4c5d8e7f6a5b4c3d2e1f",
    "source": "bank_transactions",
    "status": "granted",
    "granted_at": "2024-06-20T10:14:02Z",
    "granted_by": "api:3fa85f6457c1d2e4",
    "revoked_at": None,
    "revoked_by": None,
    "records_erased_at": None,
}


class ConsentRecord(BaseModel):
    """A borrower's consent to a consent-based source."""

    model_config = ConfigDict(json_schema_extra={"examples": [_CONSENT_EXAMPLE]})

    consent_id: str
    source: str
    status: Literal["granted", "revoked"] = Field(
        description="`granted`: the source's records count for this borrower; `revoked`: they "
        "no longer do, and are erased CREDIT_CONSENT_ERASURE_DAYS after `revoked_at`."
    )
    granted_at: datetime
    granted_by: str = Field(description="Who recorded it: `api:<key id>` over the API.")
    revoked_at: datetime | None
    revoked_by: str | None
    records_erased_at: datetime | None = Field(
        description="When the revoked source's records were erased."
    )


class RevokedConsent(ConsentRecord):
    """A revoked consent, and whether the borrower's online row was recomputed without it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_CONSENT_EXAMPLE,
                    "status": "revoked",
                    "revoked_at": "2024-07-02T08:00:11Z",
                    "revoked_by": "api:3fa85f6457c1d2e4",
                    "online_row_recomputed": True,
                }
            ]
        }
    )

    online_row_recomputed: bool = Field(
        description="True when the borrower's row of the current online snapshot changed "
        "(recomputed without the source's records, or removed when only they made the "
        "borrower known): the next score by id no longer uses them."
    )


class PrincipalReason(BaseModel):
    rank: int = Field(description="1 is the most important.", examples=[1])
    code: str | None = Field(
        description="Reason code from the feature catalogue.", examples=["U03"]
    )
    reason: str | None = Field(
        description="The reason in plain language.", examples=["Missed payments on utility bills"]
    )


class ScoreRange(BaseModel):
    min: int = Field(examples=[300])
    max: int = Field(examples=[850])


class DecisionExplanation(BaseModel):
    """Why an automated decision went the way it did: what an adverse action notice (ECOA /
    Regulation B), a credit-score disclosure and GDPR Art. 22 need."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "decision_id": "5c3e9d1b2a7f4e60b8d1c2a3f4e5d6c7",
                    "decided_at": "2024-06-16T09:12:44Z",
                    "outcome": "adverse",
                    "adverse": True,
                    "score": 581,
                    "score_range": {"min": 300, "max": 850},
                    "band": "D",
                    "cutoff": 620,
                    "principal_reasons": [
                        {"rank": 1, "code": "U03", "reason": "Missed payments on utility bills"}
                    ],
                    "key_factors": ["Missed payments on utility bills"],
                    "summary": "The score of 581 (range 300-850) is below the lender's cut-off "
                    "of 620. The principal reasons, most important first, are listed below.",
                    "model_version": "20240616T020000Z-1a2b3c4d",
                    "automated": True,
                    "human_review": "You may ask the lender for a person to review this "
                    "decision, express your point of view and contest it.",
                }
            ]
        }
    )

    decision_id: str
    decided_at: datetime
    outcome: Literal["approved", "adverse", "not scorable"]
    adverse: bool = Field(description="Below the cut-off, or not scorable.")
    score: int | None = Field(description="The score given, 300-850; null when not scorable.")
    score_range: ScoreRange
    band: str | None
    cutoff: int = Field(description="The approval cut-off score (CREDIT_APPROVAL_CUTOFF_SCORE).")
    principal_reasons: list[PrincipalReason] = Field(
        description="Up to four, most important first, in the order the decision gave them."
    )
    key_factors: list[str | None] = Field(description="The reasons' texts, in the same order.")
    summary: str = Field(description="The outcome in one or two sentences.")
    model_version: str | None
    automated: bool = Field(description="Always true: the decision was made by the model.")
    human_review: str = Field(description="The borrower's right to a human review.")


class CurrentFeatures(BaseModel):
    snapshot_id: str = Field(description="The online snapshot the features are in.")
    as_of_date: date | str = Field(description="The snapshot's as-of date.")
    features: dict[str, Any] = Field(description="The features scoring by id would use now.")


class SourceRecords(BaseModel):
    consent_required: bool = Field(description="Whether the source counts only with a consent.")
    rows: list[dict[str, Any]] = Field(
        description="The borrower's rows, with the file each came from (`_source_file`) and "
        "when it was ingested (`_ingested_at`)."
    )
    files: list[dict[str, Any]] = Field(description="The delivered files holding them.")


class QuarantinedRecord(BaseModel):
    source: str
    record: dict[str, Any] = Field(description="The row as it was delivered.")
    reason: str | None = Field(description="Why it was set aside at ingestion.")


class ExportedDecision(BaseModel):
    decision_id: str
    decided_at: datetime
    scorable: bool
    score: int | None
    pd: float | None
    band: str | None
    reasons: list[dict[str, Any]] = Field(
        description="The principal reasons given, largest first (`code`, `text`, `contribution`)."
    )
    model_version: str | None
    feature_snapshot_id: str | None
    features_used: dict[str, Any] | None = Field(description="The model's inputs.")
    experiment: dict[str, Any] | None = Field(
        description="The champion/challenger experiment and arm that decided, if any."
    )
    model_lineage: dict[str, Any] = Field(
        description="The training run, training set, family and promotion of the model."
    )
    not_scorable_reason: str | None


class BorrowerExport(BaseModel):
    """Everything the platform holds about a borrower (GDPR Art. 15), machine-readable."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "borrower_id": "B0001234",
                    "lender": "acme-bank",
                    "generated_at": "2024-06-20T10:14:02Z",
                    "request_id": "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e",
                    "records": {},
                    "quarantined_records": [],
                    "current_features": None,
                    "decisions": [],
                    "experiment_arms": [],
                    "consents": [],
                    "requests": [],
                    "stores_searched": ["landing files", "raw rows", "online features"],
                }
            ]
        }
    )

    borrower_id: str
    lender: str
    generated_at: datetime
    request_id: str = Field(description="This access request's id in the audit.")
    records: dict[str, SourceRecords] = Field(description="Per source, the borrower's records.")
    quarantined_records: list[QuarantinedRecord] = Field(
        description="Rows naming the borrower that were set aside at ingestion."
    )
    current_features: CurrentFeatures | None
    decisions: list[ExportedDecision] = Field(
        description="Every decision on the borrower, oldest first."
    )
    experiment_arms: list[dict[str, Any]]
    consents: list[ConsentRecord]
    requests: list[dict[str, Any]] = Field(
        description="The borrower-rights requests on record (this one included), oldest first: "
        "kind, who, when, status and what was touched (never a value of the borrower's)."
    )
    stores_searched: list[str]


class ErasureResult(BaseModel):
    """What an erasure did, store by store (also in the audit)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "request_id": "7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b",
                    "pseudonym": "pz_4c1f0e9b7a2d3c5e6f708192a3b4c5d6e7f80912",
                    "rows_removed": 14,
                    "stores": {
                        "online features": {"rows": 1},
                        "decision log": {
                            "rows": 0,
                            "pseudonymised": 2,
                            "deleted_past_retention": 0,
                        },
                    },
                    "models_trained_on_borrower": ["20240616T020000Z-1a2b3c4d"],
                }
            ]
        }
    )

    request_id: str = Field(description="The erasure's id in the audit.")
    pseudonym: str = Field(
        description="The keyed pseudonym the decision log and the audit keep instead of the id."
    )
    rows_removed: int = Field(description="Rows removed across every store; 0 when none held any.")
    stores: dict[str, dict[str, Any]] = Field(
        description="Per store: rows removed and the keys touched (`failed` names any it could "
        "not redact); the decision log's rows within retention are pseudonymised, not removed."
    )
    models_trained_on_borrower: list[str] = Field(
        description="Registered model versions trained on a training set holding the "
        "borrower's rows: not changed (their model cards say so); the next training set no "
        "longer holds them."
    )
