"""Ingesting a landing file of any size in bounded memory.

The file is scanned (Polars' streaming engine: a CSV, also one transcoded or
decompressed to a temporary file chunk by chunk, or a Parquet file), every row is
typed and judged by the same expressions as `files.validate_records`, and the
accepted and quarantined rows are sunk to two local Parquet files in one pass,
together with a 64-bit hash of each valid row's key. Duplicate keys are then found
from the hashes (a small streaming group-by per hash bucket), confirmed on the
actual key values (a hash collision never quarantines a row), and only when a
file has any are its two Parquet files rewritten, the duplicates moved to the
quarantine. Peak memory is set by the streaming engine's morsels and the hash
buckets, not by the file's size (see bench/bench_ingest.py).
"""

from __future__ import annotations

import tempfile
import threading
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from credit_assets.core.contracts import OWN_FURNISHER, Contract
from credit_assets.core.ingestion.files import (
    QUARANTINE_SCHEMA,
    UnreadableFileError,
    accepted_rows,
    checked_rows,
    duplicate_reason,
    file_sha256,
    lineage_columns,
    raw_columns_of,
    rejected_rows,
    scan_delivered,
)
from credit_assets.core.ingestion.readers import DEFAULT_LIMITS, IngestLimits

KEY_HASH = "_key_hash"
ROWS_PER_BUCKET = 4_000_000  # key hashes grouped at once when looking for duplicates


@dataclass(frozen=True)
class IngestedFiles:
    """One landing file ingested into two local Parquet files (valid while their folder is)."""

    source: str
    file_name: str
    file_sha256: str
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    accepted_path: Path
    rejected_path: Path
    header_notes: list[str] = field(default_factory=list)

    @property
    def reject_share(self) -> float:
        return self.rows_rejected / self.rows_read if self.rows_read else 0.0

    def accepted(self) -> pl.LazyFrame:
        return pl.scan_parquet(self.accepted_path)

    def rejected(self) -> pl.LazyFrame:
        return pl.scan_parquet(self.rejected_path)


def ingest_to_files(
    path: Path,
    contract: Contract,
    workdir: Path,
    *,
    ingested_at: datetime | None = None,
    furnisher: str = OWN_FURNISHER,
    limits: IngestLimits = DEFAULT_LIMITS,
) -> IngestedFiles:
    """Read and validate one landing file into `workdir`/accepted.parquet and
    rejected.parquet; nothing else is written. Accepted rows carry `_furnisher`, the
    namespace of their keys. Raises UnreadableFileError for a file that cannot be read at
    all."""
    ingested_at = ingested_at or datetime.now(UTC).replace(tzinfo=None)
    sha = file_sha256(path)
    workdir.mkdir(parents=True, exist_ok=True)
    accepted_path = workdir / "accepted.parquet"
    rejected_path = workdir / "rejected.parquet"
    keys_path = workdir / "keys.parquet"
    lineage = lineage_columns(path.name, sha, ingested_at, furnisher)
    try:
        header_notes = _sink_checked_rows(
            path,
            contract,
            limits,
            lineage=lineage,
            sha=sha,
            ingested_at=ingested_at,
            accepted_path=accepted_path,
            rejected_path=rejected_path,
        )
    except pl.exceptions.PolarsError as exc:
        raise _unparseable(path, exc) from exc
    if contract.keys:
        _sink_key_hashes(contract, accepted_path, keys_path)
        _quarantine_duplicates(contract, accepted_path, rejected_path, keys_path, ingested_at)
        keys_path.unlink(missing_ok=True)
    accepted_n = _count(accepted_path)
    rejected_n = _count(rejected_path)
    return IngestedFiles(
        source=contract.name,
        file_name=path.name,
        file_sha256=sha,
        rows_read=accepted_n + rejected_n,
        rows_accepted=accepted_n,
        rows_rejected=rejected_n,
        accepted_path=accepted_path,
        rejected_path=rejected_path,
        header_notes=header_notes,
    )


def _sink_checked_rows(
    path: Path,
    contract: Contract,
    limits: IngestLimits,
    *,
    lineage: list[pl.Expr],
    sha: str,
    ingested_at: datetime,
    accepted_path: Path,
    rejected_path: Path,
) -> list[str]:
    """Type and judge every row of the file, sinking the accepted rows and the quarantined
    ones to their Parquet files; the file's header notes."""
    tally = _Tally()
    with ExitStack() as stack:
        scanned = scan_delivered(path, contract, stack, limits)
        checked = checked_rows(scanned.frame, contract, scanned.columns, scanned.numbers)
        # One pass for a clean file: the accepted rows are sunk while the bad ones are only
        # counted. The quarantine needs a second pass, and only when a row was bad.
        counted = checked.with_columns(
            pl.col("_bad").map_batches(tally, return_dtype=pl.Boolean, is_elementwise=True)
        )
        accepted_rows(counted, contract, lineage).sink_parquet(accepted_path, engine="streaming")
        quarantined = rejected_rows(
            checked,
            contract,
            raw_columns_of(scanned.columns),
            source_file=path.name,
            sha256=sha,
            ingested_at=ingested_at,
        ).cast(QUARANTINE_SCHEMA)  # type: ignore[arg-type]
        if tally.bad:
            quarantined.sink_parquet(rejected_path, engine="streaming")
        else:
            quarantined.clear().collect().write_parquet(rejected_path)
    return scanned.header_notes


