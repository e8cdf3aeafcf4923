"""Proxy screening and the search for less discriminatory alternatives."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from credit_assets.core.compliance import fairness_report, lda_search, proxy_screen
from credit_assets.core.features.specs import FeatureSpec
from credit_assets.core.modeling import ScoreScale, TrainConfig, auc, train_challenger

CUTOFF = 600
SMALL = TrainConfig(
    iterations=60, learning_rate=0.1, depth=4, early_stopping_rounds=20, threads=2, seed=3
)


def spec(name: str, source: str, dtype: str = "float", monotone: str = "none") -> FeatureSpec:
    return FeatureSpec(name, f"{name} (test)", source, dtype, monotone, "R01", "test reason")  # type: ignore[arg-type]


FEATURES = [
    spec("on_time_ratio", "utility", monotone="decreasing"),
    spec("utilisation", "bank", monotone="increasing"),
    spec("shopping_index", "bank"),  # a proxy for sex with a small real effect
    spec("night_spend_share", "bank"),
    spec("housing", "application", "category"),
]


def synthetic_training_set(n: int = 900, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], n)
    female = sex == "female"
    on_time = rng.beta(5, 2, n)
    utilisation = rng.uniform(0, 1, n)
    shopping = np.where(female, 1.0, -1.0) + rng.normal(0, 0.7, n)
    night = rng.normal(0, 1, n)
    housing = rng.choice(["own", "rent", "free"], n)
    logit = -1.0 - 3.0 * (on_time - 0.7) + 1.5 * (utilisation - 0.5) + 0.4 * shopping
    default = rng.uniform(size=n) < 1 / (1 + np.exp(-logit))
    split = rng.choice(["train", "validation", "test"], n, p=[0.6, 0.2, 0.2])
    age = rng.integers(18, 75, n)
    return pl.DataFrame(
        {
            "on_time_ratio": on_time,
            "utilisation": utilisation,
            "shopping_index": shopping,
            "night_spend_share": night,
            "housing": housing,
            "protected_sex": sex,
            "protected_age": age,
            "default_flag": default.astype(np.int8),
            "split": split,
        }
    )


def test_proxy_screen_flags_a_deliberately_leaking_feature():
    frame = synthetic_training_set()
    screen = proxy_screen(frame, FEATURES, ["sex", "age"])
    by_pair = {(r["feature"], r["protected"]): r for r in screen}
    leak = by_pair[("shopping_index", "sex")]
    assert leak["flagged"] and leak["auc"] > 0.85
    assert screen[0] is leak  # most predictive first
    assert not by_pair[("night_spend_share", "sex")]["flagged"]
    assert not by_pair[("housing", "sex")]["flagged"]
    assert all(r["auc"] >= 0.5 for r in screen)  # folded
    assert len(screen) == len(FEATURES) * 2


def test_proxy_screen_uses_one_vs_rest_for_many_groups():
    frame = synthetic_training_set()
    frame = frame.with_columns(
        pl.when(pl.col("on_time_ratio") < 0.6)
        .then(pl.lit("g1"))
        .when(pl.col("on_time_ratio") < 0.8)
        .then(pl.lit("g2"))
        .otherwise(pl.lit("g3"))
        .alias("protected_group")
    )
    row = next(
        r for r in proxy_screen(frame, FEATURES, ["group"]) if r["feature"] == "on_time_ratio"
    )
    assert row["groups"] == 3 and row["flagged"]


@pytest.fixture(scope="module")
def lda_result():
    training_set = synthetic_training_set()
    scale = ScoreScale(base_score=600, base_odds=1.0, pdo=40)
    challenger = train_challenger(training_set, FEATURES, SMALL)
    test = training_set.filter(pl.col("split") == "test")
    pd_test = challenger.predict_pd(test)
    scored = test.with_columns(
        pl.Series("score", scale.score_from_pd(pd_test)), pl.Series("pd", pd_test)
    )
    summary = fairness_report(
        scored, protected=["sex", "age"], cutoff=CUTOFF, n_bootstrap=0
    ).summary
    challenger_auc = auc(test["default_flag"].to_numpy(), pd_test)
    result = lda_search(
        training_set,
        FEATURES,
        ["sex", "age"],
        config=SMALL,
        cutoff=CUTOFF,
        scale=scale,
        challenger_auc=challenger_auc,
        challenger_worst_air=summary["worst_adverse_impact_ratio"],
    )
    return result, challenger_auc, summary["worst_adverse_impact_ratio"]


def test_lda_frontier_holds_the_challenger_and_at_least_three_alternatives(lda_result):
    result, challenger_auc, challenger_air = lda_result
    names = [row["name"] for row in result.frontier]
    assert names[0] == "challenger"
    assert result.frontier[0]["auc"] == challenger_auc
    assert result.frontier[0]["worst_air"] == challenger_air
    assert len(result.alternatives) >= 3
    assert "drop_shopping_index" in names and "regularised" in names and "monotone_only" in names
    for row in result.alternatives:
        assert 0.5 < row["auc"] <= 1.0 and row["worst_air"] is not None


def test_lda_states_whether_a_comparable_alternative_is_fairer(lda_result):
    result, challenger_auc, challenger_air = lda_result
    comparable_and_fairer = [
        r["name"]
        for r in result.alternatives
        if r["auc"] >= challenger_auc - 0.01 and r["worst_air"] > challenger_air
    ]
    if comparable_and_fairer:
        assert result.better_alternative in comparable_and_fairer
        assert result.statement.startswith(f"Alternative '{result.better_alternative}'")
    else:
        assert result.better_alternative is None
        assert result.statement.startswith("No alternative within 0.01 AUC")


def test_lda_result_renders(lda_result):
    result, _, _ = lda_result
    assert result.statement in result.to_markdown()
    assert result.plot_png().startswith(b"\x89PNG")
    assert result.to_dict()["frontier"] == result.frontier
