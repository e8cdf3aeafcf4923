"""The platform's leaf-table SHAP equals `shap.TreeExplainer`'s, value for value and reason
for reason, on CatBoost models with numeric, categorical and monotone-constrained features.

What `shap.TreeExplainer(model).shap_values(X)` does for a CatBoost model (shap 0.51,
`shap/explainers/_tree.py`): without background data `feature_perturbation="auto"` becomes
"tree_path_dependent", and for `model_type == "catboost"` shap takes its C++ shortcut: it
wraps `X` in `catboost.Pool(X, cat_features=model.get_cat_feature_indices())` and returns
`model.get_feature_importance(data=pool, fstr_type="ShapValues")` without the last column,
which becomes `expected_value` (`phi[0, -1]`). Values are in the model's raw output, log-odds
of default, as the platform's are. shap's own TreeSHAP never runs for CatBoost here; its own
reading of CatBoost trees (`CatBoostTreeModelLoader`) takes a one-hot or CTR split's index for
a float feature's, and on oblivious trees its path-dependent algorithm meets nodes no training
row reached (weight 0, divided by) and returns NaN, so it is no reference for these models.

So the reference is CatBoost's own `ShapValues` through shap's public API, categorical features
(one-hot and CTRs) included. One consequence a reviewer should know: for a model with leaves
that have a value but no training weight (monotone constraints make them), CatBoost adds the
explained rows' leaf counts to the covers, so shap's values depend on which rows are explained
together. The platform fixes that population once (the training rows, `background=`); on
exactly those rows the two agree, and on any other set shap's values move while the
platform's, and so a decision's reasons, do not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
import shap
from catboost import CatBoostClassifier

from credit_assets.core.explain import LeafShapExplainer, ReasonCodeMap, needs_background
from credit_assets.core.explain._catboost_structure import read_oblivious_forest
from credit_assets.core.features.specs import FeatureCatalogue, FeatureSpec
from credit_assets.core.modeling import TrainConfig, to_catboost_frame, train_challenger

TOLERANCE = 1e-9
SPECS = [
    FeatureSpec(
        "utility_on_time_ratio_12m", "", "utility", "float", "decreasing", "U10", "Utility late"
    ),
    FeatureSpec("rent_on_time_ratio_12m", "", "rent", "float", "decreasing", "R10", "Rent late"),
    FeatureSpec("bank_overdraft_days_90d", "", "bank", "float", "increasing", "B20", "Overdrawn"),
    FeatureSpec("months_at_address", "", "application", "float", "none", "A10", "Time at address"),
    FeatureSpec("income_band", "", "application", "category", "none", "A20", "Income"),
    FeatureSpec("employment_type", "", "application", "category", "none", "A30", "Employment"),
    FeatureSpec("region", "", "application", "category", "none", "A30", "Employment"),
]
CATALOGUE = FeatureCatalogue(tuple(SPECS))
NUMERIC = [s for s in SPECS if not s.is_categorical]


def applications(n: int, seed: int) -> pl.DataFrame:
    """Thin files (whole sources missing), a one-hot category, a CTR category, a label."""
    rng = np.random.default_rng(seed)
    utility = np.where(rng.random(n) < 0.2, np.nan, rng.beta(5, 1.5, n))
    rent = np.where(rng.random(n) < 0.35, np.nan, rng.beta(4, 1.5, n))
    overdraft = rng.poisson(3.0, n).astype(float)
    months = rng.gamma(2.0, 18.0, n)
    income = rng.choice(["low", "mid", "high"], n)
    employment = rng.choice(["salaried", "self", "gig", "none", "student", "retired"], n)
    region = rng.choice([f"r{i:02d}" for i in range(25)], n)
    region_risk = dict(zip([f"r{i:02d}" for i in range(25)], rng.normal(0, 0.6, 25), strict=True))
    # Risk only a pair of categories explains: CatBoost builds a CTR on their combination.
    region_even = np.array([int(r[1:]) % 2 == 0 for r in region])
    pair = region_even ^ np.isin(employment, ["gig", "self", "none"])
    logit = (
        -1.2
        - 2.5 * (np.nan_to_num(utility, nan=0.6) - 0.75)
        - 1.5 * (np.nan_to_num(rent, nan=0.5) - 0.7)
        + 0.12 * overdraft
        - 0.01 * months
        + np.select([income == "low", income == "high"], [0.6, -0.5], 0.0)
        + np.isin(employment, ["gig", "none"]) * 0.6
        + np.array([region_risk[r] for r in region])
        + 0.9 * pair
    )
    return pl.DataFrame(
        {
            "utility_on_time_ratio_12m": utility,
            "rent_on_time_ratio_12m": rent,
            "bank_overdraft_days_90d": overdraft,
            "months_at_address": months,
            "income_band": income,
            "employment_type": employment,
            "region": region,
            "default_flag": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8),
            "split": rng.choice(["train", "validation", "test"], n, p=[0.6, 0.2, 0.2]),
        }
    ).with_columns(pl.col(pl.Float64).fill_nan(None))


@pytest.fixture(scope="module")
def population() -> pl.DataFrame:
    return applications(3000, seed=5)


def _split(frame: pl.DataFrame, specs: list[FeatureSpec], split: str) -> pd.DataFrame:
    return to_catboost_frame(frame.filter(pl.col("split") == split), specs)


def _fit(frame: pd.DataFrame, label: np.ndarray, **params: object) -> CatBoostClassifier:
    settings: dict[str, object] = {
        "iterations": 150,
        "depth": 5,
        "learning_rate": 0.1,
        "random_seed": 3,
        "thread_count": 2,
        "allow_writing_files": False,
        "verbose": False,
    }
    return CatBoostClassifier(**{**settings, **params}).fit(frame, label)


def _labels(frame: pl.DataFrame, split: str) -> np.ndarray:
    return frame.filter(pl.col("split") == split)["default_flag"].to_numpy()


def assert_platform_equals_shap(
    model: CatBoostClassifier, explainer: LeafShapExplainer, rows: pd.DataFrame
) -> float:
    """Same values, expected value and top-4 reasons; returns the largest difference."""
    reference = shap.TreeExplainer(model)
    expected = reference.shap_values(rows)
    platform, raw = explainer.explain(rows)
    assert expected.shape == platform.shape == (len(rows), len(explainer.feature_names))
    difference = float(np.abs(platform - expected).max())
    assert difference <= TOLERANCE
    assert abs(explainer.expected_value - float(reference.expected_value)) <= TOLERANCE
    # Both add up to the raw prediction (log-odds of default), so both are in that space.
    assert np.abs(expected.sum(axis=1) + reference.expected_value - raw).max() <= 1e-6

    reasons = ReasonCodeMap.build(list(explainer.feature_names), CATALOGUE)
    platform_reasons = reasons.top_batch(platform, k=4)
    shap_reasons = reasons.top_batch(expected, k=4)
    assert [[r.code for r in row] for row in platform_reasons] == [
        [r.code for r in row] for row in shap_reasons
    ]
    assert sum(bool(row) for row in platform_reasons) > len(rows) // 4  # reasons were compared
    return difference


def test_numeric_model_equals_shap_tree_explainer(population) -> None:
    train, test = _split(population, NUMERIC, "train"), _split(population, NUMERIC, "test")
    model = _fit(train, _labels(population, "train"))
    assert not model.get_cat_feature_indices()
    assert_platform_equals_shap(model, LeafShapExplainer.from_model(model), test)


def test_model_with_one_hot_and_ctr_categories_equals_shap_tree_explainer(population) -> None:
    train, test = _split(population, SPECS, "train"), _split(population, SPECS, "test")
    categorical = [s.name for s in SPECS if s.is_categorical]
    # income_band one-hot (3 values); CTRs on single categories and on combinations.
    model = _fit(
        train,
        _labels(population, "train"),
        cat_features=categorical,
        one_hot_max_size=3,
        max_ctr_complexity=4,
        depth=6,
    )
    assert len(model.get_cat_feature_indices()) == 3
    classes = read_oblivious_forest(model).tree_classes
    assert any(len(key) > 1 for tree in classes for key in tree), "no CTR on a combination"
    assert_platform_equals_shap(model, LeafShapExplainer.from_model(model), test)


@pytest.fixture(scope="module")
def monotone(population) -> tuple[CatBoostClassifier, pd.DataFrame]:
    """The challenger as the platform trains it: monotone constraints from the catalogue."""
    config = TrainConfig(
        iterations=200, learning_rate=0.08, depth=4, early_stopping_rounds=60, threads=2, seed=1
    )
    trained = train_challenger(population, SPECS, config)
    assert trained.model.get_params()["monotone_constraints"]
    return trained.model, _split(population, SPECS, "train")


def test_monotone_model_equals_shap_tree_explainer_on_the_background_rows(monotone) -> None:
    model, train = monotone
    assert needs_background(model)  # leaves with a value and no training weight
    explainer = LeafShapExplainer.from_model(model, background=train)
    assert_platform_equals_shap(model, explainer, train)


def test_monotone_model_shap_moves_with_the_rows_explained_the_platform_does_not(
    population, monotone
) -> None:
    model, train = monotone
    explainer = LeafShapExplainer.from_model(model, background=train)
    test = _split(population, SPECS, "test")
    alone, _ = explainer.explain(test)
    among_training_rows, _ = explainer.explain(pd.concat([test, train], ignore_index=True))
    assert np.array_equal(alone, among_training_rows[: len(test)])
    reference = shap.TreeExplainer(model)
    shap_alone = reference.shap_values(test)
    assert np.abs(shap_alone - alone).max() > 1e-6
