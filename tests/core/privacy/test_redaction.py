"""Erasing one borrower removes exactly that borrower's rows from every file the platform stores.

Each delivered format is redacted and then read back through ingestion's own reader
(`ingest_file`, the path the `raw_<source>` asset takes) with the same contract: the
borrower's rows are gone and every other row, accepted or quarantined, reads as before.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import zipfile
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from credit_assets.core.contracts import LINEAGE_COLUMNS, Contract
from credit_assets.core.ingestion.files import QUARANTINE_SCHEMA
from credit_assets.core.ingestion.stream import IngestResult, ingest_file
from credit_assets.core.ingestion.zones import LocalLandingZone, S3LandingZone
from credit_assets.core.platform.settings import get_settings
from credit_assets.core.platform.storage.local import LocalDataStore
from credit_assets.core.platform.storage.s3 import S3DataStore
from credit_assets.core.privacy.redaction import (
    ERASED,
    RedactionError,
    redact_delivered,
    redact_frames,
    redact_quarantine,
    redact_zone,
)
from tests.support.production import new_bucket, s3_test_client

HAS_OPENPYXL = importlib.util.find_spec("openpyxl") is not None
ERASE = {"borrower_id": ["B1"]}


def contract(**csv: object) -> Contract:
    """Bills whose borrower column the file calls `Kunde`."""
    return Contract.model_validate(
        {
            "name": "payments",
            "kind": "utility_payments",
            "keys": ["bill_id"],
            "columns": {
                "bill_id": {"type": "string", "role": "id"},
                "borrower_id": {"type": "string", "role": "borrower_id", "header": "Kunde"},
                "note": {"type": "string", "role": "ignore", "required": False},
                "amount": {"type": "float", "role": "feature", "min": 0},
            },
            "csv": csv,
        }
    )


PAYMENTS = contract()
# (bill_id, Kunde, note, amount): B1's two bills, others' (B12 only looks like B1), and one
# bill of B12's quarantined for a negative amount.
ROWS = [
    ("b1", "B1", "first; with the delimiter", "12.5"),
    ("b2", "B2", "fee", "7.25"),
    ("b3", "B12", "Café", "-1"),
    ("b4", "B1", "", "3"),
    ("b5", "B3", "last", "4"),
]


def csv_text(delimiter: str = ",", newline: str = "\n") -> str:
    lines = [delimiter.join(["bill_id", "Kunde", "note", "amount"])]
    for row in ROWS:
        lines.append(delimiter.join(f'"{v}"' if delimiter in v else v for v in row))
    return newline.join(lines) + newline


def ingested(tmp_path: Path, folder: str, name: str, data: bytes, spec: Contract) -> IngestResult:
    path = tmp_path / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return ingest_file(path, spec)


def values(frame: pl.DataFrame) -> list[dict[str, object]]:
    """Accepted rows without lineage: the row number shifts and the file hash changes."""
    return frame.drop(LINEAGE_COLUMNS).to_dicts()


def rejected(frame: pl.DataFrame) -> list[tuple[str, str]]:
    return list(zip(frame["reason"].to_list(), frame["record"].to_list(), strict=True))


def is_borrowers(record: str, borrower: str = "B1") -> bool:
    parsed = json.loads(record)
    return borrower in parsed.values() or f'"{borrower}"' in parsed.get("_malformed", "")


def assert_erased(
    tmp_path: Path, name: str, data: bytes, spec: Contract, removed_rows: int
) -> bytes:
    """Redact B1 from a file; read both through ingestion and compare what is left."""
    redacted, removed = redact_delivered(data, name, spec, ERASE)
    assert removed == removed_rows
    before = ingested(tmp_path, "before", name, data, spec)
    after = ingested(tmp_path, "after", name, redacted, spec)
    b1 = pl.col("borrower_id") == "B1"
    assert before.accepted.filter(b1).height > 0  # the test means something
    assert after.accepted.filter(b1).height == 0
    assert values(after.accepted) == values(before.accepted.filter(~b1))
    kept_rejected = [(r, rec) for r, rec in rejected(before.rejected) if not is_borrowers(rec)]
    assert rejected(after.rejected) == kept_rejected
    assert before.rows_read - after.rows_read == removed_rows
    assert after.rows_read > 0
    return redacted


def assert_unmatched_is_untouched(name: str, data: bytes, spec: Contract) -> None:
    same, removed = redact_delivered(data, name, spec, {"borrower_id": ["B9"]})
    assert (same, removed) == (data, 0)


def test_semicolon_cp1252_csv_keeps_banner_header_and_every_other_record_byte_for_byte(tmp_path):
    spec = contract(delimiter=";", decimal=",", encoding="cp1252", skip_rows=2)
    banner = "Stadtwerke Müller Export\r\nErstellt am 05.01.2024; Seite 1\r\n"
    header = "bill_id;Kunde;note;amount\r\n"
    records = [
        'b1;B1;"Zahlung; Teil 1\r\nzweite Zeile";12,50\r\n',  # B1, quoted ; and line break
        'b2;B2;"Gebühr; Müller\r\nzweite Zeile";7,25\r\n',  # another borrower's, the same
        "b3;B12;Café;-1\r\n",  # quarantined (negative), B12 is not B1
        "b4;B1;;3,00\r\n",
        "b5;B3;«ok»;4\r\n",
    ]
    data = (banner + header + "".join(records)).encode("cp1252")
    redacted = assert_erased(tmp_path, "bills.csv", data, spec, removed_rows=2)
    kept = [records[1], records[2], records[4]]
    assert redacted == (banner + header + "".join(kept)).encode("cp1252")
    assert_unmatched_is_untouched("bills.csv", data, spec)


def test_tsv_with_a_byte_order_mark_keeps_it(tmp_path):
    spec = contract(delimiter="\t")
    data = b"\xef\xbb\xbf" + csv_text("\t").encode()
    redacted = assert_erased(tmp_path, "bills.tsv", data, spec, removed_rows=2)
    assert redacted.startswith(b"\xef\xbb\xbfbill_id\tKunde\tnote\tamount\n")
    assert_unmatched_is_untouched("bills.tsv", data, spec)


def test_gzipped_csv_is_recompressed(tmp_path):
    data = gzip.compress(csv_text().encode(), mtime=1_700_000_000)
    redacted = assert_erased(tmp_path, "bills.csv.gz", data, PAYMENTS, removed_rows=2)
    text = gzip.decompress(redacted).decode()
    assert text.splitlines()[0] == "bill_id,Kunde,note,amount"
    assert redacted[4:8] == data[4:8]  # the original modification time
    assert_unmatched_is_untouched("bills.csv.gz", data, PAYMENTS)


def test_zipped_csv_keeps_its_member_name(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Export Januar.csv", csv_text(newline="\r\n"))
    data = buffer.getvalue()
    redacted = assert_erased(tmp_path, "bills.zip", data, PAYMENTS, removed_rows=2)
    with zipfile.ZipFile(io.BytesIO(redacted)) as archive:
        assert archive.namelist() == ["Export Januar.csv"]
        assert archive.infolist()[0].compress_type == zipfile.ZIP_DEFLATED
    assert_unmatched_is_untouched("bills.zip", data, PAYMENTS)


def test_json_lines_drop_whole_lines_including_a_malformed_one_quoting_the_borrower(tmp_path):
    spec = contract(encoding="utf-8")
    lines = [
        json.dumps(dict(zip(["bill_id", "Kunde", "note", "amount"], r, strict=True))) for r in ROWS
    ]
    lines.append('{"bill_id": "b6", "Kunde": "B1", "amount": ')  # truncated: quarantined
    lines.append('{"bill_id": "b7", "Kunde": "B2", "amount": ')
    data = ("\n".join(lines) + "\n").encode()
    redacted = assert_erased(tmp_path, "bills.jsonl", data, spec, removed_rows=3)
    kept = [lines[i] for i in (1, 2, 4, 6)]
    assert redacted == ("\n".join(kept) + "\n").encode()
    assert_unmatched_is_untouched("bills.jsonl", data, spec)


def test_parquet_with_integer_ids_matches_them_as_text(tmp_path):
    frame = pl.DataFrame(
        {
            "bill_id": ["b1", "b2", "b3", "b4"],
            "Kunde": [1, 2, 12, 1],
            "note": ["a", None, "c", "d"],
            "amount": [1.5, 2.0, -3.0, 4.0],
        }
    )
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    data = buffer.getvalue()
    spec = PAYMENTS
    redacted, removed = redact_delivered(data, "bills.parquet", spec, {"borrower_id": [1]})  # type: ignore[list-item]
    assert removed == 2
    back = pl.read_parquet(io.BytesIO(redacted))
    assert back.schema == frame.schema
    assert back.to_dicts() == frame.filter(pl.col("Kunde") != 1).to_dicts()
    before = ingested(tmp_path, "before", "bills.parquet", data, spec)
    after = ingested(tmp_path, "after", "bills.parquet", redacted, spec)
    assert values(after.accepted) == values(before.accepted.filter(pl.col("borrower_id") != "1"))
    assert rejected(after.rejected) == rejected(before.rejected)  # B12's, kept
    assert_unmatched_is_untouched("bills.parquet", data, spec)


def workbook() -> bytes:
    """A workbook with a banner row above the header and a second sheet."""
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    other = book.add_worksheet("Readme")
    other.write_row(0, 0, ["Kunde B1 appears here as text only"])
    sheet = book.add_worksheet("Bills")
    sheet.write_row(0, 0, ["Export of bills"])
    sheet.write_row(1, 0, ["bill_id", "Kunde", "note", "amount"])
    for index, (bill, borrower, note, amount) in enumerate(ROWS, start=2):
        sheet.write_row(index, 0, [bill, borrower, note or None, float(amount)])
    book.close()
    return buffer.getvalue()


EXCEL = contract().model_copy(
    update={"excel": contract().excel.model_copy(update={"sheet": "Bills", "skip_rows": 1})}
)


@pytest.mark.skipif(not HAS_OPENPYXL, reason="openpyxl is not installed")
def test_xlsx_rows_are_deleted_in_the_contracts_sheet_only(tmp_path):
    import openpyxl

    data = workbook()
    redacted = assert_erased(tmp_path, "bills.xlsx", data, EXCEL, removed_rows=2)
    book = openpyxl.load_workbook(io.BytesIO(redacted))
    assert book.sheetnames == ["Readme", "Bills"]
    assert book["Readme"]["A1"].value == "Kunde B1 appears here as text only"
    assert book["Bills"]["A1"].value == "Export of bills"
    assert_unmatched_is_untouched("bills.xlsx", data, EXCEL)


@pytest.mark.skipif(HAS_OPENPYXL, reason="openpyxl is installed")
def test_xlsx_without_openpyxl_is_refused_by_name():
    with pytest.raises(RedactionError, match=r"bills\.xlsx: openpyxl is not installed"):
        redact_delivered(workbook(), "bills.xlsx", EXCEL, ERASE)


def test_xls_and_unreadable_files_are_refused_by_name():
    with pytest.raises(RedactionError, match=r"old\.xls: a \.xls workbook cannot be rewritten"):
        redact_delivered(b"\xd0\xcf\x11\xe0 not really", "old.xls", PAYMENTS, ERASE)
    with pytest.raises(RedactionError, match=r"bills\.csv: not valid|bills\.csv: 'utf-8'"):
        redact_delivered("Kunde,x\nB1,é\n".encode("cp1252"), "bills.csv", PAYMENTS, ERASE)
    with pytest.raises(RedactionError, match=r"bills\.csv: no column Kunde"):
        redact_delivered(b"bill_id;Kunde\nb1;B1\n", "bills.csv", PAYMENTS, ERASE)


# --- Parquet in the data store -------------------------------------------------------------


def seed_store(store: LocalDataStore | S3DataStore) -> dict[str, pl.DataFrame]:
    frames = {
        "raw/payments/f1.parquet": pl.DataFrame(
            {"borrower_id": [1, 2, None, 1, 12], "amount": [1.0, 2.0, 3.0, 4.0, 5.0]}
        ),
        "raw/payments/only_b1.parquet": pl.DataFrame(
            {"borrower_id": ["1"], "application_id": ["A7"], "amount": [9.0]}
        ),
        "raw/payments/apps.parquet": pl.DataFrame(
            {"application_id": ["A7", "A8"], "amount": [1.0, 2.0]}
        ),
        "raw/payments/other.parquet": pl.DataFrame({"id": ["1"], "amount": [1.0]}),
        "raw/other_source/f.parquet": pl.DataFrame({"borrower_id": [1], "amount": [1.0]}),
    }
    for key, frame in frames.items():
        store.write_frame(key, frame)
    store.put_bytes("raw/payments/notes.json", b'{"borrower_id": 1}')
    return frames


def assert_store_redacted(store: LocalDataStore | S3DataStore) -> None:
    frames = seed_store(store)
    untouched_bytes = store.get_bytes("raw/payments/other.parquet")
    match = {"borrower_id": ["1"], "application_id": ["A7"]}
    results = {r.key: r for r in redact_frames(store, "raw/payments/", match)}
    assert {k: (r.action, r.rows_removed) for k, r in results.items()} == {
        "raw/payments/f1.parquet": ("rewritten", 2),
        "raw/payments/only_b1.parquet": ("rewritten", 1),
        "raw/payments/apps.parquet": ("rewritten", 1),
        "raw/payments/other.parquet": ("untouched", 0),
    }
    f1 = store.read_frame("raw/payments/f1.parquet")
    assert f1.schema == frames["raw/payments/f1.parquet"].schema
    assert f1.to_dicts() == [
        {"borrower_id": 2, "amount": 2.0},
        {"borrower_id": None, "amount": 3.0},
        {"borrower_id": 12, "amount": 5.0},
    ]
    emptied = store.read_frame("raw/payments/only_b1.parquet")
    assert emptied.height == 0 and emptied.schema == frames["raw/payments/only_b1.parquet"].schema
    assert store.get_bytes("raw/payments/other.parquet") == untouched_bytes
    assert store.read_frame("raw/other_source/f.parquet").height == 1  # outside the prefix


def test_store_frames_lose_only_the_borrowers_rows_locally(tmp_path):
    assert_store_redacted(LocalDataStore(tmp_path / "data"))


def test_store_frames_lose_only_the_borrowers_rows_on_s3(moto_endpoint):
    store = S3DataStore(
        s3_test_client(moto_endpoint), new_bucket(moto_endpoint), "credit-platform", {}
    )
    assert_store_redacted(store)


def test_a_single_key_is_a_prefix_too(tmp_path):
    store = LocalDataStore(tmp_path / "data")
    seed_store(store)
    results = redact_frames(store, "raw/payments/f1.parquet", {"borrower_id": "1"})  # type: ignore[dict-item]
    assert [(r.key, r.rows_removed) for r in results] == [("raw/payments/f1.parquet", 2)]


# --- Quarantine ----------------------------------------------------------------------------


def test_quarantined_rows_holding_the_borrower_are_removed(tmp_path):
    at = datetime(2024, 1, 5)
    rows = [  # (reason, record, removed?)
        ("amount: below minimum 0: -1", '{"bill_id":"b1","Kunde":"B1","amount":"-1"}', True),
        ("amount: not a valid float: 'x'", '{"bill_id":"b2","Kunde":" B1 "}', True),
        ("borrower_id: does not match pattern: 'B1'", '{"bill_id":"b3","Kunde":null}', True),
        (
            "malformed record: not a JSON object",
            json.dumps({"_malformed": '{"Kunde": "B1", '}),
            True,
        ),
        ("amount: not a valid float: 'x'", '{"bill_id":"b5","Kunde":"B12"}', False),
        ("borrower_id: does not match pattern: 'B12'", '{"bill_id":"B1-7","Kunde":"B12"}', False),
        ("duplicate key (bill_id) already in this file", '{"bill_id":"b7","Kunde":"B2"}', False),
        (None, None, False),
    ]
    frame = pl.DataFrame(
        {
            "source": ["payments"] * len(rows),
            "source_file": ["bills.csv"] * len(rows),
            "file_sha256": ["0" * 64] * len(rows),
            "row_number": list(range(1, len(rows) + 1)),
            "reason": [r for r, _, _ in rows],
            "record": [rec for _, rec, _ in rows],
            "quarantined_at": [at] * len(rows),
        },
        schema=QUARANTINE_SCHEMA,
    )
    store = LocalDataStore(tmp_path / "data")
    store.write_frame("quarantine/payments/bills_csv.parquet", frame)
    results = redact_quarantine(store, "quarantine/payments/", ["B1"])
    assert [(r.action, r.rows_removed) for r in results] == [("rewritten", 4)]
    left = store.read_frame("quarantine/payments/bills_csv.parquet")
    assert left.schema == frame.schema
    assert left["row_number"].to_list() == [5, 6, 7, 8]
    again = redact_quarantine(store, "quarantine/payments/", ["B1"])
    assert [(r.action, r.rows_removed) for r in again] == [("untouched", 0)]


# --- The landing zone ----------------------------------------------------------------------


def put(root: Path, name: str, data: bytes) -> Path:
    path = root / "payments" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_local_zone_redacts_every_area_deletes_what_it_cannot_and_erases_notes():
    settings = get_settings()
    zone = LocalLandingZone(settings)
    data = csv_text().encode()
    put(settings.landing_dir, "new.csv", data)
    put(settings.archive_dir, "old.csv.gz", gzip.compress(data))
    clean = put(settings.archive_dir, "clean.csv", b"bill_id,Kunde,note,amount\nb9,B2,,1\n")
    put(settings.rejected_dir, "book.xls", b"\xd0\xcf\x11\xe0 not a workbook")
    note = {"file": "book.xls", "reason": "column Kunde: bad value 'B1'", "who": "B1"}
    put(settings.rejected_dir, "book.xls.reason.json", json.dumps(note).encode())
    put(settings.landing_dir, "upload.csv.part", data)
    results = {Path(r.key).name: r for r in redact_zone(zone, PAYMENTS, ERASE)}
    assert {name: (r.action, r.rows_removed) for name, r in results.items()} == {
        "new.csv": ("rewritten", 2),
        "upload.csv.part": ("failed", 0),
        "clean.csv": ("untouched", 0),
        "old.csv.gz": ("rewritten", 2),
        "book.xls": ("deleted", 0),
        "book.xls.reason.json": ("rewritten", 0),
    }
    assert b"B1," not in (settings.landing_dir / "payments" / "new.csv").read_bytes()
    assert not (settings.rejected_dir / "payments" / "book.xls").exists()
    erased = json.loads((settings.rejected_dir / "payments" / "book.xls.reason.json").read_text())
    assert erased == {
        "file": "book.xls",
        "reason": f"column Kunde: bad value '{ERASED}'",
        "who": ERASED,
    }
    assert clean.read_bytes() == b"bill_id,Kunde,note,amount\nb9,B2,,1\n"
    assert sorted(p.name for p in (settings.archive_dir / "payments").iterdir()) == [
        "clean.csv",
        "old.csv.gz",
    ]  # no temporary file left behind


def test_s3_zone_rewrites_and_deletes_objects(moto_endpoint):
    client, bucket = s3_test_client(moto_endpoint), new_bucket(moto_endpoint)
    data = csv_text().encode()
    client.put_object(Bucket=bucket, Key="incoming/payments/new.csv", Body=data)
    client.put_object(Bucket=bucket, Key="incoming/archive/payments/old.csv", Body=data)
    client.put_object(Bucket=bucket, Key="incoming/rejected/payments/x.ods", Body=b"PK junk")
    zone = S3LandingZone(client, bucket, "incoming")
    results = {
        r.key.rsplit("/", 1)[1]: (r.action, r.rows_removed)
        for r in redact_zone(zone, PAYMENTS, ERASE)
    }
    assert results == {
        "new.csv": ("rewritten", 2),
        "old.csv": ("rewritten", 2),
        "x.ods": ("deleted", 0),
    }
    body = client.get_object(Bucket=bucket, Key="incoming/archive/payments/old.csv")["Body"].read()
    assert body.decode().splitlines() == [
        line for line in csv_text().splitlines() if ",B1," not in line
    ]
    listed = client.list_objects_v2(Bucket=bucket, Prefix="incoming/rejected/")
    assert "Contents" not in listed


def test_a_contract_without_the_matched_columns_has_nothing_to_redact():
    assert redact_zone(LocalLandingZone(get_settings()), PAYMENTS, {"application_id": ["A1"]}) == []
