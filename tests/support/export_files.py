"""An export of a lender file and how its bytes are written (see `export_variants`).

`Export` is a file in the making: `data` holds the values as the file carries them
(labels spelled `BAD `, dates as `240105`), `expected` what a correct reader makes of
them, both under the header a reader gives the columns; the other fields say how the text
is written (delimiter, separators, encoding, banner lines, container). `write_export`
writes it and returns an `ExportVariant`, whose `reading` is how the file is read in the
contract's own syntax (`formats`, `csv:` or `excel:`, and per column what the contract
adds, such as a date `format:`).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import MISSING, dataclass, field, fields
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

Container = Literal["csv", "csv.gz", "zip", "xlsx"]
DateStyle = Literal["%d/%m/%Y", "%y%m%d", "excel_serial", "iso_offset"]

BANNER = "Export generated 05/12/2026 by CoreLoans v4.2"
DATA_SHEET, NOTES_SHEET = "Applications", "Notes"
EXPORTED_AT = datetime(2026, 5, 12, 8, 0, 0)  # stamped into archives, so bytes repeat
# Settings a workbook has no use for: a text file's dialect.
TEXT_SETTINGS = (
    "delimiter",
    "quote_char",
    "decimal",
    "thousands",
    "encoding",
    "line_terminator",
    "trailing_blank_lines",
)


@dataclass(frozen=True)
class Export:
    """One file in the making: its values, what a reader should see, and how it is written."""

    data: pl.DataFrame
    expected: pl.DataFrame
    raw_header: tuple[str, ...]  # as written; data and expected carry renamed_header(raw_header)
    label_column: str | None
    amount_column: str | None
    seed: int
    bad_value: Any = 0  # the label value that means bad (German Credit: 0)
    date_column: str | None = None
    # Contract additions per column (renamed names), e.g. {"application_date": {"format": ...}}.
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    verbatim: frozenset[str] = frozenset()  # written as they are, never number-formatted
    steps: tuple[str, ...] = ()
    amount_fractional: bool = False
    delimiter: str = ","
    quote_char: str = '"'
    decimal: str = "."
    thousands: str | None = None
    encoding: str = "utf-8"
    line_terminator: str = "\n"
    # Lines above the header; `{sep}` stands for the delimiter (in a workbook: the next cell).
    banner: tuple[str, ...] = ()
    trailing_blank_lines: int = 0
    container: Container = "csv"
    date_style: DateStyle | None = None


SETTING_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in fields(Export) if f.default is not MISSING
}


@dataclass(frozen=True)
class ExportVariant:
    """A written export and what a correct reader makes of it."""

    name: str
    path: Path
    reading: dict[str, Any]  # formats, csv: or excel:, columns: (contract syntax)
    header: tuple[str, ...]  # column names after renaming, = expected.columns
    raw_header: tuple[str, ...]  # as written: may hold a blank or a repeated name
    expected: pl.DataFrame
    text: str | None  # the CSV text before encoding and compression; None for a workbook
    export: Export

    def contract_for(self, contract: dict[str, Any]) -> dict[str, Any]:
        """`contract` (a YAML mapping) with this file's reading and column additions merged in."""
        merged = {**contract, **{k: v for k, v in self.reading.items() if k != "columns"}}
        columns = {name: dict(spec) for name, spec in contract.get("columns", {}).items()}
        for name, extra in self.reading["columns"].items():
            columns[name] = {**columns.get(name, {}), **extra}
        return {**merged, "columns": columns}


def renamed_header(raw: Sequence[str]) -> tuple[str, ...]:
    """A header as a reader names it: blank -> `column_<position>`, repeats -> `<name>_2`, ..."""
    seen: dict[str, int] = {}
    names = []
    for position, name in enumerate(raw, start=1):
        name = name if name.strip() else f"column_{position}"
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return tuple(names)


def write_export(export: Export, folder: Path, name: str | None = None) -> ExportVariant:
    """Write the export into `folder` (named after its steps) and describe it."""
    name = name or "-".join(export.steps) or "comma"
    folder.mkdir(parents=True, exist_ok=True)
    if export.decimal == export.thousands:
        raise ValueError(f"decimal and thousands separators are both {export.decimal!r}")
    reading: dict[str, Any]
    if export.container == "xlsx":
        clashing = [s for s in TEXT_SETTINGS if getattr(export, s) != SETTING_DEFAULTS[s]]
        if clashing:
            raise ValueError(
                f"a workbook has no text dialect; drop the variants setting {clashing}"
            )
        path = folder / f"{name}.xlsx"
        _write_workbook(export, path)
        text = None
        reading = {
            "formats": ["excel"],
            "excel": {"sheet": DATA_SHEET, "skip_rows": len(export.banner)},
        }
    else:
        text = _export_text(export)
        path = folder / f"{name}.{export.container}"
        path.write_bytes(
            _compressed(encoded(text, export.encoding), export.container, f"{name}.csv")
        )
        reading = {
            "formats": ["csv"],
            "csv": {
                "delimiter": export.delimiter,
                "quote_char": export.quote_char,
                "decimal": export.decimal,
                "thousands": export.thousands,
                "encoding": export.encoding,
                "skip_rows": len(export.banner),
            },
        }
    reading["columns"] = {column: dict(spec) for column, spec in export.columns.items()}
    return ExportVariant(
        name=name,
        path=path,
        reading=reading,
        header=renamed_header(export.raw_header),
        raw_header=export.raw_header,
        expected=export.expected,
        text=text,
        export=export,
    )


