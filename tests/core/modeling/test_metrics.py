"""Evaluation figures against values worked out by hand, and the plots that show them."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from credit_assets.core.modeling.metrics import (
    brier_score,
    calibration_table,
    evaluate,
    expected_calibration_error,
    ks_statistic,
)
from credit_assets.core.modeling.plots import calibration_png, png_markdown, roc_markdown, roc_png
from credit_assets.core.modeling.scaling import ScoreScale

# Two goods (0.1, 0.4) and two bads (0.35, 0.8): 3 of 4 bad-good pairs ranked right.
Y = np.array([0, 0, 1, 1])
PD = np.array([0.1, 0.4, 0.35, 0.8])


def test_auc_and_gini_of_the_tiny_example() -> None:
    result = evaluate(Y, PD)
    assert result["auc"] == pytest.approx(0.75)
    assert result["gini"] == pytest.approx(0.5)


def test_auc_matches_sklearn_on_a_large_sample() -> None:
    rng = np.random.default_rng(0)
    pd = rng.uniform(size=5000)
    y = (rng.uniform(size=5000) < pd).astype(int)
    assert evaluate(y, pd)["auc"] == pytest.approx(roc_auc_score(y, pd), abs=1e-12)


def test_ks_is_the_largest_gap_between_bad_and_good_cumulative_shares() -> None:
    # Cut below 0.8: 1/2 of bads vs 0 goods; below 0.35: 2/2 bads vs 1/2 goods.
    assert ks_statistic(Y, PD) == pytest.approx(0.5)


def test_brier_is_the_mean_squared_error_of_pd() -> None:
    assert brier_score(Y, PD) == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)


def test_ece_over_two_equal_count_bins() -> None:
    # Bins {0.1, 0.35} (mean 0.225, bad rate 0.5) and {0.4, 0.8} (mean 0.6, bad rate 0.5).
    assert expected_calibration_error(Y, PD, bins=2) == pytest.approx((0.275 + 0.1) / 2)


def test_ece_with_one_row_per_bin_is_the_mean_absolute_error() -> None:
    assert expected_calibration_error(Y, PD, bins=10) == pytest.approx((0.1 + 0.4 + 0.65 + 0.2) / 4)


def test_calibration_table_has_ten_equal_deciles_lowest_pd_first() -> None:
    rng = np.random.default_rng(1)
    pd = rng.uniform(0, 0.3, 1000)
    table = calibration_table((rng.uniform(size=1000) < pd).astype(int), pd)
    assert [r["decile"] for r in table] == list(range(1, 11))
    assert all(r["n"] == 100 for r in table)
    assert [r["mean_pd"] for r in table] == sorted(r["mean_pd"] for r in table)


def test_evaluate_reports_bad_rate_by_band_when_given_scores() -> None:
    rng = np.random.default_rng(2)
    pd = rng.uniform(0.001, 0.4, 2000)
    y = (rng.uniform(size=2000) < pd).astype(int)
    result = evaluate(y, pd, ScoreScale().score_from_pd(pd))
    assert [b["band"] for b in result["bands"]] == ["A", "B", "C", "D", "E"]
    assert sum(b["n"] for b in result["bands"]) == 2000
    assert sum(b["n_bad"] for b in result["bands"]) == y.sum()


def test_single_class_leaves_ranking_metrics_undefined() -> None:
    result = evaluate([0, 0, 0], [0.1, 0.2, 0.3])
    assert (
        result["auc"] is None
        and result["ks"] is None
        and result["brier"] == pytest.approx(14 / 300)
    )


def test_labels_other_than_zero_and_one_are_refused() -> None:
    with pytest.raises(ValueError, match="0 \\(good\\) or 1 \\(bad\\)"):
        evaluate([0, 2], [0.1, 0.2])


def test_plots_are_png_and_embed_as_markdown_images() -> None:
    curves = {"challenger": (Y, PD), "scorecard": (Y, PD[::-1])}
    roc, reliability = roc_png(curves), calibration_png(curves, bins=2)
    assert roc.startswith(b"\x89PNG") and reliability.startswith(b"\x89PNG")
    markdown = png_markdown(roc, "ROC")
    assert markdown.startswith("![ROC](data:image/png;base64,")
    assert base64.b64decode(markdown[len("![ROC](data:image/png;base64,") : -1]) == roc
    assert roc_markdown(curves).startswith("![ROC curve](data:image/png;base64,")
