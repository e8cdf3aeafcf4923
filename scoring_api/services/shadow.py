"""Shadow scoring: the challenger decides on live traffic too, off the response path.

The model in shadow is the newest registered `challenger` created after the
champion's promotion (a version trained since, not yet promoted:
`registry.shadow_candidate`). The model holder loads and verifies it on its
poller, like the champion; a shadow model that fails verification only turns
shadow scoring off. With CREDIT_API_SHADOW on, `Services.start` builds the holder
to resolve it and this scorer to score it; off, neither happens.

A request hands its decision id and feature vector to `ShadowScorer.submit`,
which costs a lock and a queue put: the work is bounded (`capacity` decisions
waiting at most; beyond that a decision is dropped and counted, never waited
for). One background thread scores what has queued with the shadow model
(vectorised, one CatBoost thread) and inserts the results into
`shadow_decisions` in one transaction per batch, keyed by the champion's
decision id, where `load_shadow_pairs` and the `shadow_comparison` asset find them.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy.engine import Engine

from credit_assets.core.platform.db import shadow_decisions
from credit_assets.core.scoring import Decision, ScoringModel

log = logging.getLogger("scoring_api.shadow")

Submission = tuple[str, Mapping[str, Any]]  # (champion decision id, the features it scored)


class ShadowSource(Protocol):
    """Where the scorer reads the shadow model (the model holder)."""

    shadow: ScoringModel | None


class _Job:
    __slots__ = ("model", "rows")

    def __init__(self, model: ScoringModel, rows: Sequence[Submission]) -> None:
        self.model = model
        self.rows = rows


_STOP = object()


class ShadowScorer:
    """A bounded queue and one thread: shadow decisions scored and logged in batches."""

    def __init__(
        self,
        engine: Engine,
        source: ShadowSource,
        registry: CollectorRegistry,
        *,
        capacity: int = 10_000,
        max_batch: int = 500,
    ) -> None:
        self.engine = engine
        self.source = source
        self.capacity = capacity
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.pending = 0  # decisions queued or being scored
        self.logged = 0
        self.dropped = 0
        self.failed = 0
        self._counter = Counter(
            "credit_api_shadow_decisions_total",
            "Decisions of the shadow model: `logged` to shadow_decisions, `dropped` because the "
            "shadow queue was full, `failed` to score or to write.",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("logged", "dropped", "failed"):
            self._counter.labels(outcome=outcome)  # exported at 0 from the start
        Gauge(
            "credit_api_shadow_queue_depth",
            "Decisions waiting for the shadow model.",
            registry=registry,
        ).set_function(lambda: self.pending)

    def start(self) -> ShadowScorer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="shadow-scorer", daemon=True)
            self._thread.start()
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Score and write what is queued (within `timeout`), then stop."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    def submit(self, rows: Sequence[Submission]) -> None:
        """Queue decisions for the shadow model; never blocks, never raises."""
        model = self.source.shadow
        if model is None or not rows:
            return
        with self._lock:
            if self.pending + len(rows) > self.capacity:
                self.dropped += len(rows)
                self._counter.labels(outcome="dropped").inc(len(rows))
                return
            self.pending += len(rows)
        self._queue.put(_Job(model, rows))

    # -- the background thread ------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch = [first]
            size = len(first.rows)
            while size < self.max_batch:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    stopping = True
                    break
                batch.append(job)
                size += len(job.rows)
            try:
                self._process(batch)
            except Exception:  # the thread must outlive any surprise
                log.exception("shadow batch failed")
                self._count("failed", size)
            finally:
                with self._lock:
                    self.pending -= size

    def _process(self, batch: list[_Job]) -> None:
        now = datetime.now(UTC).replace(tzinfo=None)
        records: list[dict[str, Any]] = []
        by_model: dict[int, tuple[ScoringModel, list[Submission]]] = {}
        for job in batch:  # a swap between submissions leaves two models in one batch
            by_model.setdefault(id(job.model), (job.model, []))[1].extend(job.rows)
        for model, rows in by_model.values():
            for (decision_id, _features), decision in zip(
                rows, self._score(model, rows), strict=True
            ):
                if decision is None:
                    continue
                records.append(
                    {
                        "decision_id": decision_id,
                        "model_version": model.version,
                        "created_at": now,
                        "score": decision.score,
                        "pd": decision.pd,
                        "band": decision.band,
                    }
                )
        if not records:
            return
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(shadow_decisions), records)
        except Exception as exc:
            log.warning(
                "shadow decisions write of %d rows failed: %s", len(records), type(exc).__name__
            )
            self._count("failed", len(records))
            return
        self._count("logged", len(records))

    def _score(self, model: ScoringModel, rows: list[Submission]) -> list[Decision | None]:
        """Decisions in row order; None where the shadow model could not score a row."""
        try:
            return list(model.score_rows([features for _, features in rows]))
        except Exception:
            pass  # e.g. one row lacks a feature only the challenger uses: score one by one
        decisions: list[Decision | None] = []
        first_error: Exception | None = None
        for _, features in rows:
            try:
                decisions.append(model.score_one(features))
            except Exception as exc:
                decisions.append(None)
                first_error = first_error or exc
        failed = decisions.count(None)
        if failed:
            self._count("failed", failed)
            log.warning(
                "shadow model %s could not score %d of %d decisions: %s",
                model.version,
                failed,
                len(rows),
                first_error,
            )
        return decisions

    def _count(self, outcome: str, n: int) -> None:
        if outcome == "logged":
            self.logged += n
        elif outcome == "failed":
            self.failed += n
        self._counter.labels(outcome=outcome).inc(n)
