"""Values as lenders write them: numbers with a decimal comma or thousands separators, dates
in any spelling a contract declares, signs from another column, labels in any case; what
does not parse is quarantined naming the column, never read wrong."""

from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from credit_assets.core.contracts import ColumnSpec, Contract, CsvOptions, Role
from credit_assets.core.ingestion.stream import ingest_file
from credit_assets.core.ingestion.values import typed_value
from credit_assets.core.onboarding.inference import infer_contract


def typed(values: list[str], numbers: CsvOptions | None = None, **spec) -> list:
    column = ColumnSpec(name="v", role=spec.pop("role", Role.FEATURE), **spec)
    frame = pl.DataFrame({"v": values}, schema={"v": pl.String})
    return frame.select(typed_value(column, pl.col("v"), numbers)).to_series().to_list()


def test_decimal_comma_and_dot_thousands_read_strictly():
    european = CsvOptions(delimiter=";", decimal=",", thousands=".")
    assert typed(["1.169,94", "1169,94", "-2.000.000,5", "12"], european, type="float") == [
        1169.94,
        1169.94,
        -2000000.5,
        12.0,
    ]
    # A separator that does not group by three is not a number: quarantined, not 1.16.
    assert typed(["1.16", "11.69,5"], european, type="float") == [None, None]


def test_a_point_in_a_decimal_comma_file_without_dot_thousands_is_not_a_number():
    assert typed(["1.5", "1,5"], CsvOptions(delimiter=";", decimal=","), type="float") == [
        None,
        1.5,
    ]


def test_comma_thousands_with_a_decimal_point():
    assert typed(["1,169.94", "1169.94", "1,16"], CsvOptions(thousands=","), type="float") == [
        1169.94,
        1169.94,
        None,
    ]


@pytest.mark.parametrize(
    ("fmt", "text", "expected"),
    [
        ("%d/%m/%Y", "05/01/2024", date(2024, 1, 5)),
        ("%m/%d/%Y", "01/05/2024", date(2024, 1, 5)),
        ("%d.%m.%Y", "05.01.2024", date(2024, 1, 5)),
        ("%y%m%d", "240105", date(2024, 1, 5)),
        ("%y%m%d", "50105", date(2005, 1, 5)),  # an integer that lost its leading zero
        ("%y%m%d", "240105.0", date(2024, 1, 5)),  # as a spreadsheet writes a number
        ("%Y%m%d", "20240105", date(2024, 1, 5)),
        ("excel_serial", "45296", date(2024, 1, 5)),
        ("%d/%m/%Y", "31/02/2024", None),  # no such day: quarantined
    ],
)
def test_a_declared_date_format_reads_the_lenders_spelling(fmt, text, expected):
    assert typed([text], type="date", format=fmt) == [expected]


def test_iso_datetimes_with_offsets_are_read_in_utc():
    assert typed(
        ["2024-01-05T10:00:00+02:00", "2024-01-05 10:00:00Z", "2024-01-05T10:00", "2024-01-05"],
        type="datetime",
    ) == [
        datetime(2024, 1, 5, 8, 0),
        datetime(2024, 1, 5, 10, 0),
        datetime(2024, 1, 5, 10, 0),
        datetime(2024, 1, 5, 0, 0),
    ]


def test_excel_serial_datetimes_keep_the_time_of_day():
    assert typed(["45296.5"], type="datetime", format="excel_serial") == [
        datetime(2024, 1, 5, 12, 0)
    ]


def test_label_values_differing_by_case_or_spaces_read_as_declared():
    assert typed(
        ["bad", "BAD", "Bad", "good", "GOOD", "meh"],
        type="category",
        role=Role.LABEL,
        labels={"bad": "bad", "good": "good"},
    ) == ["bad", "bad", "bad", "good", "good", "meh"]


def contract_with_sign(positive: list[str] | None) -> Contract:
    return Contract.model_validate(
        {
            "name": "bank",
            "kind": "applications",
            "csv": {"delimiter": ";", "decimal": ","},
            "columns": {
                "Art": {"type": "string", "role": "ignore"},
                "amount": {
                    "type": "float",
                    "role": "feature",
                    "header": "Betrag",
                    "sign_from": {
                        "column": "Art",
                        "negative": ["Lastschrift", "withdrawal in cash"],
                        **({"positive": positive} if positive else {}),
                    },
                },
            },
        }
    )


def test_an_unsigned_amount_takes_its_sign_from_another_column(tmp_path: Path):
    path = tmp_path / "bank.csv"
    path.write_text("Art;Betrag\nLastschrift;12,5\n WITHDRAWAL IN CASH ;3\nGutschrift;100\n")
    result = ingest_file(path, contract_with_sign(None))
    assert result.accepted["amount"].to_list() == [-12.5, -3.0, 100.0]


def test_a_sign_column_value_in_neither_list_is_quarantined(tmp_path: Path):
    path = tmp_path / "bank.csv"
    path.write_text("Art;Betrag\nLastschrift;12,5\nStorno;3\nGutschrift;100\n")
    result = ingest_file(path, contract_with_sign(["Gutschrift"]))
    assert result.accepted["amount"].to_list() == [-12.5, 100.0]
    assert result.rejected["reason"].to_list() == [
        "amount: sign unknown, Art is neither a negative nor a positive value: 'Storno'"
    ]


def test_infer_drafts_repeated_integer_codes_as_categories(tmp_path: Path):
    path = tmp_path / "codes.csv"
    pl.DataFrame(
        {
            "LoanID": [f"L{i}" for i in range(60)],
            "BRANCH_CODE": [101, 102, 205] * 20,
            "PRODUCT_ID": [1, 2] * 30,
            "Income": [1000.0 + i for i in range(60)],
            "Defaulted": ["yes", "no", "no"] * 20,
        }
    ).write_csv(path)
    draft = infer_contract(path, "codes")
    columns = draft.contract.columns
    assert columns["BRANCH_CODE"].type == "category" and columns["BRANCH_CODE"].role is Role.FEATURE
    assert columns["BRANCH_CODE"].allowed == ["101", "102", "205"]
    assert columns["PRODUCT_ID"].type == "category"
    assert "a code (3 distinct values" in draft.column_comments["BRANCH_CODE"]
    assert ingest_file(path, draft.contract).rejected.height == 0


def test_a_row_with_more_fields_than_the_header_is_quarantined_not_cut(tmp_path: Path):
    path = tmp_path / "lender.csv"
    path.write_text("a,b\n1,2\n3,4,5\n6,7\n")
    contract = Contract.model_validate(
        {
            "name": "lender",
            "kind": "applications",
            "columns": {
                "a": {"type": "int", "role": "feature"},
                "b": {"type": "int", "role": "feature"},
            },
        }
    )
    result = ingest_file(path, contract)
    assert result.accepted["a"].to_list() == [1, 6]
    assert result.rejected["row_number"].to_list() == [2]
    assert result.rejected["reason"][0].startswith("more fields than the header has")
    assert '"_extra_fields":"5"' in result.rejected["record"][0]


def test_a_file_name_with_glob_characters_is_a_name(tmp_path: Path):
    path = tmp_path / "export [2026-11] *final*.csv"
    path.write_text("a,b\n1,2\n")
    contract = Contract.model_validate(
        {
            "name": "lender",
            "kind": "applications",
            "columns": {"a": {"type": "int", "role": "feature"}},
        }
    )
    assert ingest_file(path, contract).accepted["a"].to_list() == [1]
