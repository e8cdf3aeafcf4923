"""Thin evidence is said so: counts behind every figure, time-ordered folds for small dated
files, and a fallback that says it mixed periods."""

import numpy as np
import pytest

from credit_assets.core.modeling.candidates import (
    dated_plan,
    holdout_evidence,
    thin_evidence,
)
from credit_assets.core.modeling.cross_validation import CVConfig, time_ordered_splits


def test_time_ordered_folds_train_on_the_past_and_test_on_the_next_block() -> None:
    rng = np.random.default_rng(0)
    order = rng.permutation(600)  # the "date" of each row
    y = (rng.random(600) < 0.2).astype(int)
    plan = time_ordered_splits(order, y, CVConfig(folds=4))
    assert plan.scheme == "time_ordered" and plan.repeats == 1 and len(plan.splits) == 4
    for split in plan.splits:
        # every training row is older than every tested row
        assert order[split.train_idx].max() < order[split.test_idx].min()
    # expanding: each fold trains on more rows than the last; 5 blocks of 120 rows
    assert [s.train_idx.size for s in plan.splits] == [120, 240, 360, 480]
    assert [s.test_idx.size for s in plan.splits] == [120] * 4
    tested = np.concatenate([s.test_idx for s in plan.splits])
    assert plan.n_test_bad == int(y[tested].sum())
    assert plan.to_dict()["scheme"] == "time_ordered"
    assert "4 expanding-window folds over 600 dated rows" in plan.describe()


def test_a_block_without_a_bad_cannot_be_a_time_ordered_test_fold() -> None:
    y = np.array([0] * 300 + [1, 0] * 50)  # the bads all come late
    with pytest.raises(ValueError, match="block 2 of 5 holds no bad"):
        time_ordered_splits(np.arange(y.size), y, CVConfig(folds=4))


def test_enough_dated_bads_give_time_ordered_folds() -> None:
    rng = np.random.default_rng(1)
    y = (rng.random(1000) < 0.15).astype(int)
    plan, how = dated_plan(np.arange(1000), y, CVConfig(folds=4), minimum=30)
    assert plan.scheme == "time_ordered"
    assert how.startswith("time-ordered cross-validation: 4 expanding-window folds")
    assert f"{plan.n_test_bad} bads in the tested blocks" in how and plan.n_test_bad >= 30


def test_too_few_dated_bads_fall_back_to_stratified_folds_and_say_the_order_was_lost() -> None:
    # 354 loans, 30 bads (the shape a reviewer tried): the tested blocks hold about 24 bads.
    rng = np.random.default_rng(2)
    y = np.zeros(354, dtype=int)
    y[rng.choice(354, 30, replace=False)] = 1
    plan, how = dated_plan(np.arange(354), y, CVConfig(folds=4), minimum=30)
    assert plan.scheme == "repeated_stratified" and plan.n_bad == 30
    assert "does NOT keep the date order" in how
    tested = int(sum(y[b].sum() for b in np.array_split(np.arange(354), 5)[1:]))
    assert f"its tested blocks would hold {tested} bads (minimum 30)" in how


def test_thin_evidence_names_the_short_class_and_the_minimum() -> None:
    y = np.array([1, 1] + [0] * 58)
    assert thin_evidence(y, 30, "test rows") == "2 bads in the test rows (minimum 30)"
    assert thin_evidence(np.array([1] * 50 + [0] * 10), 30, "x") == "10 goods in the x (minimum 30)"
    assert thin_evidence(np.array([1] * 30 + [0] * 30), 30, "x") == ""


def test_holdout_evidence_states_where_and_how_many_rows_and_bads() -> None:
    rng = np.random.default_rng(3)
    y = np.array([1] * 12 + [0] * 88)
    pds = {"catboost": (rng.random(100) + y * 0.3) / 1.3, "scorecard": rng.random(100)}
    evidence = holdout_evidence(y, pds, n_boot=50, where="out-of-time validation split")
    assert evidence.details["counts"] == {
        "rows": 100,
        "bads": 12,
        "where": "out-of-time validation split",
    }
    assert evidence.describe() == (
        "holdout AUC on the out-of-time validation split (100 rows, 12 bads, bootstrap 95 % "
        "interval)"
    )
    assert "cross-validated" not in evidence.summary()


def test_time_ordered_cross_validation_scores_every_family_without_the_untested_first_block():
    """Found in review: the first block only ever trains, so its out-of-fold PDs stayed NaN
    and every family failed ("pd must be probabilities ... without NaN")."""
    from credit_assets.core.modeling.cross_validation import cross_validate, paired_comparison

    rng = np.random.default_rng(3)
    n = 600
    x = rng.normal(size=n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(x - 1)))).astype(int)
    plan = time_ordered_splits(np.arange(n), y, CVConfig(folds=4))

    def informative(train_idx, test_idx):
        return 1 / (1 + np.exp(-(x[test_idx] - 1)))

    def noise(train_idx, test_idx):
        return np.random.default_rng(int(test_idx[0])).uniform(size=test_idx.size)

    report = cross_validate({"informative": informative, "noise": noise}, y, plan)
    tested = ~np.isnan(report.models["informative"].oof_pd[0])
    assert 0 < tested.sum() < n  # the first block is never tested
    assert report.models["informative"].oof_auc[0] > 0.7
    assert abs(report.models["noise"].oof_auc[0] - 0.5) < 0.1
    comparison = paired_comparison(report, y, "noise", "informative")
    assert comparison.delong.p_value < 0.01
