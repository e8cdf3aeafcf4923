"""Which family becomes the challenger: the best by the evidence, within a stated preference."""

import numpy as np
import polars as pl
import pytest

from credit_assets.core.modeling.selection import (
    Selection,
    SelectionPolicy,
    choose_family,
    trees_from_folds,
)
from credit_assets.core.modeling.train import refit_challenger
from tests.core.modeling.test_candidates import FAST, SPECS, lender_frame


def models(**aucs: float) -> dict:
    return {name: {"auc": auc} for name, auc in aucs.items()}


def test_the_best_servable_family_wins_and_the_logistic_benchmark_never_serves() -> None:
    chosen = choose_family(
        models(catboost=0.746, scorecard=0.756, logistic=0.790),
        SelectionPolicy(),
        "cross_validation",
    )
    assert chosen.family == "scorecard" and chosen.best == "scorecard"
    assert "scorecard has the best cross-validated AUC" in chosen.reason
    assert "logistic benchmark 0.790" in chosen.reason


@pytest.mark.parametrize(
    ("catboost", "family", "says"),
    [
        (0.765, "scorecard", "scorecard preferred: catboost is better by 0.009"),
        (0.770, "catboost", "catboost chosen over the preferred scorecard: better by 0.014"),
    ],
)
def test_a_preference_holds_within_its_margin_and_yields_beyond_it(
    catboost: float, family: str, says: str
) -> None:
    policy = SelectionPolicy.parse("catboost, scorecard", prefer="scorecard", margin=0.01)
    chosen = choose_family(models(catboost=catboost, scorecard=0.756), policy, "cross_validation")
    assert chosen.family == family and chosen.best == "catboost"
    assert chosen.reason.startswith(says)
    assert chosen.rule == (
        "prefer scorecard unless another family is better by more than 0.01 cross-validated AUC"
    )
    assert Selection.from_dict(chosen.to_dict()) == chosen


def test_a_holdout_choice_never_calls_itself_cross_validated() -> None:
    basis = "holdout AUC on the out-of-time validation split (354 rows, 2 bads, bootstrap)"
    chosen = choose_family(models(catboost=1.0, scorecard=0.9), SelectionPolicy(), "holdout", basis)
    assert chosen.rule == ("the best holdout AUC among catboost, scorecard; evidence: " + basis)
    assert "catboost has the best holdout AUC" in chosen.reason
    assert "cross-validated" not in chosen.rule + chosen.reason
    assert chosen.policy["method"] == "holdout" and chosen.policy["basis"] == basis


def test_a_family_that_could_not_be_evaluated_is_not_chosen() -> None:
    policy = SelectionPolicy(prefer="scorecard")
    chosen = choose_family(
        {"catboost": {"auc": 0.7}, "scorecard": {"auc": None}}, policy, "holdout"
    )
    assert chosen.family == "catboost"
    assert "the preferred scorecard could not be evaluated" in chosen.reason
    nothing = choose_family({}, SelectionPolicy(families=("scorecard",)), "holdout")
    assert nothing.family == "scorecard" and "no servable family" in nothing.reason


@pytest.mark.parametrize(
    ("families", "prefer", "message"),
    [
        ("catboost,logistic", "", "logistic cannot serve"),
        ("", "", "one or more of catboost, scorecard"),
        ("catboost", "scorecard", "CREDIT_PREFER_FAMILY=scorecard is not among"),
    ],
)
def test_a_policy_naming_what_cannot_serve_is_refused_by_name(
    families: str, prefer: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        SelectionPolicy.parse(families, prefer)


def test_the_refit_takes_its_trees_from_the_folds_scaled_to_its_rows() -> None:
    fits = [{"best_iteration": b, "fit_rows": 512} for b in (99, 149, 199, 249, 299)]
    trees, note = trees_from_folds(fits, 800, cap=2000)
    assert trees == round(200 * 800 / 512) == 312
    assert "median of 200 rounds on 512 rows" in note and "800 rows" in note
    assert trees_from_folds(fits, 800, cap=250)[0] == 250


def test_refit_uses_every_row_and_exactly_the_trees_asked_for() -> None:
    frame = lender_frame(300).with_columns(pl.lit("train").alias("split"))
    model = refit_challenger(frame, SPECS, FAST, iterations=37)
    assert model.model.tree_count_ == 37 and model.train_rows == 300
    assert "early_stopping_rounds" not in model.params and model.params["iterations"] == 37
    pd = model.predict_pd(frame)
    assert np.all((pd > 0) & (pd < 1))
