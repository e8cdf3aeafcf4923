"""Model artifacts are immutable, checksummed, and load back to identical predictions."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from credit_assets.core.features.specs import FeatureSpec
from credit_assets.core.modeling.artifacts import (
    ArtifactIntegrityError,
    load_model_artifact,
    save_model_artifact,
)
from credit_assets.core.modeling.scaling import ScoreScale
from credit_assets.core.modeling.train import TrainConfig, TrainedModel, train_challenger
from credit_assets.core.platform.storage.artifacts import (
    ArtifactExistsError,
    DataStoreArtifactStorage,
    LocalArtifactStorage,
)

FEATURES = [
    FeatureSpec("rent_on_time_ratio_12m", "", "rent", "float", "decreasing"),
    FeatureSpec("employment", "", "applications", "category"),
    FeatureSpec("open_accounts", "", "bank", "int"),
]
NOW = datetime(2026, 11, 27, 13, 15, 0, tzinfo=UTC)
EXTRA = {
    "catalogue_version": "abc123def456",
    "training_snapshot_id": "training_set@2026-11-27",
    "metrics": {"test": {"auc": 0.71}},
    "score_scale": ScoreScale().to_dict(),
}


@pytest.fixture(scope="module")
def data() -> pl.DataFrame:
    rng = np.random.default_rng(4)
    n = 2000
    ratio = rng.uniform(0, 1, n)
    employment = rng.choice(["salaried", "self", "none"], n)
    logit = -1.0 - 2.0 * ratio + np.where(employment == "none", 1.0, 0.0)
    return pl.DataFrame(
        {
            "rent_on_time_ratio_12m": np.where(rng.uniform(size=n) < 0.2, np.nan, ratio),
            "employment": employment,
            "open_accounts": rng.integers(0, 6, n),
            "default_flag": (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.int8),
            "split": rng.choice(["train", "validation"], n, p=[0.8, 0.2]),
            "no_employment_record": rng.uniform(size=n) < 0.1,
        }
    ).with_columns(
        pl.col("rent_on_time_ratio_12m").fill_nan(None),
        pl.when(pl.col("no_employment_record"))
        .then(None)
        .otherwise(pl.col("employment"))
        .alias("employment"),
    )


@pytest.fixture(scope="module")
def trained(data: pl.DataFrame) -> TrainedModel:
    config = TrainConfig(
        iterations=60, learning_rate=0.1, depth=3, early_stopping_rounds=20, threads=1, seed=1
    )
    return train_challenger(data, FEATURES, config)


def test_saved_artifact_loads_and_predicts_identically(
    tmp_path: Path, trained: TrainedModel, data: pl.DataFrame
) -> None:
    ref = save_model_artifact(tmp_path, trained, EXTRA, {"shap/leaf_tables.json": b"{}"}, now=NOW)
    loaded = load_model_artifact(ref.uri, expected_sha256=ref.manifest_sha256)
    np.testing.assert_array_equal(loaded.predict_pd(data), trained.predict_pd(data))
    assert loaded.version == ref.version
    assert loaded.feature_names == trained.feature_names
    assert loaded.files == {"shap/leaf_tables.json": b"{}"}


def test_version_is_utc_timestamp_and_content_hash_under_models(
    tmp_path: Path, trained: TrainedModel
) -> None:
    ref = save_model_artifact(tmp_path, trained, EXTRA, {}, now=NOW)
    assert re.fullmatch(r"20261127T131500Z-[0-9a-f]{8}", ref.version)
    assert Path(ref.uri) == tmp_path / "models" / ref.version
    assert sorted(p.name for p in Path(ref.uri).iterdir()) == ["manifest.json", "model.cbm"]
    staged_leftovers = [p.name for p in (tmp_path / "models").iterdir() if p.name != ref.version]
    assert staged_leftovers == []


def test_manifest_records_features_lineage_and_every_checksum(
    tmp_path: Path, trained: TrainedModel
) -> None:
    ref = save_model_artifact(tmp_path, trained, EXTRA, {"leaf.bin": b"\x00\x01"}, now=NOW)
    manifest = json.loads((Path(ref.uri) / "manifest.json").read_text())
    assert manifest["features"] == ["rent_on_time_ratio_12m", "employment", "open_accounts"]
    assert manifest["categorical_features"] == ["employment"]
    assert manifest["monotone_constraints"] == {"rent_on_time_ratio_12m": -1}
    assert manifest["catalogue_version"] == "abc123def456"
    assert manifest["training_snapshot_id"] == "training_set@2026-11-27"
    assert manifest["score_scale"]["pdo"] == 20
    assert set(manifest["files"]) == {"model.cbm", "leaf.bin"}


def test_saving_the_same_version_twice_is_refused(tmp_path: Path, trained: TrainedModel) -> None:
    first = save_model_artifact(tmp_path, trained, EXTRA, {}, now=NOW)
    with pytest.raises(ArtifactExistsError):
        save_model_artifact(tmp_path, trained, EXTRA, {}, now=NOW)
    assert load_model_artifact(first.uri, first.manifest_sha256).version == first.version


def test_tampered_model_file_is_named_in_the_error(tmp_path: Path, trained: TrainedModel) -> None:
    ref = save_model_artifact(tmp_path, trained, EXTRA, {}, now=NOW)
    model_file = Path(ref.uri) / "model.cbm"
    model_file.write_bytes(model_file.read_bytes() + b"\x00")
    with pytest.raises(ArtifactIntegrityError, match="model.cbm"):
        load_model_artifact(ref.uri)


def test_tampered_extra_file_is_named_in_the_error(tmp_path: Path, trained: TrainedModel) -> None:
    ref = save_model_artifact(tmp_path, trained, EXTRA, {"leaf_tables.json": b"[1, 2]"}, now=NOW)
    (Path(ref.uri) / "leaf_tables.json").write_bytes(b"[1, 3]")
    with pytest.raises(ArtifactIntegrityError, match="leaf_tables.json"):
        load_model_artifact(ref.uri)


def test_manifest_that_differs_from_the_registry_sha_is_rejected(
    tmp_path: Path, trained: TrainedModel
) -> None:
    ref = save_model_artifact(tmp_path, trained, EXTRA, {}, now=NOW)
    manifest = Path(ref.uri) / "manifest.json"
    manifest.write_text(manifest.read_text().replace("abc123def456", "000000000000"))
    with pytest.raises(ArtifactIntegrityError, match="manifest.json"):
        load_model_artifact(ref.uri, expected_sha256=ref.manifest_sha256)


def test_missing_file_is_named_in_the_error(tmp_path: Path, trained: TrainedModel) -> None:
    ref = save_model_artifact(tmp_path, trained, EXTRA, {}, now=NOW)
    (Path(ref.uri) / "model.cbm").unlink()
    with pytest.raises(ArtifactIntegrityError, match="model.cbm"):
        load_model_artifact(ref.uri)


def test_artifact_loads_through_the_storage_protocol_by_key(
    tmp_path: Path, trained: TrainedModel
) -> None:
    storage = LocalArtifactStorage(tmp_path)
    ref = save_model_artifact(storage, trained, EXTRA, {}, now=NOW)
    loaded = load_model_artifact(f"models/{ref.version}", ref.manifest_sha256, storage=storage)
    assert loaded.manifest["training_snapshot_id"] == "training_set@2026-11-27"


def test_storage_never_overwrites_a_key(tmp_path: Path) -> None:
    storage = LocalArtifactStorage(tmp_path)
    storage.put_bytes("registry/a.json", b"1")
    with pytest.raises(ArtifactExistsError):
        storage.put_bytes("registry/a.json", b"2")
    assert storage.get_bytes("registry/a.json") == b"1"


def test_manifest_extra_cannot_override_recorded_fields(
    tmp_path: Path, trained: TrainedModel
) -> None:
    with pytest.raises(ValueError, match="files"):
        save_model_artifact(tmp_path, trained, {"files": {}}, {}, now=NOW)


class InMemoryStore:
    """Stands in for an object store (S3): flat keys, no folders, no rename."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_bytes(self, key: str, data: bytes) -> str:
        self.objects[key] = data
        return self.uri(key)

    def get_bytes(self, key: str) -> bytes:
        return self.objects[key]

    def exists(self, key: str) -> bool:
        return key in self.objects

    def list_keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))

    def uri(self, key: str) -> str:
        return f"memory://bucket/{key}"


def test_an_object_store_gets_the_manifest_last_and_loads_back(
    trained: TrainedModel, data: pl.DataFrame
) -> None:
    store = InMemoryStore()
    storage = DataStoreArtifactStorage(store)
    ref = save_model_artifact(storage, trained, EXTRA, {"leaf.bin": b"x"}, now=NOW)
    assert list(store.objects)[-1] == f"models/{ref.version}/manifest.json"
    assert ref.uri == f"memory://bucket/models/{ref.version}"
    loaded = load_model_artifact(f"models/{ref.version}", ref.manifest_sha256, storage=storage)
    np.testing.assert_array_equal(loaded.predict_pd(data), trained.predict_pd(data))
    with pytest.raises(ArtifactExistsError):
        save_model_artifact(storage, trained, EXTRA, {"leaf.bin": b"x"}, now=NOW)
