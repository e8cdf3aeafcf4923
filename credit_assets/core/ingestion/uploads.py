"""Files and record batches pushed over HTTP, from receipt in the landing zone to ingestion.

An upload is checked before anything is written where the sensor looks: its format must be
one the source's contract accepts and the file must pass the same pre-flight the landing
sensor applies (encoding, parseable, required columns). It is then moved into
`<landing>/<source>/` in one step (`LandingZone.receive`), under a name of its own
(`<received>_<upload id>_<the name given, made safe>.<format>`), so nothing a caller puts
in a file name can reach another folder, and two uploads never share a partition.

The platform database keeps one row per distinct content a lender sent to a source: the
same bytes again are the same upload (`uq_upload_content`). Ingestion moves its status on,
in the same transactions that record the file (`landing.record_ingestion`) or set it
aside: `received`, `ingesting` (with the Dagster run id), `ingested` (valid and
quarantined row counts), `rejected` (set aside; the reason) or `failed` (the run failed;
a retried run moves it on again).
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from credit_assets.core.contracts import OWN_FURNISHER, Contract
from credit_assets.core.contracts.json_paths import parse_path
from credit_assets.core.ingestion.files import UnreadableFileError, inspect_landing_file
from credit_assets.core.ingestion.zones import LandingZone
from credit_assets.core.platform.db import uploads

UploadStatus = Literal["received", "ingesting", "ingested", "rejected", "failed"]

# Media type (without parameters) -> landing format.
CONTENT_TYPES: dict[str, str] = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/json": "jsonl",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "excel",
}
EXTENSIONS = {"csv": ".csv", "jsonl": ".jsonl", "parquet": ".parquet", "excel": ".xlsx"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


class UploadRefused(ValueError):
    """What an upload cannot be, as the HTTP status that says so (413, 415, 422)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Upload:
    upload_id: str
    lender: str
    source: str
    file_name: str
    sha256: str
    bytes: int
    format: str
    status: str
    reason: str | None
    run_id: str | None
    rows_accepted: int | None
    rows_rejected: int | None
    received_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def upload_format(content_type: str | None, contract: Contract) -> str:
    """The landing format a Content-Type names, if the source's contract accepts it (415)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    fmt = CONTENT_TYPES.get(media)
    if fmt is None:
        known = ", ".join(sorted(CONTENT_TYPES))
        raise UploadRefused(
            415, f"Content-Type {media or '(none)'!r} is not a landing format; send one of {known}"
        )
    if fmt not in contract.formats:
        raise UploadRefused(
            415,
            f"source {contract.name} accepts {', '.join(contract.formats)}, not {fmt} "
            f"(Content-Type {media})",
        )
    return fmt


def landing_name(given: str | None, fmt: str, upload_id: str, received_at: datetime) -> str:
    """`<received>_<upload id>_<stem>.<format>`: the stem is the last component of the name
    given, reduced to letters, digits, '_' and '-'; no folder, dot or extension survives."""
    last = re.split(r"[\\/]", given or "")[-1]
    stem = _UNSAFE.sub("_", PurePosixPath(last.replace("\x00", "")).stem).strip("_-")[:80]
    return f"{received_at:%Y%m%dT%H%M%SZ}_{upload_id}_{stem or 'upload'}{EXTENSIONS[fmt]}"


def records_as_jsonl(records: list[Any], contract: Contract) -> bytes:
    """A batch of records as one JSON-lines file the source's contract reads: one record per
    line, or, for a contract whose rows sit in an array (`records: $.transactions`), one
    document holding them there."""
    if contract.records is None:
        return b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in records)
    steps = parse_path(contract.records)
    if not all(isinstance(step, str) for step in steps):
        raise UploadRefused(
            422,
            f"source {contract.name} reads rows at {contract.records}, which has an array "
            "index: push the documents as a file instead",
        )
    document: Any = records
    for step in reversed(steps):
        document = {step: document}
    return json.dumps(document, separators=(",", ":")).encode() + b"\n"


def _row(row: Any) -> Upload:
    return Upload(**{c.name: getattr(row, c.name) for c in uploads.columns})


def find_upload(engine: Engine, lender: str, upload_id: str) -> Upload | None:
    """The lender's upload; another lender's (or none) is None."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(uploads).where(uploads.c.upload_id == upload_id, uploads.c.lender == lender)
        ).first()
    return _row(row) if row is not None else None


