"""Scoring requests end to end: features, decision, durable log, idempotent replay.

Runs in the thread pool (plain `def` routes): CatBoost releases the GIL, and a
request blocks only on its own database round trips and its group commit.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from credit_assets.core.contracts import Contract
from credit_assets.core.decision_log import (
    DecisionLogWriter,
    DuplicateIdempotencyKeyError,
    find_by_idempotency_keys,
    inputs_digest,
)
from credit_assets.core.scoring import Decision, MissingFeaturesError, ScoringModel
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
from scoring_api.services.shadow import ShadowScorer

log = logging.getLogger("scoring_api.decisions")

IDEMPOTENCY_LOC: list[str | int] = ["header", IDEMPOTENCY_HEADER]


def _snapshot_mismatch(exc: MissingFeaturesError) -> ApiError:
    return ApiError(
        503,
        f"the feature snapshot lacks inputs the serving model needs ({len(exc.missing)} "
        f"features, e.g. {exc.missing[0]}); republish online_features",
    )


@dataclass
class ScoringService:
    engine: Engine
    contracts: dict[str, Contract]
    writer: DecisionLogWriter
    metrics: ApiMetrics
    shadow: ShadowScorer | None = None  # challenger scored off the response path

    def features_for(self, request: ScoreRequest) -> RequestFeatures:
        check_request_shape(request)
        if request.borrower_id is not None:
            return online_features_for(self.engine, request.borrower_id)
        return inline_features_for(request, self.contracts)

    def score(
        self, lender: str, request: ScoreRequest, model: ScoringModel, idempotency_key: str | None
    ) -> LoggedDecision:
        """One decision, returned only once it is in the decision log."""
        started = time.perf_counter()
        digest = inputs_digest(canonical_input(request.model_dump(mode="json")))
        if idempotency_key is not None:
            stored = find_by_idempotency_keys(self.engine, lender, [idempotency_key])
            if idempotency_key in stored:
                return replay(stored[idempotency_key], digest, IDEMPOTENCY_LOC)
        features = self.features_for(request)
        try:
            decision = model.score_one(features.features)
        except MissingFeaturesError as exc:
            raise _snapshot_mismatch(exc) from None
        result, row = build_decision(
            lender=lender,
            model=model,
            decision=decision,
            features=features,
            digest=digest,
            idempotency_key=idempotency_key,
            latency_ms=(time.perf_counter() - started) * 1e3,
        )
        try:
            self.writer.append(row)
        except DuplicateIdempotencyKeyError:
            # A concurrent request with the same key committed first: answer as it did.
            stored = find_by_idempotency_keys(self.engine, lender, [idempotency_key or ""])
            return replay(stored[idempotency_key or ""], digest, IDEMPOTENCY_LOC)
        self.metrics.decided(result.band)
        if self.shadow is not None:
            self.shadow.submit([(result.decision_id, features.features)])
        log.debug("decision %s logged", result.decision_id)
        return result

    def score_batch(
        self,
        lender: str,
        items: list[ScoreRequest],
        model: ScoringModel,
        idempotency_key: str | None,
    ) -> list[tuple[int, LoggedDecision | ApiError]]:
        """Per item, its decision or its error; every decision is logged, in one group commit."""
        started = time.perf_counter()
        digests = [inputs_digest(canonical_input(item.model_dump(mode="json"))) for item in items]
        keys = [f"{idempotency_key}#{i}" if idempotency_key else None for i in range(len(items))]
        outcome: dict[int, LoggedDecision | ApiError] = {}

        if idempotency_key is not None:
            stored = find_by_idempotency_keys(self.engine, lender, [k for k in keys if k])
            for i, key in enumerate(keys):
                if key in stored:
                    outcome[i] = replay(stored[key], digests[i], IDEMPOTENCY_LOC)

        features = self._batch_features(items, outcome)
        pending = [i for i in range(len(items)) if i not in outcome and i in features]
        ready = [i for i in pending if self._complete(model, features[i], outcome, i)]
        decisions: list[Decision] = model.score_rows([features[i].features for i in ready])

        latency_ms = (time.perf_counter() - started) * 1e3
        built = [
            build_decision(
                lender=lender,
                model=model,
                decision=decision,
                features=features[i],
                digest=digests[i],
                idempotency_key=keys[i],
                latency_ms=latency_ms,
            )
            for i, decision in zip(ready, decisions, strict=True)
        ]
        errors = self.writer.append_many([row for _, row in built])
        shadowed = []
        for i, (result, _row), error in zip(ready, built, errors, strict=True):
            if error is None:
                outcome[i] = result
                self.metrics.decided(result.band)
                shadowed.append((result.decision_id, features[i].features))
            elif isinstance(error, DuplicateIdempotencyKeyError):
                again = find_by_idempotency_keys(self.engine, lender, [keys[i] or ""])
                outcome[i] = replay(again[keys[i] or ""], digests[i], IDEMPOTENCY_LOC)
            else:
                raise error  # the log is down: return nothing undecided-but-unlogged
        if self.shadow is not None:
            self.shadow.submit(shadowed)
        return sorted(outcome.items())

    def _batch_features(
        self, items: list[ScoreRequest], outcome: dict[int, Any]
    ) -> dict[int, RequestFeatures]:
        features: dict[int, RequestFeatures] = {}
        by_id: dict[int, str] = {}
        for i, item in enumerate(items):
            if i in outcome:
                continue
            try:
                check_request_shape(item)
                if item.borrower_id is not None:
                    by_id[i] = item.borrower_id
                else:
                    features[i] = inline_features_for(item, self.contracts)
            except FieldError as exc:
                outcome[i] = exc.prefixed(["body", "items", i])
            except ApiError as exc:
                outcome[i] = exc
        if by_id:
            try:
                found = online_features_many(self.engine, list(by_id.values()))
            except ApiError as exc:
                found = {}
                for i in by_id:
                    outcome[i] = exc
            for i, borrower in by_id.items():
                if borrower in found:
                    features[i] = found[borrower]
                elif i not in outcome:
                    outcome[i] = ApiError(
                        404, "unknown borrower: not in the current feature snapshot"
                    )
        return features

    @staticmethod
    def _complete(
        model: ScoringModel, features: RequestFeatures, outcome: dict[int, Any], i: int
    ) -> bool:
        missing = [n for n in model.feature_names if n not in features.features]
        if missing:
            outcome[i] = _snapshot_mismatch(MissingFeaturesError(missing))
        return not missing
