"""The decision log: every decision the API returns, appended durably before it is returned.

`DecisionLogWriter` group-commits: request threads hand their row to one
background thread and wait; the thread inserts whatever has queued up (up to
`max_batch` rows) in a single transaction and wakes each waiter when its row is
durable, or hands it the error. Under load, many decisions share one commit, so
the log costs one round trip per batch instead of one per request.

A row that reuses a lender's `idempotency_key` violates the table's unique
constraint; its waiter gets `DuplicateIdempotencyKeyError` and the rest of the
batch is still written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from credit_assets.core.db import decision_log

log = logging.getLogger(__name__)


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


class _Pending:
    __slots__ = ("done", "error", "row")

    def __init__(self, row: Mapping[str, Any]) -> None:
        self.row = row
        self.done = threading.Event()
        self.error: BaseException | None = None


_STOP = object()


class DecisionLogWriter:
    """One background thread that inserts queued decision rows in group commits."""

    def __init__(self, engine: Engine, max_batch: int = 500, wait_timeout: float = 30.0) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.wait_timeout = wait_timeout
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.commits = 0  # transactions committed (observability and tests)

    def start(self) -> DecisionLogWriter:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="decision-log-writer", daemon=True
            )
            self._thread.start()
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop."""
        self._closed = True
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    def append(self, row: Mapping[str, Any]) -> None:
        """Block until `row` is committed; raise its error (DuplicateIdempotencyKeyError, DBAPIError)."""
        error = self.append_many([row])[0]
        if error is not None:
            raise error

    def append_many(self, rows: Sequence[Mapping[str, Any]]) -> list[BaseException | None]:
        """Queue rows together and wait for all; per row, None once durable or the error."""
        if self._closed or self._thread is None:
            raise DecisionLogClosedError("the decision log writer is not running")
        pending = [_Pending(row) for row in rows]
        for item in pending:
            self._queue.put(item)
        for item in pending:
            if not item.done.wait(self.wait_timeout):
                raise TimeoutError("the decision log did not confirm the write in time")
        return [item.error for item in pending]

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self._write(batch)

    def _write(self, batch: list[_Pending]) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(decision_log), [p.row for p in batch])
            self.commits += 1
        except IntegrityError:
            # Someone in the batch reuses an idempotency key: write the rest one by one.
            for item in batch:
                self._write_one(item)
        except Exception as exc:  # the database is down: every waiter gets the error
            log.warning("decision log write of %d rows failed: %s", len(batch), type(exc).__name__)
            for item in batch:
                item.error = exc
        finally:
            for item in batch:
                item.done.set()

    def _write_one(self, item: _Pending) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(decision_log), [item.row])
            self.commits += 1
        except IntegrityError as exc:
            item.error = DuplicateIdempotencyKeyError(str(exc.orig))
        except Exception as exc:
            item.error = exc


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
