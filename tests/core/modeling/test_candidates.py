"""Candidate families judged on the same evidence: cross-validated folds or one test split."""

import numpy as np
import polars as pl
import pytest

from credit_assets.core.features.specs import FeatureSpec
from credit_assets.core.modeling import candidates
from credit_assets.core.modeling.candidates import (
    CHALLENGER,
    FAMILIES,
    LOGISTIC,
    SCORECARD,
    choose_method,
    cross_validation,
    cv_sample,
    holdout_evidence,
)
from credit_assets.core.modeling.cross_validation import CVConfig
from credit_assets.core.modeling.logistic import train_logistic
from credit_assets.core.modeling.metrics import auc
from credit_assets.core.modeling.train import TrainConfig

SPECS = [
    FeatureSpec("utilisation", "", "s", "float", "increasing"),
    FeatureSpec("months_on_file", "", "s", "int", "decreasing"),
    FeatureSpec("housing", "", "s", "category"),
]
FAST = TrainConfig(iterations=150, learning_rate=0.1, threads=1, early_stopping_rounds=20)


def lender_frame(n: int, seed: int = 3) -> pl.DataFrame:
    """A linear-logit file with nulls in a numeric and a categorical input."""
    rng = np.random.default_rng(seed)
    utilisation = rng.uniform(0, 1, n)
    months = rng.integers(0, 60, n)
    housing = rng.choice(["own", "rent", "family"], n)
    logit = -2.0 + 2.5 * utilisation - 0.03 * months + 0.6 * (housing == "rent")
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    return pl.DataFrame(
        {
            "utilisation": np.where(rng.uniform(size=n) < 0.1, np.nan, utilisation),
            "months_on_file": months,
            "housing": np.where(rng.uniform(size=n) < 0.1, None, housing),
            "default_flag": y,
            "split": rng.choice(["train", "validation", "test"], n, p=[0.6, 0.2, 0.2]),
        }
    ).with_columns(pl.col("utilisation").fill_nan(None))


@pytest.fixture(scope="module")
def evidence():
    return cross_validation(lender_frame(600), SPECS, FAST, CVConfig(folds=3, repeats=2, seed=1))


def test_every_family_is_scored_on_the_same_folds_with_an_interval(evidence) -> None:
    assert evidence.method == "cross_validation" and evidence.rows == 600
    assert set(evidence.models) == set(FAMILIES) and not evidence.failed
    assert evidence.plan["n_splits"] == 6
    for family, figures in evidence.models.items():
        assert len(evidence.fold_auc[family]) == 6
        assert figures["auc_low"] < figures["auc"] < figures["auc_high"], family
        assert figures["auc"] == pytest.approx(np.mean(evidence.fold_auc[family]), abs=1e-5)
        assert figures["auc"] > 0.65, family  # the inputs carry real signal
    # The data are linear in the logit: the logistic regression cannot be beaten by much.
    assert evidence.models[LOGISTIC]["auc"] >= evidence.models[CHALLENGER]["auc"] - 0.03
    assert evidence.best == max(evidence.models, key=lambda f: evidence.models[f]["auc"])


def test_each_family_is_compared_with_the_challenger_fold_by_fold(evidence) -> None:
    by_other = {c.other: c for c in evidence.comparisons}
    assert set(by_other) == {SCORECARD, LOGISTIC}
    for other, comparison in by_other.items():
        folds = np.array(evidence.fold_auc[other]) - np.array(evidence.fold_auc[CHALLENGER])
        assert comparison.difference == pytest.approx(folds.mean(), abs=1e-9)
        assert comparison.low < comparison.difference < comparison.high
        assert 0.0 <= comparison.p_value <= 1.0
    paired = evidence.details["paired"]
    assert [p["model_b"] for p in paired] == [SCORECARD, LOGISTIC]


def test_the_registry_figures_and_summary_name_every_family(evidence) -> None:
    figures = evidence.registry_figures()
    assert set(figures["models"]) == set(FAMILIES)
    assert set(figures["models"][CHALLENGER]) == {"auc", "auc_sd", "auc_low", "auc_high"}
    assert figures["best"] == evidence.best
    assert "3-fold x 2 cross-validated AUC" in evidence.summary()
    assert evidence.fold_auc_png()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_family_that_cannot_fit_is_reported_and_the_others_still_run(monkeypatch) -> None:
    def refuses(*args, **kwargs):
        raise ValueError("no binnable input")

    monkeypatch.setattr(candidates, "train_scorecard", refuses)
    evidence = cross_validation(
        lender_frame(300), SPECS, FAST, CVConfig(folds=2, repeats=1, seed=1)
    )
    assert evidence.failed == {SCORECARD: "ValueError: no binnable input"}
    assert set(evidence.models) == {CHALLENGER, LOGISTIC}
    assert [c.other for c in evidence.comparisons] == [LOGISTIC]
    assert {
        "model": SCORECARD,
        "auc": None,
        "note": "not evaluated: ValueError: no binnable input",
    } in evidence.table()


