"""Where landing files arrive: a local folder (embedded) or an S3 prefix (production).

Both keep the same layout and the same life cycle of a file:

    <landing>/<source>/<file>                   waiting to be ingested
    archive/<source>/<file>                     ingested (raw and quarantine written)
    rejected/<source>/<file> + <file>.reason.json   unreadable or a renamed duplicate

Locally the three areas are `$CREDIT_HOME/landing`, `archive` and `rejected`. With
`CREDIT_LANDING_URI=s3://bucket/prefix` they are `prefix/<source>/`, `prefix/archive/` and
`prefix/rejected/`: the whole landing zone lives under one prefix, so one bucket policy
covers it. Readers get a local file either way (`local_copy`), so reading and validating a
file is the same code for both.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from credit_assets.core.contracts import Contract
from credit_assets.core.platform.settings import Settings

Area = Literal["landing", "archive", "rejected"]
NOTE_SUFFIX = ".reason.json"
INCOMING = ".incoming"  # where a local landing zone stages uploads (hidden from the sensor)
_PARTITION_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def partition_key_for(file_name: str) -> str:
    """The partition key of a landing file: its name, restricted to safe characters."""
    return _PARTITION_SAFE.sub("_", file_name)


def is_landing_name(name: str) -> bool:
    """A file the landing zone owes an outcome: not hidden, not a partial write, not a note.

    A file of a format the platform does not read is listed too, so the sensor sets it
    aside with a reason instead of leaving it in the folder unmentioned.
    """
    return (
        not name.startswith(".")
        and not name.endswith((".tmp", ".part", ".partial", ".crdownload", NOTE_SUFFIX))
        and not name.startswith("~$")  # Excel's lock file while a workbook is open
    )


@dataclass(frozen=True)
class LandingFile:
    """One file (or object) of a source in one area of the landing zone."""

    source: str
    name: str
    size: int
    # What tells a changed file from an unchanged one without reading it:
    # the modification time in ns locally, ETag and Last-Modified on S3.
    version: int | str
    location: str  # a local path or an s3:// URI
    area: Area

    @property
    def partition_key(self) -> str:
        return partition_key_for(self.name)


@dataclass(frozen=True)
class SetAside:
    """A file moved to `rejected/<source>/` and the note beside it."""

    name: str
    location: str
    note: str
    reason: str


@dataclass(frozen=True)
class SetAsideNote:
    source: str
    name: str
    reason: str


class LandingZone(ABC):
    """The landing zone's operations; a backend only lists, moves, writes and reads."""

    @abstractmethod
    def describe(self) -> str:
        """Where files land, for logs and messages."""

    @abstractmethod
    def _list(self, area: Area, source: str) -> list[LandingFile]:
        """Files directly in `<area>/<source>/` (not in sub-folders)."""

    @abstractmethod
    def _move(self, file: LandingFile, area: Area) -> str:
        """Move a file to `<area>/<source>/<name>` (replacing one there); its new location."""

    @abstractmethod
    def _write(self, area: Area, source: str, name: str, data: bytes) -> str: ...

    @abstractmethod
    def _read(self, file: LandingFile) -> bytes: ...

    @abstractmethod
    def local_copy(self, file: LandingFile) -> AbstractContextManager[Path]:
        """The file as a local path named like the original, for the duration of the block."""

    @abstractmethod
    def staging_dir(self, source: str) -> Path:
        """A local folder for a file being received, invisible to the sensor (`receive`)."""

    @abstractmethod
    def receive(self, source: str, name: str, staged: Path) -> str:
        """Put a complete local file (staged in `staging_dir`) at `<landing>/<source>/<name>`
        at once: the sensor sees the whole file or nothing. Its location."""

    def files(self, contract: Contract) -> list[LandingFile]:
        """Files waiting in `<landing>/<source>/`, by name; hidden and partial files skipped."""
        return sorted(
            (f for f in self._list("landing", contract.name) if is_landing_name(f.name)),
            key=lambda f: f.name,
        )

    def locate(self, contract: Contract, partition_key: str) -> LandingFile:
        """The file behind a partition: still waiting, or already archived."""
        for area in ("landing", "archive"):
            for file in sorted(self._list(area, contract.name), key=lambda f: f.name):
                if file.partition_key == partition_key:
                    return file
        raise FileNotFoundError(
            f"no landing or archived file for partition {partition_key!r} of source "
            f"{contract.name} in {self.describe()}"
        )

    def archive(self, file: LandingFile) -> str:
        """Move an ingested file to `archive/<source>/` (no-op if it is there already)."""
        return file.location if file.area == "archive" else self._move(file, "archive")

    def set_aside(self, file: LandingFile, reason: str) -> SetAside:
        """Move a file that cannot be ingested to `rejected/<source>/` with a JSON note beside it."""
        location = self._move(file, "rejected")
        note = {
            "source": file.source,
            "file": file.name,
            "reason": reason,
            "set_aside_at": datetime.now(UTC).isoformat(),
        }
        note_location = self._write(
            "rejected", file.source, file.name + NOTE_SUFFIX, json.dumps(note, indent=2).encode()
        )
        return SetAside(file.name, location, note_location, reason)

    def set_aside_notes(self, sources: Iterable[str]) -> list[SetAsideNote]:
        """Every file set aside for these sources, with the reason its note gives."""
        notes = []
        for source in sorted(sources):
            for file in sorted(self._list("rejected", source), key=lambda f: f.name):
                if file.name.endswith(NOTE_SUFFIX):
                    name = file.name.removesuffix(NOTE_SUFFIX)
                    notes.append(SetAsideNote(source, name, self._reason(file)))
        return notes

    def _reason(self, note: LandingFile) -> str:
        try:
            return str(json.loads(self._read(note))["reason"])
        except (OSError, ValueError, KeyError, TypeError):
            return "(unreadable note)"


