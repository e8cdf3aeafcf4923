"""Consent-based sources: their records count only for borrowers with a live consent.

A contract declares `consent: required` for consumer-permissioned data (open banking under
the CFPB's section 1033 rule): every reader of the source's rows (features, the training set,
monitoring) sees only the rows of borrowers whose consent to that source is live, so a
revocation takes effect at the next computation, and `revoke` recomputes the borrower's
online row at once so that the next score no longer uses them. Revoked consents' records are
erased CREDIT_CONSENT_ERASURE_DAYS later (`purge_revoked`).
"""

from __future__ import annotations

import json
from datetime import timedelta

import polars as pl
from sqlalchemy.engine import Engine

from credit_assets.core.contracts import Contract
from credit_assets.core.platform import online_store
from credit_assets.core.privacy.context import PrivacyContext
from credit_assets.core.privacy.records import (
    CONSENT_GRANTED,
    CONSENT_RECORDS_ERASED,
    CONSENT_REVOKED,
    Consent,
    ConsentError,
    consenting_borrowers,
    consents_of,
    grant_consent,
    mark_records_erased,
    record_request,
    revocations_due,
    revoke_consent,
)


def requires_consent(contract: Contract) -> bool:
    return contract.consent == "required"


def consented_rows(frame: pl.LazyFrame, contract: Contract, engine: Engine) -> pl.LazyFrame:
    """`frame` (a source's rows) restricted to borrowers with a live consent, when the
    contract requires consent; unchanged otherwise."""
    if not requires_consent(contract) or contract.borrower_column is None:
        return frame
    allowed = sorted(consenting_borrowers(engine, contract.name))
    return frame.filter(pl.col(contract.borrower_column).cast(pl.String).is_in(allowed))


def borrower_sources(ctx: PrivacyContext, borrower_id: str) -> dict[str, pl.LazyFrame]:
    """Every source's rows of one borrower, consent applied (what the features would read)."""
    from credit_assets.core.ingestion.landing import scan_source

    sources = {}
    for name, contract in ctx.contracts.items():
        frame = consented_rows(scan_source(ctx.store, contract), contract, ctx.engine)
        if contract.borrower_column:
            frame = frame.filter(pl.col(contract.borrower_column).cast(pl.String) == borrower_id)
        sources[name] = frame
    return sources


def recompute_online_row(ctx: PrivacyContext, borrower_id: str) -> bool:
    """The borrower's row of the current online snapshot computed again from the records
    that count now, as of the snapshot's date; False when the snapshot has no row for them."""
    from credit_assets.core.features import snapshot_features

    snapshot = online_store.current_snapshot(ctx.engine)
    if snapshot is None:
        return False
    names = json.loads(snapshot["feature_names"])
    frame = snapshot_features(
        borrower_sources(ctx, borrower_id), ctx.contracts, snapshot["as_of_date"]
    ).collect()
    row = frame.filter(pl.col("borrower_id") == borrower_id)
    if row.height == 0:
        # Only consent-based records made them known: nothing of theirs counts any more.
        return online_store.delete_borrower(ctx.engine, borrower_id) > 0
    values = row.row(0, named=True)
    return online_store.replace_row(ctx.engine, borrower_id, {n: values.get(n) for n in names})


def consent_source(ctx: PrivacyContext, source: str) -> Contract:
    """The contract of a consent-based source; ConsentError naming the ones there are."""
    contract = ctx.contracts.get(source)
    consented = sorted(n for n, c in ctx.contracts.items() if requires_consent(c))
    if contract is None or not requires_consent(contract):
        raise ConsentError(
            f"{source!r} is not a consent-based source; consent-based sources: "
            f"{', '.join(consented) or 'none (declare `consent: required` in a contract)'}"
        )
    return contract


def grant(ctx: PrivacyContext, borrower_id: str, source: str, by: str) -> Consent:
    """Record a consent; the records count from the next feature computation on. A consent
    already live is returned as it is, and no second grant is recorded."""
    consent_source(ctx, source)
    live = [c for c in consents_of(ctx.engine, ctx.lender, borrower_id) if c.source == source]
    if live and live[0].live:
        return live[0]
    consent = grant_consent(ctx.engine, ctx.lender, borrower_id, source, by)
    record_request(
        ctx.engine,
        lender=ctx.lender,
        kind=CONSENT_GRANTED,
        name=ctx.pseudonym(borrower_id),
        by=by,
        touched={"source": source, "consent_id": consent.consent_id},
    )
    return consent


def revoke(ctx: PrivacyContext, borrower_id: str, source: str, by: str) -> tuple[Consent, bool]:
    """Revoke a consent and recompute the borrower's online row without the source's
    records, so the next score no longer uses them; (the consent, whether a row changed)."""
    consent_source(ctx, source)
    consent = revoke_consent(ctx.engine, ctx.lender, borrower_id, source, by)
    changed = recompute_online_row(ctx, borrower_id)
    assert consent.revoked_at is not None  # just revoked
    due = consent.revoked_at + timedelta(days=ctx.settings.consent_erasure_days)
    record_request(
        ctx.engine,
        lender=ctx.lender,
        kind=CONSENT_REVOKED,
        name=ctx.pseudonym(borrower_id),
        by=by,
        touched={
            "source": source,
            "consent_id": consent.consent_id,
            "online_row_recomputed": changed,
            "records_erased_by": due.isoformat(timespec="seconds") + "Z",
        },
    )
    return consent, changed


def purge_revoked(ctx: PrivacyContext, by: str = "schedule") -> list[dict[str, object]]:
    """Erase the records of consents revoked CREDIT_CONSENT_ERASURE_DAYS ago or more, from the
    source's delivered files, raw and quarantined rows; one audit row each."""
    from credit_assets.core.platform.storage.keys import QUARANTINE_PREFIX, raw_prefix
    from credit_assets.core.privacy.redaction import (
        redact_frames,
        redact_quarantine,
        redact_zone,
    )

    done = []
    for consent in revocations_due(ctx.engine, ctx.settings.consent_erasure_days):
        contract = ctx.contracts.get(consent.source)
        if contract is None or contract.borrower_column is None:
            continue
        match = {contract.borrower_column: [consent.borrower_id]}
        results = [
            *redact_zone(ctx.landing, contract, match),
            *redact_frames(ctx.store, raw_prefix(contract.name), match),
            *redact_quarantine(
                ctx.store, f"{QUARANTINE_PREFIX}{contract.name}/", [consent.borrower_id]
            ),
        ]
        rows = sum(r.rows_removed for r in results)
        mark_records_erased(ctx.engine, consent.consent_id)
        record_request(
            ctx.engine,
            lender=ctx.lender,
            kind=CONSENT_RECORDS_ERASED,
            name=ctx.pseudonym(consent.borrower_id),
            by=by,
            touched={"source": consent.source, "consent_id": consent.consent_id, "rows": rows},
        )
        done.append({"consent_id": consent.consent_id, "source": consent.source, "rows": rows})
    return done
