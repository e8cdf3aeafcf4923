"""The ingestion ledger read back: which files of a source gave no usable row, and why."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from credit_assets.core.ingestion.ledger import IngestedFile, ingested_files_of, unusable_files
from credit_assets.core.ingestion.zones import SetAsideNote
from credit_assets.core.platform.db import ingested_files, migrated_engine
from credit_assets.core.platform.settings import Settings


def ledger_row(source: str, name: str, read: int, accepted: int) -> IngestedFile:
    return IngestedFile(source, name, read, accepted, read - accepted)


def test_a_set_aside_file_is_named_with_the_reason_of_its_note() -> None:
    notes = [SetAsideNote("applications", "2026-11.csv", "required column(s) missing: label")]
    assert unusable_files(["applications"], notes, []) == [
        "applications/2026-11.csv set aside: required column(s) missing: label"
    ]


def test_a_file_whose_rows_were_all_quarantined_is_named_with_the_count() -> None:
    ingested = [
        ledger_row("applications", "a.csv", 300, 0),
        ledger_row("applications", "b.csv", 5, 5),
    ]
    assert unusable_files(["applications"], [], ingested) == [
        "applications/a.csv: all 300 rows quarantined"
    ]


def test_files_are_named_source_by_source_in_the_order_given_and_by_name() -> None:
    notes = [
        SetAsideNote("outcomes", "o.csv", "not a readable CSV file"),
        SetAsideNote("applications", "b.csv", "duplicate of a.csv, already ingested"),
    ]
    ingested = [ledger_row("applications", "a.csv", 0, 0)]
    assert unusable_files(["applications", "outcomes"], notes, ingested) == [
        "applications/a.csv: no rows in it",
        "applications/b.csv set aside: duplicate of a.csv, already ingested",
        "outcomes/o.csv set aside: not a readable CSV file",
    ]


def test_the_note_of_a_file_ingested_since_under_its_name_is_history_not_a_reason() -> None:
    notes = [SetAsideNote("applications", "a.csv", "required column(s) missing: label")]
    ingested = [ledger_row("applications", "a.csv", 10, 10)]
    assert unusable_files(["applications"], notes, ingested) == []


def test_a_source_nothing_was_ingested_from_says_so() -> None:
    assert unusable_files(["outcomes"], [], []) == ["outcomes: no file ingested"]


def test_the_ledger_rows_of_the_sources_asked_for_are_read_back() -> None:
    engine = migrated_engine(Settings().resolved_database_url)
    with engine.begin() as conn:
        for source, name, read, accepted in [
            ("applications", "b.csv", 4, 1),
            ("applications", "a.csv", 3, 3),
            ("utility_payments", "u.csv", 9, 9),
        ]:
            conn.execute(
                sa.insert(ingested_files).values(
                    source=source,
                    file_name=name,
                    sha256="0" * 64,
                    rows_read=read,
                    rows_accepted=accepted,
                    rows_rejected=read - accepted,
                    ingested_at=datetime(2026, 1, 1),
                )
            )
    assert ingested_files_of(engine, ["applications"]) == [
        IngestedFile("applications", "a.csv", 3, 3, 0),
        IngestedFile("applications", "b.csv", 4, 1, 3),
    ]
