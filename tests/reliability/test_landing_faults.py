"""Faulty landing files through real ingestion runs (`ingest_landing_zone`, a test instance):
a file cut mid-write, exact duplicate rows and files, a wrong encoding, missing columns.

Each fault is quarantined (a row, with the column at fault) or set aside (a file, with a
note naming the reason); every valid row is kept, counted exactly; ingesting the same
files again adds nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import sqlalchemy as sa

from credit_assets.core.contracts import load_contracts
from credit_assets.core.ingestion.landing import scan_source
from credit_assets.core.platform.db import ingested_files, migrated_engine
from credit_assets.core.platform.settings import get_settings
from credit_assets.core.platform.storage.local import data_store
from credit_assets.orchestration import ingest_landing_zone, load_definitions

HEADER = "bill_id,borrower_id,provider,due_date,paid_date,amount_due,amount_paid,days_late\n"


def bill_lines(prefix: str, n: int) -> list[str]:
    return [
        f"{prefix}{i},B{i % 4},acme,2024-0{1 + i % 9}-01,2024-0{1 + i % 9}-03,50,50,2\n"
        for i in range(n)
    ]


def bill_jsonl(prefix: str, n: int) -> list[str]:
    return [
        json.dumps({"bill_id": f"{prefix}{i}", "borrower_id": f"B{i % 4}", "provider": "tel",
                    "due_date": f"2024-0{1 + i % 9}-10", "paid_date": None,
                    "amount_due": 30.0, "amount_paid": None, "days_late": None}) + "\n"
        for i in range(n)
    ]  # fmt: skip


def land(home: Path, source: str, name: str, data: bytes) -> Path:
    folder = home / "landing" / source
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


def source_rows(source: str) -> pl.DataFrame:
    settings = get_settings()
    contract = load_contracts(settings.resolved_contracts_dir)[source]
    return scan_source(data_store(settings), contract).collect()


def raw_partition_rows(home: Path) -> dict[str, int]:
    return {
        str(p.relative_to(home / "data/raw")): pl.read_parquet(p).height
        for p in sorted((home / "data/raw").rglob("*.parquet"))
    }


def quarantine(home: Path) -> pl.DataFrame:
    files = sorted((home / "data/quarantine").rglob("*.parquet"))
    return pl.concat([pl.read_parquet(p) for p in files]) if files else pl.DataFrame()


def reason(home: Path, source: str, name: str) -> str:
    note = home / "rejected" / source / f"{name}.reason.json"
    return json.loads(note.read_text())["reason"]


def faulty_files() -> dict[tuple[str, str], bytes]:
    good = bill_lines("u", 20)
    cut = "u20,B0,acme,2024-0"  # the writer died in the middle of the due date
    dup_rows = bill_lines("d", 10)
    tel = bill_jsonl("t", 6)
    return {
        # 20 valid rows, then a last line cut mid-write (no newline).
        ("utility_payments", "u-truncated.csv"): (HEADER + "".join(good) + cut).encode(),
        # 10 distinct rows, two of them delivered twice (exact duplicate lines).
        ("utility_payments", "u-duplicates.csv"): (
            HEADER + "".join(dup_rows) + dup_rows[3] + dup_rows[7]
        ).encode(),
        # JSON lines: 6 valid, the last one cut mid-object.
        ("telecom_payments", "t-truncated.jsonl"): (
            "".join(tel) + '{"bill_id": "t6", "borrower_id": "B'
        ).encode(),
        # A whole file in Windows-1252 under a UTF-8 contract: unreadable as declared.
        ("rent_payments", "r-cp1252.csv"): (
            HEADER + "".join(bill_lines("r", 5)).replace("acme", "Société")
        ).encode("cp1252"),
        # due_date and amount_due missing from the header.
        ("rent_payments", "r-missing-columns.csv"): (
            b"bill_id,borrower_id,provider,paid_date\nm1,B1,landlord,2024-01-03\n"
        ),
        # A valid rent file, so the source is not empty.
        ("rent_payments", "r-good.csv"): (HEADER + "".join(bill_lines("r", 5))).encode(),
    }


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


@pytest.mark.timeout(300)
def test_faulty_landing_files_are_quarantined_or_set_aside_and_valid_rows_all_kept(
    credit_home: Path, instance
) -> None:
    files = faulty_files()
    for (source, name), data in files.items():
        land(credit_home, source, name, data)
    defs = load_definitions()
    log: list[str] = []
    outcome = ingest_landing_zone(defs, instance, log=log.append)
    assert outcome.success, log
    assert len(outcome.runs) == 4  # the two unreadable files never reach a run

    # Every valid row kept, exactly once.
    assert source_rows("utility_payments").height == 20 + 10
    assert source_rows("telecom_payments").height == 6
    assert source_rows("rent_payments").height == 5
    assert sorted(source_rows("utility_payments")["bill_id"].to_list()) == sorted(
        [f"u{i}" for i in range(20)] + [f"d{i}" for i in range(10)]
    )

    # Bad rows quarantined with the column or the fault named.
    q = quarantine(credit_home)
    by_file = {f: sorted(g["reason"].to_list()) for (f,), g in q.group_by("source_file")}
    assert set(by_file) == {"u-truncated.csv", "u-duplicates.csv", "t-truncated.jsonl"}
    [cut_reason] = by_file["u-truncated.csv"]
    assert "due_date" in cut_reason
    assert q.filter(pl.col("source_file") == "u-truncated.csv")["row_number"].to_list() == [21]
    assert by_file["u-duplicates.csv"] == ["duplicate key (bill_id) already in this file"] * 2
    assert len(by_file["t-truncated.jsonl"]) == 1
    assert q.filter(pl.col("source_file") == "t-truncated.jsonl")["record"][0].startswith(
        '{"_malformed"'
    )

    # Unreadable files set aside with a note; nothing of them ingested.
    assert "not valid utf-8" in reason(credit_home, "rent_payments", "r-cp1252.csv")
    missing = reason(credit_home, "rent_payments", "r-missing-columns.csv")
    assert "required column(s) missing" in missing and "due_date" in missing
    assert "amount_due" in missing
    assert not list((credit_home / "landing").rglob("*.*"))  # landing emptied
    for source, name in [("utility_payments", "u-truncated.csv"),
                         ("utility_payments", "u-duplicates.csv"),
                         ("telecom_payments", "t-truncated.jsonl"),
                         ("rent_payments", "r-good.csv")]:  # fmt: skip
        assert (credit_home / "archive" / source / name).exists()

    # The ledger: rows read = accepted + quarantined, for every ingested file.
    engine = migrated_engine(get_settings().resolved_database_url)
    with engine.connect() as conn:
        ledger = {
            r.file_name: (r.rows_read, r.rows_accepted, r.rows_rejected)
            for r in conn.execute(sa.select(ingested_files))
        }
    assert ledger == {
        "u-truncated.csv": (21, 20, 1),
        "u-duplicates.csv": (12, 10, 2),
        "t-truncated.jsonl": (7, 6, 1),
        "r-good.csv": (5, 5, 0),
    }

    raw_before = raw_partition_rows(credit_home)
    quarantine_before = quarantine(credit_home).height

    # Ingest everything again (same names, same bytes): nothing is added.
    for (source, name), data in files.items():
        land(credit_home, source, name, data)
    # And an exact copy of an ingested file under a new name: set aside as a duplicate.
    land(credit_home, "utility_payments", "u-duplicates-copy.csv",
         files[("utility_payments", "u-duplicates.csv")])  # fmt: skip
    again = ingest_landing_zone(defs, instance, log=log.append)
    assert again.success, log
    assert len(again.runs) == 4
    assert reason(credit_home, "utility_payments", "u-duplicates-copy.csv") == (
        "duplicate of u-duplicates.csv, already ingested"
    )
    assert raw_partition_rows(credit_home) == raw_before
    assert quarantine(credit_home).height == quarantine_before
    assert source_rows("utility_payments").height == 30
    assert source_rows("telecom_payments").height == 6
    assert source_rows("rent_payments").height == 5
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(ingested_files)).scalar() == 4
