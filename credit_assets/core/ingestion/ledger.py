"""The ingestion ledger read back: what each landed file gave, and which files gave nothing.

`ingested_files` holds one row per ingested file (rows read, accepted and quarantined);
the notes beside set-aside files (`LandingZone.set_aside_notes`) say why the others were
never ingested. Together they name, file by file, why a source holds no usable row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from credit_assets.core.platform.db import ingested_files


@dataclass(frozen=True)
class IngestedFile:
    """One row of the ledger: a file of a source and what ingesting it gave."""

    source: str
    file_name: str
    rows_read: int
    rows_accepted: int
    rows_rejected: int


class SetAsideFile(Protocol):
    """A file set aside in `rejected/<source>/` and the reason its note gives."""

    @property
    def source(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def reason(self) -> str: ...


def ingested_files_of(engine: Engine, sources: Iterable[str]) -> list[IngestedFile]:
    """The ledger rows of `sources`, by source and file name."""
    wanted = sorted(set(sources))
    if not wanted:
        return []
    table = ingested_files
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                table.c.source,
                table.c.file_name,
                table.c.rows_read,
                table.c.rows_accepted,
                table.c.rows_rejected,
            )
            .where(table.c.source.in_(wanted))
            .order_by(table.c.source, table.c.file_name)
        ).fetchall()
    return [IngestedFile(*row) for row in rows]


def unusable_files(
    sources: Sequence[str], set_aside: Iterable[SetAsideFile], ingested: Iterable[IngestedFile]
) -> list[str]:
    """One plain phrase per file of `sources` that gave no usable row, sources in the order
    given and files by name: set aside (with the reason), every row quarantined, or no row
    at all; `<source>: no file ingested` for a source nothing was ingested from.

    A note of a file that was ingested since under the same name with accepted rows (a
    corrected file landed again) is history, not a reason, and is left out.
    """
    ledger = [f for f in ingested if f.source in sources]
    usable = {(f.source, f.file_name) for f in ledger if f.rows_accepted > 0}
    notes = [n for n in set_aside if n.source in sources and (n.source, n.name) not in usable]
    phrases = []
    for source in sources:
        found: list[tuple[str, str]] = [
            (n.name, f"{source}/{n.name} set aside: {n.reason}")
            for n in notes
            if n.source == source
        ]
        for file in ledger:
            if file.source != source or file.rows_accepted > 0:
                continue
            what = f"all {file.rows_read} rows quarantined" if file.rows_read else "no rows in it"
            found.append((file.file_name, f"{source}/{file.file_name}: {what}"))
        if not found and not any(f.source == source for f in ledger):
            found.append(("", f"{source}: no file ingested"))
        phrases += [phrase for _, phrase in sorted(found)]
    return phrases
