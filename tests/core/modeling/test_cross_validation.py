"""Repeated cross-validation, DeLong and corrected-t comparisons on synthetic borrowers.

The data know their true PD, so a model scoring with it must beat one scoring noise,
and a model compared with itself must show no difference at all.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from credit_assets.core.modeling.cross_validation import (
    CVConfig,
    CVPlan,
    CVReport,
    bootstrap_auc_interval,
    cross_validate,
    cv_splits,
    delong_test,
    paired_comparison,
)


def _borrowers(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two features, the true PD they imply (about 15 % bad), and outcomes drawn from it."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    true_pd = 1.0 / (1.0 + np.exp(-(-2.0 + 1.2 * x[:, 0] + 0.8 * x[:, 1])))
    y = (rng.uniform(size=n) < true_pd).astype(int)
    return x, true_pd, y


def _noisy(true_pd: np.ndarray, scale: float, seed: int) -> np.ndarray:
    """The true PD blurred in log-odds: a weaker model of the same borrowers."""
    logit = np.log(true_pd / (1.0 - true_pd))
    noise = np.random.default_rng(seed).normal(scale=scale, size=true_pd.size)
    return 1.0 / (1.0 + np.exp(-(logit + noise)))


X, TRUE_PD, Y = _borrowers(800, seed=0)
NOISE_PD = np.random.default_rng(1).uniform(size=Y.size)


def _logistic(train_idx: np.ndarray, test_idx: np.ndarray) -> np.ndarray:
    model = LogisticRegression().fit(X[train_idx], Y[train_idx])
    return model.predict_proba(X[test_idx])[:, 1]


@pytest.fixture(scope="module")
def plan() -> CVPlan:
    return cv_splits(Y, CVConfig(folds=5, repeats=3, seed=0))


@pytest.fixture(scope="module")
def report(plan: CVPlan) -> CVReport:
    predictors = {
        "truth": lambda train_idx, test_idx: TRUE_PD[test_idx],
        "noise": lambda train_idx, test_idx: NOISE_PD[test_idx],
        "logistic": _logistic,
    }
    return cross_validate(predictors, Y, plan)


def test_every_row_is_tested_exactly_once_per_repeat(plan: CVPlan) -> None:
    assert len(plan.splits) == 15
    for repeat in range(3):
        tested = np.concatenate([s.test_idx for s in plan.splits if s.repeat == repeat])
        assert np.array_equal(np.sort(tested), np.arange(Y.size))


def test_train_and_test_rows_never_overlap(plan: CVPlan) -> None:
    for split in plan.splits:
        assert np.intersect1d(split.train_idx, split.test_idx).size == 0
        assert split.train_idx.size + split.test_idx.size == Y.size


def test_every_test_fold_keeps_the_bad_count_within_one_of_a_fifth(plan: CVPlan) -> None:
    per_fold = Y.sum() / 5
    for split in plan.splits:
        assert abs(Y[split.test_idx].sum() - per_fold) <= 1


def test_splits_are_determined_by_the_seed(plan: CVPlan) -> None:
    again = cv_splits(Y, CVConfig(folds=5, repeats=3, seed=0))
    other = cv_splits(Y, CVConfig(folds=5, repeats=3, seed=1))
    assert all(
        np.array_equal(a.test_idx, b.test_idx)
        for a, b in zip(plan.splits, again.splits, strict=True)
    )
    assert not np.array_equal(plan.splits[0].test_idx, other.splits[0].test_idx)


def test_folds_shrink_to_the_number_of_bads_and_the_plan_says_so() -> None:
    y = np.array([1, 1, 1] + [0] * 37)
    plan = cv_splits(y, CVConfig(folds=5, repeats=2))
    assert (plan.folds, plan.repeats) == (3, 2)
    assert len(plan.splits) == 6
    assert "5 folds requested" in plan.note and "3 bad" in plan.note
    assert all(y[s.test_idx].sum() == 1 for s in plan.splits)


def test_a_plan_with_enough_bads_keeps_the_requested_folds_and_no_note(plan: CVPlan) -> None:
    assert plan.folds == 5
    assert plan.note == ""


def test_a_single_bad_cannot_be_cross_validated() -> None:
    y = np.array([1] + [0] * 19)
    with pytest.raises(ValueError, match="1 bad and 19 good"):
        cv_splits(y, CVConfig())


def test_every_model_is_scored_on_the_same_test_rows(plan: CVPlan) -> None:
    seen: dict[str, list[np.ndarray]] = {"a": [], "b": []}

    def recording(name: str) -> Any:
        def predict(train_idx: np.ndarray, test_idx: np.ndarray) -> np.ndarray:
            seen[name].append(test_idx.copy())
            return TRUE_PD[test_idx]

        return predict

    cross_validate({"a": recording("a"), "b": recording("b")}, Y, plan)
    assert len(seen["a"]) == len(seen["b"]) == 15
    for got_a, got_b, split in zip(seen["a"], seen["b"], plan.splits, strict=True):
        assert np.array_equal(got_a, split.test_idx)
        assert np.array_equal(got_b, split.test_idx)


def test_fold_figures_are_the_metrics_of_that_fold(plan: CVPlan, report: CVReport) -> None:
    split, score = plan.splits[4], report.models["logistic"].scores[4]
    assert (score.repeat, score.fold) == (split.repeat, split.fold)
    assert score.auc == pytest.approx(
        roc_auc_score(Y[split.test_idx], _logistic(split.train_idx, split.test_idx))
    )
    assert score.gini == pytest.approx(2 * score.auc - 1)


def test_out_of_fold_pds_cover_every_row_and_give_the_out_of_fold_auc(report: CVReport) -> None:
    truth = report.models["truth"]
    assert truth.oof_pd.shape == (3, Y.size)
    assert np.array_equal(truth.oof_pd[2], TRUE_PD)
    assert truth.oof_auc == pytest.approx([roc_auc_score(Y, TRUE_PD)] * 3)


def test_true_pd_ranks_well_and_noise_ranks_at_chance(report: CVReport) -> None:
    assert report.models["truth"].auc_mean > 0.75
    assert abs(report.models["noise"].auc_mean - 0.5) < 0.05
    assert report.models["logistic"].auc_mean > 0.75


def test_auc_interval_is_the_corrected_t_and_wider_than_the_naive_one(
    plan: CVPlan, report: CVReport
) -> None:
    model = report.models["logistic"]
    aucs = np.array([s.auc for s in model.scores])
    t = stats.t.ppf(0.975, df=14)
    naive_half = t * aucs.std(ddof=1) / math.sqrt(15)
    corrected_half = t * aucs.std(ddof=1) * math.sqrt(1 / 15 + 160 / 640)
    assert model.auc_low < model.auc_mean < model.auc_high
    assert model.auc_mean == pytest.approx(aucs.mean())
    assert model.auc_high - model.auc_mean == pytest.approx(corrected_half)
    # Overlapping training rows: sqrt(1 + k * n_test / n_train) = sqrt(4.75), 2.2 times as wide.
    assert (model.auc_high - model.auc_low) / (2 * naive_half) == pytest.approx(math.sqrt(4.75))


def test_delong_aucs_equal_roc_auc_score_even_with_ties() -> None:
    # Rounding to two decimals makes many tied PDs, which midranks must count as one half.
    pd_a, pd_b = np.round(TRUE_PD, 2), np.round(_noisy(TRUE_PD, 1.0, seed=2), 2)
    result = delong_test(Y, pd_a, pd_b)
    assert result.auc_a == pytest.approx(roc_auc_score(Y, pd_a), abs=1e-12)
    assert result.auc_b == pytest.approx(roc_auc_score(Y, pd_b), abs=1e-12)
    assert result.difference == pytest.approx(result.auc_b - result.auc_a)


def test_delong_of_identical_predictions_has_no_difference_and_p_one() -> None:
    result = delong_test(Y, TRUE_PD, TRUE_PD.copy())
    assert result.difference == 0.0
    assert result.standard_error == 0.0
    assert result.p_value == 1.0


def test_delong_finds_a_clearly_better_predictor() -> None:
    _, true_pd, y = _borrowers(3000, seed=3)
    result = delong_test(y, _noisy(true_pd, 1.5, seed=4), true_pd)
    assert result.difference > 0.05
    assert result.p_value < 0.01


def test_delong_standard_error_is_close_to_a_bootstrap_estimate() -> None:
    _, true_pd, y = _borrowers(1000, seed=5)
    weaker = _noisy(true_pd, 1.0, seed=6)
    rng = np.random.default_rng(7)
    differences = []
    for _ in range(400):
        rows = rng.integers(0, y.size, y.size)
        differences.append(
            roc_auc_score(y[rows], true_pd[rows]) - roc_auc_score(y[rows], weaker[rows])
        )
    bootstrap_se = float(np.std(differences, ddof=1))
    assert delong_test(y, weaker, true_pd).standard_error == pytest.approx(bootstrap_se, rel=0.3)


def test_a_model_compared_with_itself_differs_by_nothing_with_p_one(report: CVReport) -> None:
    same = paired_comparison(report, Y, "logistic", "logistic")
    assert same.mean_difference == 0.0
    assert (same.low, same.high) == (0.0, 0.0)
    assert same.p_value == 1.0
    assert same.delong_p_median == 1.0
    assert same.delong.difference == 0.0


def test_true_pd_beats_noise_on_the_corrected_t_and_on_delong(report: CVReport) -> None:
    better = paired_comparison(report, Y, "noise", "truth")
    assert better.mean_difference > 0.2
    assert better.low > 0
    assert better.p_value < 0.05
    assert better.delong.difference > 0.2
    assert better.delong_p_median < 0.05
    assert len(better.delong_p_values) == 3


def test_the_difference_is_b_minus_a(report: CVReport) -> None:
    forward = paired_comparison(report, Y, "noise", "truth")
    backward = paired_comparison(report, Y, "truth", "noise")
    assert backward.mean_difference == pytest.approx(-forward.mean_difference)
    assert backward.p_value == pytest.approx(forward.p_value)


def test_bootstrap_interval_covers_the_auc_and_narrows_with_more_rows() -> None:
    _, true_pd, y = _borrowers(4000, seed=8)
    small = bootstrap_auc_interval(y[:400], true_pd[:400], n_boot=300, seed=0)
    large = bootstrap_auc_interval(y, true_pd, n_boot=300, seed=0)
    assert large[0] < roc_auc_score(y, true_pd) < large[1]
    # Ten times the rows: the width shrinks by about sqrt(10), to roughly a third.
    assert 0.2 < (large[1] - large[0]) / (small[1] - small[0]) < 0.5
    assert bootstrap_auc_interval(y[:400], true_pd[:400], n_boot=300, seed=0) == small


def test_table_has_one_row_per_model_with_the_figures_for_the_model_card(
    report: CVReport,
) -> None:
    rows = report.table()
    assert [r["model"] for r in rows] == ["truth", "noise", "logistic"]
    assert list(rows[0]) == [
        "model",
        "auc_mean",
        "auc_sd",
        "auc_low",
        "auc_high",
        "gini_mean",
        "ks_mean",
        "brier_mean",
    ]
    assert rows[2]["auc_mean"] == pytest.approx(report.models["logistic"].auc_mean, abs=1e-6)


def _plain(value: Any) -> bool:
    """True when a value is built only from JSON's own Python types (no numpy scalars)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return value is None or type(value) in (str, int, float, bool)


def test_every_result_serialises_to_plain_json(plan: CVPlan, report: CVReport) -> None:
    results = [
        plan.to_dict(),
        report.to_dict(),
        paired_comparison(report, Y, "noise", "truth").to_dict(),
        delong_test(Y, NOISE_PD, TRUE_PD).to_dict(),
    ]
    for result in results:
        assert _plain(result)
        assert json.loads(json.dumps(result)) == result
    assert len(results[1]["models"]["truth"]["folds"]) == 15


def test_a_predictor_returning_the_wrong_number_of_pds_is_refused(plan: CVPlan) -> None:
    with pytest.raises(ValueError, match="returned 1 PDs"):
        cross_validate({"broken": lambda train_idx, test_idx: np.array([0.1])}, Y, plan)
