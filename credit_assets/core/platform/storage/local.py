"""Where frames and artifacts live: a local folder (embedded) or an S3 prefix (production).

Keys are relative POSIX paths such as `raw/applications/part-00000.csv.parquet`.
Writes are atomic: a reader sees the old object or the new one, never half a file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from credit_assets.core.platform.settings import Settings
from credit_assets.core.platform.storage.scans import schema_options


class DataStore(Protocol):
    """The operations the platform needs from a storage backend."""

    def write_frame(self, key: str, frame: pl.DataFrame) -> str: ...
    def read_frame(self, key: str) -> pl.DataFrame: ...
    def scan(
        self, prefix: str, schema: dict[str, pl.DataType] | None = None
    ) -> pl.LazyFrame | None: ...
    def list_keys(self, prefix: str) -> list[str]: ...
    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...
    def put_bytes(self, key: str, data: bytes) -> str: ...
    def put_file(self, key: str, path: Path) -> str: ...
    def get_bytes(self, key: str) -> bytes: ...
    def uri(self, key: str) -> str: ...


class LocalDataStore:
    """Files under a root folder (CREDIT_HOME/data by default)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents and path != self.root.resolve():
            raise ValueError(f"storage key {key!r} escapes the storage root")
        return path

    def uri(self, key: str) -> str:
        return str(self.path(key))

    def _atomic_write(self, key: str, write: Any) -> str:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
        try:
            write(tmp)
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return str(target)

    def write_frame(self, key: str, frame: pl.DataFrame) -> str:
        return self._atomic_write(key, lambda tmp: frame.write_parquet(tmp, statistics=True))

    def read_frame(self, key: str) -> pl.DataFrame:
        return pl.read_parquet(self.path(key))

    def list_keys(self, prefix: str) -> list[str]:
        base = self.path(prefix)
        if not base.exists():
            return []
        if base.is_file():
            return [prefix]
        return sorted(
            str(p.relative_to(self.root.resolve())).replace(os.sep, "/")
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )

    def scan(
        self, prefix: str, schema: dict[str, pl.DataType] | None = None
    ) -> pl.LazyFrame | None:
        """Every Parquet object under `prefix`; with `schema`, each read into it (a column
        an older object lacks is null, one it has beyond the schema is left out)."""
        keys = [k for k in self.list_keys(prefix) if k.endswith(".parquet")]
        if not keys:
            return None
        return pl.scan_parquet([self.path(k) for k in keys], **schema_options(schema))

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def put_bytes(self, key: str, data: bytes) -> str:
        return self._atomic_write(key, lambda tmp: Path(tmp).write_bytes(data))

    def put_file(self, key: str, path: Path) -> str:
        """A local file (a frame sunk to Parquet, say) stored under `key`, streamed."""
        return self._atomic_write(key, lambda tmp: shutil.copyfile(path, tmp))

    def get_bytes(self, key: str) -> bytes:
        return self.path(key).read_bytes()


def data_store(settings: Settings) -> DataStore:
    """The configured data store (S3 support arrives with the production mode)."""
    if settings.storage == "s3":
        from credit_assets.core.platform.storage.s3 import S3DataStore

        return S3DataStore.from_settings(settings)
    return LocalDataStore(settings.data_dir)
