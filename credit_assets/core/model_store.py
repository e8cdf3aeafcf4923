"""Where model artifacts live, and loading the one a registry record names."""

from __future__ import annotations

from pathlib import Path

from credit_assets.core.modeling.artifacts import (
    ArtifactStorage,
    DataStoreArtifactStorage,
    LoadedModel,
    LocalArtifactStorage,
    load_model_artifact,
)
from credit_assets.core.settings import Settings


def artifact_storage(settings: Settings) -> ArtifactStorage:
    """`CREDIT_HOME/artifacts` locally; `<prefix>/artifacts/` in the bucket with S3."""
    if settings.storage == "s3":
        from credit_assets.core.s3 import S3DataStore

        store = S3DataStore.from_settings(settings)
        store.prefix = f"{store.prefix}/artifacts".strip("/")
        return DataStoreArtifactStorage(store)
    return LocalArtifactStorage(settings.artifacts_dir)


def load_registered_artifact(settings: Settings, artifact_uri: str, manifest_sha256: str) -> LoadedModel:
    """Load and verify the artifact a registry record points at (local path or s3:// URI)."""
    if artifact_uri.startswith("s3://"):
        storage = artifact_storage(settings)
        key = artifact_uri.split("/artifacts/", 1)[1]
        return load_model_artifact(key, manifest_sha256, storage=storage)
    return load_model_artifact(Path(artifact_uri), manifest_sha256)
