"""Do the principal reasons name what actually drove a decline?

For a sample of declined applicants the features behind the top reason are set
to the population baseline (median of a numeric feature, mode of a categorical
one, both from the training population) and the model scores the applicant
again: if the reason is right, predicted risk goes down. The share of applicants
for which it does is the reason accuracy reported to model risk (target 95 %).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from credit_assets.core.explain.leaf_shap import LeafShapExplainer
from credit_assets.core.explain.reasons import ReasonCodeMap
from credit_assets.core.features.specs import FeatureCatalogue
from credit_assets.core.promotion import REASON_ACCURACY_TARGET

MIN_DECLINED = 30
"""Below this many declined applicants the riskiest ones are checked instead."""


@dataclass(frozen=True)
class ReasonAccuracyFailure:
    """An applicant whose top reason, set to baseline, did not lower predicted risk."""

    row: int  # position in the frame that was validated
    code: str
    before: float  # probability of default
    after: float


@dataclass(frozen=True)
class ReasonAccuracyReport:
    checked: int  # declined applicants with at least one reason
    passed: int
    without_reason: int  # declined applicants sampled with no risk-increasing reason
    failures: tuple[ReasonAccuracyFailure, ...] = field(default_factory=tuple)
    target: float = REASON_ACCURACY_TARGET
    population: str = "declined applicants"

    @property
    def share(self) -> float:
        """Share of checked applicants whose risk fell (NaN when none was checked)."""
        return self.passed / self.checked if self.checked else float("nan")

    @property
    def meets_target(self) -> bool:
        return self.checked > 0 and self.share >= self.target

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record.update(share=self.share, meets_target=self.meets_target)
        return record


def _to_pandas(frame: Any, feature_names: list[str]) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        frame = frame.to_pandas()
    return frame[list(feature_names)].reset_index(drop=True)


def population_baselines(
    frame: Any, feature_names: list[str], categorical_features: Iterable[str]
) -> dict[str, object]:
    """Median of each numeric feature; the category shares of each categorical one."""
    data = _to_pandas(frame, feature_names)
    categorical = set(categorical_features)
    baselines: dict[str, object] = {}
    for name in feature_names:
        column = data[name].dropna()
        if name in categorical:
            shares = column.astype(str).value_counts(normalize=True)
            baselines[name] = {str(k): float(v) for k, v in sorted(shares.items())}
        else:
            baselines[name] = float(column.median()) if len(column) else float("nan")
    return baselines


def _probability(raw: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-raw))


MAX_VARIANTS = 64


def _variants(
    features: list[str], baseline_values: dict[str, object], rng: np.random.Generator
) -> list[tuple[dict[str, object], float]]:
    """Substitutions for a reason's features with their weights.

    A numeric feature takes its population median. A categorical one takes every
    category with its population share (the interventional expectation), since
    its most common category may itself be the risky one; several categorical
    features combine, sampled by weight beyond MAX_VARIANTS combinations.
    """
    variants: list[tuple[dict[str, object], float]] = [({}, 1.0)]
    for feature in features:
        baseline = baseline_values[feature]
        if isinstance(baseline, dict):
            variants = [
                ({**sub, feature: category}, weight * share)
                for sub, weight in variants
                for category, share in baseline.items()
            ]
        else:
            variants = [({**sub, feature: baseline}, weight) for sub, weight in variants]
    if len(variants) > MAX_VARIANTS:
        weights = np.array([w for _, w in variants])
        picked = rng.choice(
            len(variants), size=MAX_VARIANTS, replace=True, p=weights / weights.sum()
        )
        variants = [(variants[i][0], 1.0) for i in picked]
    total = sum(w for _, w in variants)
    return [(sub, w / total) for sub, w in variants]


def _neutralised_probability(
    applicants: pd.DataFrame,
    reason_features: list[list[str]],
    baseline_values: dict[str, object],
    raw: Any,
    rng: np.random.Generator,
) -> np.ndarray:
    """Expected default probability of each applicant with its top reason set to the baseline."""
    rows: list[pd.DataFrame] = []
    owners: list[int] = []
    weights: list[float] = []
    for position, features in enumerate(reason_features):
        for substitution, weight in _variants(features, baseline_values, rng):
            row = applicants.iloc[[position]].copy()
            for feature, value in substitution.items():
                row[feature] = value  # type: ignore[call-overload]
            rows.append(row)
            owners.append(position)
            weights.append(weight)
    after = np.zeros(len(applicants))
    if rows:
        probability = _probability(raw(pd.concat(rows, ignore_index=True)))
        np.add.at(after, np.array(owners), probability * np.array(weights))
    return after


def applicants_to_check(pd_values: np.ndarray, declined: np.ndarray) -> tuple[np.ndarray, str]:
    """The declined applicants, or the riskiest fifth (at least `MIN_DECLINED`) when few are.

    Reasons are owed to declined applicants, but a lender whose cut-off declines almost
    nobody in the holdout still needs evidence that the reasons name what drives risk.
    """
    declined = np.asarray(declined, dtype=bool)
    if declined.sum() >= MIN_DECLINED:
        return declined, "declined applicants"
    count = min(pd_values.size, max(MIN_DECLINED, pd_values.size // 5))
    riskiest = np.zeros(pd_values.size, dtype=bool)
    riskiest[np.argsort(-pd_values, kind="stable")[:count]] = True
    return riskiest, f"the {count} riskiest applicants (only {int(declined.sum())} declined)"


def validate_reason_accuracy(
    explainer: LeafShapExplainer | Any,
    frame: Any,
    feature_names: list[str],
    catalogue: FeatureCatalogue,
    baseline_values: dict[str, object],
    declined_mask: np.ndarray,
    sample: int = 500,
    seed: int = 0,
    target: float = REASON_ACCURACY_TARGET,
    population: str = "declined applicants",
) -> ReasonAccuracyReport:
    """Share of sampled declined applicants whose risk falls when their top reason is neutralised.

    `explainer` is the model's explanation: CatBoost's `LeafShapExplainer` (with its model)
    or a scorecard's `ScorecardExplainer`; `explain(frame)` gives the contributions that
    rank the reasons and the raw prediction that is compared before and after."""
    data = _to_pandas(frame, feature_names)
    declined = np.flatnonzero(np.asarray(declined_mask, dtype=bool))
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(declined, size=min(sample, declined.size), replace=False))
    applicants = data.iloc[rows].reset_index(drop=True)

    shap, _ = explainer.explain(applicants)
    reasons = ReasonCodeMap.build(feature_names, catalogue).top_batch(shap, k=1)
    has_reason = np.array([bool(r) for r in reasons], dtype=bool)

    reason_features = [list(r[0].features) if r else [] for r in reasons]

    def raw(rows_frame: pd.DataFrame) -> np.ndarray:
        # The explainer's raw prediction is the model's (the SHAP tables or a scorecard's
        # terms reproduce it exactly), so either family is checked by the same rule.
        return np.asarray(explainer.explain(rows_frame)[1], dtype=np.float64)

    raw_before = raw(applicants)
    before = _probability(raw_before)
    after = _neutralised_probability(applicants, reason_features, baseline_values, raw, rng)
    lowered = after < before
    failures = tuple(
        ReasonAccuracyFailure(int(rows[i]), reasons[i][0].code, float(before[i]), float(after[i]))
        for i in np.flatnonzero(has_reason & ~lowered)
    )
    return ReasonAccuracyReport(
        checked=int(has_reason.sum()),
        passed=int((has_reason & lowered).sum()),
        without_reason=int((~has_reason).sum()),
        failures=failures,
        target=target,
        population=population,
    )
