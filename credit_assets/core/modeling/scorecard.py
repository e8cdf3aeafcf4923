"""Fitting the weight-of-evidence logistic scorecard (optbinning + scikit-learn).

The fitted model itself is plain data (`scorecard_model.TrainedScorecard`, which the
scoring API loads without this module's dependencies). optbinning fits the bins and the logistic regression; what we keep is plain data:
per feature the bin edges (or category groups), the WoE of every bin, of missing
values and of unseen categories, and the coefficient. Prediction is computed from
that data alone, so the JSON file is the model (optbinning would only persist a
pickle) and a test proves it predicts exactly as the fitted optbinning object.

WoE follows optbinning: `ln(share of goods / share of bads)` in a bin, so a
higher WoE means lower risk and the coefficients come out negative.

Before binning, `scorecard_inputs.read_inputs` decides how each input is read: numbers
delivered as text as numbers, bureau sentinel codes in a bin of their own, rare
categories pooled. Missing values always have a bin of their own with its empirical WoE.
A numeric input with a declared direction is binned monotone in it; one without takes the
trend optbinning's `auto` finds in its data (ascending, descending, peak or valley).
Unconstrained bins were tried and rejected: 0.002 AUC more on a 20 000-row bureau file,
0.012 less on the 1 000 German credit applicants.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from optbinning import BinningProcess, OptimalBinning, Scorecard
from sklearn.linear_model import LogisticRegression

from credit_assets.core.features.specs import FeatureSpec
from credit_assets.core.modeling.scaling import ScoreScale
from credit_assets.core.modeling.scorecard_inputs import (
    POOLED,
    InputReading,
    read_inputs,
    scorecard_frame,
)
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


def to_scorecard_frame(
    df: pl.DataFrame, features: Sequence[FeatureSpec], reading: InputReading | None = None
) -> pd.DataFrame:
    """optbinning input: numeric (and bool) as float64 with NaN, categoricals as str/None,
    read as `reading` (a trained scorecard's `reading`) says."""
    return scorecard_frame(df, features, reading)


def _binning_params(spec: FeatureSpec, reading: InputReading) -> dict[str, Any]:
    """optbinning parameters of one input: its monotone trend and its special codes."""
    if reading.is_categorical(spec):
        return {}
    # optbinning's trend is of the event (bad) rate, i.e. of risk: the catalogue's direction.
    trend = {"increasing": "ascending", "decreasing": "descending"}.get(spec.monotone, "auto")
    params: dict[str, Any] = {"monotonic_trend": trend}
    if codes := reading.special_codes.get(spec.name):
        params["special_codes"] = list(codes)
    return params


def _extract(
    fitted: Scorecard, spec: FeatureSpec, coefficient: float, reading: InputReading
) -> BinnedFeature:
    """One characteristic of the fitted scorecard as plain data."""
    optb = fitted.binning_process_.get_binned_variable(spec.name)
    table = optb.binning_table.build(add_totals=False)
    n_bins = len(table) - 2  # the last two rows are "Special" and "Missing"
    common = _common_fields(spec, coefficient, table, n_bins)
    if optb.dtype == "numerical":
        return _numerical_feature(optb, spec, reading, table, n_bins, common)
    return _categorical_feature(optb, spec, reading, common)


def _fitted_woe(optb: OptimalBinning, probe: np.ndarray) -> list[float]:
    """The WoE the fitted binning gives each value of `probe`."""
    # Ask the fitted transform itself, so our WoE is its WoE bit for bit.
    values = optb.transform(
        probe, metric="woe", metric_special="empirical", metric_missing="empirical"
    )
    return [float(v) for v in values]


def _bad_rate(row: pd.Series) -> float:
    """A binning-table row's event rate, 0 for an empty bin."""
    return float(row["Event rate"]) if int(row["Count"]) else 0.0


def _common_fields(
    spec: FeatureSpec, coefficient: float, table: pd.DataFrame, n_bins: int
) -> dict[str, Any]:
    """Fields of either kind: the coefficient, and the counts and bad rates of bins and missing."""
    missing_row = table.iloc[-1]
    return {
        "name": spec.name,
        "coefficient": float(coefficient),
        "counts": [int(c) for c in table["Count"].iloc[:n_bins]],
        "bad_rates": [float(r) for r in table["Event rate"].iloc[:n_bins]],
        "missing_count": int(missing_row["Count"]),
        "missing_bad_rate": _bad_rate(missing_row),
    }


def _numerical_feature(
    optb: OptimalBinning,
    spec: FeatureSpec,
    reading: InputReading,
    table: pd.DataFrame,
    n_bins: int,
    common: dict[str, Any],
) -> BinnedFeature:
    """A numeric characteristic: split points, WoE per bin, of missing and of special codes."""
    splits = [float(s) for s in optb.splits]
    codes = reading.special_codes.get(spec.name, [])
    probed = _fitted_woe(optb, np.array([-np.inf, *splits, np.nan, *codes[:1]], dtype=np.float64))
    special_row = table.iloc[-2]
    return BinnedFeature(
        kind="numerical",
        splits=splits,
        bin_labels=[str(b) for b in table["Bin"].iloc[:n_bins]],
        woe=probed[:n_bins],
        missing_woe=probed[n_bins],
        special_codes=list(codes),
        special_woe=probed[-1] if codes else 0.0,
        special_count=int(special_row["Count"]),
        special_bad_rate=_bad_rate(special_row),
        read_as_number=spec.name in reading.as_number,
        missing_texts=list(reading.as_number.get(spec.name, [])),
        **common,
    )


def _categorical_feature(
    optb: OptimalBinning, spec: FeatureSpec, reading: InputReading, common: dict[str, Any]
) -> BinnedFeature:
    """A categorical characteristic: category groups, WoE per group, of missing and of unseen."""
    if getattr(optb, "_cat_others", None):
        raise ValueError(f"{spec.name}: an 'others' category group cannot be exported")
    groups = [[str(c) for c in group] for group in optb.splits]
    n_pooled, pooled_rows = reading.pooled.get(spec.name, (0, 0))
    # An unseen category scores as the pooled rare ones when there are any.
    unseen = POOLED if n_pooled else _UNSEEN_PROBE
    probed = _fitted_woe(optb, np.array([g[0] for g in groups] + [None, unseen], dtype=object))
    return BinnedFeature(
        kind="categorical",
        categories=[[c for c in g if c != POOLED] for g in groups],
        bin_labels=[_group_label(g, n_pooled) for g in groups],
        woe=probed[:-2],
        missing_woe=probed[-2],
        unknown_woe=probed[-1],
        pooled_categories=n_pooled,
        pooled_count=pooled_rows,
        **common,
    )


def _group_label(group: list[str], n_pooled: int) -> str:
    names = [c for c in group if c != POOLED]
    if len(names) < len(group):
        names.append(f"{n_pooled} rare or unseen categories")
    return ", ".join(names)


def train_scorecard(
    training_set: pl.DataFrame,
    features: list[FeatureSpec],
    seed: int,
    scale: ScoreScale | None = None,
    special_codes: dict[str, list[float]] | None = None,
) -> TrainedScorecard:
    """Fit optimal bins and a logistic regression on WoE, on the `train` split.

    Inputs are read as `read_inputs` decides (numbers delivered as text, bureau codes in
    `special_codes` or detected, rare categories). Numeric features with a declared
    direction get monotone bins in that direction, the others the trend their data show;
    missing values and special codes form bins of their own with their empirical WoE.
    """
    scale = scale or ScoreScale()
    train = training_set.filter(pl.col(SPLIT_COLUMN) == "train")
    if train.height == 0:
        raise ValueError("the training set has no train split rows")
    y = train.get_column(LABEL_COLUMN).cast(pl.Int64).to_numpy()
    names = [f.name for f in features]
    reading = read_inputs(train, features, y, special_codes)
    binning = BinningProcess(
        variable_names=names,
        categorical_variables=[f.name for f in features if reading.is_categorical(f)] or None,
        binning_fit_params={f.name: _binning_params(f, reading) for f in features},
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
    fitted.fit(
        to_scorecard_frame(train, features, reading),
        y,
        metric_special="empirical",
        metric_missing="empirical",
    )
    selected = list(fitted.binning_process_.get_support(names=True))
    coefficients = dict(zip(selected, fitted.estimator_.coef_.ravel(), strict=True))
    by_name = {f.name: f for f in features}
    binned = {n: _extract(fitted, by_name[n], coefficients[n], reading) for n in selected}
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
        reading=reading,
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
    bad rates cannot be explained to an applicant and breaks its declared direction. It costs
    little: on Lending Club it drops about five of 21 characteristics per fit for 0.0013
    cross-validated AUC; each drop is recorded with the characteristic's information value.
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
                "information_value": round(binned[worst].information_value, 4),
                "reason": "coefficient of the wrong sign (points against its own bad rates)",
            }
        )
        model = LogisticRegression(random_state=seed, max_iter=1000)
        model.fit(np.column_stack([woe[n] for n in keep]), y)
        coefficients = dict(zip(keep, (float(c) for c in model.coef_.ravel()), strict=True))
        intercept = float(model.intercept_[0])
    return keep, dropped, coefficients, intercept
