"""Immutable, versioned, checksummed model artifacts.

Layout under an artifact root: `models/<version>/model.cbm` (CatBoost) or
`scorecard.json` (a WoE scorecard), `manifest.json` and any extra files (e.g. SHAP
leaf tables). The manifest names the family (`model_type`: `catboost` or
`scorecard`), lists features in model order, the categorical columns, the training parameters, whatever the caller adds
(catalogue version, training snapshot id, metrics, score scale) and the sha256 of
every file. A version is `<UTC timestamp>-<content hash>` and is never
overwritten. Models are CatBoost's own `.cbm` format or the scorecard's JSON
document (bins, WoE, coefficients), never pickles, and a model
is loaded by explicit version (its URI plus the manifest's sha256 from the
registry), never by picking the newest file.

Writes go through `ArtifactStorage` (`credit_assets.core.platform.storage.artifacts`),
a small put/get protocol, so an S3 store replaces the local one without touching this
module's callers.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import catboost
import numpy as np
import pandas as pd
import polars as pl
from catboost import CatBoostClassifier

from credit_assets.core.features.specs import FeatureSpec
from credit_assets.core.modeling.scorecard_model import TrainedScorecard
from credit_assets.core.modeling.train import (
    MISSING_CATEGORY,
    TrainedModel,
    predict_pd,
    predict_raw,
)
from credit_assets.core.platform.settings import Settings
from credit_assets.core.platform.storage.artifacts import (
    ArtifactStorage,
    LocalArtifactStorage,
    artifact_storage,
    check_key,
)

MODEL_FILE = "model.cbm"
SCORECARD_FILE = "scorecard.json"
CATBOOST = "catboost"
SCORECARD = "scorecard"
MANIFEST_FILE = "manifest.json"
MODELS_PREFIX = "models"
FORMAT_VERSION = 1


class ArtifactIntegrityError(Exception):
    """A file of an artifact is missing or its sha256 differs from the one recorded."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ArtifactRef:
    """What the registry records for a saved model."""

    version: str
    uri: str
    manifest_sha256: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class LoadedModel:
    """A verified model artifact, ready to predict."""

    version: str
    uri: str
    manifest: dict[str, Any]
    manifest_sha256: str
    model: CatBoostClassifier | TrainedScorecard
    features: list[FeatureSpec]
    files: dict[str, bytes] = field(default_factory=dict, repr=False)
    """Extra files (not the model or manifest), verified, by name."""

    @property
    def family(self) -> str:
        """`catboost` or `scorecard` (the manifest's `model_type`)."""
        return str(self.manifest.get("model_type", CATBOOST))

    @property
    def is_scorecard(self) -> bool:
        return isinstance(self.model, TrainedScorecard)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def categorical_features(self) -> list[str]:
        return [f.name for f in self.features if f.is_categorical]

    def predict_raw(self, df: pl.DataFrame | pd.DataFrame, thread_count: int = 1) -> np.ndarray:
        """Log-odds of default, whichever the family."""
        if isinstance(self.model, TrainedScorecard):
            return self.model.predict_log_odds(df)
        return predict_raw(self.model, df, self.features, thread_count)

    def predict_pd(self, df: pl.DataFrame | pd.DataFrame, thread_count: int = 1) -> np.ndarray:
        """Probability of default, whichever the family."""
        if isinstance(self.model, TrainedScorecard):
            return self.model.predict_pd(df)
        return predict_pd(self.model, df, self.features, thread_count)


