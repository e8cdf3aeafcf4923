"""The decision log: every decision the API returns, appended durably before it is returned,
and read back for monitoring (`load_decisions`, `load_shadow_pairs`).

`insert_decisions` writes a group of decision rows in one transaction (a group
commit: under load the API's log writer hands it every row that has queued up,
so the log costs one round trip per group instead of one per request). A row
that reuses a lender's `idempotency_key` violates the table's unique
constraint; that row alone gets `DuplicateIdempotencyKeyError` and the rest of
the group is still written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from credit_assets.core.platform.db import decision_log, shadow_decisions


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace: the same input always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, allow_nan=False)


def inputs_digest(value: Any) -> str:
    """sha256 of the canonical JSON of a request's input (what the log records instead of it)."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


class DuplicateIdempotencyKeyError(Exception):
    """The lender already has a decision under this idempotency key."""


class DecisionLogClosedError(RuntimeError):
    """The writer is stopped; nothing can be logged (so nothing may be returned)."""


@dataclass(frozen=True)
class StoredDecision:
    decision_id: str
    inputs_digest: str
    response: str | None


def insert_decisions(engine: Engine, rows: Sequence[Mapping[str, Any]]) -> list[Exception | None]:
    """Insert `rows` in one transaction; per row None once durable, or its
    DuplicateIdempotencyKeyError. A database failure raises (nothing was written)."""
    if not rows:
        return []
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(decision_log), list(rows))
        return [None] * len(rows)
    except IntegrityError:
        pass
    # Someone in the group reuses an idempotency key: write the rows one by one.
    errors: list[Exception | None] = []
    for row in rows:
        try:
            with engine.begin() as conn:
                conn.execute(sa.insert(decision_log), [row])
            errors.append(None)
        except IntegrityError as exc:
            errors.append(DuplicateIdempotencyKeyError(str(exc.orig)))
    return errors


def find_by_idempotency_keys(
    engine: Engine, lender: str, keys: Sequence[str]
) -> dict[str, StoredDecision]:
    """Stored decisions of `lender` under any of `keys`, by key."""
    if not keys:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                decision_log.c.idempotency_key,
                decision_log.c.decision_id,
                decision_log.c.inputs_digest,
                decision_log.c.response,
            ).where(decision_log.c.lender == lender, decision_log.c.idempotency_key.in_(list(keys)))
        ).fetchall()
    return {
        r.idempotency_key: StoredDecision(r.decision_id, r.inputs_digest, r.response) for r in rows
    }


# --- reading the log back (monitoring) ------------------------------------------------

DECISION_COLUMNS = [
    "decision_id",
    "created_at",
    "borrower_id",
    "model_version",
    "score",
    "pd",
    "band",
]


def load_decisions(
    engine: Engine,
    start: datetime,
    end: datetime,
    *,
    model_version: str | None = None,
    with_features: bool = False,
) -> pl.DataFrame:
    """Scorable decisions logged in [start, end); model inputs as columns when asked."""
    columns = [decision_log.c[c] for c in DECISION_COLUMNS]
    if with_features:
        columns.append(decision_log.c.features)
    query = sa.select(*columns).where(
        decision_log.c.created_at >= start,
        decision_log.c.created_at < end,
        decision_log.c.scorable.is_(True),
    )
    if model_version is not None:
        query = query.where(decision_log.c.model_version == model_version)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query.order_by(decision_log.c.created_at))]
    schema: dict[str, pl.DataType] = {
        "decision_id": pl.String(),
        "created_at": pl.Datetime("us"),
        "borrower_id": pl.String(),
        "model_version": pl.String(),
        "score": pl.Int64(),
        "pd": pl.Float64(),
        "band": pl.String(),
    }
    if not with_features:
        return pl.DataFrame(rows, schema=schema)
    features = [json.loads(r.pop("features") or "{}") for r in rows]
    base = pl.DataFrame(rows, schema=schema)
    if not any(features):
        return base
    # Null-heavy columns must not fool type inference.
    return pl.concat([base, pl.DataFrame(features, infer_schema_length=None)], how="horizontal")


def load_shadow_pairs(engine: Engine, shadow_version: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(champion decisions, shadow decisions) joined on decision id, for one shadow version."""
    query = (
        sa.select(
            decision_log.c.decision_id,
            decision_log.c.score,
            decision_log.c.band,
            decision_log.c.pd,
            shadow_decisions.c.score.label("shadow_score"),
            shadow_decisions.c.band.label("shadow_band"),
            shadow_decisions.c.pd.label("shadow_pd"),
        )
        .join(shadow_decisions, shadow_decisions.c.decision_id == decision_log.c.decision_id)
        .where(shadow_decisions.c.model_version == shadow_version)
    )
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    frame = pl.DataFrame(
        rows,
        schema={
            "decision_id": pl.String,
            "score": pl.Int64,
            "band": pl.String,
            "pd": pl.Float64,
            "shadow_score": pl.Int64,
            "shadow_band": pl.String,
            "shadow_pd": pl.Float64,
        },
    )
    champion = frame.select("decision_id", "score", "band", "pd")
    shadow = frame.select(
        "decision_id",
        pl.col("shadow_score").alias("score"),
        pl.col("shadow_band").alias("band"),
        pl.col("shadow_pd").alias("pd"),
    )
    return champion, shadow


def latest_shadow_version(engine: Engine) -> str | None:
    """The model version the API most recently scored in shadow, if any."""
    with engine.connect() as conn:
        return conn.execute(
            sa.select(shadow_decisions.c.model_version)
            .group_by(shadow_decisions.c.model_version)
            .order_by(sa.func.max(shadow_decisions.c.created_at).desc())
            .limit(1)
        ).scalar()
