"""The export-variant generator: every file has the property its variant names, and read as
its description says it reads back to the clean frame.

The files are checked by independent means: raw bytes, Python's codecs, the csv module,
gzip, zipfile and the workbook's own XML; nothing here uses the platform's reader.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from polars.testing import assert_frame_equal

from tests.support.export_files import BANNER, DATA_SHEET, NOTES_SHEET, format_number
from tests.support.export_variants import (
    LABEL_SPELLINGS,
    VARIANTS,
    ExportVariant,
    german_credit_frame,
    variant_combinations,
    with_application_dates,
    write_variant,
)

EXCEL_EPOCH = date(1899, 12, 30)
SHEET_NS = {"s": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
RELS_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
PROPERTY_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def german() -> pl.DataFrame:
    return german_credit_frame()


# -- an independent reading of a written variant -----------------------------------------------


def file_bytes(variant: ExportVariant) -> bytes:
    raw = variant.path.read_bytes()
    if variant.path.name.endswith(".gz"):
        return gzip.decompress(raw)
    if variant.path.suffix == ".zip":
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            (member,) = archive.namelist()
            return archive.read(member)
    return raw


def reader_names(header: list[str]) -> list[str]:
    """The renaming rule, restated: blank -> column_<position>, the n-th repeat -> name_n."""
    bases = [name if name.strip() else f"column_{i}" for i, name in enumerate(header, start=1)]
    return [
        base if bases[:i].count(base) == 0 else f"{base}_{bases[:i].count(base) + 1}"
        for i, base in enumerate(bases)
    ]


def typed(cell: Any, dtype: pl.DataType, spec: dict[str, Any], csv_options: dict[str, Any]) -> Any:
    """One cell as the description says to read it: separators, date format, label case."""
    if cell is None or cell == "":
        return None
    if "labels" in spec:
        return str(cell).strip().lower()
    number = str(cell)
    if csv_options.get("thousands"):
        number = number.replace(csv_options["thousands"], "")
    number = number.replace(csv_options.get("decimal", "."), ".")
    if dtype == pl.Int64:
        return int(float(number))
    if dtype == pl.Float64:
        return float(number)
    if dtype == pl.Date:
        if spec.get("format") == "excel_serial" or not isinstance(cell, str):
            return EXCEL_EPOCH + timedelta(days=int(float(cell)))
        return datetime.strptime(cell, spec.get("format", "%Y-%m-%d")).date()
    if dtype == pl.Datetime("us"):
        return datetime.fromisoformat(cell).astimezone(UTC).replace(tzinfo=None)
    return cell


def as_frame(
    variant: ExportVariant, header: list[str], rows: list[list[Any]], options: dict[str, Any]
) -> pl.DataFrame:
    names = reader_names(header)
    assert tuple(names) == variant.header
    schema = variant.expected.schema
    columns = variant.reading["columns"]
    return pl.DataFrame(
        {
            name: [typed(row[i], schema[name], columns.get(name, {}), options) for row in rows]
            for i, name in enumerate(names)
        },
        schema=schema,
    )


def read_csv_variant(variant: ExportVariant) -> pl.DataFrame:
    options = variant.reading["csv"]
    lines = io.StringIO(file_bytes(variant).decode(options["encoding"]), newline="")
    for _ in range(options["skip_rows"]):
        lines.readline()
    reader = csv.reader(lines, delimiter=options["delimiter"], quotechar=options["quote_char"])
    header, *rows = [row for row in reader if row]  # blank lines are no rows
    assert tuple(header) == variant.raw_header
    return as_frame(variant, header, rows, options)


def workbook_sheets(path: Path) -> dict[str, list[list[Any]]]:
    """Every sheet's rows (name -> cells), from the workbook's XML, in the workbook's order."""
    with zipfile.ZipFile(path) as book:
        strings = [
            "".join(t.text or "" for t in si.iter(f"{{{SHEET_NS['s']}}}t"))
            for si in ElementTree.fromstring(book.read("xl/sharedStrings.xml"))
        ]
        rels = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
        targets = {rel.get("Id"): rel.get("Target") for rel in rels}
        workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))
        sheets = {}
        for sheet in workbook.find("s:sheets", SHEET_NS):
            xml = ElementTree.fromstring(book.read(f"xl/{targets[sheet.get(RELS_NS)]}"))
            rows: list[list[Any]] = []
            for row in xml.iter(f"{{{SHEET_NS['s']}}}row"):
                rows += [[] for _ in range(int(row.get("r")) - 1 - len(rows))]  # empty rows
                cells: dict[int, Any] = {}
                for c in row.findall("s:c", SHEET_NS):
                    letters = re.match(r"[A-Z]+", c.get("r")).group()
                    position = sum((ord(ch) - 64) * 26**i for i, ch in enumerate(reversed(letters)))
                    value = c.find("s:v", SHEET_NS).text
                    cells[position - 1] = strings[int(value)] if c.get("t") == "s" else float(value)
                rows.append([cells.get(i) for i in range(max(cells) + 1)] if cells else [])
            sheets[sheet.get("name")] = rows
        return sheets


