"""Erasing a borrower from every store the platform writes (GDPR Art. 17).

`erase_borrower` walks the stores `stores.STORES` names, in the order that keeps the
borrower's application ids known until the last store that needs them:

- delivered files (landing, archive, rejected) and the raw and quarantined rows of every
  source: the borrower's rows removed, every other row kept as it was;
- features, training set, batch scores, BISG proxies: the borrower's rows removed;
- the online store: every snapshot's row deleted (scoring by id then answers 404);
- the decision log: rows within the retention period (CREDIT_DECISION_RETENTION_DAYS, 25
  months by Regulation B) keep the decision, score, reasons and model version against the
  keyed pseudonym, with the model inputs, the request digest and the idempotency key
  cleared; older rows are deleted;
- consents deleted; the pseudonym added to the tombstones ingestion honours;
- models already trained are not changed: the request records which registered versions were
  trained on a training set holding the borrower's rows (their model cards say so), and the
  next training set no longer holds them.

Every request is recorded in the audit table with who, when and what was touched (store, key
and row counts, never a value of the borrower's).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from credit_assets.core.contracts import Contract
from credit_assets.core.platform import online_store
from credit_assets.core.platform.db import decision_log, model_registry, shadow_decisions
from credit_assets.core.platform.storage.keys import (
    BATCH_SCORES_PREFIX,
    BORROWER_FEATURES_PREFIX,
    DEMOGRAPHIC_PROXIES,
    QUARANTINE_PREFIX,
    QUARANTINE_REPORT,
    TRAINING_SET,
    raw_prefix,
)
from credit_assets.core.privacy.context import PrivacyContext
from credit_assets.core.privacy.records import (
    ERASURE,
    add_tombstone,
    forget_consents,
    now,
    record_request,
)
from credit_assets.core.privacy.redaction import (
    Redacted,
    redact_frames,
    redact_quarantine,
    redact_zone,
)
from credit_assets.core.privacy.tombstones import APPLICATION_PREFIX

ERASED = "[erased]"
"""What replaces a cleared digest: a marker, not a hash of anything the borrower sent."""


@dataclass
class ErasureOutcome:
    """What an erasure did: the audit request id and, per store, what was touched."""

    request_id: str
    pseudonym: str
    stores: dict[str, Any] = field(default_factory=dict)
    models_trained_on_borrower: list[str] = field(default_factory=list)

    @property
    def rows_removed(self) -> int:
        return sum(int(v.get("rows", 0)) for v in self.stores.values() if isinstance(v, dict))

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "pseudonym": self.pseudonym,
            "rows_removed": self.rows_removed,
            "stores": self.stores,
            "models_trained_on_borrower": self.models_trained_on_borrower,
        }


def _summary(results: list[Redacted]) -> dict[str, Any]:
    """Rows removed and the keys touched, failures named (no values)."""
    touched = [r for r in results if r.action != "untouched"]
    return {
        "rows": sum(r.rows_removed for r in results),
        "keys": [f"{r.key} ({r.action}, {r.rows_removed} rows)" for r in touched],
        "failed": [f"{r.key}: {r.note}" for r in results if r.action == "failed"],
    }


def application_ids_of(ctx: PrivacyContext, borrower_id: str) -> list[str]:
    """The borrower's application ids, from every source that carries both ids."""
    found: set[str] = set()
    for contract in ctx.contracts.values():
        borrower, application = contract.borrower_column, contract.id_column
        if not borrower or not application:
            continue
        frame = ctx.store.scan(raw_prefix(contract.name))
        if frame is None:
            continue
        ids = (
            frame.filter(pl.col(borrower).cast(pl.String) == borrower_id)
            .select(pl.col(application).cast(pl.String))
            .collect()
        )
        found.update(v for v in ids.to_series().to_list() if v is not None)
    return sorted(found)


def source_match(
    contract: Contract, borrower_id: str, applications: list[str]
) -> dict[str, list[str]]:
    """Which of the contract's columns identify the borrower's rows, and by which values."""
    match: dict[str, list[str]] = {}
    if contract.borrower_column:
        match[contract.borrower_column] = [borrower_id]
    if contract.id_column and applications:
        match[contract.id_column] = applications
    return match


def erase_sources(ctx: PrivacyContext, borrower_id: str, applications: list[str]) -> dict[str, Any]:
    """Delivered files, raw and quarantined rows of every source."""
    identifiers = [borrower_id, *applications]
    stores: dict[str, Any] = {}
    for name, contract in sorted(ctx.contracts.items()):
        match = source_match(contract, borrower_id, applications)
        if not match:
            continue
        stores[f"delivered files: {name}"] = _summary(redact_zone(ctx.landing, contract, match))
        stores[f"raw: {name}"] = _summary(redact_frames(ctx.store, raw_prefix(name), match))
        stores[f"quarantine: {name}"] = _summary(
            redact_quarantine(ctx.store, f"{QUARANTINE_PREFIX}{name}/", identifiers)
        )
    stores["quarantine report"] = _summary(
        redact_quarantine(ctx.store, QUARANTINE_REPORT, identifiers)
    )
    return stores


