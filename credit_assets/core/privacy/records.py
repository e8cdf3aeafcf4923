"""The borrower-rights tables: consents, tombstones of erased borrowers, the audit of requests.

Consents are kept against the borrower's id (a consent is used at every feature computation
and at scoring), with who granted or revoked it and when; the other two tables hold only the
keyed pseudonym (`pseudonyms.pseudonym`), so erasing a borrower leaves no identifier behind in
the records that prove it was done.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from credit_assets.core.platform.db import borrower_consents, erased_borrowers, privacy_requests
from credit_assets.core.privacy.pseudonyms import pseudonym

ACCESS = "access"
EXPLANATION = "explanation"
CONSENT_GRANTED = "consent_granted"
CONSENT_REVOKED = "consent_revoked"
CONSENT_RECORDS_ERASED = "consent_records_erased"
ERASURE = "erasure"
REQUEST_KINDS = (
    ACCESS,
    EXPLANATION,
    CONSENT_GRANTED,
    CONSENT_REVOKED,
    CONSENT_RECORDS_ERASED,
    ERASURE,
)


class ConsentError(ValueError):
    """A consent request that cannot be honoured as asked; the message says why."""


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _id() -> str:
    return secrets.token_hex(16)


# ---------------------------------------------------------------- consents


@dataclass(frozen=True)
class Consent:
    consent_id: str
    borrower_id: str
    source: str
    granted_at: datetime
    granted_by: str
    revoked_at: datetime | None
    revoked_by: str | None
    records_erased_at: datetime | None

    @property
    def live(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict[str, Any]:
        def when(value: datetime | None) -> str | None:
            return value.isoformat(timespec="seconds") + "Z" if value else None

        return {
            "consent_id": self.consent_id,
            "source": self.source,
            "status": "granted" if self.live else "revoked",
            "granted_at": when(self.granted_at),
            "granted_by": self.granted_by,
            "revoked_at": when(self.revoked_at),
            "revoked_by": self.revoked_by,
            "records_erased_at": when(self.records_erased_at),
        }


def _consent(row: Any) -> Consent:
    return Consent(
        row.consent_id,
        row.borrower_id,
        row.source,
        row.granted_at,
        row.granted_by,
        row.revoked_at,
        row.revoked_by,
        row.records_erased_at,
    )


def consents_of(engine: Engine, lender: str, borrower_id: str) -> list[Consent]:
    """Every consent of a borrower, newest first, live and revoked."""
    query = (
        sa.select(borrower_consents)
        .where(borrower_consents.c.lender == lender, borrower_consents.c.borrower_id == borrower_id)
        .order_by(borrower_consents.c.granted_at.desc())
    )
    with engine.connect() as conn:
        return [_consent(r) for r in conn.execute(query)]


def grant_consent(
    engine: Engine, lender: str, borrower_id: str, source: str, by: str, at: datetime | None = None
) -> Consent:
    """Record a consent to use `source`'s records for the borrower (a live one is kept as is)."""
    live = [c for c in consents_of(engine, lender, borrower_id) if c.source == source and c.live]
    if live:
        return live[0]
    values = {
        "consent_id": _id(),
        "lender": lender,
        "borrower_id": borrower_id,
        "source": source,
        "granted_at": at or now(),
        "granted_by": by,
    }
    with engine.begin() as conn:
        conn.execute(sa.insert(borrower_consents).values(**values))
    return consents_of(engine, lender, borrower_id)[0]


def revoke_consent(
    engine: Engine, lender: str, borrower_id: str, source: str, by: str, at: datetime | None = None
) -> Consent:
    """Revoke the live consent to `source`; ConsentError when there is none."""
    live = [c for c in consents_of(engine, lender, borrower_id) if c.source == source and c.live]
    if not live:
        raise ConsentError(f"no live consent to {source!r} for this borrower")
    with engine.begin() as conn:
        conn.execute(
            sa.update(borrower_consents)
            .where(borrower_consents.c.consent_id == live[0].consent_id)
            .values(revoked_at=at or now(), revoked_by=by)
        )
    return next(
        c for c in consents_of(engine, lender, borrower_id) if c.consent_id == live[0].consent_id
    )


def consenting_borrowers(engine: Engine, source: str) -> set[str]:
    """Borrowers with a live consent to `source`: the only ones whose records of a
    consent-based source count."""
    query = sa.select(borrower_consents.c.borrower_id).where(
        borrower_consents.c.source == source, borrower_consents.c.revoked_at.is_(None)
    )
    with engine.connect() as conn:
        return {str(v) for v in conn.execute(query).scalars()}