def read_workbook_variant(variant: ExportVariant) -> pl.DataFrame:
    options = variant.reading["excel"]
    header, *rows = workbook_sheets(variant.path)[options["sheet"]][options["skip_rows"] :]
    width = len(variant.raw_header)
    header = [h or "" for h in header] + [""] * (width - len(header))
    rows = [row + [None] * (width - len(row)) for row in rows]
    assert tuple(header) == variant.raw_header
    return as_frame(variant, header, rows, {})


def read_variant(variant: ExportVariant) -> pl.DataFrame:
    if variant.path.suffix == ".xlsx":
        return read_workbook_variant(variant)
    return read_csv_variant(variant)


# -- every variant reads back -------------------------------------------------------------------


@pytest.mark.parametrize("name", list(VARIANTS))
def test_each_variant_reads_back_to_its_clean_frame(name, german, tmp_path):
    variant = write_variant(german, tmp_path, name)

    assert_frame_equal(read_variant(variant), variant.expected)
    assert variant.expected.height == german.height


@pytest.mark.parametrize("name", list(VARIANTS))
def test_each_variant_is_the_same_bytes_every_time(name, german, tmp_path):
    first = write_variant(german, tmp_path / "a", name).path.read_bytes()
    second = write_variant(german, tmp_path / "b", name).path.read_bytes()

    assert first == second


def test_a_seed_changes_what_is_drawn(german, tmp_path):
    first = write_variant(german, tmp_path / "a", "decimal_comma", seed=1)
    second = write_variant(german, tmp_path / "b", "decimal_comma", seed=2)

    assert first.text != second.text


def test_the_baseline_is_the_clean_frame_as_a_plain_csv(german, tmp_path):
    variant = write_variant(german, tmp_path)

    assert variant.reading["csv"] == {
        "delimiter": ",",
        "quote_char": '"',
        "decimal": ".",
        "thousands": None,
        "encoding": "utf-8",
        "skip_rows": 0,
    }
    assert_frame_equal(variant.expected, german)
    assert pl.read_csv(variant.path).equals(german)


@PROPERTY_SETTINGS
@given(names=variant_combinations())
def test_any_compatible_combination_reads_back(names, german, tmp_path_factory):
    variant = write_variant(german.head(60), tmp_path_factory.mktemp("combo"), *names)

    assert_frame_equal(read_variant(variant), variant.expected)


def test_a_combination_describes_every_setting(german, tmp_path):
    variant = write_variant(
        german, tmp_path, "semicolon", "decimal_comma", "cp1252", "banner_2", "dates_dmy"
    )

    assert variant.reading["csv"] == {
        "delimiter": ";",
        "quote_char": '"',
        "decimal": ",",
        "thousands": None,
        "encoding": "cp1252",
        "skip_rows": 2,
    }
    assert variant.reading["columns"]["application_date"]["format"] == "%d/%m/%Y"
    assert variant.path.name == "semicolon-decimal_comma-cp1252-banner_2-dates_dmy.csv"
    assert_frame_equal(read_variant(variant), variant.expected)


@pytest.mark.parametrize(
    "names",
    [("cp1252", "utf16"), ("semicolon", "tab"), ("decimal_comma", "thousands_comma"),
     ("xlsx", "semicolon"), ("xlsx", "crlf"), ("dates_dmy", "dates_yymmdd")],
)  # fmt: skip
def test_variants_that_contradict_each_other_are_refused(names, german, tmp_path):
    with pytest.raises(ValueError):
        write_variant(german, tmp_path, *names)


