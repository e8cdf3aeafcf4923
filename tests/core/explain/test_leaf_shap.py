"""Leaf-table SHAP is CatBoost's own ShapValues, row for row, at a fraction of the cost."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from catboost import CatBoostClassifier, Pool

from credit_assets.core.explain import LeafShapExplainer, needs_background
from credit_assets.core.explain._catboost_structure import read_oblivious_forest

TOLERANCE = 1e-9
CATEGORICAL = ["income_band", "employment_type", "region"]


def _applicants(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "utility_on_time_ratio_12m": rng.beta(5, 1.5, n),
            "telecom_late_payments_12m": rng.poisson(1.2, n).astype(float),
            "rent_on_time_ratio_12m": rng.beta(4, 1.5, n),
            "months_at_address": rng.gamma(2.0, 18.0, n),
            "bank_overdraft_days_90d": rng.poisson(3.0, n).astype(float),
            "income_band": rng.choice(["low", "mid", "high"], n),  # one-hot (3 values)
            "employment_type": rng.choice(
                ["salaried", "self", "gig", "none", "student", "retired"], n
            ),
            "region": rng.choice([f"r{i:02d}" for i in range(30)], n),  # CTR
        }
    )
    # Thin files: whole sources are missing for many applicants.
    frame.loc[rng.random(n) < 0.35, "rent_on_time_ratio_12m"] = np.nan
    frame.loc[rng.random(n) < 0.20, "utility_on_time_ratio_12m"] = np.nan
    region_risk = {f"r{i:02d}": rng.normal(0, 0.6) for i in range(30)}
    # Risk that only a pair of categories explains: CatBoost builds CTRs on combinations.
    pair_risk = (frame["region"].str[-1].astype(int) % 2 == 0) ^ frame["employment_type"].isin(
        ["gig", "self", "none"]
    )
    logit = (
        -1.2
        - 2.5 * (frame["utility_on_time_ratio_12m"].fillna(0.6) - 0.75)
        + 0.45 * frame["telecom_late_payments_12m"]
        - 1.5 * (frame["rent_on_time_ratio_12m"].fillna(0.5) - 0.7)
        - 0.01 * frame["months_at_address"]
        + 0.12 * frame["bank_overdraft_days_90d"]
        + frame["income_band"].map({"low": 0.6, "mid": 0.0, "high": -0.5})
        + frame["employment_type"].map({"gig": 0.5, "none": 0.8}).fillna(0.0)
        + frame["region"].map(region_risk)
        + 0.9 * pair_risk
    )
    default = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame, default


def _fit(frame: pd.DataFrame, label: np.ndarray, **params: object) -> CatBoostClassifier:
    settings: dict[str, object] = {
        "iterations": 300,
        "depth": 6,
        "learning_rate": 0.08,
        "one_hot_max_size": 3,
        "cat_features": CATEGORICAL,
        "random_seed": 7,
        "thread_count": 2,
        "allow_writing_files": False,
        "verbose": False,
    }
    return CatBoostClassifier(**{**settings, **params}).fit(frame, label)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    frame, label = _applicants(3000, seed=11)
    test_frame, _ = _applicants(1500, seed=12)
    return frame, label, test_frame


@pytest.fixture(scope="module")
def platform_model(data) -> CatBoostClassifier:
    frame, label, _ = data
    return _fit(frame, label, max_ctr_complexity=1)


@pytest.fixture(scope="module")
def platform_explainer(platform_model) -> LeafShapExplainer:
    return LeafShapExplainer.from_model(platform_model)


def _pool(frame: pd.DataFrame, **kwargs: object) -> Pool:
    return Pool(frame, cat_features=CATEGORICAL, **kwargs)


def _assert_matches_catboost(
    model: CatBoostClassifier, explainer: LeafShapExplainer, pool: Pool
) -> None:
    reference = model.get_feature_importance(pool, type="ShapValues")
    shap, raw = explainer.explain(pool)
    assert shap.shape == (pool.num_row(), len(model.feature_names_))
    assert np.abs(shap - reference[:, :-1]).max() <= TOLERANCE
    assert abs(explainer.expected_value - reference[0, -1]) <= TOLERANCE
    assert np.abs(raw - model.predict(pool, prediction_type="RawFormulaVal")).max() <= TOLERANCE


def test_equals_catboost_shap_on_every_row_with_ctr_one_hot_and_missing_values(
    data, platform_model, platform_explainer
) -> None:
    _, _, test_frame = data
    _assert_matches_catboost(platform_model, platform_explainer, _pool(test_frame))


def test_equals_catboost_shap_with_ctrs_on_feature_combinations(data) -> None:
    frame, label, test_frame = data
    model = _fit(frame, label, iterations=120, max_ctr_complexity=4)  # CatBoost's CPU default
    forest = read_oblivious_forest(model)
    assert any(len(key) > 1 for tree in forest.tree_classes for key in tree), "no CTR on a pair"
    explainer = LeafShapExplainer.from_model(model)
    _assert_matches_catboost(model, explainer, _pool(test_frame))


def test_equals_catboost_shap_with_sample_weights_and_nan_as_max(data) -> None:
    frame, label, test_frame = data
    model = CatBoostClassifier(
        iterations=120,
        depth=5,
        nan_mode="Max",
        cat_features=CATEGORICAL,
        max_ctr_complexity=1,
        boost_from_average=True,
        thread_count=2,
        allow_writing_files=False,
        verbose=False,
        random_seed=3,
    )
    model.fit(frame, label, sample_weight=np.random.default_rng(0).uniform(0.3, 3.0, len(frame)))
    explainer = LeafShapExplainer.from_model(model)
    _assert_matches_catboost(model, explainer, _pool(test_frame))


@pytest.fixture(scope="module")
def monotone_model(data) -> CatBoostClassifier:
    frame, label, _ = data
    return _fit(
        frame,
        label,
        iterations=150,  # monotone constraints train ~3x slower
        max_ctr_complexity=1,
        monotone_constraints={"telecom_late_payments_12m": 1, "utility_on_time_ratio_12m": -1},
    )


def test_monotone_model_needs_a_background_population(monotone_model) -> None:
    assert needs_background(monotone_model)
    with pytest.raises(ValueError, match="background"):
        LeafShapExplainer.from_model(monotone_model)


def test_monotone_model_equals_catboost_shap_on_the_background_population(
    data, monotone_model
) -> None:
    frame, _, _ = data
    explainer = LeafShapExplainer.from_model(monotone_model, background=frame)
    assert explainer.background_rows == len(frame)
    _assert_matches_catboost(monotone_model, explainer, _pool(frame))


def test_monotone_model_equals_catboost_shap_with_a_weighted_background(
    data, monotone_model
) -> None:
    _, _, test_frame = data
    weights = np.random.default_rng(1).uniform(0.5, 2.0, len(test_frame))
    pool = _pool(test_frame, weight=weights)
    explainer = LeafShapExplainer.from_model(monotone_model, background=pool)
    _assert_matches_catboost(monotone_model, explainer, pool)


def test_values_and_expected_value_add_up_to_the_raw_prediction(data, platform_explainer) -> None:
    _, _, test_frame = data
    shap, raw = platform_explainer.explain(test_frame)
    assert np.abs(shap.sum(axis=1) + platform_explainer.expected_value - raw).max() <= TOLERANCE


def test_scaled_model_values_scale_and_still_add_up(
    data, platform_model, platform_explainer
) -> None:
    _, _, test_frame = data
    plain_shap, _ = platform_explainer.explain(test_frame)
    scaled = platform_model.copy()
    scaled.set_scale_and_bias(1.7, -0.4)
    explainer = LeafShapExplainer.from_model(scaled)
    shap, raw = explainer.explain(test_frame)
    assert np.abs(shap - 1.7 * plain_shap).max() <= TOLERANCE
    assert (
        np.abs(raw - scaled.predict(_pool(test_frame), prediction_type="RawFormulaVal")).max()
        <= TOLERANCE
    )
    assert np.abs(shap.sum(axis=1) + explainer.expected_value - raw).max() <= TOLERANCE


def test_one_row_frame_equals_the_same_row_in_a_batch(data, platform_explainer) -> None:
    _, _, test_frame = data
    explainer = platform_explainer
    batch_shap, batch_raw = explainer.explain(test_frame)
    row_shap, row_raw = explainer.explain(test_frame.iloc[[17]])
    assert np.array_equal(row_shap[0], batch_shap[17])
    assert row_raw[0] == batch_raw[17]


def test_polars_frame_explains_like_pandas(data, platform_explainer) -> None:
    _, _, test_frame = data
    shap, raw = platform_explainer.explain(pl.from_pandas(test_frame.iloc[:200]))
    expected_shap, expected_raw = platform_explainer.explain(test_frame.iloc[:200])
    assert np.array_equal(shap, expected_shap)
    assert np.array_equal(raw, expected_raw)


def test_tables_round_trip_through_bytes_without_pickle(
    data, platform_model, platform_explainer
) -> None:
    _, _, test_frame = data
    explainer = platform_explainer
    restored = LeafShapExplainer.from_bytes(explainer.to_bytes(), model=platform_model)
    assert restored.feature_names == explainer.feature_names
    assert restored.expected_value == explainer.expected_value
    original, restored_values = explainer.explain(test_frame), restored.explain(test_frame)
    assert np.array_equal(original[0], restored_values[0])
    assert np.array_equal(original[1], restored_values[1])


def test_tables_refuse_a_different_model(data, platform_explainer) -> None:
    frame, label, _ = data
    other = _fit(frame, label, iterations=20, max_ctr_complexity=1)
    payload = platform_explainer.to_bytes()
    with pytest.raises(ValueError, match="different model"):
        LeafShapExplainer.from_bytes(payload, model=other)


def test_tables_without_a_model_explain_precomputed_leaf_indexes(
    data, platform_model, platform_explainer
) -> None:
    _, _, test_frame = data
    explainer = platform_explainer
    detached = LeafShapExplainer.from_bytes(explainer.to_bytes())
    leaves = platform_model.calc_leaf_indexes(_pool(test_frame))
    assert np.array_equal(detached.explain_leaves(leaves)[0], explainer.explain(test_frame)[0])
    with pytest.raises(ValueError, match="no model bound"):
        detached.explain(test_frame)
