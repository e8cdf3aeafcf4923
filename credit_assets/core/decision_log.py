"""The decision log: every decision the API returns, appended durably before it is returned.

`DecisionLogWriter` group-commits: callers hand rows to one background thread,
which inserts whatever has queued up (up to `max_batch` rows) in a single
transaction and then tells each caller, per row, that it is durable or what
went wrong. `append`/`append_many` block until then; `submit` returns at once
and calls a callback from the writer thread (the API's scoring pipeline, which
must not wait). Under load, many decisions share one commit, so the log costs
one round trip per batch instead of one per request.

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
from collections.abc import Callable, Mapping, Sequence
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


OnLogged = Callable[[list[BaseException | None]], None]


class _Submission:
    """Rows handed over together, and whom to tell once each is durable (None) or has failed."""

    __slots__ = ("errors", "on_done", "rows")

    def __init__(self, rows: Sequence[Mapping[str, Any]], on_done: OnLogged) -> None:
        self.rows = rows
        self.on_done = on_done
        self.errors: list[BaseException | None] = [None] * len(rows)


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
        done = threading.Event()
        outcome: list[list[BaseException | None]] = []

        def finished(errors: list[BaseException | None]) -> None:
            outcome.append(errors)
            done.set()

        self.submit(rows, finished)
        if not done.wait(self.wait_timeout):
            raise TimeoutError("the decision log did not confirm the write in time")
        return outcome[0]

    def submit(self, rows: Sequence[Mapping[str, Any]], on_done: OnLogged) -> None:
        """Queue rows and return; `on_done(errors)` runs on the writer thread once they are
        committed (per row None, or its error). It must be quick and must not raise."""
        if self._closed or self._thread is None:
            raise DecisionLogClosedError("the decision log writer is not running")
        self._queue.put(_Submission(rows, on_done))

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch = [first]
            rows = len(first.rows)
            while rows < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
                rows += len(item.rows)
            self._write(batch)

    def _write(self, batch: list[_Submission]) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(decision_log), [row for s in batch for row in s.rows])
            self.commits += 1
        except IntegrityError:
            # Someone in the batch reuses an idempotency key: write the rest one by one.
            for submission in batch:
                for i, row in enumerate(submission.rows):
                    submission.errors[i] = self._write_one(row)
        except Exception as exc:  # the database is down: every row gets the error
            count = sum(len(s.rows) for s in batch)
            log.warning("decision log write of %d rows failed: %s", count, type(exc).__name__)
            for submission in batch:
                submission.errors = [exc] * len(submission.rows)
        for submission in batch:
            try:
                submission.on_done(submission.errors)
            except Exception:
                log.exception("decision log callback failed")

    def _write_one(self, row: Mapping[str, Any]) -> BaseException | None:
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(decision_log), [row])
            self.commits += 1
        except IntegrityError as exc:
            return DuplicateIdempotencyKeyError(str(exc.orig))
        except Exception as exc:
            return exc
        return None


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