def test_an_unknown_variant_is_refused_naming_it(german, tmp_path):
    with pytest.raises(KeyError, match="semicolons"):
        write_variant(german, tmp_path, "semicolons")


# -- each file has the property its variant names -------------------------------------------------


def data_lines(variant: ExportVariant) -> list[str]:
    assert variant.text is not None
    return variant.text.splitlines()


def amount_cells(variant: ExportVariant) -> list[str]:
    options = variant.reading["csv"]
    rows = list(csv.reader(io.StringIO(variant.text), delimiter=options["delimiter"]))
    column = rows[0].index("credit_amount")
    return [row[column] for row in rows[1:]]


def test_semicolon_decimal_comma_writes_unquoted_decimal_commas(german, tmp_path):
    variant = write_variant(german, tmp_path, "semicolon_decimal_comma")
    header, first = data_lines(variant)[:2]

    assert header.count(";") == 9 and "," not in header
    assert all(re.fullmatch(r"\d+,\d\d", cell) for cell in amount_cells(variant))
    assert '"' not in variant.text
    assert first.split(";")[6] == format_number(variant.expected["credit_amount"][0], decimal=",")


def test_decimal_comma_in_a_comma_file_quotes_the_amount(german, tmp_path):
    variant = write_variant(german, tmp_path, "decimal_comma")

    quoted = re.findall(r'"(\d+,\d\d)"', variant.text)
    assert len(quoted) == german.height
    assert (variant.expected["credit_amount"] % 1 > 0).all()


def test_thousands_dot_groups_amounts_over_a_thousand(german, tmp_path):
    variant = write_variant(german, tmp_path, "semicolon_thousands_dot")
    cells = amount_cells(variant)

    assert re.fullmatch(r"1\.169,\d\d", cells[0])
    big = [c for c, v in zip(cells, variant.expected["credit_amount"], strict=True) if v >= 1000]
    assert big and all(re.fullmatch(r"\d{1,3}(\.\d{3})+,\d\d", c) for c in big)


def test_thousands_comma_quotes_grouped_amounts_in_a_comma_file(german, tmp_path):
    variant = write_variant(german, tmp_path, "thousands_comma")

    assert data_lines(variant)[1].split('"')[1].startswith("1,169.")
    assert all(re.fullmatch(r"(\d{1,3}(,\d{3})*)\.\d\d", c) for c in amount_cells(variant))


@pytest.mark.parametrize(("name", "delimiter"), [("tab", "\t"), ("pipe", "|")])
def test_tab_and_pipe_files_split_on_their_delimiter(name, delimiter, german, tmp_path):
    lines = data_lines(write_variant(german, tmp_path, name))

    assert all(line.count(delimiter) == 9 for line in lines)
    assert "," not in lines[0]


def test_utf8_bom_starts_with_the_mark_and_hides_it_from_utf8_decoding(german, tmp_path):
    raw = write_variant(german, tmp_path, "utf8_bom").path.read_bytes()

    assert raw.startswith(codecs.BOM_UTF8)
    assert raw.decode("utf-8").startswith("\ufeffrisk,")


def test_utf16_has_a_bom_and_is_not_utf8(german, tmp_path):
    raw = write_variant(german, tmp_path, "utf16").path.read_bytes()

    assert raw.startswith(codecs.BOM_UTF16_LE)
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert raw.decode("utf-16").startswith("risk,sex")


def test_cp1252_is_not_utf8_and_latin1_misreads_its_euro_sign(german, tmp_path):
    variant = write_variant(german, tmp_path, "cp1252")
    raw = variant.path.read_bytes()

    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert b"\x80" in raw  # the euro sign: a control character in ISO-8859-1
    assert raw.decode("latin-1") != variant.text
    assert "Radio/Fernseher" in raw.decode("cp1252")
    assert {"Möbel/Einrichtung", "über 1000 €"} <= set(
        variant.expected["purpose"].to_list() + variant.expected["saving_accounts"].to_list()
    )


def test_latin1_is_not_utf8_and_has_umlauts_but_no_euro(german, tmp_path):
    variant = write_variant(german, tmp_path, "latin1")
    raw = variant.path.read_bytes()

    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert "ü".encode("latin-1") in raw and "€" not in variant.text
    assert not any(0x80 <= byte <= 0x9F for byte in raw)


