"""The landing zone and the validated raw store: discovering, storing, archiving, reading.

A landing file becomes one partition of its source, keyed by the file name, so
re-ingesting a file replaces its partition and adds nothing. A file is archived
only after its accepted and quarantined rows are written; a file that cannot be
read is set aside in `rejected/<source>/` with a note naming the reason.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from credit_assets.core.contracts import Contract
from credit_assets.core.db import ingested_files
from credit_assets.core.ingest import LANDING_EXTENSIONS, IngestResult, empty_source_frame
from credit_assets.core.settings import Settings
from credit_assets.core.storage import DataStore

_PARTITION_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def partition_key_for(path: Path) -> str:
    """The partition key of a landing file: its name, restricted to safe characters."""
    return _PARTITION_SAFE.sub("_", path.name)


def raw_key(source: str, partition_key: str) -> str:
    return f"raw/{source}/{partition_key}.parquet"


def quarantine_key(source: str, partition_key: str) -> str:
    return f"quarantine/{source}/{partition_key}.parquet"


def landing_files(settings: Settings, contract: Contract) -> list[Path]:
    """Files waiting in `landing/<source>/`, oldest name first; hidden and partial files skipped."""
    folder = settings.landing_dir / contract.name
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file()
        and not p.name.startswith(".")
        and not p.name.endswith((".tmp", ".part", ".partial"))
        and p.suffix.lower() in LANDING_EXTENSIONS
    )


def locate_file(settings: Settings, contract: Contract, partition_key: str) -> Path:
    """The file behind a partition: still in landing, or already archived."""
    for folder in (settings.landing_dir, settings.archive_dir):
        for candidate in sorted((folder / contract.name).glob("*")):
            if candidate.is_file() and partition_key_for(candidate) == partition_key:
                return candidate
    raise FileNotFoundError(
        f"no landing or archived file for partition {partition_key!r} of source {contract.name}"
    )


def store_result(store: DataStore, result: IngestResult, partition_key: str) -> tuple[str, str]:
    """Write accepted and quarantined rows of a file, replacing the partition's previous version."""
    raw_uri = store.write_frame(raw_key(result.source, partition_key), result.accepted)
    quarantine_uri = store.write_frame(quarantine_key(result.source, partition_key), result.rejected)
    return raw_uri, quarantine_uri


def record_ingestion(engine: Engine, result: IngestResult, run_id: str | None) -> None:
    """Upsert the ledger row of a file (same source and name replaces)."""
    row = {
        "source": result.source,
        "file_name": result.file_name,
        "sha256": result.file_sha256,
        "rows_read": result.rows_read,
        "rows_accepted": result.accepted.height,
        "rows_rejected": result.rejected.height,
        "ingested_at": datetime.now(UTC).replace(tzinfo=None),
        "run_id": run_id,
    }
    with engine.begin() as conn:
        conn.execute(
            sa.delete(ingested_files).where(
                ingested_files.c.source == result.source,
                ingested_files.c.file_name == result.file_name,
            )
        )
        conn.execute(sa.insert(ingested_files).values(**row))


def ingested_under_other_name(engine: Engine, source: str, file_name: str, sha256: str) -> str | None:
    """Name of an already ingested file of this source with identical content, if any."""
    with engine.connect() as conn:
        return conn.execute(
            sa.select(ingested_files.c.file_name).where(
                ingested_files.c.source == source,
                ingested_files.c.sha256 == sha256,
                ingested_files.c.file_name != file_name,
            )
        ).scalar()


def archive(settings: Settings, path: Path, source: str) -> Path:
    """Move an ingested landing file to `archive/<source>/` (no-op if already archived)."""
    target_dir = settings.archive_dir / source
    if path.parent == target_dir:
        return path
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / path.name
    shutil.move(str(path), target)
    return target


@dataclass(frozen=True)
class SetAside:
    path: Path
    note: Path
    reason: str


def set_aside(settings: Settings, path: Path, source: str, reason: str) -> SetAside:
    """Move a file that cannot be ingested to `rejected/<source>/` with a JSON note beside it."""
    target_dir = settings.rejected_dir / source
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / path.name
    shutil.move(str(path), target)
    note = target.with_name(target.name + ".reason.json")
    note.write_text(
        json.dumps(
            {
                "source": source,
                "file": path.name,
                "reason": reason,
                "set_aside_at": datetime.now(UTC).isoformat(),
            },
            indent=2,
        )
    )
    return SetAside(target, note, reason)


def scan_source(store: DataStore, contract: Contract) -> pl.LazyFrame:
    """All validated rows of a source, one row per record key (the latest ingestion wins)."""
    frame = store.scan(f"raw/{contract.name}/")
    if frame is None:
        return empty_source_frame(contract).lazy()
    return (
        frame.sort("_ingested_at", "_source_file", "_row_number")
        .unique(subset=contract.record_key, keep="last", maintain_order=True)
    )


def scan_quarantine(store: DataStore) -> pl.LazyFrame | None:
    return store.scan("quarantine/")


@dataclass(frozen=True)
class PendingFile:
    """A landing file worth an ingestion run."""

    source: str
    path: Path
    partition_key: str
    sha256: str

    @property
    def run_key(self) -> str:
        # The content hash makes a corrected file under the same name a new run.
        return f"{self.source}/{self.partition_key}/{self.sha256[:16]}"


@dataclass(frozen=True)
class LandingScan:
    pending: list[PendingFile]
    set_aside: list[SetAside]
    cursor: dict[str, list[object]]


def scan_landing_zone(
    settings: Settings,
    contracts: dict[str, Contract],
    engine: Engine,
    cursor: dict[str, list[object]],
) -> LandingScan:
    """New landing files since the cursor; unreadable or duplicate files are set aside.

    The cursor maps `<source>/<file>` to `[size, mtime_ns, sha256]`, so a file is
    hashed once and an unchanged file is never requested twice.
    """
    from credit_assets.core.ingest import UnreadableFileError, file_sha256, inspect_landing_file

    pending: list[PendingFile] = []
    aside: list[SetAside] = []
    seen: dict[str, list[object]] = {}
    for contract in contracts.values():
        for path in landing_files(settings, contract):
            stat = path.stat()
            entry_key = f"{contract.name}/{path.name}"
            previous = cursor.get(entry_key)
            if previous and previous[:2] == [stat.st_size, stat.st_mtime_ns]:
                seen[entry_key] = previous
                continue
            try:
                inspect_landing_file(path, contract)
            except UnreadableFileError as exc:
                aside.append(set_aside(settings, path, contract.name, exc.reason))
                continue
            sha = file_sha256(path)
            twin = ingested_under_other_name(engine, contract.name, path.name, sha)
            if twin is not None:
                aside.append(
                    set_aside(
                        settings, path, contract.name, f"duplicate of {twin}, already ingested"
                    )
                )
                continue
            seen[entry_key] = [stat.st_size, stat.st_mtime_ns, sha]
            pending.append(PendingFile(contract.name, path, partition_key_for(path), sha))
    return LandingScan(pending, aside, seen)