def test_a_tiny_imbalanced_file_gets_fewer_folds_with_the_reason() -> None:
    frame = lender_frame(120).with_columns(
        (pl.int_range(pl.len()) % 40 == 0).cast(pl.Int8).alias("default_flag")
    )
    assert frame["default_flag"].sum() == 3
    evidence = cross_validation(frame, SPECS, FAST, CVConfig(folds=5, repeats=1, seed=1))
    assert evidence.plan["folds"] == 3
    assert "only 3 bad rows" in evidence.plan["note"]


def test_holdout_evidence_gives_bootstrap_intervals_and_delong_against_the_challenger() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 800)
    strong = np.clip(0.5 * y + rng.normal(0.25, 0.2, 800), 0, 1)
    weak = np.clip(0.2 * y + rng.normal(0.4, 0.2, 800), 0, 1)
    evidence = holdout_evidence(y, {CHALLENGER: strong, LOGISTIC: weak, "champion": strong})
    assert evidence.method == "holdout" and evidence.rows == 800
    for name, pd in {CHALLENGER: strong, LOGISTIC: weak}.items():
        figures = evidence.models[name]
        assert figures["auc"] == pytest.approx(auc(y, pd), abs=1e-6)
        assert figures["auc_low"] < figures["auc"] < figures["auc_high"]
    by_other = {c.other: c for c in evidence.comparisons}
    assert by_other[LOGISTIC].difference < 0 and by_other[LOGISTIC].p_value < 1e-6
    assert by_other["champion"].difference == 0 and by_other["champion"].p_value == 1.0
    assert evidence.best in (CHALLENGER, "champion")


@pytest.mark.parametrize(
    ("configured", "out_of_time", "method"),
    [
        ("auto", False, "cross_validation"),
        ("auto", True, "holdout"),
        ("cross_validation", True, "cross_validation"),
        ("holdout", False, "holdout"),
        ("holdout", True, "holdout"),
    ],
)
def test_auto_cross_validates_exactly_when_the_test_split_is_not_out_of_time(
    configured: str, out_of_time: bool, method: str
) -> None:
    assert choose_method(configured, out_of_time) == method


def test_a_large_file_is_cross_validated_on_a_stratified_sample_that_says_so() -> None:
    frame = lender_frame(5000)
    sample, note = cv_sample(frame, 1000, seed=2)
    assert abs(sample.height - 1000) <= 2
    assert sample["default_flag"].mean() == pytest.approx(frame["default_flag"].mean(), abs=0.002)
    assert "of 5,000 rows" in note and "CREDIT_CV_MAX_ROWS=1,000" in note
    assert cv_sample(frame, 5000, seed=2) == (frame, "")


def test_the_logistic_reference_takes_nulls_and_unseen_levels() -> None:
    frame = lender_frame(800)
    model = train_logistic(frame, SPECS, seed=0)
    test = frame.filter(pl.col("split") == "test").with_columns(
        pl.when(pl.int_range(pl.len()) % 5 == 0)
        .then(pl.lit("caravan"))
        .otherwise(pl.col("housing"))
        .alias("housing")
    )
    pd = model.predict_pd(test)
    assert pd.shape == (test.height,) and np.isfinite(pd).all()
    assert auc(test["default_flag"].to_numpy(), pd) > 0.65


def test_catboost_depth_and_regularisation_are_chosen_by_the_first_repeats_folds() -> None:
    frame = lender_frame(400, seed=8)
    cv = CVConfig(folds=3, repeats=2, seed=2)
    tuned = cross_validation(frame, SPECS, FAST, cv, families=(CHALLENGER,), tune_max_rows=1000)
    grid = tuned.details["catboost_tuning"]
    # The configured point and the grid, each on the first repeat's 3 folds; one is chosen.
    assert {(r["depth"], r["l2_leaf_reg"]) for r in grid} == {
        (FAST.depth, FAST.l2_leaf_reg),
        *candidates.TUNING_GRID,
    }
    assert all(r["folds"] == 3 for r in grid)
    [chosen] = [r for r in grid if r["chosen"]]
    assert chosen["auc_mean"] == max(r["auc_mean"] for r in grid)
    assert tuned.details["catboost_config"] == {
        "depth": chosen["depth"],
        "l2_leaf_reg": chosen["l2_leaf_reg"],
    }
    # Its fold-1 AUCs on the first repeat are the tuning run's, by the same seeds and folds.
    first_repeat = tuned.fold_auc[CHALLENGER][:3]
    assert np.mean(first_repeat) == pytest.approx(chosen["auc_mean"], abs=1e-6)

    untuned = cross_validation(frame, SPECS, FAST, cv, families=(CHALLENGER,), tune_max_rows=399)
    assert "catboost_tuning" not in untuned.details
    assert untuned.details["catboost_config"] == {"depth": FAST.depth, "l2_leaf_reg": 10.0}
