"""The decision log: every decision the API returns, appended durably before it is returned.

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
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from credit_assets.core.db import decision_log


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
