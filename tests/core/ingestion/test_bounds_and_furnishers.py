"""A landing file is bounded (a gzip or Parquet bomb is refused by name before it is read),
and records are namespaced by who furnished them: a data partner re-sending another
furnisher's ids adds records, never overwrites them."""

import gzip
import time
from pathlib import Path

import polars as pl
import pytest

from credit_assets.core.contracts import OWN_FURNISHER, load_contracts
from credit_assets.core.ingestion.files import UnreadableFileError, inspect_landing_file
from credit_assets.core.ingestion.landing import scan_source, store_result
from credit_assets.core.ingestion.readers import IngestLimits
from credit_assets.core.ingestion.stream import ingest_to_files
from credit_assets.core.platform.storage.local import LocalDataStore
from tests.support.paths import REPO_ROOT

CONTRACTS = load_contracts(REPO_ROOT / "contracts")
UTILITY = CONTRACTS["utility_payments"]
HEADER = "bill_id,borrower_id,provider,due_date,paid_date,amount_due,amount_paid,days_late\n"


def test_a_gzip_bomb_is_refused_by_name_before_it_is_read(tmp_path: Path):
    path = tmp_path / "bills.csv.gz"
    path.write_bytes(gzip.compress((HEADER + "b1,B1,x,2024-01-01,,5,,\n" * 400_000).encode()))
    started = time.monotonic()
    with pytest.raises(UnreadableFileError) as refused:
        inspect_landing_file(path, UTILITY, IngestLimits(max_expansion=50))
    assert time.monotonic() - started < 5
    assert "a decompression bomb" in refused.value.reason
    assert "CREDIT_INGEST_MAX_EXPANSION" in refused.value.reason


def test_an_ordinary_gzip_file_is_read(tmp_path: Path):
    rows = "".join(f"b{i},B{i},acme,2024-01-01,,5,,\n" for i in range(500))
    path = tmp_path / "bills.csv.gz"
    path.write_bytes(gzip.compress((HEADER + rows).encode()))
    inspect_landing_file(path, UTILITY)
    with_limits = ingest_to_files(path, UTILITY, tmp_path, limits=IngestLimits())
    assert with_limits.rows_accepted == 500


def test_a_parquet_bomb_of_identical_rows_is_refused_from_its_metadata(tmp_path: Path):
    row = {
        "bill_id": "b1",
        "borrower_id": "B1",
        "provider": "acme",
        "due_date": "2024-01-01",
        "paid_date": None,
        "amount_due": 5.0,
        "amount_paid": None,
        "days_late": None,
    }
    path = tmp_path / "bills.parquet"
    pl.DataFrame([row]).select(pl.all().repeat_by(2_000_000).explode()).write_parquet(
        path, compression="zstd"
    )
    started = time.monotonic()
    with pytest.raises(UnreadableFileError) as refused:
        inspect_landing_file(path, UTILITY)
    assert time.monotonic() - started < 2
    assert "2,000,000 rows in" in refused.value.reason and "rows per byte" in refused.value.reason
    with pytest.raises(UnreadableFileError, match="a Parquet bomb"):
        ingest_to_files(path, UTILITY, tmp_path)


def bills(path: Path, paid: bool) -> Path:
    paid_date = "2024-01-03" if paid else ""
    days_late = "0" if paid else ""
    lines = [
        f"b{i},B1,acme,2024-0{i}-01,{paid_date},50,{50 if paid else ''},{days_late}\n"
        for i in (1, 2, 3)
    ]
    path.write_text(HEADER + "".join(lines))
    return path


def test_a_partner_resending_another_furnishers_ids_adds_records_never_overwrites(tmp_path):
    store = LocalDataStore(tmp_path / "data")
    lender = ingest_to_files(bills(tmp_path / "own.csv", paid=False), UTILITY, tmp_path / "a")
    partner = ingest_to_files(
        bills(tmp_path / "partner.csv", paid=True),
        UTILITY,
        tmp_path / "b",
        furnisher="partner:acme-utility",
    )
    store_result(store, lender, "own.csv")
    store_result(store, partner, "partner.csv")
    rows = scan_source(store, UTILITY).collect().sort("_furnisher", "bill_id")
    assert rows.height == 6
    own = rows.filter(pl.col("_furnisher") == OWN_FURNISHER)
    assert own["paid_date"].null_count() == 3  # the lender's missed bills stay missed
    theirs = rows.filter(pl.col("_furnisher") == "partner:acme-utility")
    assert theirs["paid_date"].null_count() == 0


def test_the_same_furnisher_resending_a_record_replaces_it(tmp_path):
    store = LocalDataStore(tmp_path / "data")
    first = ingest_to_files(bills(tmp_path / "jan.csv", paid=False), UTILITY, tmp_path / "a")
    store_result(store, first, "jan.csv")
    corrected = ingest_to_files(bills(tmp_path / "fix.csv", paid=True), UTILITY, tmp_path / "b")
    store_result(store, corrected, "fix.csv")
    rows = scan_source(store, UTILITY).collect()
    assert rows.height == 3 and rows["paid_date"].null_count() == 0


def test_a_workbook_bomb_is_refused_before_calamine_inflates_it(tmp_path: Path):
    import zipfile

    path = tmp_path / "book.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"<row/>" * 2_000_000)
    contract = UTILITY.model_copy(update={"formats": ["excel"]})
    with pytest.raises(UnreadableFileError, match="a workbook of .* a decompression bomb"):
        inspect_landing_file(path, contract)
    with pytest.raises(UnreadableFileError, match="a decompression bomb"):
        ingest_to_files(path, contract, tmp_path / "out")
