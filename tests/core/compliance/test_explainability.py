"""Explainability report from exact leaf SHAP of a small CatBoost model."""

from __future__ import annotations

import json
import re

import numpy as np
import polars as pl
import pytest

from credit_assets.core.compliance import ExplainabilityReport, explainability_report
from credit_assets.core.explain import LeafShapExplainer, needs_background
from credit_assets.core.features.specs import FeatureCatalogue, FeatureSpec
from credit_assets.core.modeling import (
    TrainConfig,
    to_catboost_frame,
    train_challenger,
    verify_monotonicity,
)

SMALL = TrainConfig(
    iterations=40, learning_rate=0.15, depth=3, early_stopping_rounds=20, threads=2, seed=1
)
SPECS = [
    FeatureSpec(
        "rent_on_time_ratio_12m",
        "Share of rent paid on time",
        "rent",
        "float",
        "decreasing",
        "R10",
        "Rent payments were late",
    ),
    FeatureSpec(
        "bank_overdraft_days_6m",
        "Days overdrawn",
        "bank",
        "float",
        "increasing",
        "B20",
        "Account was frequently overdrawn",
    ),
    FeatureSpec(
        "employment_type",
        "Employment type",
        "application",
        "category",
        "none",
        "A30",
        "Type of employment",
    ),
]
CATALOGUE = FeatureCatalogue(tuple(SPECS))
NAMES = [s.name for s in SPECS]
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def training_set(n: int = 600, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    on_time = rng.beta(4, 1.5, n)
    on_time[rng.uniform(size=n) < 0.2] = np.nan  # thin files: no rent history
    overdraft = rng.poisson(3, n).astype(float)
    employment = rng.choice(["salaried", "self_employed", "gig"], n)
    logit = (
        -1.2
        - 2.5 * np.nan_to_num(on_time - 0.75)
        + 0.25 * (overdraft - 3)
        + (employment == "gig") * 0.6
    )
    default = rng.uniform(size=n) < 1 / (1 + np.exp(-logit))
    return pl.DataFrame(
        {
            "rent_on_time_ratio_12m": on_time,
            "bank_overdraft_days_6m": overdraft,
            "employment_type": employment,
            "default_flag": default.astype(np.int8),
            "split": rng.choice(["train", "validation", "test"], n, p=[0.6, 0.2, 0.2]),
        }
    ).with_columns(pl.col("rent_on_time_ratio_12m").fill_nan(None))


@pytest.fixture(scope="module")
def report() -> ExplainabilityReport:
    frame = training_set()
    trained = train_challenger(frame, SPECS, SMALL)
    train = frame.filter(pl.col("split") == "train")
    inputs = to_catboost_frame(frame, SPECS)
    background = to_catboost_frame(train, SPECS) if needs_background(trained.model) else None
    explainer = LeafShapExplainer.from_model(trained.model, background=background)
    shap, _raw = explainer.explain(inputs)
    monotonicity = verify_monotonicity(trained, train, SPECS, n_rows=100, grid=8).to_dict()
    return explainability_report(
        shap,
        inputs,
        NAMES,
        CATALOGUE,
        monotonicity=monotonicity,
        expected_value=explainer.expected_value,
        top_n=3,
    )


def test_importance_ranks_every_feature_by_mean_absolute_shap(report):
    values = [row["mean_abs_shap"] for row in report.importance]
    assert values == sorted(values, reverse=True)
    assert {row["feature"] for row in report.importance} == set(NAMES)
    assert sum(row["share"] for row in report.importance) == pytest.approx(1.0)
    rent = next(r for r in report.importance if r["feature"] == "rent_on_time_ratio_12m")
    assert (rent["reason_code"], rent["reason_text"]) == ("R10", "Rent payments were late")


def test_dependence_plots_exist_for_each_top_feature(report):
    assert list(report.dependence_pngs) == report.top_features
    assert all(png.startswith(b"\x89PNG") for png in report.dependence_pngs.values())


def test_html_is_self_contained_with_top_features_and_embedded_plots(report):
    page = report.to_html("Explainability: test model")
    assert not EXTERNAL.search(page)
    assert "<script" not in page and "<link" not in page
    for name in report.top_features:
        assert name in page
    # shap's beeswarm and waterfall (tests/core/compliance/test_shap_plots.py), then dependence
    assert page.count('<img src="data:image/png;base64,') == 2 + len(report.top_features)
    assert '<section id="monotonicity">' in page and "decreasing" in page


def test_markdown_embeds_plots_for_the_dagster_ui(report):
    markdown = report.to_markdown()
    assert "](data:image/png;base64," in markdown
    assert "| rent_on_time_ratio_12m |" in markdown or "rent_on_time_ratio_12m" in markdown


def test_to_dict_is_json_with_monotonicity_evidence(report):
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["top_features"] == report.top_features
    assert data["monotonicity"]["passed"] is True
    assert 0 < data["expected_pd"] < 1


def test_shap_shape_must_match_the_frame():
    frame = to_catboost_frame(training_set(20), SPECS)
    with pytest.raises(ValueError, match="shape"):
        explainability_report(
            np.zeros((19, 3)), frame, NAMES, CATALOGUE, monotonicity=None, expected_value=0.0
        )