def csv_text(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    delimiter: str = ",",
    quote_char: str = '"',
    line_terminator: str = "\n",
    banner: Sequence[str] = (),
    trailing_blank_lines: int = 0,
) -> str:
    """Delimited text as a spreadsheet or a core system writes it: a field is quoted only
    when it holds the delimiter, the quote or a line break."""
    out = io.StringIO()
    for line in banner:
        out.write(line + line_terminator)
    writer = csv.writer(
        out, delimiter=delimiter, quotechar=quote_char, lineterminator=line_terminator
    )
    writer.writerow(header)
    writer.writerows(rows)
    out.write(line_terminator * trailing_blank_lines)
    return out.getvalue()


def format_number(
    value: float, *, decimal: str = ".", thousands: str | None = None, decimals: int | None = None
) -> str:
    """`value` with an export's separators (`1.169,94`): `decimals` places, or as few as
    read back to the same number."""
    if isinstance(value, int):
        text = str(value)
    elif decimals is None:
        text = np.format_float_positional(value, trim="-", unique=True)
    else:
        text = f"{value:.{decimals}f}"
    sign, text = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, _, fraction = text.partition(".")
    if thousands:
        groups = [whole[max(i - 3, 0) : i] for i in range(len(whole), 0, -3)]
        whole = thousands.join(reversed(groups))
    return sign + whole + (decimal + fraction if fraction else "")


def encoded(text: str, encoding: str) -> bytes:
    """`text` in `encoding`; UTF-16 little-endian with its BOM on every machine."""
    if encoding == "utf-16":
        return codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    return text.encode(encoding)


def _export_text(export: Export) -> str:
    # A system writes money with the same places on every row (7882,90), as many as needed.
    decimals = {
        c: max(
            (len(format_number(v).partition(".")[2]) for v in export.data[c].drop_nulls()),
            default=0,
        )
        for c, t in export.data.schema.items()
        if t.is_float() and c not in export.verbatim
    }

    def cell(column: str, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float) and column not in export.verbatim:
            return format_number(
                value,
                decimal=export.decimal,
                thousands=export.thousands,
                decimals=decimals.get(column),
            )
        if isinstance(value, date):  # datetimes too
            return value.isoformat()
        return str(value)

    return csv_text(
        export.raw_header,
        (
            [cell(c, v) for c, v in zip(export.data.columns, row, strict=True)]
            for row in export.data.iter_rows()
        ),
        delimiter=export.delimiter,
        quote_char=export.quote_char,
        line_terminator=export.line_terminator,
        banner=[line.format(sep=export.delimiter) for line in export.banner],
        trailing_blank_lines=export.trailing_blank_lines,
    )


def _compressed(payload: bytes, container: Container, member: str) -> bytes:
    if container == "csv.gz":
        return gzip.compress(payload, mtime=0)
    if container == "zip":
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            info = zipfile.ZipInfo(member, date_time=EXPORTED_AT.timetuple()[:6])
            archive.writestr(info, payload, compress_type=zipfile.ZIP_DEFLATED)
        return out.getvalue()
    return payload


def _write_workbook(export: Export, path: Path) -> None:
    import xlsxwriter  # test-only: pip install xlsxwriter

    workbook = xlsxwriter.Workbook(
        str(path),
        {"strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False},
    )
    workbook.set_properties({"created": EXPORTED_AT})
    day = workbook.add_format({"num_format": "dd.mm.yyyy"})
    notes = workbook.add_worksheet(NOTES_SHEET)
    lines = (BANNER, f"Rows: {export.data.height}", f"The data is on the sheet {DATA_SHEET}.")
    for r, line in enumerate(lines):
        notes.write_string(r, 0, line)
    sheet = workbook.add_worksheet(DATA_SHEET)
    for r, line in enumerate(export.banner):
        for c, text in enumerate(line.split("{sep}")):
            sheet.write_string(r, c, text)
    top = len(export.banner)
    for c, name in enumerate(export.raw_header):
        if name:  # a blank header is an empty cell
            sheet.write_string(top, c, name)
    for r, row in enumerate(export.data.iter_rows(), start=top + 1):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, bool):
                sheet.write_boolean(r, c, value)
            elif isinstance(value, int | float):
                sheet.write_number(r, c, value)
            elif isinstance(value, date):
                sheet.write_datetime(r, c, datetime.combine(value, datetime.min.time()), day)
            else:
                sheet.write_string(r, c, str(value))
    workbook.close()