class LocalLandingZone(LandingZone):
    """Folders under CREDIT_HOME: `landing/`, `archive/` and `rejected/`."""

    def __init__(self, settings: Settings) -> None:
        self.roots: dict[Area, Path] = {
            "landing": settings.landing_dir,
            "archive": settings.archive_dir,
            "rejected": settings.rejected_dir,
        }

    def describe(self) -> str:
        return str(self.roots["landing"])

    def _list(self, area: Area, source: str) -> list[LandingFile]:
        folder = self.roots[area] / source
        if not folder.is_dir():
            return []
        files = []
        for path in folder.iterdir():
            if path.is_file():
                stat = path.stat()
                files.append(
                    LandingFile(source, path.name, stat.st_size, stat.st_mtime_ns, str(path), area)
                )
        return files

    def _move(self, file: LandingFile, area: Area) -> str:
        target_dir = self.roots[area] / file.source
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / file.name
        shutil.move(file.location, target)
        return str(target)

    def _write(self, area: Area, source: str, name: str, data: bytes) -> str:
        target = self.roots[area] / source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return str(target)

    def _read(self, file: LandingFile) -> bytes:
        return Path(file.location).read_bytes()

    def staging_dir(self, source: str) -> Path:
        # Inside the source's folder, so the final rename stays on one file system; a
        # hidden sub-folder, which the sensor never lists.
        folder = self.roots["landing"] / source / INCOMING
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def receive(self, source: str, name: str, staged: Path) -> str:
        target = self.roots["landing"] / source / name
        staged.replace(target)  # rename(2): atomic within the file system
        return str(target)

    @contextmanager
    def local_copy(self, file: LandingFile) -> Iterator[Path]:
        yield Path(file.location)


class S3LandingZone(LandingZone):
    """Objects under `s3://bucket/prefix/`: `<source>/`, `archive/<source>/`, `rejected/<source>/`."""

    RESERVED = ("archive", "rejected")

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    @classmethod
    def from_uri(cls, uri: str, client: Any) -> S3LandingZone:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        return cls(client, bucket, prefix)

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def _folder(self, area: Area, source: str) -> str:
        if source in self.RESERVED:
            raise ValueError(
                f"source {source!r}: '{source}/' under the S3 landing prefix is reserved "
                "(archive/ holds ingested files, rejected/ set-aside ones); rename the contract"
            )
        parts = [self.prefix, "" if area == "landing" else area, source]
        return "/".join(p for p in parts if p) + "/"

    def _uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _key(self, file: LandingFile) -> str:
        return file.location.removeprefix(f"s3://{self.bucket}/")

    def _list(self, area: Area, source: str) -> list[LandingFile]:
        folder = self._folder(area, source)
        files = []
        paginator = self.client.get_paginator("list_objects_v2")
        # The delimiter keeps objects of "sub-folders" out, as the local zone ignores sub-folders.
        for page in paginator.paginate(Bucket=self.bucket, Prefix=folder, Delimiter="/"):
            for obj in page.get("Contents", []):
                name = obj["Key"][len(folder) :]
                if not name:
                    continue
                version = f"{obj['ETag'].strip(chr(34))}@{obj['LastModified'].isoformat()}"
                files.append(
                    LandingFile(source, name, obj["Size"], version, self._uri(obj["Key"]), area)
                )
        return files

    def _move(self, file: LandingFile, area: Area) -> str:
        # S3 has no move: copy (multipart for large objects), then delete the original.
        target = self._folder(area, file.source) + file.name
        source_key = self._key(file)
        self.client.copy({"Bucket": self.bucket, "Key": source_key}, self.bucket, target)
        self.client.delete_object(Bucket=self.bucket, Key=source_key)
        return self._uri(target)

    def _write(self, area: Area, source: str, name: str, data: bytes) -> str:
        key = self._folder(area, source) + name
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
        return self._uri(key)

    def _read(self, file: LandingFile) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(file))["Body"].read()

    def staging_dir(self, source: str) -> Path:
        folder = Path(tempfile.gettempdir()) / "credit-uploads" / source
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def receive(self, source: str, name: str, staged: Path) -> str:
        # An S3 object appears only when its (multipart) upload completes: never half.
        key = self._folder("landing", source) + name
        try:
            self.client.upload_file(str(staged), self.bucket, key)
        finally:
            staged.unlink(missing_ok=True)
        return self._uri(key)

    @contextmanager
    def local_copy(self, file: LandingFile) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="credit-landing-") as tmp:
            path = Path(tmp) / file.name
            self.client.download_file(self.bucket, self._key(file), str(path))
            yield path


def landing_zone(settings: Settings, client: Any | None = None) -> LandingZone:
    """The configured landing zone: the S3 prefix in CREDIT_LANDING_URI, else CREDIT_HOME/landing."""
    if settings.landing_uri:
        from credit_assets.core.platform.storage.s3 import s3_client

        return S3LandingZone.from_uri(settings.landing_uri, client or s3_client(settings))
    return LocalLandingZone(settings)
