"""Row-level validation of landing files: every row is accepted or quarantined with a reason."""

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from credit_assets.core.contracts import Contract, load_contracts
from credit_assets.core.ingestion.files import (
    UnreadableFileError,
    inspect_landing_file,
)
from credit_assets.core.ingestion.stream import ingest_file
from tests.support.paths import REPO_ROOT

CONTRACTS = load_contracts(REPO_ROOT / "contracts")
HEADER = "bill_id,borrower_id,provider,due_date,paid_date,amount_due,amount_paid,days_late\n"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def reasons_by_row(result) -> dict[int, str]:
    return dict(zip(result.rejected["row_number"], result.rejected["reason"], strict=True))


def test_valid_rows_are_typed_as_the_contract_declares(tmp_path):
    path = write(tmp_path / "u.csv", HEADER + "b1,B1,acme,2024-01-05,2024-01-07,50.5,50.5,2\n")
    result = ingest_file(path, CONTRACTS["utility_payments"])
    assert result.rejected.height == 0
    row = result.accepted.row(0, named=True)
    assert row["due_date"].isoformat() == "2024-01-05"
    assert row["amount_due"] == 50.5
    assert row["days_late"] == 2
    assert result.accepted.schema["days_late"] == pl.Int64
    assert row["_source_file"] == "u.csv" and row["_row_number"] == 1


def test_each_kind_of_bad_value_is_quarantined_with_its_column(tmp_path):
    path = write(
        tmp_path / "u.csv",
        HEADER
        + "b1,B1,acme,2024-01-05,,50,,\n"  # fine: a missed bill
        + "b2,,acme,2024-01-05,,50,,\n"  # missing borrower
        + "b3,B1,acme,2024-13-45,,50,,\n"  # impossible date
        + "b4,B1,acme,2024-01-05,,12,5x,,\n"  # malformed number (ragged)
        + "b5,B1,acme,2024-01-05,2024-01-06,-3,0,1\n"  # below minimum
        + "b6,B1,acme,2024-01-05,2024-01-06,3,3,9999\n"  # above maximum
        + "b1,B9,acme,2024-02-05,,50,,\n",  # duplicate key
    )
    result = ingest_file(path, CONTRACTS["utility_payments"])
    reasons = reasons_by_row(result)
    assert result.accepted.height == 1
    assert result.accepted.height + result.rejected.height == result.rows_read == 7
    assert reasons[2] == "borrower_id: required value missing"
    assert reasons[3] == "due_date: not a valid date: '2024-13-45'"
    assert "amount_paid: not a valid float: '5x'" in reasons[4]
    assert reasons[5] == "amount_due: below minimum 0: -3"
    assert reasons[6] == "days_late: above maximum 365: 9999"
    assert reasons[7] == "duplicate key (bill_id) already in this file"


def test_quarantined_record_keeps_the_raw_values(tmp_path):
    path = write(tmp_path / "u.csv", HEADER + "b3,B1,acme,2024-13-45,,50,,\n")
    result = ingest_file(path, CONTRACTS["utility_payments"])
    record = json.loads(result.rejected["record"][0])
    assert record["due_date"] == "2024-13-45"
    assert result.rejected["source_file"][0] == "u.csv"
    assert result.rejected["file_sha256"][0] == result.file_sha256


def test_value_outside_allowed_set(tmp_path):
    path = write(
        tmp_path / "a.csv",
        "application_id,borrower_id,application_date,loan_amount,term_months,product,"
        "declared_monthly_income,employment_length_years,employment_type,housing_status,region\n"
        "A1,B1,2025-01-01,1000,12,mortgage,2000,3,salaried,rent,north\n",
    )
    result = ingest_file(path, CONTRACTS["applications"])
    assert reasons_by_row(result) == {1: "product: value not allowed: 'mortgage'"}


def test_jsonl_with_a_truncated_last_line(tmp_path):
    good = {
        "bill_id": "t1",
        "borrower_id": "B1",
        "provider": None,
        "due_date": "2024-01-01",
        "paid_date": "2024-01-02",
        "amount_due": 30,
        "amount_paid": 30,
        "days_late": 1,
    }
    text = json.dumps(good) + "\n" + json.dumps({**good, "bill_id": "t2"})[:40] + "\n"
    path = write(tmp_path / "t.jsonl", text)
    result = ingest_file(path, CONTRACTS["telecom_payments"])
    assert result.accepted["bill_id"].to_list() == ["t1"]
    assert reasons_by_row(result)[2].startswith("malformed record")


def test_parquet_is_read_with_its_types(tmp_path):
    frame = pl.DataFrame(
        {
            "transaction_id": ["x1", "x2"],
            "borrower_id": ["B1", "B1"],
            "booked_date": [date(2024, 1, 1), date(2024, 1, 2)],
            "amount": [100.0, -5e6],
            "category": ["payroll", "groceries"],
            "balance": [100.0, 95.0],
            "counterparty": [None, None],
        }
    ).with_columns(pl.col("booked_date").cast(pl.Date), pl.col("counterparty").cast(pl.String))
    path = tmp_path / "b.parquet"
    frame.write_parquet(path)
    result = ingest_file(path, CONTRACTS["bank_transactions"])
    assert result.accepted["transaction_id"].to_list() == ["x1"]
    assert reasons_by_row(result) == {2: "amount: below minimum -100000: -5000000.0"}