def model_bytes(model: CatBoostClassifier) -> bytes:
    """A CatBoost model in its own `.cbm` format."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / MODEL_FILE
        model.save_model(str(path), format="cbm")
        return path.read_bytes()


def _json_bytes(data: Any) -> bytes:
    return json.dumps(data, indent=2, sort_keys=True, allow_nan=False).encode()


_RESERVED = {
    "format",
    "format_version",
    "version",
    "created_at",
    "model_file",
    "model_type",
    "catboost_version",
    "features",
    "feature_specs",
    "categorical_features",
    "monotone_constraints",
    "missing_category_token",
    "best_iteration",
    "tree_count",
    "params",
    "train_rows",
    "validation_rows",
    "files",
}


def _family_body(trained: TrainedModel | TrainedScorecard) -> tuple[str, bytes, dict[str, Any]]:
    """The model file's name and bytes, and the manifest keys that describe the family."""
    if isinstance(trained, TrainedScorecard):
        if not trained.specs:
            raise ValueError("a scorecard artifact needs the catalogue specs of its features")
        return (
            SCORECARD_FILE,
            trained.to_json().encode(),
            {
                "model_type": SCORECARD,
                "features": trained.feature_names,
                "feature_specs": [asdict(f) for f in trained.specs],
                "categorical_features": [f.name for f in trained.specs if f.is_categorical],
                "monotone_constraints": {},
                "params": {
                    "family": SCORECARD,
                    "method": "optbinning WoE + L2 logistic",
                    "dropped_for_sign": trained.dropped,
                },
                "train_rows": int(trained.train_rows),
                "validation_rows": 0,
            },
        )
    return (
        MODEL_FILE,
        model_bytes(trained.model),
        {
            "model_type": CATBOOST,
            "catboost_version": catboost.__version__,
            "features": trained.feature_names,
            "feature_specs": [asdict(f) for f in trained.features],
            "categorical_features": trained.categorical_features,
            "monotone_constraints": trained.monotone_constraints,
            "missing_category_token": MISSING_CATEGORY,
            "best_iteration": trained.best_iteration,
            "tree_count": int(trained.model.tree_count_),
            "params": trained.params,
            "train_rows": trained.train_rows,
            "validation_rows": trained.validation_rows,
        },
    )


def save_model_artifact(
    root: Path | ArtifactStorage,
    trained: TrainedModel | TrainedScorecard,
    manifest_extra: Mapping[str, Any] | None = None,
    extra_files: Mapping[str, bytes] | None = None,
    *,
    now: datetime | None = None,
) -> ArtifactRef:
    """Write `models/<version>/` atomically and return its reference.

    `manifest_extra` is merged into the manifest; expected keys are
    `catalogue_version`, `training_snapshot_id`, `metrics`, `score_scale` (and
    anything else JSON-able that does not clash with the keys this function
    writes). `extra_files` are stored beside the model and checksummed too.
    Raises ArtifactExistsError if the version already exists.
    """
    storage = LocalArtifactStorage(Path(root)) if isinstance(root, str | os.PathLike) else root
    extra_manifest = dict(manifest_extra or {})
    clash = sorted(_RESERVED & extra_manifest.keys())
    if clash:
        raise ValueError(f"manifest_extra may not set reserved keys: {clash}")
    model_file, model_bytes, family = _family_body(trained)
    files: dict[str, bytes] = {model_file: model_bytes}
    for name, data in (extra_files or {}).items():
        if check_key(name) in (MODEL_FILE, SCORECARD_FILE, MANIFEST_FILE):
            raise ValueError(f"extra file name {name!r} is reserved")
        files[check_key(name)] = bytes(data)

    body: dict[str, Any] = {
        **extra_manifest,
        "format": "credit-model-artifact",
        "format_version": FORMAT_VERSION,
        "model_file": model_file,
        **family,
        "files": {name: sha256_hex(data) for name, data in sorted(files.items())},
    }
    content_hash = sha256_hex(_json_bytes(body))[:8]
    created = (now or datetime.now(UTC)).astimezone(UTC)
    version = f"{created:%Y%m%dT%H%M%SZ}-{content_hash}"
    manifest = {**body, "version": version, "created_at": created.isoformat()}
    manifest_bytes = _json_bytes(manifest)

    prefix = f"{MODELS_PREFIX}/{version}"
    storage.put_tree(prefix, {**files, MANIFEST_FILE: manifest_bytes})
    return ArtifactRef(
        version=version, uri=storage.uri(prefix), manifest_sha256=sha256_hex(manifest_bytes)
    )


def _read(storage: ArtifactStorage, key: str, name: str) -> bytes:
    try:
        return storage.get_bytes(key)
    except FileNotFoundError as exc:
        raise ArtifactIntegrityError(f"{name}: missing from the artifact") from exc


def _open_version(
    path_or_dir: str | Path, storage: ArtifactStorage | None
) -> tuple[ArtifactStorage, str]:
    """The store holding the version and the version's key prefix in it ('' for a directory)."""
    if storage is not None:
        return storage, str(path_or_dir).strip("/")
    location = Path(path_or_dir)
    if location.name == MANIFEST_FILE:
        location = location.parent
    return LocalArtifactStorage(location), ""


