"""Borrower rights: GET /v1/borrowers/{borrower_id}/export, GET
/v1/decisions/{decision_id}/explanation, POST and DELETE /v1/borrowers/{borrower_id}/consents,
POST /v1/borrowers/{borrower_id}/erasure.

Thin: `services.rights` does the work (in the thread pool) and says what went wrong; these
choose the rendering (JSON, or the HTML page for `?format=html` or a browser's `Accept`) and
the headers. Every answer carries personal data, so none is cached or sniffed, and a page is
never framed and loads nothing (its CSS is inline, its images data URIs). Each request is
recorded in the borrower-rights audit against the key that made it (`api:<key id>`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import AfterValidator

from scoring_api.deps import (
    AUTH_RESPONSES,
    BorrowersEraser,
    BorrowersReader,
    ConsentsWriter,
    DecisionsReader,
    ServicesDep,
)
from scoring_api.gate import GatedRoute
from scoring_api.privacy_schemas import (
    BorrowerExport,
    ConsentRecord,
    ConsentRequest,
    DecisionExplanation,
    ErasureRequest,
    ErasureResult,
    RevokedConsent,
    borrower_identifier,
)
from scoring_api.routes.decisions import DecisionId
from scoring_api.schemas import IDENTIFIER_MAX, printable_identifier
from scoring_api.services.rights import Answer

# The consent and erasure bodies are read, bounded and parsed by the request gate.
router = APIRouter(tags=["borrower rights"], route_class=GatedRoute)

BorrowerId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=IDENTIFIER_MAX,
        description="The borrower's id, as in the lender's files and POST /v1/scores: 1 to 100 "
        "printable characters, no surrounding spaces (percent-encode it in the URL).",
        examples=["B0001234"],
    ),
    AfterValidator(printable_identifier),
    AfterValidator(borrower_identifier),
]
SourceName = Annotated[
    str,
    Path(
        min_length=1,
        max_length=IDENTIFIER_MAX,
        description="A consent-based source (its data contract says `consent: required`).",
        examples=["bank_transactions"],
    ),
    AfterValidator(printable_identifier),
]
Format = Annotated[
    Literal["json", "html"] | None,
    Query(
        alias="format",
        description="`json` (the default) or `html`: a self-contained page for the borrower. "
        "Without it, `Accept: text/html` preferred over `application/json` gives the page.",
    ),
]
AcceptHeader = Annotated[str | None, Header(alias="accept", include_in_schema=False)]

PERSONAL_DATA_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
PAGE_HEADERS = {
    **PERSONAL_DATA_HEADERS,
    # Nothing to load but its inline style and data-URI images; never inside another page.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
_HTML: dict[str, Any] = {"text/html": {"schema": {"type": "string"}}}
Responses = dict[int | str, dict[str, Any]]
_UNAVAILABLE: Responses = {
    503: {"description": "The database or the data store is unavailable; retry later."}
}
_BORROWER_422: Responses = {
    422: {
        "description": "The borrower id is not 1 to 100 printable characters without "
        "surrounding spaces, or a field is invalid; `detail[].loc` names it."
    }
}


def wants_html(fmt: str | None, accept: str | None) -> bool:
    """`?format=` when given, else whether `Accept` ranks text/html above application/json."""
    if fmt is not None:
        return fmt == "html"
    ranks = {"text/html": 0.0, "application/json": 0.0}
    for part in (accept or "").split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if media.lower() not in ranks:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranks[media.lower()] = max(ranks[media.lower()], q)
    return ranks["text/html"] > ranks["application/json"]


def answered(answer: Answer, negotiated: bool = False) -> Response:
    """The rendered answer with the headers personal data needs (`Vary: Accept` when the
    format followed the Accept header)."""
    vary = {"Vary": "Accept"} if negotiated else {}
    if answer.html:
        return HTMLResponse(
            answer.body, status_code=answer.status, headers={**PAGE_HEADERS, **vary}
        )
    return Response(
        answer.body,
        status_code=answer.status,
        media_type="application/json",
        headers={**PERSONAL_DATA_HEADERS, **vary},
    )


@router.get(
    "/v1/borrowers/{borrower_id}/export",
    response_model=BorrowerExport,
    summary="Everything held about a borrower",
    responses={
        200: {"content": _HTML},
        **AUTH_RESPONSES,
        404: {"description": "Nothing is held about this borrower."},
        **_BORROWER_422,
        **_UNAVAILABLE,
    },
)
async def export_borrower(
    key: BorrowersReader,
    services: ServicesDep,
    borrower_id: BorrowerId,
    fmt: Format = None,
    accept: AcceptHeader = None,
) -> Response:
    """The borrower's records per source (with the files they came from and when they were
    ingested), quarantined records, current features, every decision with its score, reasons,
    model version and lineage, consents and borrower-rights requests: a GDPR Art. 15 access
    request. Needs the `borrowers:read` scope, which no key holds unless it was named at
    creation. The request is recorded in the audit."""
    answer = await services.rights.export(key, borrower_id, html=wants_html(fmt, accept))
    return answered(answer, negotiated=fmt is None)


@router.get(
    "/v1/decisions/{decision_id}/explanation",
    response_model=DecisionExplanation,
    summary="Why a decision went the way it did",
    tags=["decisions"],
    responses={
        200: {"content": _HTML},
        **AUTH_RESPONSES,
        404: {"description": "No decision with this id for your lender."},
        422: {"description": "The decision id is not 1 to 64 printable characters."},
        **_UNAVAILABLE,
    },
)
async def explain_decision(
    key: DecisionsReader,
    services: ServicesDep,
    decision_id: DecisionId,
    fmt: Format = None,
    accept: AcceptHeader = None,
) -> Response:
    """The decision's principal reasons in plain language, most important first, its score
    and the 300-850 range, the outcome against the approval cut-off
    (CREDIT_APPROVAL_CUTOFF_SCORE), the date and model version, and the borrower's right to a
    human review: for an adverse action notice or a GDPR Art. 22 explanation. Needs the
    `decisions:read` scope. Any id that is not your lender's decision is 404, whether it
    exists or not. The request is recorded in the audit."""
    answer = await services.rights.explanation(key, decision_id, html=wants_html(fmt, accept))
    return answered(answer, negotiated=fmt is None)


@router.post(
    "/v1/borrowers/{borrower_id}/consents",
    status_code=201,
    response_model=ConsentRecord,
    summary="Grant a consent",
    responses={
        **AUTH_RESPONSES,
        413: {"description": "The body is larger than CREDIT_API_MAX_BODY_BYTES."},
        422: {
            "description": "The source is not consent-based (the message names those that "
            "are), or the borrower id or a field is invalid."
        },
        **_UNAVAILABLE,
    },
)
async def grant_consent(
    key: ConsentsWriter, services: ServicesDep, borrower_id: BorrowerId, body: ConsentRequest
) -> Response:
    """Record the borrower's consent to a consent-based source (open-banking data under the
    CFPB's section 1033 rule): its records count for the borrower from the next feature
    computation on. A consent already live is returned as it is. Needs the `consents:write`
    scope, which no key holds unless it was named at creation."""
    return answered(await services.rights.grant(key, borrower_id, body.source, body.by))


@router.delete(
    "/v1/borrowers/{borrower_id}/consents/{source}",
    response_model=RevokedConsent,
    summary="Revoke a consent",
    responses={
        **AUTH_RESPONSES,
        409: {"description": "The borrower has no live consent to this source."},
        422: {
            "description": "The source is not consent-based (the message names those that "
            "are), or the borrower id is invalid."
        },
        **_UNAVAILABLE,
    },
)
async def revoke_consent(
    key: ConsentsWriter, services: ServicesDep, borrower_id: BorrowerId, source: SourceName
) -> Response:
    """Revoke the borrower's live consent to the source and recompute their row of the online
    snapshot without its records, so the next score by id no longer uses them; the records
    themselves are erased CREDIT_CONSENT_ERASURE_DAYS later. Needs the `consents:write`
    scope."""
    return answered(await services.rights.revoke(key, borrower_id, source))


@router.post(
    "/v1/borrowers/{borrower_id}/erasure",
    response_model=ErasureResult,
    summary="Erase a borrower",
    responses={
        **AUTH_RESPONSES,
        413: {"description": "The body is larger than CREDIT_API_MAX_BODY_BYTES."},
        **_BORROWER_422,
        503: {
            "description": "A store could not be redacted (`detail` names it, `outcome` says "
            "what was done; erasing again finishes the job), or the database or the data "
            "store is unavailable."
        },
    },
)
async def erase_borrower(
    key: BorrowersEraser, services: ServicesDep, borrower_id: BorrowerId, body: ErasureRequest
) -> Response:
    """Erase the borrower from every store the platform writes (GDPR Art. 17): delivered
    files, raw, quarantined and derived rows, the online store (scoring them by id is then
    404) and consents; decisions within the retention period are kept against a keyed
    pseudonym, without their inputs. Models already trained are named, not changed. Later
    files naming the borrower are kept out at ingestion. Idempotent: a borrower never seen,
    or erased already, is answered with `rows_removed` 0 (and recorded). Needs the
    `borrowers:erase` scope, which no key holds unless it was named at creation."""
    return answered(await services.rights.erase(key, borrower_id, body.reason, body.by))
