"""Scoring requests end to end: features, decision, durable log, idempotent replay.

Routes are `async`: a request does its cheap checks on the event loop, queues a
`ScoreJob` and awaits its future. Two batchers on the loop
(`services/pipeline.py`) do the rest for every job that has queued up:

1. the decider: one idempotency lookup per lender, one online-store read for
   every borrower id, one vectorised CatBoost + exact-SHAP pass per model; it
   settles errors and replays at once and hands the decisions on;
2. the log writer: one group commit for every decision that has queued up; a
   request gets its decision only once its row is durable.

While one batch awaits the database, the next requests queue up, so under load
the fixed costs (a round trip, a CatBoost call, a commit) are paid once per
batch. Inline payloads have their features computed in the thread pool first
(Polars), so they never hold up a batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine

from credit_assets.core.contracts import Contract
from credit_assets.core.features.applications import applications_contract
from credit_assets.core.platform.decision_log import (
    DecisionLogClosedError,
    DuplicateIdempotencyKeyError,
    inputs_digest,
)
from credit_assets.core.platform.experiments import (
    CHALLENGER_ARM,
    CHAMPION_ARM,
    assignment_subject,
)
from credit_assets.core.platform.online_store import NoSnapshotError
from credit_assets.core.scoring import MissingFeaturesError, ScoringModel
from scoring_api.errors import ApiError, FieldError
from scoring_api.schemas import ScoreRequest
from scoring_api.services.callers import IDEMPOTENCY_LOC
from scoring_api.services.features import (
    NO_SNAPSHOT,
    RequestFeatures,
    check_request_shape,
    inline_features_for,
    online_features_for,
)
from scoring_api.services.log_writer import (
    LoggedDecision,
    build_decision,
    canonical_input,
    replay,
)
from scoring_api.services.model_holder import ActiveExperiment
from scoring_api.services.pipeline import Batcher, BatcherClosedError, settle
from scoring_api.services.prometheus import ApiMetrics
from scoring_api.services.shadow import ShadowScorer
from scoring_api.services.store import DecisionStore

log = logging.getLogger("scoring_api.decisions")


def _snapshot_mismatch(exc: MissingFeaturesError) -> ApiError:
    return ApiError(
        503,
        f"the feature snapshot lacks inputs the serving model needs ({len(exc.missing)} "
        f"features, e.g. {exc.missing[0]}); republish online_features",
    )


UNKNOWN_BORROWER = "unknown borrower: not in the current feature snapshot"


@dataclass(eq=False)
class ScoreJob:
    """One decision to make: who asks, with which model, and where its features come from."""

    lender: str
    model: ScoringModel
    digest: str
    idempotency_key: str | None
    started: float
    future: asyncio.Future[Any]
    borrower_id: str | None = None  # features from the online store
    features: RequestFeatures | None = None  # computed inline beforehand
    experiment_id: str | None = None  # the running experiment, if any, and the job's arm
    arm: str | None = None


@dataclass(eq=False)
class LogEntry:
    """A decision waiting for its row to be durable; `future` is its request's."""

    result: LoggedDecision
    row: dict[str, Any]
    features: RequestFeatures
    future: asyncio.Future[Any]


