"""The online feature store: the latest feature snapshot, keyed by borrower, in the platform database.

Publishing writes a whole new snapshot next to the current one, then switches a
one-row pointer in a single transaction. A reader resolves the pointer and the
row in one statement, so it sees the old snapshot or the new one, never a mix.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson
import polars as pl
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Engine

from credit_assets.core.platform.db import (
    online_feature_current,
    online_feature_snapshots,
    online_features,
)

BORROWER = "borrower_id"
KEEP_SNAPSHOTS = 2  # the current one and the one before it, for readers mid-switch


class UnknownBorrowerError(LookupError):
    """No features for this borrower in the current snapshot."""


class NoSnapshotError(LookupError):
    """Nothing has been published yet."""


@dataclass(frozen=True)
class OnlineFeatures:
    snapshot_id: str
    borrower_id: str
    features: dict[str, Any]
    stored_json: str | None = None  # `features` as the store holds it (JSON text)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def _rows(
    frame: pl.DataFrame, snapshot_id: str, feature_names: list[str]
) -> Iterable[dict[str, str]]:
    for row in frame.select(BORROWER, *feature_names).iter_rows(named=True):
        borrower = row.pop(BORROWER)
        yield {
            "snapshot_id": snapshot_id,
            "borrower_id": borrower,
            "features": json.dumps({k: _clean(v) for k, v in row.items()}, separators=(",", ":")),
        }


def publish_snapshot(
    engine: Engine,
    frame: pl.DataFrame,
    *,
    as_of: date,
    catalogue_version: str,
    run_id: str | None = None,
    chunk_rows: int = 5_000,
) -> str:
    """Write `frame` (one row per borrower) as a new snapshot, then make it current."""
    if frame[BORROWER].n_unique() != frame.height:
        raise ValueError("an online snapshot needs exactly one row per borrower_id")
    feature_names = [c for c in frame.columns if c not in (BORROWER, "as_of_date")]
    snapshot_id = f"{as_of:%Y%m%d}-{uuid.uuid4().hex[:10]}"
    now = datetime.now(UTC).replace(tzinfo=None)
    batch: list[dict[str, str]] = []
    with engine.begin() as conn:
        conn.execute(
            sa.insert(online_feature_snapshots).values(
                snapshot_id=snapshot_id,
                as_of_date=as_of,
                created_at=now,
                rows=frame.height,
                feature_names=json.dumps(feature_names),
                catalogue_version=catalogue_version,
                run_id=run_id,
            )
        )
    for row in _rows(frame, snapshot_id, feature_names):
        batch.append(row)
        if len(batch) >= chunk_rows:
            with engine.begin() as conn:
                conn.execute(sa.insert(online_features), batch)
            batch = []
    with engine.begin() as conn:
        if batch:
            conn.execute(sa.insert(online_features), batch)
        # The switch: one row, one transaction.
        updated = conn.execute(
            sa.update(online_feature_current)
            .where(online_feature_current.c.slot == 1)
            .values(snapshot_id=snapshot_id, switched_at=now)
        ).rowcount
        if not updated:
            conn.execute(
                sa.insert(online_feature_current).values(
                    slot=1, snapshot_id=snapshot_id, switched_at=now
                )
            )
    _prune(engine)
    return snapshot_id


def _prune(engine: Engine) -> None:
    with engine.begin() as conn:
        keep = [
            r[0]
            for r in conn.execute(
                sa.select(online_feature_snapshots.c.snapshot_id)
                .order_by(online_feature_snapshots.c.created_at.desc())
                .limit(KEEP_SNAPSHOTS)
            )
        ]
        current = conn.execute(sa.select(online_feature_current.c.snapshot_id)).scalar()
        keep = [*keep, current] if current else keep
        conn.execute(sa.delete(online_features).where(online_features.c.snapshot_id.not_in(keep)))
        conn.execute(
            sa.delete(online_feature_snapshots).where(
                online_feature_snapshots.c.snapshot_id.not_in(keep)
            )
        )


def current_snapshot(engine: Engine) -> dict[str, Any] | None:
    """Metadata of the snapshot readers see now, or None before the first publish."""
    with engine.connect() as conn:
        row = (
            conn.execute(
                sa.select(online_feature_snapshots).join(
                    online_feature_current,
                    online_feature_current.c.snapshot_id == online_feature_snapshots.c.snapshot_id,
                )
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


# The pointer as a scalar subquery: one statement sees one snapshot, and the planner
# looks rows up by the primary key (snapshot_id, borrower_id). A join on the pointer
# instead scans the whole table (measured on PostgreSQL: 3.3 ms for 5 000 borrowers, 0.26 ms).
_CURRENT = (
    sa.select(online_feature_current.c.snapshot_id)
    .where(online_feature_current.c.slot == 1)
    .scalar_subquery()
)
_COLUMNS = (
    online_features.c.snapshot_id,
    online_features.c.borrower_id,
    online_features.c.features,
)
_READ_MANY = sa.select(*_COLUMNS).where(
    online_features.c.snapshot_id == _CURRENT,
    online_features.c.borrower_id.in_(sa.bindparam("borrower_ids", expanding=True)),
)
# PostgreSQL takes the ids as one array parameter: the statement is compiled once and cached,
# where an expanding IN is re-rendered for every distinct number of ids.
READ_MANY_PG = sa.select(*_COLUMNS).where(
    online_features.c.snapshot_id == _CURRENT,
    online_features.c.borrower_id == sa.any_(sa.bindparam("borrower_ids", type_=ARRAY(sa.String))),
)


def read_features(engine: Engine, borrower_id: str) -> OnlineFeatures:
    """The borrower's features in the current snapshot (one parameterised statement)."""
    found = read_many(engine, [borrower_id])
    if borrower_id not in found:
        raise UnknownBorrowerError(borrower_id)
    return found[borrower_id]


def read_many(engine: Engine, borrower_ids: Sequence[str]) -> dict[str, OnlineFeatures]:
    """Features of many borrowers from one snapshot (one statement); unknown ids are absent.

    Raises NoSnapshotError when nothing has been published yet.
    """
    unique = list(dict.fromkeys(borrower_ids))
    query = READ_MANY_PG if engine.dialect.name == "postgresql" else _READ_MANY
    with engine.connect() as conn:
        rows = conn.execute(query, {"borrower_ids": unique}).fetchall() if unique else []
        if (
            len(rows) < len(unique)
            and conn.execute(sa.select(online_feature_current.c.snapshot_id)).first() is None
        ):
            raise NoSnapshotError("no online feature snapshot has been published yet")
    return {
        r.borrower_id: OnlineFeatures(r.snapshot_id, r.borrower_id, orjson.loads(r.features))
        for r in rows
    }


def delete_borrower(engine: Engine, borrower_id: str) -> int:
    """Delete the borrower's row from every snapshot (an erasure); returns rows deleted."""
    with engine.begin() as conn:
        result = conn.execute(
            sa.delete(online_features).where(online_features.c.borrower_id == borrower_id)
        )
    return int(result.rowcount or 0)


def replace_row(engine: Engine, borrower_id: str, features: dict[str, Any]) -> bool:
    """Replace the borrower's row in the current snapshot (a revoked consent's records no
    longer count); False when the current snapshot has no row for them."""
    payload = json.dumps({k: _clean(v) for k, v in features.items()}, separators=(",", ":"))
    with engine.begin() as conn:
        result = conn.execute(
            sa.update(online_features)
            .where(online_features.c.snapshot_id == _CURRENT)
            .where(online_features.c.borrower_id == borrower_id)
            .values(features=payload)
        )
    return bool(result.rowcount)
