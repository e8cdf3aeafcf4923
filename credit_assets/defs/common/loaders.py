"""What the modeling, compliance and monitoring layers load: the training set, the challenger
under review (scored on the test split), the score scale and the promotion policy."""

import hashlib
import json
from dataclasses import dataclass

import dagster as dg
import numpy as np
import polars as pl

from credit_assets.core.compliance.bisg import (
    METHOD_COLUMN,
    PROBABILITY_COLUMNS,
    declared_proxy_inputs,
)
from credit_assets.core.contracts import protected_columns
from credit_assets.core.explain import LeafShapExplainer
from credit_assets.core.features import feature_catalogue, model_feature_names
from credit_assets.core.features.specs import FeatureCatalogue, FeatureSpec
from credit_assets.core.modeling import ScoreScale, TrainConfig, to_catboost_frame
from credit_assets.core.modeling.artifacts import LoadedModel, load_registered_artifact
from credit_assets.core.modeling.scorecard_model import ScorecardExplainer, TrainedScorecard
from credit_assets.core.platform.registry import RegistryRecord, get_model
from credit_assets.core.platform.settings import Settings
from credit_assets.core.platform.storage.keys import (
    DEMOGRAPHIC_PROXIES,
    DEMOGRAPHIC_PROXIES_COVERAGE,
    TRAINING_SET,
)
from credit_assets.core.promotion import PromotionPolicy, policy_from_settings
from credit_assets.core.scoring import LEAF_SHAP_FILE
from credit_assets.defs.common.lineage import latest_metadata
from credit_assets.defs.common.resources import PlatformResource


def score_scale(settings: Settings) -> ScoreScale:
    """Points to double the odds as configured (CREDIT_SCORE_BASE, _BASE_ODDS, _PDO)."""
    return ScoreScale(settings.score_base, settings.score_base_odds, settings.score_pdo)


def train_config(settings: Settings) -> TrainConfig:
    """The challenger's CatBoost configuration (the same for its cross-validation folds)."""
    return TrainConfig(
        iterations=settings.challenger_iterations, threads=settings.threads, seed=settings.seed
    )


def policy(settings: Settings) -> PromotionPolicy:
    return policy_from_settings(settings)


def load_training_set(platform: PlatformResource) -> tuple[pl.DataFrame, list[FeatureSpec], str]:
    """The training set, the catalogue specs of its model features, and its content hash;
    a plain failure when there is none yet (the last `training_set` run may have found no
    labelled rows: its failure says which files and why)."""
    if not platform.store.exists(TRAINING_SET):
        raise dg.Failure("training_set has not been materialized yet; materialize it first")
    raw = platform.store.get_bytes(TRAINING_SET)
    frame = pl.read_parquet(raw)
    catalogue = feature_catalogue(platform.contracts())
    specs = [catalogue[name] for name in model_feature_names(frame, catalogue)]
    return frame, specs, hashlib.sha256(raw).hexdigest()[:16]


@dataclass
class Proxies:
    """BISG probabilities joined to a frame's applications, and what the tables covered."""

    frame: pl.DataFrame
    coverage: dict
    rows_with_proxy: int


def with_proxies(platform: PlatformResource, frame: pl.DataFrame) -> Proxies | None:
    """`frame` with `demographic_proxies` joined by application id, while a contract still
    declares proxy inputs; None otherwise."""
    store = platform.store
    if not declared_proxy_inputs(platform.contracts()) or not store.exists(DEMOGRAPHIC_PROXIES):
        return None
    proxies = store.read_frame(DEMOGRAPHIC_PROXIES).drop(METHOD_COLUMN)
    joined = frame.join(proxies, on="application_id", how="left", maintain_order="left")
    coverage = (
        json.loads(store.get_bytes(DEMOGRAPHIC_PROXIES_COVERAGE))
        if store.exists(DEMOGRAPHIC_PROXIES_COVERAGE)
        else {}
    )
    with_proxy = joined.height - joined[PROBABILITY_COLUMNS[0]].null_count()
    return Proxies(joined, coverage, with_proxy)


def labels(frame: pl.DataFrame) -> np.ndarray:
    return frame["default_flag"].to_numpy().astype(int)


def load_model(platform: PlatformResource, record: RegistryRecord) -> LoadedModel:
    """The artifact a registry record names, verified against its recorded sha256."""
    return load_registered_artifact(platform.settings, record.artifact_uri, record.manifest_sha256)


def load_challenger(platform: PlatformResource, version: str) -> LoadedModel:
    """The registered artifact of `version`, verified against its recorded sha256."""
    return load_model(platform, get_model(platform.engine, version))


def explainer_of(loaded: LoadedModel) -> LeafShapExplainer | ScorecardExplainer:
    """The explanation a loaded model's decisions use: its SHAP tables, or its scorecard."""
    if isinstance(loaded.model, TrainedScorecard):
        return ScorecardExplainer(loaded.model)
    return LeafShapExplainer.from_bytes(loaded.files[LEAF_SHAP_FILE], model=loaded.model)


@dataclass
class ChallengerContext:
    """The challenger under review with its test split, scored."""

    version: str
    run_id: str | None
    loaded: LoadedModel
    explainer: LeafShapExplainer | ScorecardExplainer
    """CatBoost's exact SHAP, or a scorecard's points; `explain(frame)` for both."""
    catalogue: FeatureCatalogue
    frame: pl.DataFrame
    test: pl.DataFrame
    inputs: object  # the test split as CatBoost sees it
    pd: np.ndarray
    scores: np.ndarray
    protected: list[str]


def challenger_context(
    context: dg.AssetExecutionContext, platform: PlatformResource
) -> ChallengerContext:
    """The latest `challenger_model` version, loaded and scored on the test split."""
    settings = platform.settings
    version = latest_metadata(context, "challenger_model")["version"]
    record = get_model(platform.engine, version)
    loaded = load_model(platform, record)
    explainer = explainer_of(loaded)
    frame, _specs, _sha = load_training_set(platform)
    test = frame.filter(pl.col("split") == "test")
    pd_test = loaded.predict_pd(test, thread_count=settings.threads)
    contracts = platform.contracts()
    return ChallengerContext(
        version=version,
        run_id=record.run_id,
        loaded=loaded,
        explainer=explainer,
        catalogue=feature_catalogue(contracts),
        frame=frame,
        test=test,
        inputs=to_catboost_frame(test, loaded.features),
        pd=pd_test,
        scores=np.asarray(score_scale(settings).score_from_pd(pd_test)),
        protected=[p for p in protected_columns(contracts) if f"protected_{p}" in frame.columns],
    )
