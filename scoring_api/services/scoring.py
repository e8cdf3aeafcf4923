"""Scoring requests end to end: features, decision, durable log, idempotent replay.

Routes are `async`: a request does its cheap checks on the event loop, then
hands a `ScoreJob` to the scoring pipeline (`services/pipeline.py`) and awaits
it. The pipeline's thread decides every job that has queued up together: one
idempotency lookup per lender, one online-store read for every borrower id, one
vectorised CatBoost + SHAP pass per model, and one hand-over of all the rows to
the decision-log writer, whose group commit settles each request once its row is
durable. Inline payloads have their features computed in the thread pool first
(Polars), so they never hold up the batch.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine

from credit_assets.core.contracts import Contract
from credit_assets.core.decision_log import (
    DecisionLogClosedError,
    DecisionLogWriter,
    DuplicateIdempotencyKeyError,
    find_by_idempotency_keys,
    inputs_digest,
)
from credit_assets.core.scoring import MissingFeaturesError, ScoringModel
from scoring_api.errors import ApiError, FieldError
from scoring_api.schemas import ScoreRequest
from scoring_api.services.decision_log import (
    IDEMPOTENCY_HEADER,
    LoggedDecision,
    build_decision,
    canonical_input,
    replay,
)
from scoring_api.services.features import (
    RequestFeatures,
    check_request_shape,
    inline_features_for,
    online_features_for,
    online_features_many,
)
from scoring_api.services.metrics import ApiMetrics
from scoring_api.services.pipeline import BatchingPipeline, Ticket, settle
from scoring_api.services.shadow import ShadowScorer

log = logging.getLogger("scoring_api.decisions")

IDEMPOTENCY_LOC: list[str | int] = ["header", IDEMPOTENCY_HEADER]


def _snapshot_mismatch(exc: MissingFeaturesError) -> ApiError:
    return ApiError(
        503,
        f"the feature snapshot lacks inputs the serving model needs ({len(exc.missing)} "
        f"features, e.g. {exc.missing[0]}); republish online_features",
    )


UNKNOWN_BORROWER = "unknown borrower: not in the current feature snapshot"


@dataclass
class ScoreJob:
    """One decision to make: who asks, with which model, and where its features come from."""

    lender: str
    model: ScoringModel
    digest: str
    idempotency_key: str | None
    started: float
    borrower_id: str | None = None  # features from the online store
    features: RequestFeatures | None = None  # computed inline beforehand


@dataclass
class ScoringService:
    engine: Engine
    contracts: dict[str, Contract]
    writer: DecisionLogWriter
    metrics: ApiMetrics
    shadow: ShadowScorer | None = None  # challenger scored off the response path
    max_batch: int = 256
    pipeline: BatchingPipeline[ScoreJob] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.pipeline = BatchingPipeline(self._decide, self.max_batch)

    def start(self) -> ScoringService:
        self.pipeline.start()
        return self

    def close(self) -> None:
        self.pipeline.close()

    def features_for(self, request: ScoreRequest) -> RequestFeatures:
        """A request's features, synchronously (tests and tools; the routes use the pipeline)."""
        check_request_shape(request)
        if request.borrower_id is not None:
            return online_features_for(self.engine, request.borrower_id)
        return inline_features_for(request, self.contracts)

    # -- on the event loop ----------------------------------------------------------------

    async def score(
        self, lender: str, request: ScoreRequest, model: ScoringModel, idempotency_key: str | None
    ) -> LoggedDecision:
        """One decision, returned only once it is in the decision log."""
        check_request_shape(request)
        job = self._job(lender, request, model, idempotency_key)
        if request.borrower_id is None:
            job.features = await run_in_threadpool(inline_features_for, request, self.contracts)
        (outcome,) = await self.pipeline.run([job])
        return await self._finish(job, outcome)

    async def score_batch(
        self,
        lender: str,
        items: list[ScoreRequest],
        model: ScoringModel,
        idempotency_key: str | None,
    ) -> list[tuple[int, LoggedDecision | ApiError]]:
        """Per item, its decision or its error; every decision is logged, in group commits."""
        outcome: dict[int, LoggedDecision | ApiError] = {}
        jobs: dict[int, ScoreJob] = {}
        for i, item in enumerate(items):
            try:
                check_request_shape(item)
            except FieldError as exc:
                outcome[i] = _item_error(exc, i)
                continue
            key = f"{idempotency_key}#{i}" if idempotency_key else None
            jobs[i] = self._job(lender, item, model, key)
        inline = [i for i, job in jobs.items() if job.borrower_id is None]
        if inline:
            computed = await run_in_threadpool(self._inline_many, [items[i] for i in inline])
            for i, features in zip(inline, computed, strict=True):
                if isinstance(features, ApiError):
                    outcome[i] = _item_error(features, i)
                    del jobs[i]
                else:
                    jobs[i].features = features
        results = await self.pipeline.run(list(jobs.values()))
        for (i, job), result in zip(jobs.items(), results, strict=True):
            try:
                outcome[i] = await self._finish(job, result)
            except ApiError as exc:
                outcome[i] = _item_error(exc, i)
        return sorted(outcome.items())

    def _job(
        self, lender: str, request: ScoreRequest, model: ScoringModel, key: str | None
    ) -> ScoreJob:
        return ScoreJob(
            lender=lender,
            model=model,
            digest=inputs_digest(canonical_input(request.model_dump(mode="json"))),
            idempotency_key=key,
            started=time.perf_counter(),
            borrower_id=request.borrower_id,
        )

    def _inline_many(self, items: list[ScoreRequest]) -> list[RequestFeatures | ApiError]:
        computed: list[RequestFeatures | ApiError] = []
        for item in items:
            try:
                computed.append(inline_features_for(item, self.contracts))
            except ApiError as exc:
                computed.append(exc)
        return computed

    async def _finish(self, job: ScoreJob, outcome: Any) -> LoggedDecision:
        if isinstance(outcome, DuplicateIdempotencyKeyError):
            # A concurrent request with the same key committed first: answer as it did.
            key = job.idempotency_key or ""
            stored = await run_in_threadpool(
                find_by_idempotency_keys, self.engine, job.lender, [key]
            )
            return replay(stored[key], job.digest, IDEMPOTENCY_LOC)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome  # type: ignore[no-any-return]

    # -- on the pipeline thread -----------------------------------------------------------

    def _decide(self, tickets: list[Ticket[ScoreJob]]) -> None:
        """Decide every job of a batch; settle errors and replays now, decisions once logged."""
        jobs = [ticket.job for ticket in tickets]
        outcomes: dict[int, Any] = {}
        self._replays(jobs, outcomes)
        features = self._features(jobs, outcomes)
        built: list[tuple[int, LoggedDecision, dict[str, Any]]] = []
        by_model: dict[int, list[int]] = defaultdict(list)
        for i in features:
            by_model[id(jobs[i].model)].append(i)
        for indexes in by_model.values():
            model = jobs[indexes[0]].model
            ready = [i for i in indexes if _complete(model, features[i], outcomes, i)]
            try:
                decisions = model.score_rows([features[i].features for i in ready])
            except Exception as exc:
                log.exception("scoring a batch of %d failed", len(ready))
                outcomes.update(dict.fromkeys(ready, exc))
                continue
            now = time.perf_counter()
            for i, decision in zip(ready, decisions, strict=True):
                job = jobs[i]
                result, row = build_decision(
                    lender=job.lender,
                    model=model,
                    decision=decision,
                    features=features[i],
                    digest=job.digest,
                    idempotency_key=job.idempotency_key,
                    latency_ms=(now - job.started) * 1e3,
                )
                built.append((i, result, row))
        settle([(tickets[i], outcome) for i, outcome in outcomes.items()])
        if not built:
            return

        def logged(errors: list[BaseException | None]) -> None:
            done: list[tuple[Ticket[ScoreJob], Any]] = []
            shadowed = []
            for (i, result, _row), error in zip(built, errors, strict=True):
                done.append((tickets[i], result if error is None else error))
                if error is None:
                    self.metrics.decided(result.band)
                    shadowed.append((result.decision_id, features[i].features))
            settle(done)
            if self.shadow is not None and shadowed:
                self.shadow.submit(shadowed)

        try:
            self.writer.submit([row for _, _, row in built], logged)
        except DecisionLogClosedError as exc:
            settle([(tickets[i], exc) for i, _, _ in built])

    def _replays(self, jobs: list[ScoreJob], outcomes: dict[int, Any]) -> None:
        """Jobs whose idempotency key already has a decision get it back (one read per lender)."""
        keyed: dict[str, list[int]] = defaultdict(list)
        for i, job in enumerate(jobs):
            if job.idempotency_key is not None:
                keyed[job.lender].append(i)
        for lender, indexes in keyed.items():
            try:
                stored = find_by_idempotency_keys(
                    self.engine, lender, [jobs[i].idempotency_key or "" for i in indexes]
                )
            except Exception as exc:  # the database is down: these jobs fail with it
                outcomes.update(dict.fromkeys(indexes, exc))
                continue
            for i in indexes:
                found = stored.get(jobs[i].idempotency_key or "")
                if found is None:
                    continue
                try:
                    outcomes[i] = replay(found, jobs[i].digest, IDEMPOTENCY_LOC)
                except FieldError as exc:
                    outcomes[i] = exc

    def _features(self, jobs: list[ScoreJob], outcomes: dict[int, Any]) -> dict[int, RequestFeatures]:
        """Features of the jobs still to decide: inline ones as given, the rest in one read."""
        features: dict[int, RequestFeatures] = {}
        by_id: dict[int, str] = {}
        for i, job in enumerate(jobs):
            if i in outcomes:
                continue
            if job.features is not None:
                features[i] = job.features
            elif job.borrower_id is not None:
                by_id[i] = job.borrower_id
        if not by_id:
            return features
        try:
            found = online_features_many(self.engine, list(by_id.values()))
        except Exception as exc:  # 503 before any publish, or the database is down
            outcomes.update(dict.fromkeys(by_id, exc))
            return features
        for i, borrower in by_id.items():
            if borrower in found:
                features[i] = found[borrower]
            else:
                outcomes[i] = ApiError(404, UNKNOWN_BORROWER)
        return features


def _item_error(error: ApiError, index: int) -> ApiError:
    """A batch item's error; a field in its body is named under `body.items[index]`."""
    if isinstance(error, FieldError) and error.loc[:1] == ["body"]:
        return error.prefixed(["body", "items", index])
    return error


def _complete(
    model: ScoringModel, features: RequestFeatures, outcomes: dict[int, Any], i: int
) -> bool:
    missing = [n for n in model.feature_names if n not in features.features]
    if missing:
        outcomes[i] = _snapshot_mismatch(MissingFeaturesError(missing))
    return not missing
