"""Landing files into the validated raw store: discovering, storing, recording, reading.

A landing file becomes one partition of its source, keyed by the file name, so
re-ingesting a file replaces its partition and adds nothing. A file is archived
only after its accepted and quarantined rows are written; a file that cannot be
read is set aside in `rejected/<source>/` with a note naming the reason. Where the
files live (a local folder or an S3 prefix) is the `LandingZone`'s business.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from credit_assets.core.contracts import OWN_FURNISHER, Contract
from credit_assets.core.ingestion.files import (
    UnreadableFileError,
    empty_source_frame,
    file_sha256,
    inspect_landing_file,
)
from credit_assets.core.ingestion.readers import DEFAULT_LIMITS, IngestLimits
from credit_assets.core.ingestion.stream import IngestedFiles, IngestResult
from credit_assets.core.ingestion.uploads import furnisher_of, mark_upload, set_upload_status
from credit_assets.core.ingestion.zones import LandingFile, LandingZone, SetAside
from credit_assets.core.platform.db import ingested_files
from credit_assets.core.platform.settings import Settings
from credit_assets.core.platform.storage.keys import (
    QUARANTINE_PREFIX,
    quarantine_key,
    raw_key,
    raw_prefix,
)
from credit_assets.core.platform.storage.local import DataStore


def ingest_limits(settings: Settings) -> IngestLimits:
    """The bounds a landing file must stay within (CREDIT_INGEST_MAX_*)."""
    return IngestLimits(
        max_bytes=settings.ingest_max_uncompressed_bytes,
        max_expansion=settings.ingest_max_expansion,
        max_rows=settings.ingest_max_rows,
        max_rows_per_byte=settings.ingest_max_rows_per_byte,
    )


def store_result(store: DataStore, result: IngestedFiles, partition_key: str) -> tuple[str, str]:
    """Store the accepted and quarantined rows of a file (its two local Parquet files, as
    they are), replacing the partition's previous version."""
    raw_uri = store.put_file(raw_key(result.source, partition_key), result.accepted_path)
    quarantine_uri = store.put_file(
        quarantine_key(result.source, partition_key), result.rejected_path
    )
    return raw_uri, quarantine_uri


def record_ingestion(
    engine: Engine, result: IngestResult | IngestedFiles, run_id: str | None
) -> None:
    """Upsert the ledger row of a file (same source and name replaces) and, in the same
    transaction, mark the upload behind it (if any) ingested with its counts."""
    row = {
        "source": result.source,
        "file_name": result.file_name,
        "sha256": result.file_sha256,
        "rows_read": result.rows_read,
        "rows_accepted": result.rows_accepted,
        "rows_rejected": result.rows_rejected,
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
        set_upload_status(
            conn,
            result.source,
            result.file_name,
            "ingested",
            sha256=result.file_sha256,
            run_id=run_id,
            rows_accepted=result.rows_accepted,
            rows_rejected=result.rows_rejected,
            reason=None,
        )


def ingested_under_other_name(
    engine: Engine, source: str, file_name: str, sha256: str
) -> str | None:
    """Name of an already ingested file of this source with identical content, if any."""
    with engine.connect() as conn:
        return conn.execute(
            sa.select(ingested_files.c.file_name).where(
                ingested_files.c.source == source,
                ingested_files.c.sha256 == sha256,
                ingested_files.c.file_name != file_name,
            )
        ).scalar()


def scan_source(store: DataStore, contract: Contract) -> pl.LazyFrame:
    """All validated rows of a source, one row per record key (the latest ingestion wins)."""
    empty = empty_source_frame(contract)
    frame = store.scan(raw_prefix(contract.name), schema=dict(empty.schema))
    if frame is None:
        return empty.lazy()
    # Rows ingested before furnishers were recorded are the lender's own.
    frame = frame.with_columns(pl.col("_furnisher").fill_null(OWN_FURNISHER))
    return frame.sort("_ingested_at", "_source_file", "_row_number").unique(
        subset=contract.record_key, keep="last", maintain_order=True
    )


def scan_quarantine(store: DataStore) -> pl.LazyFrame | None:
    return store.scan(QUARANTINE_PREFIX)


def duplicate_reason(engine: Engine, source: str, file_name: str, twin: str) -> str:
    """Why a copy of an ingested file is set aside, naming the twin only to its own furnisher
    (another's file name carries its upload id and time)."""
    if furnisher_of(engine, source, file_name) == furnisher_of(engine, source, twin):
        return f"duplicate of {twin}, already ingested"
    return "identical to a file another furnisher already delivered; not ingested twice"


@dataclass(frozen=True)
class PendingFile:
    """A landing file worth an ingestion run."""

    source: str
    file_name: str
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
    zone: LandingZone,
    contracts: dict[str, Contract],
    engine: Engine,
    cursor: dict[str, list[object]],
    limits: IngestLimits = DEFAULT_LIMITS,
) -> LandingScan:
    """New landing files since the cursor; unreadable or duplicate files are set aside.

    The cursor maps `<source>/<file>` to `[size, version, sha256]` (the version is the
    modification time of a local file, the ETag and Last-Modified of an S3 object), so a
    file is read and hashed once and an unchanged file is never requested twice.
    """
    pending: list[PendingFile] = []
    aside: list[SetAside] = []
    seen: dict[str, list[object]] = {}
    for contract in contracts.values():
        for file in zone.files(contract):
            entry_key = f"{contract.name}/{file.name}"
            previous = cursor.get(entry_key)
            if previous and previous[:2] == [file.size, file.version]:
                seen[entry_key] = previous
                continue
            reason, sha = _screen(zone, file, contract, limits)
            if reason is None:
                twin = ingested_under_other_name(engine, contract.name, file.name, sha)
                if twin is not None:
                    reason = duplicate_reason(engine, contract.name, file.name, twin)
            if reason is not None:
                aside.append(zone.set_aside(file, reason))
                mark_upload(engine, contract.name, file.name, "rejected", reason=reason)
                continue
            seen[entry_key] = [file.size, file.version, sha]
            pending.append(PendingFile(contract.name, file.name, file.partition_key, sha))
    return LandingScan(pending, aside, seen)


def _screen(
    zone: LandingZone, file: LandingFile, contract: Contract, limits: IngestLimits
) -> tuple[str | None, str]:
    """(why the file cannot be ingested or None, its sha256) from the cheap pre-flight."""
    with zone.local_copy(file) as path:
        try:
            inspect_landing_file(path, contract, limits)
        except UnreadableFileError as exc:
            return exc.reason, ""
        return None, file_sha256(path)