def _unparseable(path: Path, exc: pl.exceptions.PolarsError) -> UnreadableFileError:
    """A file Polars cannot parse past some row (an unbalanced quote, a damaged Parquet
    page): refused whole, with the parser's own first line as the reason."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return UnreadableFileError(path, f"not a parseable file ({first})")


def _sink_key_hashes(contract: Contract, accepted: Path, keys: Path) -> None:
    """A 64-bit hash of every accepted row's key, with its row number, written to `keys`."""
    pl.scan_parquet(accepted).select(
        pl.struct(contract.keys).hash().alias(KEY_HASH), "_row_number"
    ).sink_parquet(keys, engine="streaming")


class _Tally:
    """Rows and bad rows seen by a streaming pass (called per batch, from several threads)."""

    def __init__(self) -> None:
        self.rows = 0
        self.bad = 0
        self._lock = threading.Lock()

    def __call__(self, bad: pl.Series) -> pl.Series:
        with self._lock:
            self.rows += bad.len()
            self.bad += int(bad.sum())
        return bad


@dataclass(frozen=True)
class IngestResult:
    """The outcome of ingesting one landing file."""

    source: str
    file_name: str
    file_sha256: str
    rows_read: int
    accepted: pl.DataFrame
    rejected: pl.DataFrame

    @property
    def rows_accepted(self) -> int:
        return self.accepted.height

    @property
    def rows_rejected(self) -> int:
        return self.rejected.height

    @property
    def reject_share(self) -> float:
        return self.rejected.height / self.rows_read if self.rows_read else 0.0


def ingest_file(path: Path, contract: Contract) -> IngestResult:
    """Read and validate one landing file, its rows in memory; nothing is written here.

    The same streaming path as the `raw_<source>` asset (`stream.ingest_to_files`), whose
    two Parquet files are read back: for a file that fits in memory (tests, onboarding).
    """
    with tempfile.TemporaryDirectory(prefix="credit-ingest-") as tmp:
        files = ingest_to_files(path, contract, Path(tmp))
        return IngestResult(
            source=contract.name,
            file_name=path.name,
            file_sha256=files.file_sha256,
            rows_read=files.rows_read,
            accepted=files.accepted().collect(),
            rejected=files.rejected().collect(),
        )


def _count(path: Path) -> int:
    return int(pl.scan_parquet(path).select(pl.len()).collect().item())


def duplicate_rows(contract: Contract, accepted: Path, keys: Path) -> pl.DataFrame:
    """Accepted rows whose key an earlier row of the file already has (the first wins).

    Hashes are grouped a bucket at a time (hash modulo the number of buckets), so the
    group-by holds at most ROWS_PER_BUCKET hashes; rows whose hash repeats are then
    compared on their actual key values.
    """
    total = _count(keys)
    buckets = max(1, -(-total // ROWS_PER_BUCKET))
    repeated: list[pl.DataFrame] = []
    for bucket in range(buckets):
        hashes = (
            pl.scan_parquet(keys)
            .filter((pl.col(KEY_HASH) % buckets) == bucket)
            .group_by(KEY_HASH)
            .agg(pl.len().alias("n"))
            .filter(pl.col("n") > 1)
            .select(KEY_HASH)
            .collect(engine="streaming")
        )
        if hashes.height:
            repeated.append(hashes)
    if not repeated:
        return pl.DataFrame(schema={"_row_number": pl.Int64})
    suspects = (
        pl.scan_parquet(keys)
        .join(pl.concat(repeated).lazy(), on=KEY_HASH, how="semi")
        .select("_row_number")
    )
    candidates = pl.scan_parquet(accepted).join(suspects, on="_row_number", how="semi").collect()
    return candidates.filter(pl.int_range(pl.len()).over(contract.keys, order_by="_row_number") > 0)


def _quarantine_duplicates(
    contract: Contract, accepted: Path, rejected: Path, keys: Path, ingested_at: datetime
) -> None:
    duplicates = duplicate_rows(contract, accepted, keys)
    if duplicates.height == 0:
        return
    delivered = [c.name for c in contract.columns.values()]
    quarantined = duplicates.select(
        pl.lit(contract.name).alias("source"),
        pl.col("_source_file").alias("source_file"),
        pl.col("_file_sha256").alias("file_sha256"),
        pl.col("_row_number").alias("row_number"),
        pl.lit(duplicate_reason(contract)).alias("reason"),
        pl.struct(pl.col(delivered).cast(pl.String)).struct.json_encode().alias("record"),
        pl.lit(ingested_at).cast(pl.Datetime("us")).alias("quarantined_at"),
    ).cast(QUARANTINE_SCHEMA)  # type: ignore[arg-type]
    rows = duplicates.select("_row_number").lazy()
    kept = accepted.with_suffix(".kept.parquet")
    pl.scan_parquet(accepted).join(rows, on="_row_number", how="anti").sink_parquet(kept)
    kept.replace(accepted)
    merged = rejected.with_suffix(".merged.parquet")
    pl.concat([pl.scan_parquet(rejected), quarantined.lazy()]).sort("row_number").sink_parquet(
        merged
    )
    merged.replace(rejected)
