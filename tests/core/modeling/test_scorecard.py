"""The WoE logistic scorecard baseline and its JSON persistence."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from credit_assets.core.features.specs import FeatureSpec
from credit_assets.core.modeling.scorecard import (
    TrainedScorecard,
    to_scorecard_frame,
    train_scorecard,
)

FEATURES = [
    FeatureSpec("utilisation", "", "s", "float", "increasing"),
    FeatureSpec("months_on_file", "", "s", "int", "decreasing"),
    FeatureSpec("housing", "", "s", "category"),
]


@pytest.fixture(scope="module")
def data() -> pl.DataFrame:
    rng = np.random.default_rng(21)
    n = 4000
    utilisation = rng.uniform(0, 1, n)
    months = rng.integers(0, 60, n)
    housing = rng.choice(["own", "rent", "family", "other"], n)
    logit = (
        -2.5
        + 2.5 * utilisation
        - 0.03 * months
        + np.select([housing == "rent", housing == "own"], [0.6, -0.6], 0.0)
    )
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    thin = rng.uniform(size=n) < 0.15
    return pl.DataFrame(
        {
            "utilisation": np.where(thin, np.nan, utilisation),
            "months_on_file": months,
            "housing": housing,
            "borrower_id": np.arange(n),
            "default_flag": y,
            "split": rng.choice(["train", "validation", "test"], n, p=[0.6, 0.2, 0.2]),
        }
    ).with_columns(
        pl.col("utilisation").fill_nan(None),
        pl.when(pl.col("borrower_id") % 9 == 0)
        .then(None)
        .otherwise(pl.col("housing"))
        .alias("housing"),
    )


@pytest.fixture(scope="module")
def scorecard(data: pl.DataFrame) -> TrainedScorecard:
    return train_scorecard(data, FEATURES, seed=0)


def test_json_round_trip_predicts_exactly_as_the_fitted_optbinning_scorecard(
    scorecard: TrainedScorecard, data: pl.DataFrame
) -> None:
    reloaded = TrainedScorecard.from_json(scorecard.to_json())
    frame = to_scorecard_frame(data, FEATURES, scorecard.reading)
    fitted = scorecard.fitted.predict_proba(frame)[:, 1]
    np.testing.assert_allclose(scorecard.predict_pd(data), fitted, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(reloaded.predict_pd(data), scorecard.predict_pd(data))
    assert reloaded.fitted is None


def test_points_of_a_row_add_up_to_its_unclipped_score(
    scorecard: TrainedScorecard, data: pl.DataFrame
) -> None:
    optbinning_points = scorecard.fitted.score(
        to_scorecard_frame(data, FEATURES, scorecard.reading)
    )
    raw_scores = scorecard.scale.raw_score_from_pd(scorecard.predict_pd(data))
    np.testing.assert_allclose(optbinning_points, raw_scores, atol=1e-9)


def test_points_table_lists_every_bin_with_woe_and_points(scorecard: TrainedScorecard) -> None:
    table = scorecard.points_table()
    assert {"feature", "bin", "woe", "points"} <= table[0].keys()
    assert {r["feature"] for r in table} == {"utilisation", "months_on_file", "housing"}
    assert {r["bin"] for r in table if r["feature"] == "housing"} >= {"Missing", "Unseen category"}
    json.dumps(table)


def test_declared_direction_gives_monotone_bins(scorecard: TrainedScorecard) -> None:
    utilisation = next(f for f in scorecard.features if f.name == "utilisation")
    # Risk increases with utilisation, so WoE (log of good share over bad share) falls.
    assert len(utilisation.woe) >= 3
    assert np.all(np.diff(utilisation.woe) < 0)


def test_missing_values_and_unseen_categories_still_score(scorecard: TrainedScorecard) -> None:
    rows = pl.DataFrame(
        {"utilisation": [None, 0.5], "months_on_file": [None, 12], "housing": ["houseboat", None]},
        schema={"utilisation": pl.Float64, "months_on_file": pl.Int64, "housing": pl.String},
    )
    pd = scorecard.predict_pd(rows)
    assert np.all((pd > 0) & (pd < 1))
    assert scorecard.score(rows).dtype.kind == "i"


def test_scorecard_ranks_risk_on_the_test_split(
    scorecard: TrainedScorecard, data: pl.DataFrame
) -> None:
    test = data.filter(pl.col("split") == "test")
    assert roc_auc_score(test["default_flag"], scorecard.predict_pd(test)) > 0.7


def test_a_characteristic_with_a_reversed_sign_is_dropped_and_the_rest_refit() -> None:
    """x2 looks risky on its own (its WoE says so) but lowers risk given x1: a logistic
    regression on WoE gives it a positive coefficient, points against its own bad rates."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(4)
    n = 4000
    z = rng.normal(size=n)
    x1, x2 = z + 0.3 * rng.normal(size=n), z + 0.3 * rng.normal(size=n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(-1.5 + 2.0 * x1 - 1.2 * x2)))).astype(int)
    data = pl.DataFrame(
        {"x1": x1, "x2": x2, "other": rng.normal(size=n), "default_flag": y, "split": "train"}
    )
    specs = [FeatureSpec(name, "", "s", "float") for name in ("x1", "x2", "other")]
    scorecard = train_scorecard(data, specs, seed=0)

    assert [d["feature"] for d in scorecard.dropped] == ["x2"]
    assert scorecard.dropped[0]["coefficient"] > 0
    assert scorecard.feature_names == ["x1", "other"] == [s.name for s in scorecard.specs]
    assert all(f.coefficient < 0 for f in scorecard.features)
    # The refit is a plain L2 logistic regression on the kept characteristics' WoE.
    woe = np.column_stack([f.woe_of(data[f.name]) for f in scorecard.features])
    reference = LogisticRegression(random_state=0, max_iter=1000).fit(woe, y)
    np.testing.assert_allclose(
        scorecard.predict_pd(data), reference.predict_proba(woe)[:, 1], rtol=0, atol=1e-12
    )
    assert TrainedScorecard.from_json(scorecard.to_json()).dropped == scorecard.dropped


def test_a_scorecard_document_of_format_1_still_loads_and_scores_alike(
    scorecard: TrainedScorecard, data: pl.DataFrame
) -> None:
    """Cards registered before special codes and numbers read from text keep serving."""
    document = json.loads(scorecard.to_json())
    document["format_version"] = 1
    new_fields = (
        "special_codes",
        "special_woe",
        "special_count",
        "special_bad_rate",
        "read_as_number",
        "missing_texts",
        "pooled_categories",
        "pooled_count",
    )
    for feature in document["features"]:
        for name in new_fields:
            feature.pop(name)
    old = TrainedScorecard.from_dict(document)
    np.testing.assert_array_equal(old.predict_pd(data), scorecard.predict_pd(data))
