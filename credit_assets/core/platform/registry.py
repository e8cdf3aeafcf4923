"""The model registry: every trained version, its artifact, checksum, metrics and status.

Statuses: `challenger` (trained, not yet decided), `champion` (the one model that
scores; at most one), `held_back` (a gate said no: documented, never served),
`retired` (a former champion). Promotion swaps the champion in one transaction;
both outcomes record the decision, every gate with its figure. The scoring API
finds the model to serve here (`current_champion`), and the challenger it scores in
shadow (`shadow_candidate`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from credit_assets.core.platform.db import model_registry

CHAMPION, CHALLENGER, RETIRED, HELD_BACK = "champion", "challenger", "retired", "held_back"


@dataclass(frozen=True)
class RegistryRecord:
    version: str
    artifact_uri: str
    manifest_sha256: str
    status: str
    run_id: str | None
    metrics: dict[str, Any]
    fairness: dict[str, Any]
    lineage: dict[str, Any]
    override_reason: str | None
    created_at: datetime
    promoted_at: datetime | None
    decision: dict[str, Any] = field(default_factory=dict)

    @property
    def failed_gates(self) -> list[str]:
        return list(self.decision.get("failed", []))

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "artifact_uri": self.artifact_uri,
            "manifest_sha256": self.manifest_sha256,
            "status": self.status,
            "run_id": self.run_id,
            "metrics": self.metrics,
            "fairness": self.fairness,
            "lineage": self.lineage,
            "override_reason": self.override_reason,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "promoted_at": self.promoted_at.isoformat() if self.promoted_at else None,
            "decision": self.decision,
        }


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _record(row: Any) -> RegistryRecord:
    return RegistryRecord(
        version=row.version,
        artifact_uri=row.artifact_uri,
        manifest_sha256=row.manifest_sha256,
        status=row.status,
        run_id=row.run_id,
        metrics=json.loads(row.metrics or "{}"),
        fairness=json.loads(row.fairness or "{}"),
        lineage=json.loads(row.lineage or "{}"),
        override_reason=row.override_reason,
        created_at=row.created_at,
        promoted_at=row.promoted_at,
        decision=json.loads(getattr(row, "decision", None) or "{}"),
    )


def register_challenger(
    engine: Engine,
    *,
    version: str,
    artifact_uri: str,
    manifest_sha256: str,
    run_id: str | None,
    metrics: dict[str, Any],
    lineage: dict[str, Any],
) -> RegistryRecord:
    """Record a newly trained version (idempotent for the same version and checksum)."""
    with engine.begin() as conn:
        existing = conn.execute(
            sa.select(model_registry).where(model_registry.c.version == version)
        ).first()
        if existing is not None:
            if existing.manifest_sha256 != manifest_sha256:
                raise ValueError(
                    f"model version {version} is already registered with another checksum"
                )
            return _record(existing)
        conn.execute(
            sa.insert(model_registry).values(
                version=version,
                artifact_uri=artifact_uri,
                manifest_sha256=manifest_sha256,
                status=CHALLENGER,
                run_id=run_id,
                metrics=json.dumps(metrics, default=str),
                fairness="{}",
                lineage=json.dumps(lineage, default=str),
                created_at=_now(),
            )
        )
    return get_model(engine, version)


def promote(
    engine: Engine,
    version: str,
    *,
    run_id: str | None,
    metrics: dict[str, Any] | None = None,
    fairness: dict[str, Any] | None = None,
    lineage: dict[str, Any] | None = None,
    override_reason: str | None = None,
    decision: dict[str, Any] | None = None,
) -> RegistryRecord:
    """Make `version` the champion and retire the previous one, atomically."""
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(model_registry).where(model_registry.c.version == version).with_for_update()
        ).first()
        if row is None:
            raise LookupError(f"model version {version} is not registered")
        conn.execute(
            sa.update(model_registry)
            .where(model_registry.c.status == CHAMPION, model_registry.c.version != version)
            .values(status=RETIRED)
        )
        values: dict[str, Any] = {
            "status": CHAMPION,
            "promoted_at": _now(),
            "run_id": run_id or row.run_id,
            "override_reason": override_reason,
        }
        if metrics is not None:
            values["metrics"] = json.dumps(metrics, default=str)
        if fairness is not None:
            values["fairness"] = json.dumps(fairness, default=str)
        if lineage is not None:
            values["lineage"] = json.dumps(
                {**json.loads(row.lineage or "{}"), **lineage}, default=str
            )
        if decision is not None:
            values["decision"] = json.dumps(decision, default=str)
        conn.execute(
            sa.update(model_registry).where(model_registry.c.version == version).values(**values)
        )
    return get_model(engine, version)


def hold_back(
    engine: Engine,
    version: str,
    *,
    decision: dict[str, Any],
    fairness: dict[str, Any] | None = None,
    lineage: dict[str, Any] | None = None,
) -> RegistryRecord:
    """Record that a gate held `version` back; the champion is untouched.

    A version that is already the champion keeps serving (its own earlier decision
    stands); the new decision is recorded on it all the same.
    """
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(model_registry).where(model_registry.c.version == version).with_for_update()
        ).first()
        if row is None:
            raise LookupError(f"model version {version} is not registered")
        values: dict[str, Any] = {"decision": json.dumps(decision, default=str)}
        if row.status != CHAMPION:
            values["status"] = HELD_BACK
        if fairness is not None:
            values["fairness"] = json.dumps(fairness, default=str)
        if lineage is not None:
            values["lineage"] = json.dumps(
                {**json.loads(row.lineage or "{}"), **lineage}, default=str
            )
        conn.execute(
            sa.update(model_registry).where(model_registry.c.version == version).values(**values)
        )
    return get_model(engine, version)


def record_metrics(engine: Engine, version: str, **metrics: Any) -> RegistryRecord:
    """Add figures to a version's metrics (say, every candidate family's cross-validated AUC
    from `model_evaluation`); figures already recorded under other names stay."""
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(model_registry).where(model_registry.c.version == version).with_for_update()
        ).first()
        if row is None:
            raise LookupError(f"model version {version} is not registered")
        merged = {**json.loads(row.metrics or "{}"), **metrics}
        conn.execute(
            sa.update(model_registry)
            .where(model_registry.c.version == version)
            .values(metrics=json.dumps(merged, default=str))
        )
    return get_model(engine, version)


def get_model(engine: Engine, version: str) -> RegistryRecord:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(model_registry).where(model_registry.c.version == version)
        ).first()
    if row is None:
        raise LookupError(f"model version {version} is not registered")
    return _record(row)


def current_champion(engine: Engine) -> RegistryRecord | None:
    """The serving model: the record the latest `champion_model` materialization wrote."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(model_registry)
            .where(model_registry.c.status == CHAMPION)
            .order_by(model_registry.c.promoted_at.desc())
            .limit(1)
        ).first()
    return _record(row) if row else None


def shadow_candidate(engine: Engine, champion: RegistryRecord | None) -> RegistryRecord | None:
    """The challenger to score in shadow: the newest one registered after the champion's promotion.

    None without a champion (there is nothing to compare with) or without such a challenger;
    an older challenger is one the promotion already passed over.
    """
    if champion is None:
        return None
    query = sa.select(model_registry.c.version).where(
        model_registry.c.status.in_((CHALLENGER, HELD_BACK))
    )
    if champion.promoted_at is not None:
        query = query.where(model_registry.c.created_at > champion.promoted_at)
    with engine.connect() as conn:
        version = conn.execute(query.order_by(model_registry.c.created_at.desc()).limit(1)).scalar()
    return get_model(engine, version) if version is not None else None


def list_models(engine: Engine) -> list[dict[str, Any]]:
    """The inventory, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(model_registry).order_by(model_registry.c.created_at.desc())
        ).fetchall()
    return [_record(r).to_dict() for r in rows]