def revocations_due(engine: Engine, days: float, at: datetime | None = None) -> list[Consent]:
    """Revoked consents whose records are due for erasure (revoked `days` ago or more)."""
    cutoff = (at or now()) - timedelta(days=days)
    query = sa.select(borrower_consents).where(
        borrower_consents.c.revoked_at.is_not(None),
        borrower_consents.c.revoked_at <= cutoff,
        borrower_consents.c.records_erased_at.is_(None),
    )
    with engine.connect() as conn:
        return [_consent(r) for r in conn.execute(query)]


def mark_records_erased(engine: Engine, consent_id: str, at: datetime | None = None) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.update(borrower_consents)
            .where(borrower_consents.c.consent_id == consent_id)
            .values(records_erased_at=at or now())
        )


def forget_consents(engine: Engine, lender: str, borrower_id: str) -> int:
    """Delete a borrower's consent records (at erasure: the audit keeps that they existed)."""
    with engine.begin() as conn:
        result = conn.execute(
            sa.delete(borrower_consents).where(
                borrower_consents.c.lender == lender, borrower_consents.c.borrower_id == borrower_id
            )
        )
    return int(result.rowcount or 0)


# ---------------------------------------------------------------- tombstones


def add_tombstone(engine: Engine, lender: str, name: str, request_id: str) -> None:
    """Remember an erased borrower by pseudonym, so no later file brings them back."""
    with engine.begin() as conn:
        exists = conn.execute(
            sa.select(erased_borrowers.c.pseudonym).where(
                erased_borrowers.c.lender == lender, erased_borrowers.c.pseudonym == name
            )
        ).first()
        if exists is None:
            conn.execute(
                sa.insert(erased_borrowers).values(
                    lender=lender, pseudonym=name, erased_at=now(), request_id=request_id
                )
            )


def tombstoned(engine: Engine, key: bytes, borrower_ids: Iterable[str]) -> set[str]:
    """Which of `borrower_ids` belong to erased borrowers (every lender of this deployment)."""
    with engine.connect() as conn:
        erased = set(conn.execute(sa.select(erased_borrowers.c.pseudonym)).scalars())
    if not erased:
        return set()
    return {b for b in {str(i) for i in borrower_ids} if pseudonym(key, b) in erased}


def any_tombstones(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(sa.select(erased_borrowers.c.pseudonym).limit(1)).first() is not None


def is_erased(engine: Engine, key: bytes, borrower_id: str) -> bool:
    return bool(tombstoned(engine, key, [borrower_id]))


# ---------------------------------------------------------------- audit


def record_request(
    engine: Engine,
    *,
    lender: str,
    kind: str,
    name: str,
    by: str,
    reason: str | None = None,
    status: str = "done",
    touched: dict[str, Any] | None = None,
) -> str:
    """One audit row: who asked what for which pseudonym, when, and what was touched."""
    if kind not in REQUEST_KINDS:
        raise ValueError(f"unknown request kind {kind!r}")
    request_id = _id()
    with engine.begin() as conn:
        conn.execute(
            sa.insert(privacy_requests).values(
                request_id=request_id,
                lender=lender,
                kind=kind,
                pseudonym=name,
                requested_by=by,
                requested_at=now(),
                reason=reason,
                status=status,
                touched=json.dumps(touched or {}, default=str, sort_keys=True),
            )
        )
    return request_id


def requests_for(engine: Engine, name: str) -> list[dict[str, Any]]:
    """Every request recorded for a pseudonym, oldest first."""
    query = (
        sa.select(privacy_requests)
        .where(privacy_requests.c.pseudonym == name)
        .order_by(privacy_requests.c.requested_at)
    )
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    for row in rows:
        row["touched"] = json.loads(row["touched"] or "{}")
        row["requested_at"] = row["requested_at"].isoformat(timespec="seconds") + "Z"
    return rows


def erasures_affecting(engine: Engine, version: str) -> list[dict[str, Any]]:
    """Erasure requests of borrowers whose rows were in `version`'s training set."""
    query = sa.select(privacy_requests).where(
        privacy_requests.c.kind == ERASURE, privacy_requests.c.touched.contains(version)
    )
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    return [
        {"request_id": r["request_id"], "requested_at": r["requested_at"].isoformat() + "Z"}
        for r in rows
        if version in json.loads(r["touched"] or "{}").get("models_trained_on_borrower", [])
    ]