def test_a_file_without_german_credit_values_still_gets_non_ascii_text(tmp_path):
    clean = pl.DataFrame(
        {"risk": [0, 1, 1], "city": ["Bonn", "Linz", "Graz"], "amount": [1.5, 2.0, 3.25]}
    )

    variant = write_variant(clean, tmp_path, "cp1252")

    assert variant.expected["city"].to_list() == ["Bonn (Zürich)", "Linz (Zürich)", "Graz (Zürich)"]


def test_crlf_ends_every_line_with_carriage_return_line_feed(german, tmp_path):
    raw = write_variant(german, tmp_path, "crlf").path.read_bytes()

    assert raw.count(b"\r\n") == raw.count(b"\n") == german.height + 1


def test_trailing_blank_lines_follow_the_last_row(german, tmp_path):
    raw = write_variant(german, tmp_path, "trailing_blank_lines").path.read_bytes()

    assert raw.endswith(b"\n\n\n\n") and not raw.endswith(b"\n\n\n\n\n")
    assert raw.rstrip(b"\n").rsplit(b"\n", 1)[1].count(b",") == 9


def test_one_banner_line_sits_above_the_header_without_the_delimiter(german, tmp_path):
    banner, header = data_lines(write_variant(german, tmp_path, "banner_1"))[:2]

    assert banner == BANNER and "," not in banner
    assert header.startswith("risk,")


@pytest.mark.parametrize("delimiter", ["comma", "semicolon"])
def test_two_banner_lines_the_second_holding_the_delimiter(delimiter, german, tmp_path):
    variant = write_variant(german, tmp_path, delimiter, "banner_2")
    sep = variant.reading["csv"]["delimiter"]
    first, second, header = data_lines(variant)[:3]

    assert first == BANNER
    assert 0 < second.count(sep) < header.count(sep) == 9
    assert header.split(sep)[0] == "risk"


def test_day_first_dates_cannot_be_read_month_first(german, tmp_path):
    variant = write_variant(german, tmp_path, "dates_dmy")
    cells = [line.rsplit(",", 1)[1] for line in data_lines(variant)[1:]]

    assert all(re.fullmatch(r"\d\d/\d\d/20(24|25)", cell) for cell in cells)
    assert any(int(cell[:2]) > 12 for cell in cells)
    with pytest.raises(ValueError):
        [datetime.strptime(cell, "%m/%d/%Y") for cell in cells]


def test_application_dates_span_two_years():
    dates = with_application_dates(pl.DataFrame({"x": range(500)}))["application_date"]

    assert dates.min() < date(2024, 3, 1) and dates.max() > date(2025, 10, 31)


def test_yymmdd_dates_are_six_digit_integers(german, tmp_path):
    variant = write_variant(german, tmp_path, "dates_yymmdd")
    cells = [line.rsplit(",", 1)[1] for line in data_lines(variant)[1:]]

    assert all(re.fullmatch(r"2[45](0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])", cell) for cell in cells)
    first = variant.expected["application_date"][0]
    assert cells[0] == first.strftime("%y%m%d")


def test_excel_serial_dates_are_day_numbers_from_1899_12_30(german, tmp_path):
    variant = write_variant(german, tmp_path, "dates_excel_serial")
    cells = [int(line.rsplit(",", 1)[1]) for line in data_lines(variant)[1:]]

    assert min(cells) >= 45292 and max(cells) <= 46022  # 2024-01-01 .. 2025-12-31
    assert cells[0] == (variant.expected["application_date"][0] - EXCEL_EPOCH).days


def test_iso_datetimes_carry_several_utc_offsets(german, tmp_path):
    variant = write_variant(german, tmp_path, "datetimes_iso_offset")
    cells = [line.rsplit(",", 1)[1] for line in data_lines(variant)[1:]]
    parsed = [datetime.fromisoformat(cell) for cell in cells]

    assert all(p.tzinfo is not None for p in parsed)
    assert len({p.utcoffset() for p in parsed}) >= 4
    assert any(cell.endswith("Z") for cell in cells)


def test_workbook_has_notes_first_and_the_data_on_applications(german, tmp_path):
    variant = write_variant(german, tmp_path, "xlsx")
    sheets = workbook_sheets(variant.path)

    assert list(sheets) == [NOTES_SHEET, DATA_SHEET]
    assert variant.reading == {
        "formats": ["excel"],
        "excel": {"sheet": DATA_SHEET, "skip_rows": 0},
        "columns": {},
    }
    assert sheets[NOTES_SHEET][0] == [BANNER]
    assert len(sheets[DATA_SHEET]) == german.height + 1
    assert sheets[DATA_SHEET][0] == german.columns


