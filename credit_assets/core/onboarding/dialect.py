"""How a lender's file is written, detected from its first bytes: what `contract infer`
writes into a draft's `csv:` or `excel:` so that ingestion reads the file as it is.

- Encoding: a byte-order mark decides; else UTF-8 if the sample is valid UTF-8; else
  `charset-normalizer`'s best guess (Windows-1252 where it reads the sample the same way,
  since that is what Windows exports are).
- Delimiter and banner lines: for each of `,` `;` tab `|` the sample's lines are split as
  CSV; the delimiter whose most common field count (above one) covers the most lines wins,
  and the lines above the first line with that count are banner lines.
- Decimal comma and thousands separators: from the numbers in the data lines.
- Workbooks: the sheet with the most filled cells, and the rows above its header.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from credit_assets.core.contracts import CsvOptions, ExcelOptions
from credit_assets.core.ingestion.readers import (
    ReadError,
    decode_sample,
    guess_encoding,
    landing_format,
    read_head_bytes,
    sniff_bom,
)

DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
SAMPLE_BYTES = 1 << 18
MAX_BANNER_LINES = 30

# Numbers as lenders write them. `1.234` alone could be 1.234 or 1234: it decides nothing
# by itself (`_ONE_GROUP`). A decimal part after grouped digits (`1.169,94`, `1,169.94`,
# `1 169,94`) or several groups (`1.234.567`) says both separators; digits, one separator,
# digits (`13,99`, `0.5`) say the decimal one.
_ONE_GROUP = re.compile(r"^[+-]?\d{1,3}([.,])\d{3}$")
_GROUPED = re.compile(r"^[+-]?\d{1,3}(?:([., \u00a0\u202f'])\d{3})+(?:([.,])\d+)?$")
_DECIMAL = re.compile(r"^[+-]?\d+([.,])\d+$")
_OTHER = {".": ",", ",": "."}


@dataclass
class Detected:
    """What was found, and the notes a reviewer reads in the draft's header."""

    csv: CsvOptions = field(default_factory=CsvOptions)
    excel: ExcelOptions = field(default_factory=ExcelOptions)
    notes: list[str] = field(default_factory=list)


def detect_encoding(head: bytes) -> tuple[str, str | None]:
    """(encoding, a note when it was guessed rather than declared by a BOM or UTF-8)."""
    bom = sniff_bom(head)
    if bom is not None:
        return bom, f"encoding: {bom} (the file starts with its byte-order mark)"
    try:
        head.decode("utf-8")
        return "utf-8", None
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:  # a character cut at the sample's end
            return "utf-8", None
    guess = guess_encoding(head)
    if guess is None:
        raise ReadError("no text encoding fits the file's first bytes; is it a text file?")
    return guess, (
        f"encoding: {guess}, guessed by charset-normalizer (not UTF-8); check accented "
        "letters in the values of a category"
    )


def _field_counts(lines: list[str], delimiter: str) -> list[int]:
    return [len(row) for row in csv.reader(lines, delimiter=delimiter, quotechar='"')]


