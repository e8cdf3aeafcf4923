"""Discrimination and calibration of a PD model, as plain JSON-able figures.

Conventions: `y_true` is 1 for a bad (default), `pd` the predicted probability of
default. Calibration uses deciles of predicted PD (equal-count bins), because
credit PDs crowd below 0.2 and equal-width bins would put nearly every borrower in
the first bin; the expected calibration error (ECE) is computed over the same
deciles: `sum_b n_b / N * |mean_pd_b - bad_rate_b|`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from sklearn.metrics import roc_auc_score, roc_curve

from credit_assets.core.modeling.scaling import RiskBands, band_table


def _as_arrays(y_true: npt.ArrayLike, pd: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(pd, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"y_true has {y.size} values but pd has {p.size}")
    if y.size == 0:
        raise ValueError("cannot evaluate on zero rows")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_true must be 0 (good) or 1 (bad)")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError("pd must be probabilities in [0, 1] without NaN")
    return y, p


def auc(y_true: npt.ArrayLike, pd: npt.ArrayLike) -> float:
    """Area under the ROC curve of PD ranking bads above goods."""
    y, p = _as_arrays(y_true, pd)
    return float(roc_auc_score(y, p))


def ks_statistic(y_true: npt.ArrayLike, pd: npt.ArrayLike) -> float:
    """Kolmogorov-Smirnov: largest gap between the PD distributions of bads and goods."""
    y, p = _as_arrays(y_true, pd)
    fpr, tpr, _ = roc_curve(y, p)
    return float(np.max(tpr - fpr))


def brier_score(y_true: npt.ArrayLike, pd: npt.ArrayLike) -> float:
    y, p = _as_arrays(y_true, pd)
    return float(np.mean((p - y) ** 2))


def decile_index(pd: npt.ArrayLike, bins: int = 10) -> np.ndarray:
    """Equal-count bin of each row by predicted PD, 0 = lowest PD (ties broken by row order)."""
    p = np.asarray(pd, dtype=np.float64).ravel()
    order = np.argsort(p, kind="stable")
    index = np.empty(p.size, dtype=np.int64)
    index[order] = (np.arange(p.size) * bins) // max(p.size, 1)
    return index


def calibration_table(
    y_true: npt.ArrayLike, pd: npt.ArrayLike, bins: int = 10
) -> list[dict[str, Any]]:
    """Predicted against observed bad rate per PD decile, lowest PD first."""
    y, p = _as_arrays(y_true, pd)
    index = decile_index(p, bins)
    rows = []
    for b in range(bins):
        mask = index == b
        if not mask.any():
            continue
        rows.append(
            {
                "decile": b + 1,
                "n": int(mask.sum()),
                "pd_min": float(p[mask].min()),
                "pd_max": float(p[mask].max()),
                "mean_pd": float(p[mask].mean()),
                "n_bad": int(y[mask].sum()),
                "observed_bad_rate": float(y[mask].mean()),
            }
        )
    return rows


def expected_calibration_error(y_true: npt.ArrayLike, pd: npt.ArrayLike, bins: int = 10) -> float:
    """Count-weighted mean gap between predicted and observed bad rate over PD deciles."""
    y, p = _as_arrays(y_true, pd)
    table = calibration_table(y, p, bins)
    return float(sum(r["n"] * abs(r["mean_pd"] - r["observed_bad_rate"]) for r in table) / y.size)


def evaluate(
    y_true: npt.ArrayLike,
    pd: npt.ArrayLike,
    scores: npt.ArrayLike | None = None,
    *,
    bands: RiskBands | None = None,
    calibration_bins: int = 10,
) -> dict[str, Any]:
    """AUC, Gini, KS, Brier, ECE, calibration by decile and (given scores) bad rate by band.

    AUC, Gini and KS are None when only one class is present (they are undefined).
    """
    y, p = _as_arrays(y_true, pd)
    both_classes = 0 < y.sum() < y.size
    auc_value = auc(y, p) if both_classes else None
    result: dict[str, Any] = {
        "n": int(y.size),
        "n_bad": int(y.sum()),
        "bad_rate": float(y.mean()),
        "mean_pd": float(p.mean()),
        "auc": auc_value,
        "gini": None if auc_value is None else 2.0 * auc_value - 1.0,
        "ks": ks_statistic(y, p) if both_classes else None,
        "brier": brier_score(y, p),
        "ece": expected_calibration_error(y, p, calibration_bins),
        "calibration": calibration_table(y, p, calibration_bins),
    }
    if scores is not None:
        result["bands"] = band_table(scores, p, y, bands)
    return result


def bayes_optimal_auc(test: pl.DataFrame, truth: pl.DataFrame | None) -> float | None:
    """AUC of the true PD on the test split, when a generator's ground truth covers it.

    `test` has `application_id` and `default_flag`; `truth` (synthetic data only) has
    `application_id` and `true_pd`. None unless at least 99 % of the test rows are covered.
    """
    if truth is None or "application_id" not in test.columns:
        return None
    joined = test.select("application_id", "default_flag").join(
        truth.select("application_id", "true_pd"), on="application_id", how="inner"
    )
    if joined.height < test.height * 0.99 or joined.height == 0:
        return None
    y = joined["default_flag"].to_numpy()
    if y.min() == y.max():
        return None
    return auc(y, joined["true_pd"].to_numpy())
