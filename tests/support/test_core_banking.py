"""The core-banking export generator: the platform's own transactions as a German bank's
core system writes them, and the example contract that reads them back.

The file is checked by independent means (bytes, codecs, the csv module); the contract as
YAML, against what the generator writes and what the bank features read.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal

from credit_assets.core.contracts import SourceKind, load_contract, load_contracts
from credit_assets.core.features import compute_features
from credit_assets.core.features.frames import KIND_COLUMNS
from credit_assets.core.ingestion.stream import ingest_file
from credit_assets.core.tools.synthetic import generate_frames
from credit_assets.core.tools.synthetic.bank import CATEGORIES
from tests.support.core_banking import (
    BANNER,
    CASH_WITHDRAWAL,
    CATEGORY_CODES,
    CORE_BANKING_CONTRACT,
    CREDIT,
    DEBIT,
    HEADER,
    NEGATIVE_KINDS,
    PLATFORM_COLUMNS,
    core_banking_text,
    expected_transactions,
    write_core_banking_export,
)
from tests.support.paths import REPO_ROOT

AS_OF = date(2026, 9, 1)
MONEY = re.compile(r"\d{1,3}(\.\d{3})*,\d\d")


@pytest.fixture(scope="module")
def transactions() -> pl.DataFrame:
    return generate_frames(30, seed=11)["bank_transactions"]


@pytest.fixture
def export(transactions: pl.DataFrame, tmp_path: Path) -> Path:
    return write_core_banking_export(transactions, tmp_path / "umsaetze.csv")


@pytest.fixture(scope="module")
def contract() -> dict:
    return yaml.safe_load(CORE_BANKING_CONTRACT.read_text())


def file_rows(path: Path) -> list[dict[str, str]]:
    lines = io.StringIO(path.read_bytes().decode("cp1252"), newline="")
    lines.readline()  # the banner
    return list(csv.DictReader(lines, delimiter=";"))


def number(text: str) -> float:
    """`-2.354,51` as the bank writes it."""
    return float(text.replace(".", "").replace(",", "."))


# -- the file --------------------------------------------------------------------------------


def test_export_is_windows_1252_not_utf8(export: Path, transactions: pl.DataFrame):
    raw = export.read_bytes()

    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert raw.decode("cp1252") == core_banking_text(transactions)
    assert "Geldautomat Hauptstraße".encode("cp1252") in raw  # beyond ASCII in the rows too


def test_a_banner_line_sits_above_the_german_semicolon_header(export: Path):
    banner, header = export.read_bytes().decode("cp1252").splitlines()[:2]

    assert banner == BANNER and ";" in banner
    assert tuple(header.split(";")) == HEADER


def test_every_transaction_is_one_line_of_eight_fields(export: Path, transactions: pl.DataFrame):
    lines = export.read_bytes().decode("cp1252").split("\r\n")

    assert lines[-1] == "" and len(lines) == transactions.height + 3
    assert all(line.count(";") == len(HEADER) - 1 for line in lines[2:-1])


def test_booking_days_are_yymmdd_integers(export: Path, transactions: pl.DataFrame):
    days = [row["Buchungstag"] for row in file_rows(export)]

    assert all(re.fullmatch(r"\d{6}", day) for day in days)
    assert [datetime.strptime(d, "%y%m%d").date() for d in days] == transactions[
        "booked_date"
    ].to_list()


def test_amounts_are_unsigned_with_decimal_commas(export: Path, transactions: pl.DataFrame):
    amounts = [row["Betrag"] for row in file_rows(export)]

    assert all(MONEY.fullmatch(amount) for amount in amounts)
    assert any("." in amount for amount in amounts)  # thousands dots
    assert [number(a) for a in amounts] == transactions["amount"].abs().to_list()


def test_art_gives_each_amount_its_direction(export: Path, transactions: pl.DataFrame):
    kinds = [row["Art"] for row in file_rows(export)]

    for kind, amount, category in zip(
        kinds, transactions["amount"], transactions["category"], strict=True
    ):
        assert (kind == CREDIT) == (amount > 0)
        assert (kind == CASH_WITHDRAWAL) == (amount < 0 and category == "cash_withdrawal")
    assert set(kinds) == {CREDIT, DEBIT, CASH_WITHDRAWAL}


def test_every_category_code_is_one_of_the_banks_eleven(export: Path):
    codes = {row["Kategorie"] for row in file_rows(export)}

    assert codes == set(CATEGORY_CODES.values())
    assert set(CATEGORY_CODES) == set(CATEGORIES)
    assert len(set(CATEGORY_CODES.values())) == len(CATEGORIES)


def test_balances_carry_a_minus_when_overdrawn(export: Path, transactions: pl.DataFrame):
    balances = [row["Saldo"] for row in file_rows(export)]

    assert all(MONEY.fullmatch(balance.removeprefix("-")) for balance in balances)
    assert any(b.startswith("-") for b in balances)
    assert [number(b) for b in balances] == transactions["balance"].to_list()


def test_the_export_read_by_its_conventions_is_the_platforms_rows(
    export: Path, transactions: pl.DataFrame
):
    codes = {code: category for category, code in CATEGORY_CODES.items()}
    rows = file_rows(export)

    read = pl.DataFrame(
        {
            "transaction_id": [r["Buchungs-ID"] for r in rows],
            "borrower_id": [r["Kunde"] for r in rows],
            "booked_date": [datetime.strptime(r["Buchungstag"], "%y%m%d").date() for r in rows],
            "amount": [
                number(r["Betrag"]) * (-1 if r["Art"] in NEGATIVE_KINDS else 1) for r in rows
            ],
            "category": [codes[r["Kategorie"]] for r in rows],
            "balance": [number(r["Saldo"]) for r in rows],
            "counterparty": [r["Gegenpartei"] or None for r in rows],
        }
    )

    assert_frame_equal(read, expected_transactions(transactions))


# -- the example contract ----------------------------------------------------------------------


def test_contract_reads_the_file_as_the_generator_writes_it(contract: dict):
    assert contract["kind"] == "bank_transactions" and contract["formats"] == ["csv"]
    assert contract["csv"] == {
        "delimiter": ";",
        "decimal": ",",
        "thousands": ".",
        "encoding": "cp1252",
        "skip_rows": 1,
    }
    assert contract["columns"]["booked_date"]["format"] == "%y%m%d"


def test_contract_reads_every_file_column_once(contract: dict):
    headers = {name: spec.get("header", name) for name, spec in contract["columns"].items()}

    assert sorted(headers.values()) == sorted(HEADER)
    for column, platform in PLATFORM_COLUMNS.items():
        assert headers[platform] == column


def test_contract_names_the_columns_the_bank_features_read(contract: dict):
    assert set(KIND_COLUMNS[SourceKind.BANK_TRANSACTIONS]) <= set(contract["columns"])


def test_contract_maps_every_code_back_and_signs_debits(contract: dict):
    columns = contract["columns"]

    assert columns["category"]["map"] == {code: c for c, code in CATEGORY_CODES.items()}
    assert columns["category"]["allowed"] == list(CATEGORIES)
    sign = columns["amount"]["sign_from"]
    assert columns[sign["column"]].get("header", sign["column"]) == "Art"
    assert sign["negative"] == list(NEGATIVE_KINDS) and sign["positive"] == [CREDIT]
    assert set(columns[sign["column"]]["allowed"]) == {CREDIT, DEBIT, CASH_WITHDRAWAL}


def test_platform_ingests_the_export_into_the_same_rows(export: Path, transactions: pl.DataFrame):
    contract = load_contract(CORE_BANKING_CONTRACT)

    result = ingest_file(export, contract)

    assert result.rejected["reason"].to_list() == []
    expected = expected_transactions(transactions)
    assert_frame_equal(result.accepted.select(expected.columns), expected)


def test_the_exports_bank_features_are_those_of_the_platforms_rows(
    export: Path, transactions: pl.DataFrame
):
    demo = load_contracts(REPO_ROOT / "contracts")
    core = {**demo, "bank_transactions": load_contract(CORE_BANKING_CONTRACT)}
    accepted = ingest_file(export, core["bank_transactions"]).accepted
    spine = (
        transactions.select(pl.col("borrower_id").unique().sort())
        .with_columns(pl.lit(AS_OF).alias("as_of_date"))
        .lazy()
    )

    ours = compute_features(spine, {"bank_transactions": transactions.lazy()}, demo).collect()
    theirs = compute_features(spine, {"bank_transactions": accepted.lazy()}, core).collect()

    bank = [c for c in ours.columns if c.startswith(("bank_", "has_bank", "months_of_data_bank"))]
    assert len(bank) > 15 and theirs["has_bank"].sum() == ours.height
    assert_frame_equal(theirs.select(bank), ours.select(bank))
