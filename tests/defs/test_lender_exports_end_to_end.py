"""Files as lenders send them, through real Dagster runs: a core-banking transactions export
onboarded with YAML alone gives the features of the same transactions in the platform's own
shape, and `materialize` says per file what it read, ingested and quarantined, and why."""

import shutil
from datetime import date

import dagster as dg
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from credit_assets.core.contracts import load_contracts
from credit_assets.core.features.build import compute_features
from credit_assets.core.ingestion.landing import scan_source
from credit_assets.core.platform.settings import get_settings
from credit_assets.core.platform.storage.local import data_store
from credit_assets.core.tools.synthetic import generate_frames
from credit_assets.orchestration import ingest_landing_zone, load_definitions
from tests.support.core_banking import (
    CORE_BANKING_CONTRACT,
    expected_transactions,
    write_core_banking_export,
)
from tests.support.export_variants import german_credit_frame, write_variant
from tests.support.paths import REPO_ROOT

AS_OF = date(2026, 9, 1)


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


@pytest.mark.slow
def test_a_core_banking_export_onboards_with_yaml_alone(credit_home, instance, monkeypatch):
    contracts_dir = credit_home / "contracts"
    contracts_dir.mkdir()
    shutil.copy(CORE_BANKING_CONTRACT, contracts_dir / "bank_transactions.yaml")
    monkeypatch.setenv("CREDIT_CONTRACTS_DIR", str(contracts_dir))
    transactions = generate_frames(60, seed=5)["bank_transactions"]
    landing = credit_home / "landing" / "bank_transactions"
    landing.mkdir(parents=True)
    write_core_banking_export(transactions, landing / "UMSATZ_2026-09.csv")

    lines: list[str] = []
    outcome = ingest_landing_zone(load_definitions(), instance, log=lines.append)

    assert outcome.success, lines
    contract = load_contracts(contracts_dir)["bank_transactions"]
    stored = scan_source(data_store(get_settings()), contract).collect()
    expected = expected_transactions(transactions)
    assert_frame_equal(
        stored.select(expected.columns).sort("transaction_id"), expected.sort("transaction_id")
    )
    n = transactions.height
    spaced = f"{n:,}".replace(",", " ")
    assert f": ok: {spaced} rows read, {spaced} ingested, 0 quarantined" in lines[-1]

    platform = load_contracts(REPO_ROOT / "contracts")
    spine = (
        transactions.select(pl.col("borrower_id").unique().sort())
        .with_columns(pl.lit(AS_OF).alias("as_of_date"))
        .lazy()
    )
    ours = compute_features(spine, {"bank_transactions": transactions.lazy()}, platform).collect()
    theirs = compute_features(
        spine, {"bank_transactions": stored.lazy()}, {**platform, "bank_transactions": contract}
    ).collect()
    bank = [c for c in ours.columns if c.startswith("bank_")]
    assert len(bank) > 15
    assert_frame_equal(theirs.select(bank), ours.select(bank))


def test_materialize_says_per_file_what_it_read_and_why_rows_were_quarantined(
    credit_home, instance, monkeypatch
):
    contracts_dir = credit_home / "contracts"
    contracts_dir.mkdir()
    shutil.copy(REPO_ROOT / "contracts/examples/german_credit/german_credit.yaml", contracts_dir)
    monkeypatch.setenv("CREDIT_CONTRACTS_DIR", str(contracts_dir))
    landing = credit_home / "landing" / "german_credit"
    # A European export the contract does not declare: every row's amount is quarantined.
    variant = write_variant(german_credit_frame(), landing, "decimal_comma")
    (landing / "notes.docx").write_bytes(b"PK\x03\x04 not a data file")

    lines: list[str] = []
    ingest_landing_zone(load_definitions(), instance, log=lines.append)

    assert any(
        line.startswith("set aside ") and "notes.docx: unsupported file type '.docx'" in line
        for line in lines
    )
    [summary] = [
        line for line in lines if line.startswith(f"ingest german_credit/{variant.path.name}")
    ]
    assert "1 000 rows read, 0 ingested, 1 000 quarantined" in summary
    assert "(credit_amount: not a valid float ×1 000)" in summary
