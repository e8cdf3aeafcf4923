"""Modelling core: the CatBoost challenger, the WoE scorecard baseline, their metrics,
score scaling and risk bands, and immutable model artifacts. Pure Python, no Dagster."""

from credit_assets.core.modeling.artifacts import (
    ArtifactExistsError,
    ArtifactIntegrityError,
    ArtifactRef,
    ArtifactStorage,
    DataStoreArtifactStorage,
    LoadedModel,
    LocalArtifactStorage,
    load_model_artifact,
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

__all__ = [
    "MISSING_CATEGORY",
    "ArtifactExistsError",
    "ArtifactIntegrityError",
    "ArtifactRef",
    "ArtifactStorage",
    "DataStoreArtifactStorage",
    "FeatureMonotonicity",
    "LoadedModel",
    "LocalArtifactStorage",
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
    "save_model_artifact",
    "to_catboost_frame",
    "train_challenger",
    "train_scorecard",
    "verify_monotonicity",
]