def erase_derived(ctx: PrivacyContext, borrower_id: str, applications: list[str]) -> dict[str, Any]:
    """Features, training set, batch scores and BISG proxies."""
    match = {"borrower_id": [borrower_id], "application_id": applications}
    return {
        name: _summary(redact_frames(ctx.store, prefix, match))
        for name, prefix in (
            ("borrower features", BORROWER_FEATURES_PREFIX),
            ("training set", TRAINING_SET),
            ("batch scores", BATCH_SCORES_PREFIX),
            ("demographic proxies", DEMOGRAPHIC_PROXIES),
        )
    }


def models_trained_on(ctx: PrivacyContext, borrower_id: str) -> list[str]:
    """Registered versions trained on the current training set, when it holds the borrower's
    rows (checked before the training set is rewritten)."""
    if not ctx.store.exists(TRAINING_SET):
        return []
    raw = ctx.store.get_bytes(TRAINING_SET)
    frame = pl.read_parquet(raw, columns=["borrower_id"])
    if not frame.filter(pl.col("borrower_id").cast(pl.String) == borrower_id).height:
        return []
    sha = hashlib.sha256(raw).hexdigest()[:16]
    with ctx.engine.connect() as conn:
        rows = conn.execute(sa.select(model_registry.c.version, model_registry.c.lineage)).all()
    return sorted(
        version
        for version, lineage in rows
        if json.loads(lineage or "{}").get("training_set_sha256") == sha
    )


def pseudonymise_decisions(
    engine: Engine, borrower_id: str, name: str, retention_days: int
) -> dict[str, Any]:
    """Decisions within retention kept against the pseudonym; older ones deleted."""
    cutoff = now() - timedelta(days=retention_days)
    mine = decision_log.c.borrower_id == borrower_id
    with engine.begin() as conn:
        old = [
            r[0]
            for r in conn.execute(
                sa.select(decision_log.c.decision_id).where(
                    mine, decision_log.c.created_at < cutoff
                )
            )
        ]
        if old:
            conn.execute(sa.delete(shadow_decisions).where(shadow_decisions.c.decision_id.in_(old)))
            conn.execute(sa.delete(decision_log).where(decision_log.c.decision_id.in_(old)))
        kept = conn.execute(
            sa.update(decision_log)
            .where(mine)
            .values(borrower_id=name, features=None, inputs_digest=ERASED, idempotency_key=None)
        ).rowcount
    return {"rows": 0, "pseudonymised": int(kept or 0), "deleted_past_retention": len(old)}


def erase_borrower(
    ctx: PrivacyContext,
    borrower_id: str,
    *,
    by: str,
    reason: str,
    progress: Callable[[str], None] = lambda _line: None,
) -> ErasureOutcome:
    """Erase `borrower_id` everywhere; returns what was touched (also in the audit table)."""
    borrower_id = str(borrower_id).strip()
    if not borrower_id:
        raise ValueError("an erasure needs a borrower id")
    if not reason.strip():
        raise ValueError("an erasure needs a recorded reason (--reason TEXT)")
    name = ctx.pseudonym(borrower_id)
    applications = application_ids_of(ctx, borrower_id)
    trained = models_trained_on(ctx, borrower_id)
    stores: dict[str, Any] = {}
    progress("delivered files, raw and quarantined rows")
    stores.update(erase_sources(ctx, borrower_id, applications))
    progress("features, training set, batch scores, proxies")
    stores.update(erase_derived(ctx, borrower_id, applications))
    progress("online store, decision log, consents")
    stores["online features"] = {"rows": online_store.delete_borrower(ctx.engine, borrower_id)}
    stores["decision log"] = pseudonymise_decisions(
        ctx.engine, borrower_id, name, ctx.settings.decision_retention_days
    )
    stores["consents"] = {"rows": forget_consents(ctx.engine, ctx.lender, borrower_id)}
    stores["application ids"] = {"rows": 0, "count": len(applications)}
    request_id = record_request(
        ctx.engine,
        lender=ctx.lender,
        kind=ERASURE,
        name=name,
        by=by,
        reason=reason,
        status="failed" if any(v.get("failed") for v in stores.values()) else "done",
        touched={"stores": stores, "models_trained_on_borrower": trained},
    )
    add_tombstone(ctx.engine, ctx.lender, name, request_id)
    for application in applications:
        add_tombstone(
            ctx.engine, ctx.lender, ctx.pseudonym(APPLICATION_PREFIX + application), request_id
        )
    return ErasureOutcome(request_id, name, stores, trained)


def purge_expired_decisions(engine: Engine, retention_days: int) -> int:
    """Delete pseudonymised decisions (erased borrowers') older than the retention period;
    a live borrower's decisions are the lender's to keep and are not touched."""
    from credit_assets.core.privacy.pseudonyms import PREFIX

    cutoff = now() - timedelta(days=retention_days)
    expired = sa.select(decision_log.c.decision_id).where(
        decision_log.c.borrower_id.startswith(PREFIX), decision_log.c.created_at < cutoff
    )
    with engine.begin() as conn:
        ids = [r[0] for r in conn.execute(expired)]
        if ids:
            conn.execute(sa.delete(shadow_decisions).where(shadow_decisions.c.decision_id.in_(ids)))
            conn.execute(sa.delete(decision_log).where(decision_log.c.decision_id.in_(ids)))
    return len(ids)
