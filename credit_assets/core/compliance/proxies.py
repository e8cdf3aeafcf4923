"""Proxy screening: how well does each model feature, alone, predict a protected attribute?

A feature that separates, say, sex or an age band by itself can carry that
attribute into a model that never sees it. For every feature x protected
attribute pair the screen fits the simplest one-feature model and reports its
AUC, folded so that 0.5 means no information and 1.0 perfect separation:

- numeric features: the raw value (nulls ranked lowest), and the decile bins of
  the value scored like a categorical, so a U-shaped relation is not missed; the
  larger AUC is reported;
- categorical features (null is a category): the rate of the protected class in
  the row's category, cross-fitted over `folds` seeded folds (a row never sees
  its own class) and smoothed towards the overall rate, so a high-cardinality
  feature cannot look predictive by memorising rows;
- a protected attribute with more than two groups: one-vs-rest AUC per group,
  each folded, macro-averaged. Rows with a missing protected value are left out.

A pair at or above `threshold` (0.65) is flagged for review.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from sklearn.metrics import roc_auc_score

from credit_assets.core.compliance.groups import (
    MISSING_GROUP,
    PROTECTED_PREFIX,
    group_labels,
    protected_column,
)
from credit_assets.core.features.specs import FeatureSpec

PROXY_AUC_THRESHOLD = 0.65


def folded_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """AUC of `score` separating `positive` rows from the rest, folded to >= 0.5 (ties count half)."""
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    auc = roc_auc_score(positive, score)
    return float(max(auc, 1.0 - auc))


def _cross_fitted_rate(
    categories: np.ndarray, positive: np.ndarray, folds: np.ndarray, n_folds: int, smoothing: float
) -> np.ndarray:
    """Rate of `positive` in each row's category, from the other folds only."""
    _, codes = np.unique(categories, return_inverse=True)
    n_codes = int(codes.max()) + 1 if codes.size else 0
    cell = codes * n_folds + folds
    size = n_codes * n_folds
    count_cell = np.bincount(cell, minlength=size).reshape(n_codes, n_folds)
    pos_cell = np.bincount(cell, weights=positive, minlength=size).reshape(n_codes, n_folds)
    count_out = count_cell.sum(axis=1, keepdims=True) - count_cell
    pos_out = pos_cell.sum(axis=1, keepdims=True) - pos_cell
    prior = positive.mean()
    rate = (pos_out + smoothing * prior) / (count_out + smoothing)
    return rate[codes, folds]


def _decile_bins(values: np.ndarray) -> np.ndarray:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.full(values.size, "null", dtype=object)
    edges = np.unique(np.quantile(finite, np.linspace(0.1, 0.9, 9)))
    bins = np.searchsorted(edges, values, side="right").astype(object)
    bins[~np.isfinite(values)] = "null"
    return bins.astype(str)


def _pair_auc(
    feature: np.ndarray,
    categorical: bool,
    classes: np.ndarray,
    folds: np.ndarray,
    n_folds: int,
    smoothing: float,
) -> tuple[float, str]:
    """Macro one-vs-rest folded AUC of one feature for one protected attribute, and the method."""
    groups = np.unique(classes)
    targets = groups[:1] if groups.size == 2 else groups
    if categorical:
        encodings = {"category rate": feature}
    else:
        numeric = feature.astype(np.float64)
        filled = np.where(np.isnan(numeric), np.nanmin(numeric, initial=0.0) - 1.0, numeric)
        encodings = {"value": filled, "decile rate": _decile_bins(numeric)}
    best, method = float("nan"), ""
    for name, values in encodings.items():
        aucs = []
        for group in targets:
            positive = classes == group
            score = (
                values
                if name == "value"
                else _cross_fitted_rate(
                    values, positive.astype(np.float64), folds, n_folds, smoothing
                )
            )
            aucs.append(folded_auc(positive, score))
        auc = float(np.nanmean(aucs)) if not np.all(np.isnan(aucs)) else float("nan")
        if np.isnan(best) or auc > best:
            best, method = auc, name
    return best, method


def proxy_screen(
    frame: pl.DataFrame,
    features: list[FeatureSpec],
    protected: list[str],
    threshold: float = PROXY_AUC_THRESHOLD,
    *,
    folds: int = 5,
    smoothing: float = 10.0,
    seed: int = 42,
) -> list[dict[str, Any]]:
    """One row per feature x protected attribute, most predictive first.

    Row keys: feature, source, protected, auc (folded, >= 0.5; None when the
    attribute has fewer than two groups), method, n (rows with a known protected
    value), groups, flagged (auc >= threshold).
    """
    rng = np.random.default_rng(seed)
    fold_of_row = rng.permutation(frame.height) % folds
    rows: list[dict[str, Any]] = []
    for name in protected:
        column = protected_column(name) if protected_column(name) in frame.columns else name
        if column not in frame.columns:
            raise ValueError(f"protected attribute {name!r}: no column {protected_column(name)!r}")
        labels, _order, _how = group_labels(frame, column)
        known = labels != MISSING_GROUP
        classes = labels[known]
        n_groups = int(np.unique(classes).size)
        for spec in features:
            series = frame.get_column(spec.name)
            if spec.is_categorical or not series.dtype.is_numeric():
                values = series.cast(pl.String).fill_null("__missing__").to_numpy().astype(str)
                categorical = True
            else:
                values = series.cast(pl.Float64).fill_null(float("nan")).to_numpy()
                categorical = False
            auc, method = (float("nan"), "")
            if n_groups >= 2:
                auc, method = _pair_auc(
                    values[known], categorical, classes, fold_of_row[known], folds, smoothing
                )
            valid = not np.isnan(auc)
            rows.append(
                {
                    "feature": spec.name,
                    "source": spec.source,
                    "protected": column.removeprefix(PROTECTED_PREFIX),
                    "auc": float(auc) if valid else None,
                    "method": method,
                    "n": int(known.sum()),
                    "groups": n_groups,
                    "flagged": bool(valid and auc >= threshold),
                }
            )
    return sorted(rows, key=lambda r: (-(r["auc"] or 0.0), r["feature"], r["protected"]))


def strongest_proxies(screen: list[dict[str, Any]], top: int) -> list[dict[str, Any]]:
    """The `top` distinct features by their highest AUC for any protected attribute."""
    seen: dict[str, dict[str, Any]] = {}
    for row in screen:  # already most predictive first
        if row["auc"] is not None and row["feature"] not in seen:
            seen[row["feature"]] = row
    return list(seen.values())[:top]
