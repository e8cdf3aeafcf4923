"""The CatBoost challenger: shared preprocessing and discrimination close to the Bayes limit."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from credit_assets.core.features.specs import FeatureSpec
from credit_assets.core.modeling.train import (
    MISSING_CATEGORY,
    TrainConfig,
    catboost_params,
    to_catboost_frame,
    train_challenger,
)

FAST = TrainConfig(
    iterations=300, learning_rate=0.08, depth=4, early_stopping_rounds=50, threads=2, seed=7
)


def logistic_training_set(seed: int = 0, n: int = 9000) -> pl.DataFrame:
    """Logistic data with a known PD; `true_pd` is the Bayes-optimal score."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    true_pd = 1.0 / (1.0 + np.exp(-(-2.0 + x @ np.array([0.9, -0.7, 0.5, 0.0]))))
    split = np.repeat(["train", "validation", "test"], [5000, 1500, n - 6500])
    return pl.DataFrame(
        {f"x{i}": x[:, i] for i in range(4)}
        | {
            "application_id": np.arange(n),
            "sex": rng.choice(["f", "m"], n),
            "default_flag": (rng.random(n) < true_pd).astype(np.int8),
            "split": split,
            "true_pd": true_pd,
        }
    )


LOGISTIC_FEATURES = [
    FeatureSpec("x0", "", "synthetic", "float", "increasing"),
    FeatureSpec("x1", "", "synthetic", "float", "decreasing"),
    FeatureSpec("x2", "", "synthetic", "float"),
    FeatureSpec("x3", "", "synthetic", "float"),
]


def test_challenger_test_auc_is_within_two_points_of_the_bayes_auc() -> None:
    data = logistic_training_set()
    trained = train_challenger(data, LOGISTIC_FEATURES, FAST)
    test = data.filter(pl.col("split") == "test")
    bayes_auc = roc_auc_score(test["default_flag"], test["true_pd"])
    model_auc = roc_auc_score(test["default_flag"], trained.predict_pd(test))
    assert abs(model_auc - bayes_auc) <= 0.02
    assert 0 < trained.best_iteration < FAST.iterations  # early stopping on validation worked


def test_catboost_frame_keeps_only_catalogue_features_in_catalogue_order() -> None:
    data = pl.DataFrame(
        {
            "b": [1, None],
            "a": ["x", None],
            "sex": ["f", "m"],
            "default_flag": [0, 1],
            "flag": [True, False],
        }
    )
    features = [
        FeatureSpec("a", "", "s", "category"),
        FeatureSpec("b", "", "s", "int"),
        FeatureSpec("flag", "", "s", "bool"),
    ]
    frame = to_catboost_frame(data, features)
    assert list(frame.columns) == ["a", "b", "flag"]
    assert frame["a"].tolist() == ["x", MISSING_CATEGORY]
    assert np.isnan(frame["b"].iloc[1]) and frame["b"].dtype == np.float64
    assert frame["flag"].tolist() == [1.0, 0.0]


def test_catboost_frame_names_the_missing_feature_column() -> None:
    with pytest.raises(ValueError, match="income"):
        to_catboost_frame(pl.DataFrame({"a": [1.0]}), [FeatureSpec("income", "", "s", "float")])


def test_training_needs_a_validation_split_for_early_stopping() -> None:
    data = logistic_training_set(n=7000).with_columns(split=pl.lit("train"))
    with pytest.raises(ValueError, match="validation"):
        train_challenger(data, LOGISTIC_FEATURES, FAST)


def test_constraints_cover_only_numeric_features_with_a_direction() -> None:
    features = [*LOGISTIC_FEATURES, FeatureSpec("region", "", "s", "category", "increasing")]
    params = catboost_params(features, FAST)
    assert params["monotone_constraints"] == {"x0": 1, "x1": -1}
    assert params["max_ctr_complexity"] == 1 and params["grow_policy"] == "SymmetricTree"
