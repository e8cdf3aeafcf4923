"""Monotone directions are verified after training, not trusted."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from credit_assets.core.features.specs import FeatureSpec
from credit_assets.core.modeling.monotonicity import verify_monotonicity
from credit_assets.core.modeling.train import TrainConfig, TrainedModel, train_challenger

CONFIG = TrainConfig(
    iterations=200, learning_rate=0.1, depth=4, early_stopping_rounds=50, threads=2, seed=3
)

DECLARED = [
    FeatureSpec("utilisation", "", "s", "float", "increasing"),
    FeatureSpec("on_time_ratio", "", "s", "float", "decreasing"),
    FeatureSpec("region", "", "s", "category"),
    FeatureSpec("segment", "", "s", "category"),
]
UNDECLARED = [FeatureSpec(f.name, f.description, f.source, f.dtype) for f in DECLARED]


@pytest.fixture(scope="module")
def u_shaped() -> pl.DataFrame:
    """Risk is U-shaped in utilisation: high at both ends, so "increasing" is false in the data."""
    rng = np.random.default_rng(11)
    n = 4000
    utilisation = rng.uniform(-2, 2, n)
    on_time = rng.uniform(0, 1, n)
    region = rng.choice(list("abcdef"), n)
    segment = rng.choice(list("pqrs"), n)
    region_effect = np.select([region == r for r in "abcdef"], [-1, -0.5, 0, 0.5, 1, 1.5])
    logit = -1.5 + 1.2 * utilisation**2 - 1.5 * on_time + region_effect * np.sin(2 * utilisation)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    return pl.DataFrame(
        {
            "utilisation": utilisation,
            "on_time_ratio": on_time,
            "region": region,
            "segment": segment,
            "default_flag": y,
            "split": rng.choice(["train", "validation"], n, p=[0.75, 0.25]),
        }
    )


@pytest.fixture(scope="module")
def unconstrained(u_shaped: pl.DataFrame) -> TrainedModel:
    return train_challenger(u_shaped, UNDECLARED, CONFIG)


@pytest.fixture(scope="module")
def constrained(u_shaped: pl.DataFrame) -> TrainedModel:
    return train_challenger(u_shaped, DECLARED, CONFIG)


def test_check_fails_a_model_trained_without_constraints_on_non_monotone_data(
    unconstrained: TrainedModel, u_shaped: pl.DataFrame
) -> None:
    report = verify_monotonicity(unconstrained, u_shaped, DECLARED, n_rows=200)
    assert not report.passed
    assert "utilisation" in report.failed_features
    utilisation = next(f for f in report.features if f.feature == "utilisation")
    assert utilisation.rows_violating > 100 and utilisation.max_violation > 0.1


def test_check_passes_the_model_trained_under_the_declared_constraints(
    constrained: TrainedModel, u_shaped: pl.DataFrame
) -> None:
    report = verify_monotonicity(constrained, u_shaped, DECLARED, n_rows=200)
    assert report.passed, report.to_markdown()
    assert {f.feature: f.status for f in report.features} == {
        "utilisation": "pass",
        "on_time_ratio": "pass",
    }
    assert all(f.max_violation <= 1e-9 for f in report.features)


def test_report_is_json_able_evidence_with_the_swept_grid(
    constrained: TrainedModel, u_shaped: pl.DataFrame
) -> None:
    report = verify_monotonicity(constrained, u_shaped, DECLARED, n_rows=50, grid=10).to_dict()
    first = report["features"][0]
    assert report["n_rows"] == 50 and len(first["grid"]) == 10
    assert first["grid"] == sorted(first["grid"])
    assert len(first["mean_curve_log_odds"]) == 10


def test_a_direction_declared_on_a_categorical_is_reported_not_applicable(
    constrained: TrainedModel, u_shaped: pl.DataFrame
) -> None:
    features = [
        *DECLARED[:2],
        FeatureSpec("region", "", "s", "category", "increasing"),
        DECLARED[3],
    ]
    report = verify_monotonicity(constrained, u_shaped, features, n_rows=20)
    region = next(f for f in report.features if f.feature == "region")
    assert region.status == "not_applicable" and report.passed