def _key(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def _verified_manifest(
    storage: ArtifactStorage, prefix: str, expected_sha256: str | None
) -> tuple[dict[str, Any], str]:
    """The manifest and its sha256, once it matches the registry's and names its own folder."""
    manifest_bytes = _read(storage, _key(prefix, MANIFEST_FILE), MANIFEST_FILE)
    manifest_sha = sha256_hex(manifest_bytes)
    if expected_sha256 is not None and manifest_sha != expected_sha256.lower():
        raise ArtifactIntegrityError(
            f"{MANIFEST_FILE}: sha256 {manifest_sha} differs from the expected {expected_sha256}"
        )
    try:
        manifest = json.loads(manifest_bytes)
    except ValueError as exc:
        raise ArtifactIntegrityError(f"{MANIFEST_FILE}: not valid JSON") from exc
    if manifest.get("format") != "credit-model-artifact":
        raise ArtifactIntegrityError(f"{MANIFEST_FILE}: not a model artifact manifest")
    version = manifest["version"]
    folder = PurePosixPath(prefix).name if prefix else Path(storage.uri("")).name
    if folder != version:
        raise ArtifactIntegrityError(
            f"{MANIFEST_FILE}: describes version {version}, found under {folder}"
        )
    return manifest, manifest_sha


def _verified_files(
    storage: ArtifactStorage, prefix: str, recorded_sha256: Mapping[str, str]
) -> dict[str, bytes]:
    """Every file the manifest lists, by name, each matching its recorded sha256."""
    contents: dict[str, bytes] = {}
    for name, recorded in recorded_sha256.items():
        data = _read(storage, _key(prefix, check_key(name)), name)
        actual = sha256_hex(data)
        if actual != recorded:
            raise ArtifactIntegrityError(
                f"{name}: sha256 {actual} differs from the manifest's {recorded}"
            )
        contents[name] = data
    return contents


def _model_of(
    manifest: Mapping[str, Any], model_bytes: bytes, specs: list[FeatureSpec]
) -> CatBoostClassifier | TrainedScorecard:
    """The model file read as its family says: a scorecard must list the manifest's features."""
    if manifest.get("model_type", CATBOOST) != SCORECARD:
        model = CatBoostClassifier()
        model.load_model(blob=model_bytes)
        return model
    try:
        scorecard = TrainedScorecard.from_json(model_bytes.decode())
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactIntegrityError(f"{manifest['model_file']}: not a scorecard") from exc
    if scorecard.feature_names != [s.name for s in specs]:
        raise ArtifactIntegrityError(
            f"{manifest['model_file']}: characteristics differ from the manifest's features"
        )
    scorecard.specs = specs
    return scorecard


def load_model_artifact(
    path_or_dir: str | Path,
    expected_sha256: str | None = None,
    *,
    storage: ArtifactStorage | None = None,
) -> LoadedModel:
    """Load one artifact version after verifying every checksum.

    `path_or_dir` is the version directory (or its manifest.json); with `storage`,
    it is the version's key prefix in that store (`models/<version>`). When
    `expected_sha256` is given (from the registry), the manifest itself must match
    it. Raises ArtifactIntegrityError naming the first file that is missing or
    differs.
    """
    storage, prefix = _open_version(path_or_dir, storage)
    manifest, manifest_sha = _verified_manifest(storage, prefix, expected_sha256)
    contents = _verified_files(storage, prefix, manifest["files"])
    model_bytes = contents.pop(manifest["model_file"])
    specs = [FeatureSpec(**spec) for spec in manifest["feature_specs"]]
    model = _model_of(manifest, model_bytes, specs)
    return LoadedModel(
        version=manifest["version"],
        uri=storage.uri(prefix),
        manifest=manifest,
        manifest_sha256=manifest_sha,
        model=model,
        features=specs,
        files=contents,
    )


def load_registered_artifact(
    settings: Settings, artifact_uri: str, manifest_sha256: str
) -> LoadedModel:
    """Load and verify the artifact a registry record points at (local path or s3:// URI)."""
    if artifact_uri.startswith("s3://"):
        storage = artifact_storage(settings)
        key = artifact_uri.split("/artifacts/", 1)[1]
        return load_model_artifact(key, manifest_sha256, storage=storage)
    return load_model_artifact(Path(artifact_uri), manifest_sha256)
