"""Reading the decision log for monitoring: decisions of a window as a frame."""

from __future__ import annotations

import json
from datetime import datetime

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from credit_assets.core.db import decision_log, shadow_decisions

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