def _by_content(conn: Connection, lender: str, source: str, sha256: str) -> Upload | None:
    row = conn.execute(
        sa.select(uploads).where(
            uploads.c.lender == lender, uploads.c.source == source, uploads.c.sha256 == sha256
        )
    ).first()
    return _row(row) if row is not None else None


def new_upload_id() -> str:
    return f"up_{secrets.token_hex(12)}"


def land_upload(
    engine: Engine,
    zone: LandingZone,
    contract: Contract,
    *,
    lender: str,
    staged: Path,
    given_name: str | None,
    fmt: str,
    sha256: str,
    size: int,
    upload_id: str | None = None,
) -> tuple[Upload, bool]:
    """(the upload, whether it is new) for a body received complete in `staged` (a file in
    `zone.staging_dir(source)` named with the format's extension).

    The same content from the same lender to the same source returns the upload it already
    is and lands nothing. Otherwise the file must pass the landing pre-flight (422 naming
    what is wrong, nothing written); it is then recorded as `received` and moved into the
    landing zone at once. `staged` is gone afterwards, whatever happens."""
    try:
        with engine.connect() as conn:
            twin = _by_content(conn, lender, contract.name, sha256)
        if twin is not None:
            return twin, False
        try:
            inspect_landing_file(staged, contract)
        except UnreadableFileError as exc:
            raise UploadRefused(422, exc.reason) from exc
        upload_id = upload_id or new_upload_id()
        received = _now()
        upload = Upload(
            upload_id=upload_id,
            lender=lender,
            source=contract.name,
            file_name=landing_name(given_name, fmt, upload_id, received),
            sha256=sha256,
            bytes=size,
            format=fmt,
            status="received",
            reason=None,
            run_id=None,
            rows_accepted=None,
            rows_rejected=None,
            received_at=received,
            updated_at=received,
        )
        try:
            with engine.begin() as conn:
                conn.execute(sa.insert(uploads).values(**upload.as_dict()))
        except IntegrityError:  # the same content, received at the same moment
            with engine.connect() as conn:
                twin = _by_content(conn, lender, contract.name, sha256)
            if twin is None:
                raise
            return twin, False
        try:
            zone.receive(contract.name, upload.file_name, staged)
        except BaseException:
            with engine.begin() as conn:
                conn.execute(sa.delete(uploads).where(uploads.c.upload_id == upload_id))
            raise
        return upload, True
    finally:
        staged.unlink(missing_ok=True)


# -- what ingestion tells an upload ---------------------------------------------------------


def set_upload_status(
    conn: Connection,
    source: str,
    file_name: str,
    status: UploadStatus,
    *,
    sha256: str | None = None,
    **fields: Any,
) -> None:
    """Move the upload behind a landing file (if it is one) to `status`; a file dropped into
    the landing zone by other means has no upload, and nothing happens."""
    condition = [uploads.c.source == source, uploads.c.file_name == file_name]
    if sha256 is not None:
        condition.append(uploads.c.sha256 == sha256)
    conn.execute(
        sa.update(uploads).where(*condition).values(status=status, updated_at=_now(), **fields)
    )


def mark_upload(
    engine: Engine, source: str, file_name: str, status: UploadStatus, **fields: Any
) -> None:
    with engine.begin() as conn:
        set_upload_status(conn, source, file_name, status, **fields)


# -- who furnished a landing file ------------------------------------------------------------

PARTNER_PREFIX = "partner:"


def furnisher_of(engine: Engine, source: str, file_name: str) -> str:
    """The namespace of a landing file's records: `partner:<name>` for a data partner's
    upload, else the lender's own (`OWN_FURNISHER`: its file drops and its keys' uploads)."""
    with engine.connect() as conn:
        uploader = conn.execute(
            sa.select(uploads.c.lender).where(
                uploads.c.source == source, uploads.c.file_name == file_name
            )
        ).scalar()
    if isinstance(uploader, str) and uploader.startswith(PARTNER_PREFIX):
        return uploader
    return OWN_FURNISHER
