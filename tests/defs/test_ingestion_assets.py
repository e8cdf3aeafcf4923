"""Ingestion through real Dagster runs: partitions per file, quarantine, idempotent
re-ingest, the landing sensor's ticks, and a lender's file onboarded by contract only."""

import json
import shutil
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
from credit_assets.defs.common.resources import PlatformResource
from credit_assets.orchestration import ingest_landing_zone, load_definitions
from tests.support.paths import GERMAN_CREDIT_CSV, REPO_ROOT

HEADER = "bill_id,borrower_id,provider,due_date,paid_date,amount_due,amount_paid,days_late\n"
GOOD_ROWS = "".join(f"b{i},B{i % 3},acme,2024-0{1 + i % 9}-01,,50,,\n" for i in range(20))


def land(home: Path, source: str, name: str, text: str, encoding: str = "utf-8") -> Path:
    folder = home / "landing" / source
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def source_rows(source: str) -> pl.DataFrame:
    settings = get_settings()
    contract = load_contracts(settings.resolved_contracts_dir)[source]
    return scan_source(data_store(settings), contract).collect()


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def test_a_landing_file_becomes_a_partition_with_its_quarantine(credit_home, instance):
    land(
        credit_home,
        "utility_payments",
        "u1.csv",
        HEADER + GOOD_ROWS + "bad,,acme,2024-01-01,,5,,\n",
    )
    outcome = ingest_landing_zone(load_definitions(), instance, log=lambda _: None)
    assert outcome.success
    assert source_rows("utility_payments").height == 20
    quarantined = pl.read_parquet(credit_home / "data/quarantine/utility_payments/u1.csv.parquet")
    assert quarantined["reason"].to_list() == ["borrower_id: required value missing"]
    assert (credit_home / "archive/utility_payments/u1.csv").exists()
    assert not (credit_home / "landing/utility_payments/u1.csv").exists()
    materialization = instance.get_latest_materialization_event(
        dg.AssetKey("raw_utility_payments")
    ).asset_materialization
    assert materialization.partition == "u1.csv"
    assert materialization.metadata["rows_rejected"].value == 1


def test_reingesting_the_same_file_adds_nothing(credit_home, instance):
    path = land(credit_home, "utility_payments", "u1.csv", HEADER + GOOD_ROWS)
    content = path.read_text()
    defs = load_definitions()
    ingest_landing_zone(defs, instance, log=lambda _: None)
    land(credit_home, "utility_payments", "u1.csv", content)
    outcome = ingest_landing_zone(defs, instance, log=lambda _: None)
    assert outcome.success and len(outcome.runs) == 1
    assert source_rows("utility_payments").height == 20


def test_renamed_copy_of_an_ingested_file_is_set_aside(credit_home, instance):
    defs = load_definitions()
    land(credit_home, "utility_payments", "u1.csv", HEADER + GOOD_ROWS)
    ingest_landing_zone(defs, instance, log=lambda _: None)
    land(credit_home, "utility_payments", "u1-copy.csv", HEADER + GOOD_ROWS)
    outcome = ingest_landing_zone(defs, instance, log=lambda _: None)
    assert outcome.runs == []
    note = json.loads(
        (credit_home / "rejected/utility_payments/u1-copy.csv.reason.json").read_text()
    )
    assert note["reason"] == "duplicate of u1.csv, already ingested"
    assert source_rows("utility_payments").height == 20


def test_overlapping_files_keep_one_row_per_key(credit_home, instance):
    defs = load_definitions()
    land(credit_home, "utility_payments", "u1.csv", HEADER + GOOD_ROWS)
    land(credit_home, "utility_payments", "u2.csv", HEADER + GOOD_ROWS.replace(",50,", ",60,"))
    ingest_landing_zone(defs, instance, log=lambda _: None)
    rows = source_rows("utility_payments")
    assert rows.height == 20
    assert set(rows["amount_due"].to_list()) == {60.0}  # the later file wins