def test_a_workbook_holds_native_dates_and_a_blank_header_cell(german, tmp_path):
    clean = with_application_dates(german)
    variant = write_variant(clean, tmp_path, "xlsx", "blank_header", "label_spellings")
    header, first = workbook_sheets(variant.path)[DATA_SHEET][:2]

    assert header[0] is None and variant.header[0] == "column_1"
    assert first[-1] == (clean["application_date"][0] - EXCEL_EPOCH).days
    assert_frame_equal(read_variant(variant), variant.expected)


def test_gzip_wraps_the_csv(german, tmp_path):
    variant = write_variant(german, tmp_path, "gzip")
    raw = variant.path.read_bytes()

    assert variant.path.name.endswith(".csv.gz") and raw[:2] == b"\x1f\x8b"
    assert gzip.decompress(raw).decode() == variant.text


def test_zip_holds_one_csv(german, tmp_path):
    variant = write_variant(german, tmp_path, "zip")

    with zipfile.ZipFile(variant.path) as archive:
        assert archive.namelist() == ["zip.csv"]
        assert archive.read("zip.csv").decode() == variant.text


def test_duplicate_header_repeats_a_name_read_as_name_2(german, tmp_path):
    variant = write_variant(german, tmp_path, "duplicate_header")

    assert variant.raw_header.count("credit_amount") == 2
    assert variant.header[-1] == "credit_amount_2"
    assert (variant.expected["credit_amount_2"] <= variant.expected["credit_amount"]).all()
    assert variant.expected["credit_amount_2"].ne(variant.expected["credit_amount"]).any()


def test_blank_header_is_a_pandas_index_read_as_column_1(german, tmp_path):
    variant = write_variant(german, tmp_path, "blank_header")
    header, first, second = data_lines(variant)[:3]

    assert header.startswith(",risk,") and first.startswith("0,") and second.startswith("1,")
    assert variant.header[:2] == ("column_1", "risk")
    assert variant.expected["column_1"].to_list() == list(range(german.height))


def test_label_spellings_use_every_spelling_and_keep_each_label(german, tmp_path):
    variant = write_variant(german, tmp_path, "label_spellings")
    cells = [row[0] for row in csv.reader(io.StringIO(variant.text))][1:]

    assert set(cells) == {s for spellings in LABEL_SPELLINGS.values() for s in spellings}
    normalised = [cell.strip().lower() for cell in cells]
    assert normalised == ["bad" if r == 0 else "good" for r in german["risk"]]
    assert variant.reading["columns"]["risk"]["labels"] == {"bad": "bad", "good": "good"}


def test_contract_for_merges_reading_into_a_lenders_contract(german, tmp_path):
    variant = write_variant(german, tmp_path, "semicolon_decimal_comma", "label_spellings")
    contract = {
        "name": "german_credit",
        "formats": ["csv"],
        "columns": {
            "risk": {
                "type": "int",
                "role": "label",
                "allowed": [0, 1],
                "labels": {"bad": 0, "good": 1},
            },
            "credit_amount": {"type": "float", "role": "feature", "min": 0},
        },
    }

    merged = variant.contract_for(contract)

    assert merged["csv"]["delimiter"] == ";" and merged["csv"]["decimal"] == ","
    assert merged["columns"]["risk"] == {
        "type": "category",
        "role": "label",
        "allowed": ["bad", "good"],
        "labels": {"bad": "bad", "good": "good"},
    }
    assert merged["columns"]["credit_amount"] == {"type": "float", "role": "feature", "min": 0}
    assert contract["columns"]["risk"]["type"] == "int"  # the lender's contract is untouched


def test_a_workbook_may_carry_banner_rows_above_its_header(german, tmp_path):
    variant = write_variant(german, tmp_path, "xlsx", "banner_2")
    rows = workbook_sheets(variant.path)[DATA_SHEET]

    assert variant.reading["excel"]["skip_rows"] == 2
    assert rows[0] == [BANNER] and rows[1] == ["Report", "Applications", "Branch", "All"]
    assert rows[2] == german.columns
    assert_frame_equal(read_variant(variant), variant.expected)