def detect_dialect(text: str) -> tuple[str, int]:
    """(delimiter, banner lines above the header) of a CSV sample's text."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may cut the last line short
    if not lines:
        return ",", 0
    best: tuple[float, int, str, int] | None = None
    for delimiter in DELIMITERS:
        try:
            counts = _field_counts(lines, delimiter)
        except csv.Error:
            continue
        tail = counts[MAX_BANNER_LINES:] or counts[len(counts) // 2 :] or counts
        mode, _ = Counter(tail).most_common(1)[0]
        if mode < 2:
            continue
        header = next((i for i, n in enumerate(counts) if n == mode), 0)
        body = counts[header:]
        coverage = sum(n == mode for n in body) / len(body)
        candidate = (round(coverage, 2), mode, delimiter, header)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    if best is None:
        return ",", 0
    _, _, delimiter, header = best
    # Blank lines were dropped above: count the file's own lines up to the header.
    return delimiter, _lines_before(text, lines[header]) if header else 0


def _lines_before(text: str, header_line: str) -> int:
    for position, line in enumerate(text.splitlines()):
        if line == header_line:
            return position
    return 0


def detect_numbers(rows: list[list[str]]) -> tuple[str, str | None]:
    """(decimal, thousands) from the data rows' fields: the decimal separator the
    unambiguous numbers vote for (a tie: the point), the thousands separator they show, else
    the other separator when values like `16.100` appear beside a decimal comma."""
    decimal: Counter[str] = Counter()
    thousands: Counter[str] = Counter()
    one_group: Counter[str] = Counter()
    for row in rows:
        for value in row:
            value = value.strip()
            if match := _ONE_GROUP.match(value):
                one_group[match.group(1)] += 1
            elif (match := _GROUPED.match(value)) and (
                match.group(2) or value.count(match.group(1)) > 1
            ):
                separator, point = match.group(1), match.group(2)
                if point is not None and point != separator:
                    decimal[point] += 1
                    thousands[separator] += 1
                elif point is None and separator in _OTHER:
                    decimal[_OTHER[separator]] += 1
                    thousands[separator] += 1
                elif point is None:
                    thousands[separator] += 1
            elif match := _DECIMAL.match(value):
                decimal[match.group(1)] += 1
    chosen = "," if decimal[","] > decimal["."] else "."
    grouped = [sep for sep, _ in thousands.most_common() if sep != chosen]
    if not grouped and one_group[_OTHER[chosen]]:
        grouped = [_OTHER[chosen]]  # `16.100` beside `13,99`: dots group thousands
    return chosen, grouped[0] if grouped else None


def detect_csv(path: Path) -> Detected:
    """The `csv:` options of a (possibly compressed) CSV file, from its first 256 KiB."""
    fmt = landing_format(path.name)
    head = read_head_bytes(path, fmt.compression if fmt else None, SAMPLE_BYTES)
    encoding, note = detect_encoding(head)
    text = decode_sample(head, encoding).removeprefix("\ufeff")
    delimiter, skip_rows = detect_dialect(text)
    lines = text.splitlines()[skip_rows + 1 :]
    if lines and not text.endswith(("\n", "\r")):
        lines = lines[:-1]
    rows = list(csv.reader([line for line in lines if line.strip()], delimiter=delimiter))
    decimal, thousands = detect_numbers(rows)
    options = CsvOptions(
        delimiter=delimiter,
        decimal=decimal,  # type: ignore[arg-type]
        thousands=thousands,
        encoding=_codec_name(encoding),
        skip_rows=skip_rows,
    )
    notes = [note] if note else []
    if delimiter != ",":
        notes.append(f"delimiter: {DELIMITER_NAMES[delimiter]}, detected")
    if skip_rows:
        notes.append(f"skip_rows: {skip_rows} line(s) above the header, detected (banner lines)")
    if decimal == "," or thousands:
        shown = f"decimal {decimal!r}" + (f", thousands {thousands!r}" if thousands else "")
        notes.append(f"numbers: {shown}, detected from the values")
    return Detected(csv=options, notes=notes)


def _codec_name(encoding: str) -> str:
    """A codec name as people write it (`cp1252`, `latin-1`, `utf-16`)."""
    return {"latin_1": "latin-1", "utf_8": "utf-8", "utf_16": "utf-16"}.get(encoding, encoding)


def detect_excel(path: Path) -> Detected:
    """The `excel:` options of a workbook: the sheet with the most filled cells, and the
    rows above its header (the first row with as many filled cells as most rows)."""
    import fastexcel

    try:
        workbook = fastexcel.read_excel(path)
    except Exception as exc:
        raise ReadError(f"not a readable workbook ({exc})") from exc
    best: tuple[int, str, int] | None = None
    for name in workbook.sheet_names:
        table = workbook.load_sheet(name, header_row=None, dtypes="string", n_rows=2000)
        frame = table.to_polars()
        filled = [sum(v is not None and str(v).strip() != "" for v in row) for row in frame.rows()]
        if not filled or max(filled) == 0:
            continue
        mode, _ = Counter(n for n in filled if n).most_common(1)[0]
        header = next(i for i, n in enumerate(filled) if n >= mode)
        cells = sum(filled)
        if best is None or cells > best[0]:
            best = (cells, name, header)
    if best is None:
        raise ReadError(f"every sheet of the workbook is empty ({workbook.sheet_names})")
    _, sheet, header = best
    notes = []
    if len(workbook.sheet_names) > 1:
        notes.append(
            f"sheet: {sheet!r}, the one with the most filled cells of {workbook.sheet_names}"
        )
    if header:
        notes.append(f"skip_rows: {header} row(s) above the header, detected")
    return Detected(excel=ExcelOptions(sheet=sheet, skip_rows=header), notes=notes)


def detect_reading(path: Path) -> Detected:
    """How to read a landing file: detected `csv:` or `excel:` options (defaults otherwise)."""
    fmt = landing_format(path.name)
    if fmt is None or fmt.format in ("parquet", "jsonl"):
        if fmt is not None and fmt.format == "jsonl":
            head = read_head_bytes(path, fmt.compression, SAMPLE_BYTES)
            encoding, note = detect_encoding(head)
            return Detected(
                csv=CsvOptions(encoding=_codec_name(encoding)), notes=[note] if note else []
            )
        return Detected()
    if fmt.format == "excel":
        return detect_excel(path)
    return detect_csv(path)