@dataclass
class ScoringService:
    engine: Engine  # synchronous, for tools and tests (`features_for`)
    store: DecisionStore
    contracts: dict[str, Contract]
    metrics: ApiMetrics
    shadow: ShadowScorer | None = None  # challenger scored off the response path
    max_batch: int = 256
    linger: float = 0.0  # seconds a small decide batch may wait for company (pipeline.Batcher)
    log_max_batch: int = 500
    commits: int = 0  # decision-log transactions (observability and tests)
    # The running experiment, read once per job (`ModelHolder.experiment`); none by default.
    experiment_of: Callable[[], ActiveExperiment | None] = field(default=lambda: None)
    decider: Batcher[ScoreJob] = field(init=False, repr=False)
    writer: Batcher[LogEntry] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.decider = Batcher(self._decide, self.max_batch, "scoring decider", self.linger)
        self.writer = Batcher(self._log, self.log_max_batch, "decision log writer")
        # Where an inline application names its borrower and itself (experiment assignment).
        applications = applications_contract(self.contracts)
        self._subject_columns = (
            (applications.borrower_column, applications.id_column) if applications else (None, None)
        )

    def start(self) -> ScoringService:
        """Start both batchers (on the running event loop)."""
        self.decider.start()
        self.writer.start()
        return self

    async def close(self) -> None:
        """Decide what is queued, log it, then stop."""
        await self.decider.close()
        await self.writer.close()

    def features_for(self, request: ScoreRequest) -> RequestFeatures:
        """A request's features, synchronously (tests and tools; the routes use the batchers)."""
        check_request_shape(request)
        if request.borrower_id is not None:
            return online_features_for(self.engine, request.borrower_id)
        return inline_features_for(request, self.contracts)

    # -- requests -------------------------------------------------------------------------

    async def score(
        self, lender: str, request: ScoreRequest, model: ScoringModel, idempotency_key: str | None
    ) -> LoggedDecision:
        """One decision, returned only once it is in the decision log."""
        check_request_shape(request)
        job = self._job(lender, request, model, idempotency_key)
        if request.borrower_id is None:
            job.features = await run_in_threadpool(inline_features_for, request, self.contracts)
        outcome = await self._run([job])
        return await self._finish(job, outcome[0])

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
        results = await self._run(list(jobs.values()))
        for (i, job), result in zip(jobs.items(), results, strict=True):
            try:
                outcome[i] = await self._finish(job, result)
            except ApiError as exc:
                outcome[i] = _item_error(exc, i)
        return sorted(outcome.items())

    def _job(
        self, lender: str, request: ScoreRequest, model: ScoringModel, key: str | None
    ) -> ScoreJob:
        digest = inputs_digest(canonical_input(request.model_dump(mode="json")))
        job = ScoreJob(
            lender=lender,
            model=model,
            digest=digest,
            idempotency_key=key,
            started=time.perf_counter(),
            future=asyncio.get_running_loop().create_future(),
            borrower_id=request.borrower_id,
        )
        active = self.experiment_of()
        if active is not None:
            experiment = active.experiment
            subject = assignment_subject(*self._subject_ids(request), digest)
            arm = experiment.arm(lender, subject)
            if arm == CHALLENGER_ARM and active.model is None:
                arm = CHAMPION_ARM  # the challenger was refused: its arm falls back
            job.experiment_id, job.arm = experiment.experiment_id, arm
            if arm == CHALLENGER_ARM and active.model is not None:
                job.model = active.model
        return job

    def _subject_ids(self, request: ScoreRequest) -> tuple[str | None, str | None]:
        """(borrower id, application id) of a request, for its experiment arm."""
        if request.borrower_id is not None or request.application is None:
            return request.borrower_id, None
        application = request.application
        borrower_column, id_column = self._subject_columns
        borrower = application.get(borrower_column) if borrower_column else None
        app_id = application.get(id_column) if id_column else None
        return (
            str(borrower) if borrower not in (None, "") else None,
            str(app_id) if app_id not in (None, "") else None,
        )

    async def _run(self, jobs: list[ScoreJob]) -> list[Any]:
        try:
            self.decider.put(jobs)
        except BatcherClosedError as exc:
            raise DecisionLogClosedError(str(exc)) from None
        return [await job.future for job in jobs]

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
            stored = await self.store.find_decisions(job.lender, [key])
            return replay(stored[key], job.digest, IDEMPOTENCY_LOC)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome  # type: ignore[no-any-return]

    # -- the decider ----------------------------------------------------------------------

    async def _decide(self, jobs: list[ScoreJob]) -> None:
        """Decide a batch: errors and replays are settled now, decisions go to the log writer."""
        outcomes: dict[int, Any] = {}
        await self._replays(jobs, outcomes)
        features = await self._features(jobs, outcomes)
        entries: list[LogEntry] = []
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
                    experiment_id=job.experiment_id,
                    arm=job.arm,
                )
                entries.append(LogEntry(result, row, features[i], job.future))
        for i, outcome in outcomes.items():
            settle(jobs[i].future, outcome)
        if entries:
            try:
                self.writer.put(entries)
            except BatcherClosedError as exc:
                for entry in entries:
                    settle(entry.future, DecisionLogClosedError(str(exc)))

    async def _replays(self, jobs: list[ScoreJob], outcomes: dict[int, Any]) -> None:
        """Jobs whose idempotency key already has a decision get it back (one read per lender)."""
        keyed: dict[str, list[int]] = defaultdict(list)
        for i, job in enumerate(jobs):
            if job.idempotency_key is not None:
                keyed[job.lender].append(i)
        for lender, indexes in keyed.items():
            try:
                stored = await self.store.find_decisions(
                    lender, [jobs[i].idempotency_key or "" for i in indexes]
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

    async def _features(
        self, jobs: list[ScoreJob], outcomes: dict[int, Any]
    ) -> dict[int, RequestFeatures]:
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
            found = await self.store.read_features(list(by_id.values()))
        except NoSnapshotError:
            outcomes.update(dict.fromkeys(by_id, ApiError(503, NO_SNAPSHOT)))
            return features
        except Exception as exc:  # the database is down
            outcomes.update(dict.fromkeys(by_id, exc))
            return features
        for i, borrower in by_id.items():
            online = found.get(borrower)
            if online is None:
                outcomes[i] = ApiError(404, UNKNOWN_BORROWER)
            else:
                features[i] = RequestFeatures(
                    online.features,
                    online.snapshot_id,
                    "online_store",
                    borrower,
                    online.stored_json,
                )
        return features

    # -- the log writer -------------------------------------------------------------------

    async def _log(self, entries: list[LogEntry]) -> None:
        """One group commit; each request gets its decision once durable, or the error."""
        try:
            errors = await self.store.insert_decisions([entry.row for entry in entries])
        except Exception as exc:  # the database is down: return nothing undecided-but-unlogged
            log.warning(
                "decision log write of %d rows failed: %s", len(entries), type(exc).__name__
            )
            for entry in entries:
                settle(entry.future, exc)
            return
        self.commits += 1
        shadowed = []
        for entry, error in zip(entries, errors, strict=True):
            settle(entry.future, entry.result if error is None else error)
            if error is None:
                self.metrics.decided(entry.result.band)
                shadowed.append((entry.result.decision_id, entry.features.features))
        if self.shadow is not None and shadowed:
            self.shadow.submit(shadowed)


def _item_error(error: ApiError, index: int) -> ApiError:
    """A batch item's error; a field in its body is named under `body.items[index]`."""
    if isinstance(error, FieldError) and error.loc[:1] == ["body"]:
        return error.prefixed(["body", "items", index])
    return error


def _complete(
    model: ScoringModel, features: RequestFeatures, outcomes: dict[int, Any], i: int
) -> bool:
    if features.features.keys() >= model.feature_set:
        return True
    missing = [n for n in model.feature_names if n not in features.features]
    outcomes[i] = _snapshot_mismatch(MissingFeaturesError(missing))
    return False
