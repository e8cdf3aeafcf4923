"""Fitting the weight-of-evidence logistic scorecard (optbinning + scikit-learn).

The fitted model itself is plain data (`scorecard_model.TrainedScorecard`, which the
scoring API loads without this module's dependencies). optbinning fits the bins and the logistic regression; what we keep is plain data:
per feature the bin edges (or category groups), the WoE of every bin, of missing
values and of unseen categories, and the coefficient. Prediction is computed from
that data alone, so the JSON file is the model (optbinning would only persist a
pickle) and a test proves it predicts exactly as the fitted optbinning object.

WoE follows optbinning: `ln(share of goods / share of bads)` in a bin, so a
higher WoE means lower risk and the coefficients come out negative.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from optbinning import BinningProcess, Scorecard
from sklearn.linear_model import LogisticRegression

from credit_assets.core.features.specs import FeatureSpec
from credit_assets.core.modeling.scaling import ScoreScale
from credit_assets.core.modeling.scorecard_model import (
    FORMAT_VERSION,
    BinnedFeature,
    TrainedScorecard,
)
from credit_assets.core.modeling.train import LABEL_COLUMN, SPLIT_COLUMN

__all__ = [
    "FORMAT_VERSION",
    "BinnedFeature",
    "TrainedScorecard",
    "to_scorecard_frame",
    "train_scorecard",
]

_UNSEEN_PROBE = "\x00unseen-category-probe"


def to_scorecard_frame(df: pl.DataFrame, features: Sequence[FeatureSpec]) -> pd.DataFrame:
    """optbinning input: numeric (and bool) as float64 with NaN, categoricals as str/None."""
    exprs = [
        pl.col(f.name).cast(pl.String) if f.is_categorical else pl.col(f.name).cast(pl.Float64)
        for f in features
    ]
    frame = df.select(exprs).to_pandas()
    for f in features:
        frame[f.name] = frame[f.name].astype(object if f.is_categorical else np.float64)
    return frame


def _monotonic_trend(spec: FeatureSpec) -> dict[str, Any]:
    # optbinning's trend is of the event (bad) rate, i.e. of risk: the catalogue's direction.
    trend = {"increasing": "ascending", "decreasing": "descending"}.get(spec.monotone)
    return {"monotonic_trend": trend} if trend and not spec.is_categorical else {}


def _extract(fitted: Scorecard, spec: FeatureSpec, coefficient: float) -> BinnedFeature:
    optb = fitted.binning_process_.get_binned_variable(spec.name)
    table = optb.binning_table.build(add_totals=False)
    n_bins = len(table) - 2  # the last two rows are "Special" and "Missing"
    counts = [int(c) for c in table["Count"].iloc[:n_bins]]
    rates = [float(r) for r in table["Event rate"].iloc[:n_bins]]
    missing_row = table.iloc[-1]

    def woe(probe: np.ndarray) -> list[float]:
        # Ask the fitted transform itself, so our WoE is its WoE bit for bit.
        values = optb.transform(probe, metric="woe", metric_missing="empirical")
        return [float(v) for v in values]

    common: dict[str, Any] = {
        "name": spec.name,
        "coefficient": float(coefficient),
        "counts": counts,
        "bad_rates": rates,
        "missing_count": int(missing_row["Count"]),
        "missing_bad_rate": float(missing_row["Event rate"]),
    }
    if optb.dtype == "numerical":
        splits = [float(s) for s in optb.splits]
        probed = woe(np.array([-np.inf, *splits, np.nan], dtype=np.float64))
        return BinnedFeature(
            kind="numerical",
            splits=splits,
            bin_labels=[str(b) for b in table["Bin"].iloc[:n_bins]],
            woe=probed[:-1],
            missing_woe=probed[-1],
            **common,
        )
    if getattr(optb, "_cat_others", None):
        raise ValueError(f"{spec.name}: an 'others' category group cannot be exported")
    groups = [[str(c) for c in group] for group in optb.splits]
    probed = woe(np.array([g[0] for g in groups] + [None, _UNSEEN_PROBE], dtype=object))
    return BinnedFeature(
        kind="categorical",
        categories=groups,
        bin_labels=[", ".join(g) for g in groups],
        woe=probed[:-2],
        missing_woe=probed[-2],
        unknown_woe=probed[-1],
        **common,
    )


def train_scorecard(
    training_set: pl.DataFrame,
    features: list[FeatureSpec],
    seed: int,
    scale: ScoreScale | None = None,
) -> TrainedScorecard:
    """Fit optimal bins and a logistic regression on WoE, on the `train` split.

    Numeric features with a declared direction get monotone bins in that direction;
    missing values form their own bin with its empirical WoE.
    """
    scale = scale or ScoreScale()
    train = training_set.filter(pl.col(SPLIT_COLUMN) == "train")
    if train.height == 0:
        raise ValueError("the training set has no train split rows")
    y = train.get_column(LABEL_COLUMN).cast(pl.Int64).to_numpy()
    names = [f.name for f in features]
    binning = BinningProcess(
        variable_names=names,
        categorical_variables=[f.name for f in features if f.is_categorical] or None,
        binning_fit_params={f.name: p for f in features if (p := _monotonic_trend(f))} or None,
    )
    fitted = Scorecard(
        binning_process=binning,
        estimator=LogisticRegression(random_state=seed, max_iter=1000),
        scaling_method="pdo_odds",
        scaling_method_params={
            "pdo": scale.pdo,
            "odds": scale.base_odds,
            "scorecard_points": scale.base_score,
        },
    )
    fitted.fit(to_scorecard_frame(train, features), y, metric_missing="empirical")
    selected = list(fitted.binning_process_.get_support(names=True))
    coefficients = dict(zip(selected, fitted.estimator_.coef_.ravel(), strict=True))
    by_name = {f.name: f for f in features}
    binned = {n: _extract(fitted, by_name[n], coefficients[n]) for n in selected}
    intercept = float(fitted.estimator_.intercept_[0])
    keep: list[str] = list(selected)
    dropped: list[dict[str, Any]] = []
    if any(c > 0 for c in coefficients.values()):
        keep, dropped, coefficients, intercept = _drop_reversed(
            binned, train, y, keep, coefficients, intercept, seed
        )
        fitted = None  # the coefficients are no longer the optbinning estimator's
    return TrainedScorecard(
        features=[replace(binned[n], coefficient=float(coefficients[n])) for n in keep],
        intercept=intercept,
        scale=scale,
        specs=[by_name[n] for n in keep],
        train_rows=train.height,
        dropped=dropped,
        fitted=fitted,
    )


def _drop_reversed(
    binned: dict[str, BinnedFeature],
    train: pl.DataFrame,
    y: np.ndarray,
    keep: list[str],
    coefficients: dict[str, float],
    intercept: float,
    seed: int,
) -> tuple[list[str], list[dict[str, Any]], dict[str, float], float]:
    """Drop, one at a time, the characteristic whose coefficient has the wrong sign (positive:
    its lower-risk bins would add risk, usually because a correlated window of the same payments
    took its place), refitting the regression on the WoE of the rest, until every sign is right.

    This is the scorecard developer's rule: a characteristic whose points run against its own
    bad rates cannot be explained to an applicant and breaks its declared direction.
    """
    woe = {n: binned[n].woe_of(train.get_column(n)) for n in keep}
    keep = list(keep)
    dropped: list[dict[str, Any]] = []
    while True:
        positive = [(c, n) for n, c in coefficients.items() if c > 0]
        if not positive or len(keep) == 1:
            break
        coefficient, worst = max(positive)
        keep.remove(worst)
        dropped.append(
            {
                "feature": str(worst),
                "coefficient": round(float(coefficient), 6),
                "reason": "coefficient of the wrong sign (points against its own bad rates)",
            }
        )
        model = LogisticRegression(random_state=seed, max_iter=1000)
        model.fit(np.column_stack([woe[n] for n in keep]), y)
        coefficients = dict(zip(keep, (float(c) for c in model.coef_.ravel()), strict=True))
        intercept = float(model.intercept_[0])
    return keep, dropped, coefficients, intercept