def test_the_ledger_records_each_file(credit_home, instance):
    land(credit_home, "utility_payments", "u1.csv", HEADER + GOOD_ROWS)
    ingest_landing_zone(load_definitions(), instance, log=lambda _: None)
    engine = migrated_engine(get_settings().resolved_database_url)
    with engine.connect() as conn:
        row = conn.execute(sa.select(ingested_files)).mappings().one()
    assert (row["file_name"], row["rows_accepted"], row["rows_rejected"]) == ("u1.csv", 20, 0)


def _tick(defs: dg.Definitions, instance, cursor):
    sensor = defs.resolve_sensor_def("landing_zone_sensor")
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"platform": PlatformResource()}
    ) as context:
        return sensor(context), context


def test_sensor_requests_new_files_once_and_sets_aside_unreadable_ones(credit_home, instance):
    defs = load_definitions()
    land(credit_home, "utility_payments", "u1.csv", HEADER + GOOD_ROWS)
    land(credit_home, "rent_payments", "r1.csv", "bill_id,borrower_id\nx,B1\n")
    land(credit_home, "rent_payments", "r2.csv", HEADER + "r,B1,Café,2024-01-01,,5,,\n", "cp1252")
    land(credit_home, "rent_payments", "statement.pdf", "%PDF-1.4")
    land(credit_home, "rent_payments", "book.xlsx", "not a workbook")

    result, context = _tick(defs, instance, cursor=None)
    assert [(r.job_name, r.partition_key) for r in result.run_requests] == [
        ("ingest_utility_payments", "u1.csv")
    ]
    assert result.dynamic_partitions_requests[0].partition_keys == ["u1.csv"]
    missing = json.loads((credit_home / "rejected/rent_payments/r1.csv.reason.json").read_text())
    assert "due_date" in missing["reason"]
    encoding = json.loads((credit_home / "rejected/rent_payments/r2.csv.reason.json").read_text())
    assert "not valid utf-8" in encoding["reason"] and "set csv.encoding" in encoding["reason"]
    # Every file gets an outcome: a format the platform does not read is set aside too.
    pdf = json.loads((credit_home / "rejected/rent_payments/statement.pdf.reason.json").read_text())
    assert pdf["reason"].startswith("unsupported file type '.pdf'")
    book = json.loads((credit_home / "rejected/rent_payments/book.xlsx.reason.json").read_text())
    assert book["reason"].startswith("excel files are not accepted for source rent_payments")
    assert not list((credit_home / "landing/rent_payments").iterdir())

    again, context = _tick(defs, instance, cursor=context.cursor)
    assert again.run_requests == []
    assert "no new landing files" in again.skip_reason.skip_message

    land(credit_home, "utility_payments", "u2.csv", HEADER + GOOD_ROWS.replace("b", "c"))
    third, _ = _tick(defs, instance, cursor=context.cursor)
    assert [r.partition_key for r in third.run_requests] == ["u2.csv"]


def test_german_credit_is_onboarded_with_a_contract_and_no_code(credit_home, instance, monkeypatch):
    monkeypatch.setenv("CREDIT_CONTRACTS_DIR", str(REPO_ROOT / "contracts/examples/german_credit"))
    folder = credit_home / "landing/german_credit"
    folder.mkdir(parents=True)
    shutil.copy(GERMAN_CREDIT_CSV, folder / "german_credit.csv")
    defs = load_definitions()
    assert dg.AssetKey("raw_german_credit") in defs.resolve_asset_graph().materializable_asset_keys
    outcome = ingest_landing_zone(defs, instance, log=lambda _: None)
    assert outcome.success
    rows = source_rows("german_credit")
    assert rows.height == 1000
    assert rows.filter(pl.col("risk") == 0).height == 300
    contract = load_contracts(get_settings().resolved_contracts_dir)["german_credit"]
    assert contract.protected_columns == ["sex", "age"]
    assert contract.label_column.labels == {"bad": 0, "good": 1}
