"""Modelling core: the CatBoost challenger, the WoE scorecard baseline, their metrics,
score scaling and risk bands, and immutable model artifacts. Pure Python, no Dagster.

The names below are imported on first use (PEP 562): the scoring API needs the artifacts,
scaling and CatBoost helpers, not the scorecard (optbinning, cvxpy) or the metrics
(scikit-learn), which would double its start-up time and memory
(tests/api/test_serve.py checks it never imports them)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from credit_assets.core.modeling.artifacts import (
        ArtifactIntegrityError,
        ArtifactRef,
        LoadedModel,
        load_model_artifact,
        load_registered_artifact,
        save_model_artifact,
    )
    from credit_assets.core.modeling.metrics import (
        auc,
        brier_score,
        calibration_table,
        evaluate,
        expected_calibration_error,
        ks_statistic,
    )
    from credit_assets.core.modeling.monotonicity import (
        FeatureMonotonicity,
        MonotonicityReport,
        verify_monotonicity,
    )
    from credit_assets.core.modeling.scaling import RiskBands, ScoreScale, band_table
    from credit_assets.core.modeling.scorecard import TrainedScorecard, train_scorecard
    from credit_assets.core.modeling.train import (
        MISSING_CATEGORY,
        TrainConfig,
        TrainedModel,
        catboost_pool,
        to_catboost_frame,
        train_challenger,
    )

_SUBMODULE = {
    "ArtifactIntegrityError": "artifacts",
    "ArtifactRef": "artifacts",
    "FeatureMonotonicity": "monotonicity",
    "LoadedModel": "artifacts",
    "MISSING_CATEGORY": "train",
    "MonotonicityReport": "monotonicity",
    "RiskBands": "scaling",
    "ScoreScale": "scaling",
    "TrainConfig": "train",
    "TrainedModel": "train",
    "TrainedScorecard": "scorecard",
    "auc": "metrics",
    "band_table": "scaling",
    "brier_score": "metrics",
    "calibration_table": "metrics",
    "catboost_pool": "train",
    "evaluate": "metrics",
    "expected_calibration_error": "metrics",
    "ks_statistic": "metrics",
    "load_model_artifact": "artifacts",
    "load_registered_artifact": "artifacts",
    "save_model_artifact": "artifacts",
    "to_catboost_frame": "train",
    "train_challenger": "train",
    "train_scorecard": "scorecard",
    "verify_monotonicity": "monotonicity",
}


def __getattr__(name: str) -> Any:
    submodule = _SUBMODULE.get(name)
    if submodule is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{submodule}"), name)
    globals()[name] = value  # once resolved, a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBMODULE])


__all__ = [
    "MISSING_CATEGORY",
    "ArtifactIntegrityError",
    "ArtifactRef",
    "FeatureMonotonicity",
    "LoadedModel",
    "MonotonicityReport",
    "RiskBands",
    "ScoreScale",
    "TrainConfig",
    "TrainedModel",
    "TrainedScorecard",
    "auc",
    "band_table",
    "brier_score",
    "calibration_table",
    "catboost_pool",
    "evaluate",
    "expected_calibration_error",
    "ks_statistic",
    "load_model_artifact",
    "load_registered_artifact",
    "save_model_artifact",
    "to_catboost_frame",
    "train_challenger",
    "train_scorecard",
    "verify_monotonicity",
]
