"""Checking, after training, that declared monotone directions actually hold.

A constraint passed to CatBoost is a request, not a proof: some settings silently
weaken it. This module sweeps each constrained feature over a grid of its observed
quantiles for a sample of real rows (individual conditional expectation curves)
and fails a feature if any row's predicted log-odds of default moves against the
declared direction by more than a tolerance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from catboost import CatBoost

from credit_assets.core.features.specs import FeatureSpec
from credit_assets.core.modeling.scorecard_model import TrainedScorecard
from credit_assets.core.modeling.train import TrainedModel, catboost_pool, to_catboost_frame
from credit_assets.core.reports.text import md_escape

TOLERANCE = 1e-9


@dataclass(frozen=True)
class FeatureMonotonicity:
    """Evidence for one feature: the grid swept and how far predictions moved the wrong way."""

    feature: str
    direction: str
    status: str  # "pass", "fail" or "not_applicable"
    grid: list[float]
    rows_checked: int
    rows_violating: int
    max_violation: float
    mean_curve_log_odds: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def passed(self) -> bool:
        return self.status != "fail"


@dataclass(frozen=True)
class MonotonicityReport:
    """Per-feature results of `verify_monotonicity`; `passed` is what a blocking check asserts."""

    features: list[FeatureMonotonicity]
    tolerance: float
    n_rows: int
    grid_size: int

    @property
    def passed(self) -> bool:
        return all(f.passed for f in self.features)

    @property
    def failed_features(self) -> list[str]:
        return [f.feature for f in self.features if f.status == "fail"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "tolerance": self.tolerance,
            "n_rows": self.n_rows,
            "grid_size": self.grid_size,
            "features": [asdict(f) for f in self.features],
        }

    def to_markdown(self) -> str:
        lines = [
            "| feature | direction | status | rows violating | max violation (log-odds) |",
            "|---|---|---|---|---|",
        ]
        for f in self.features:  # a feature is named after the lender's column
            lines.append(
                f"| {md_escape(f.feature)} | {md_escape(f.direction)} | {md_escape(f.status)} | "
                f"{f.rows_violating}/{f.rows_checked} | {f.max_violation:.3g} |"
            )
        return "\n".join(lines)


def _quantile_grid(values: np.ndarray, grid: int) -> np.ndarray:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.array([], dtype=np.float64)
    return np.unique(np.quantile(finite, np.linspace(0.0, 1.0, grid)))


def _sweep(
    model: CatBoost | TrainedScorecard,
    sample: pd.DataFrame,
    features: Sequence[FeatureSpec],
    spec: FeatureSpec,
    grid_values: np.ndarray,
    tolerance: float,
) -> FeatureMonotonicity:
    n, g = len(sample), len(grid_values)
    repeated = sample.loc[sample.index.repeat(g)].reset_index(drop=True)
    repeated[spec.name] = np.tile(grid_values, n)
    if isinstance(model, TrainedScorecard):
        raw = model.predict_log_odds(pl.from_pandas(repeated))
    else:
        raw = model.predict(
            catboost_pool(repeated, features), prediction_type="RawFormulaVal", thread_count=1
        )
    curves = np.asarray(raw, dtype=np.float64).reshape(n, g)
    steps = np.diff(curves, axis=1)
    # A step against the declared direction is a violation: a fall for "increasing".
    against = -steps if spec.monotone == "increasing" else steps
    worst_per_row = against.max(axis=1) if g > 1 else np.zeros(n)
    violating = worst_per_row > tolerance
    return FeatureMonotonicity(
        feature=spec.name,
        direction=spec.monotone,
        status="fail" if violating.any() else "pass",
        grid=[float(v) for v in grid_values],
        rows_checked=n,
        rows_violating=int(violating.sum()),
        max_violation=max(0.0, float(worst_per_row.max(initial=0.0))),
        mean_curve_log_odds=[float(v) for v in curves.mean(axis=0)],
    )


def verify_monotonicity(
    model: TrainedModel | CatBoost | TrainedScorecard,
    frame: pl.DataFrame | pd.DataFrame,
    features: Sequence[FeatureSpec],
    n_rows: int = 500,
    grid: int = 20,
    *,
    seed: int = 0,
    tolerance: float = TOLERANCE,
) -> MonotonicityReport:
    """Partial-dependence sweep of every feature with a declared direction.

    For `n_rows` rows sampled from `frame` (seeded), each declared feature is set
    in turn to `grid` quantiles of its observed values, all else held fixed; the
    row passes if its log-odds never step against the direction by more than
    `tolerance`. Directions come from `features` (the catalogue), not from the
    model, so a model trained without constraints is checked against them too.
    Categorical features with a direction are reported as not applicable. A scorecard
    is swept the same way, over its own characteristics.
    """
    if isinstance(model, TrainedScorecard):
        features = [f for f in features if f.name in set(model.feature_names)]
    cb_model = model.model if isinstance(model, TrainedModel) else model
    model_input = to_catboost_frame(frame, features)
    if len(model_input) == 0:
        raise ValueError("cannot verify monotonicity on an empty frame")
    rng = np.random.default_rng(seed)
    take = min(n_rows, len(model_input))
    sample = model_input.iloc[np.sort(rng.choice(len(model_input), size=take, replace=False))]
    sample = sample.reset_index(drop=True)

    results: list[FeatureMonotonicity] = []
    for spec in features:
        if spec.monotone == "none":
            continue
        if spec.is_categorical:
            results.append(
                FeatureMonotonicity(
                    feature=spec.name,
                    direction=spec.monotone,
                    status="not_applicable",
                    grid=[],
                    rows_checked=0,
                    rows_violating=0,
                    max_violation=0.0,
                    note="categorical: no order to be monotone in",
                )
            )
            continue
        grid_values = _quantile_grid(model_input[spec.name].to_numpy(dtype=np.float64), grid)
        if grid_values.size < 2:
            results.append(
                FeatureMonotonicity(
                    feature=spec.name,
                    direction=spec.monotone,
                    status="not_applicable",
                    grid=[float(v) for v in grid_values],
                    rows_checked=0,
                    rows_violating=0,
                    max_violation=0.0,
                    note="fewer than two distinct observed values",
                )
            )
            continue
        results.append(_sweep(cb_model, sample, features, spec, grid_values, tolerance))
    return MonotonicityReport(features=results, tolerance=tolerance, n_rows=take, grid_size=grid)