def test_file_in_an_undeclared_encoding_is_unreadable_and_names_the_fix(tmp_path):
    path = write(tmp_path / "r.csv", HEADER + "b1,B1,Café,2024-01-01,,5,,\n", encoding="cp1252")
    with pytest.raises(UnreadableFileError, match=r"r.csv: not valid utf-8 \(byte 90") as error:
        inspect_landing_file(path, CONTRACTS["rent_payments"])
    assert "set csv.encoding:" in error.value.reason
    with pytest.raises(UnreadableFileError, match="not valid utf-8"):
        ingest_file(path, CONTRACTS["rent_payments"])


def test_a_declared_encoding_is_read(tmp_path):
    path = write(tmp_path / "r.csv", HEADER + "b1,B1,Café,2024-01-01,,5,,\n", encoding="cp1252")
    contract = CONTRACTS["rent_payments"].model_copy(
        update={"csv": CONTRACTS["rent_payments"].csv.model_copy(update={"encoding": "cp1252"})}
    )
    inspect_landing_file(path, contract)
    assert ingest_file(path, contract).accepted["provider"].to_list() == ["Café"]


def test_a_utf16_file_is_read_by_its_byte_order_mark(tmp_path):
    path = write(tmp_path / "r.csv", HEADER + "b1,B1,Café,2024-01-01,,5,,\n", encoding="utf-16")
    inspect_landing_file(path, CONTRACTS["rent_payments"])
    assert ingest_file(path, CONTRACTS["rent_payments"]).accepted["provider"].to_list() == ["Café"]


def test_file_missing_a_required_column_names_it(tmp_path):
    path = write(tmp_path / "r.csv", "bill_id,borrower_id,provider\nb1,B1,x\n")
    with pytest.raises(UnreadableFileError) as error:
        ingest_file(path, CONTRACTS["rent_payments"])
    assert "due_date" in error.value.reason and "r.csv" in str(error.value)


def test_unsupported_extension_is_refused(tmp_path):
    path = write(tmp_path / "r.pdf", "whatever")
    with pytest.raises(UnreadableFileError, match="unsupported file type '.pdf'"):
        inspect_landing_file(path, CONTRACTS["rent_payments"])


def test_a_format_the_contract_does_not_list_is_refused_by_name(tmp_path):
    path = write(tmp_path / "r.xlsx", "whatever")
    with pytest.raises(UnreadableFileError, match="excel files are not accepted for source"):
        inspect_landing_file(path, CONTRACTS["rent_payments"])


def test_infinite_or_huge_numbers_are_quarantined_not_a_crash(tmp_path):
    contract = Contract.model_validate(
        {
            "name": "lender",
            "kind": "applications",
            "columns": {
                "n_accounts": {"type": "int", "role": "feature"},
                "income": {"type": "float", "role": "feature"},
            },
        }
    )
    path = tmp_path / "lender.csv"
    path.write_text("n_accounts,income\ninf,1\n1e400,2\n3,inf\n4,5.5\n")
    result = ingest_file(path, contract)
    assert result.accepted.height == 1 and result.rejected.height == 3
    assert result.accepted["n_accounts"].to_list() == [4]
    assert "n_accounts: not a valid int: 'inf'" in result.rejected["reason"].to_list()[0]


def test_a_csv_with_a_byte_order_mark_and_quoted_commas_passes_the_preflight(tmp_path):
    contract = Contract.model_validate(
        {
            "name": "lender",
            "kind": "applications",
            "columns": {
                "Monthly income, USD": {"type": "float", "role": "feature"},
                "term": {"type": "int", "role": "feature"},
            },
        }
    )
    path = tmp_path / "lender.csv"
    path.write_bytes('\ufeff"Monthly income, USD",term\n1200,12\n'.encode())
    inspect_landing_file(path, contract)  # raises UnreadableFileError when it cannot
    assert ingest_file(path, contract).accepted.height == 1


def test_a_label_value_that_is_neither_bad_nor_good_is_quarantined_not_dropped(tmp_path):
    contract = Contract.model_validate(
        {
            "name": "lender",
            "kind": "applications",
            "columns": {
                "income": {"type": "float", "role": "feature"},
                "default": {"type": "int", "role": "label", "labels": {"bad": 1, "good": 0}},
            },
        }
    )
    path = tmp_path / "lender.csv"
    path.write_text("income,default\n1,1\n2,0\n3,7\n")
    result = ingest_file(path, contract)
    assert result.accepted["default"].to_list() == [1, 0]
    assert result.rejected["reason"].to_list() == ["default: not one of the labels (1, 0): '7'"]


def test_a_file_column_named_like_a_lineage_column_makes_the_file_unreadable(tmp_path):
    contract = Contract.model_validate(
        {
            "name": "lender",
            "kind": "applications",
            "columns": {"income": {"type": "float", "role": "feature"}},
        }
    )
    path = tmp_path / "lender.csv"
    path.write_text("income,_row_number\n1,1\n")
    with pytest.raises(UnreadableFileError, match="_row_number are reserved for lineage"):
        ingest_file(path, contract)
