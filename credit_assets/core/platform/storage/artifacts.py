"""Where model artifacts live: write-once key/value storage, local or in the S3 data store.

Keys are relative POSIX paths (`models/<version>/model.cbm`); an artifact, once
written, is never overwritten. The model artifact format (manifest, checksums) is
`credit_assets.core.modeling.artifacts`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, runtime_checkable

from credit_assets.core.platform.settings import Settings


class ArtifactExistsError(FileExistsError):
    """The artifact version (or file) already exists; artifacts are never overwritten."""


def check_key(key: str) -> str:
    """`key` as a relative POSIX path; no absolute paths, `..` or backslashes."""
    path = PurePosixPath(key)
    if not key or path.is_absolute() or ".." in path.parts or "\\" in key:
        raise ValueError(f"invalid artifact key {key!r}")
    return path.as_posix()


@runtime_checkable
class ArtifactStorage(Protocol):
    """Where artifact bytes live. Keys are relative POSIX paths ("models/<version>/model.cbm")."""

    def put_bytes(self, key: str, data: bytes) -> None:
        """Write one object; raise ArtifactExistsError if the key exists."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """Read one object; raise FileNotFoundError if absent."""
        ...

    def exists(self, key: str) -> bool: ...

    def uri(self, key: str) -> str:
        """Location a person or the registry can use (a path, or s3://bucket/key)."""
        ...

    def put_tree(self, prefix: str, files: Mapping[str, bytes]) -> None:
        """Publish several objects under `prefix` all at once, or not at all.

        Raise ArtifactExistsError if anything already lives under `prefix`.
        """
        ...


@dataclass(frozen=True)
class LocalArtifactStorage:
    """Artifacts on the local filesystem under `root`."""

    root: Path

    def _path(self, key: str) -> Path:
        return Path(self.root, *PurePosixPath(check_key(key)).parts)

    def put_bytes(self, key: str, data: bytes) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        staging.write_bytes(data)
        try:
            # link() fails if the target exists: write-once without a check-then-act race.
            os.link(staging, target)
        except FileExistsError as exc:
            raise ArtifactExistsError(f"{self.uri(key)} already exists") from exc
        finally:
            staging.unlink(missing_ok=True)

    def get_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def uri(self, key: str) -> str:
        return str(self._path(key)) if key else str(self.root)

    def put_tree(self, prefix: str, files: Mapping[str, bytes]) -> None:
        target = self._path(prefix)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            for key, data in files.items():
                path = Path(staging, *PurePosixPath(check_key(key)).parts)
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
            try:
                # mkdir claims the name atomically (a second writer fails here); rename
                # then swaps the complete staged directory onto the empty placeholder.
                target.mkdir()
            except FileExistsError as exc:
                raise ArtifactExistsError(
                    f"{target} already exists; versions are immutable"
                ) from exc
            os.rename(staging, target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)


class KeyValueStore(Protocol):
    """The slice of the platform's `DataStore` (local or S3) an artifact needs."""

    def put_bytes(self, key: str, data: bytes) -> Any: ...
    def get_bytes(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def list_keys(self, prefix: str) -> list[str]: ...
    def uri(self, key: str) -> str: ...


@dataclass(frozen=True)
class DataStoreArtifactStorage:
    """Artifacts in any key-value store (e.g. the S3 data store).

    Object stores cannot rename a folder, so `put_tree` writes the files in the
    order given and the caller puts the manifest last: a version without its
    manifest is invisible to `load_model_artifact`, which reads the manifest first.
    """

    store: KeyValueStore

    def put_bytes(self, key: str, data: bytes) -> None:
        if self.store.exists(check_key(key)):
            raise ArtifactExistsError(f"{self.uri(key)} already exists")
        self.store.put_bytes(key, data)

    def get_bytes(self, key: str) -> bytes:
        if not self.store.exists(check_key(key)):
            raise FileNotFoundError(self.uri(key))
        return self.store.get_bytes(key)

    def exists(self, key: str) -> bool:
        return self.store.exists(check_key(key))

    def uri(self, key: str) -> str:
        return self.store.uri(key)

    def put_tree(self, prefix: str, files: Mapping[str, bytes]) -> None:
        prefix = check_key(prefix)
        if self.store.list_keys(prefix + "/"):
            raise ArtifactExistsError(f"{self.uri(prefix)} already exists; versions are immutable")
        for key, data in files.items():
            self.put_bytes(f"{prefix}/{check_key(key)}", data)


def artifact_storage(settings: Settings) -> ArtifactStorage:
    """`CREDIT_HOME/artifacts` locally; `<prefix>/artifacts/` in the bucket with S3."""
    if settings.storage == "s3":
        from credit_assets.core.platform.storage.s3 import S3DataStore

        store = S3DataStore.from_settings(settings)
        store.prefix = f"{store.prefix}/artifacts".strip("/")
        return DataStoreArtifactStorage(store)
    return LocalArtifactStorage(settings.artifacts_dir)
