"""Erasing a borrower's rows (GDPR Art. 17) from every file the platform stores.

Erasure removes the borrower's rows and nothing else: every other borrower's rows keep
their values (and, in delivered text files, their bytes), so a redacted file read again
with the same contract gives exactly the remaining rows. Three kinds of file:

- Parquet frames in the data store (raw rows, features, scores): `redact_frames`.
- Quarantined rows, whose raw record is a JSON string and whose reason quotes values:
  `redact_quarantine`.
- Files as lenders delivered them, in the landing zone's three areas, in their own format,
  encoding and compression: `redact_delivered` for one file, `redact_zone` for a source.

A file is rewritten only when a row was removed. A delivered file that cannot be rewritten
in its own format (an `.xls` workbook, an unreadable file) raises `RedactionError`;
`redact_zone` then deletes it. No Dagster here: the assets and the CLI call these.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl

from credit_assets.core.contracts import ColumnSpec, Contract, CsvOptions, ExcelOptions
from credit_assets.core.contracts.json_paths import Step, as_text, extract, parse_path
from credit_assets.core.ingestion.readers import (
    SUPPORTED_NAMES,
    LandingFormat,
    ReadError,
    check_parquet_size,
    check_workbook_size,
    decompressed,
    landing_format,
    stable_header_names,
    zip_member,
)
from credit_assets.core.ingestion.zones import (
    NOTE_SUFFIX,
    Area,
    LandingFile,
    LandingZone,
    LocalLandingZone,
    S3LandingZone,
)
from credit_assets.core.platform.storage.local import DataStore

Action = Literal["rewritten", "deleted", "untouched", "failed"]
ERASED = "[erased]"
AREAS: tuple[Area, ...] = ("landing", "archive", "rejected")
PARTIAL_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload")
# A byte-order mark, and the codec of the text after it (the mark itself is kept as bytes,
# so a UTF-16 file stays in its own byte order).
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
# A declared encoding that writes a mark of its own, for a file that has none.
_WITHOUT_MARK = {"utf-8-sig": "utf-8", "utf-16": "utf-16-le"}

# Contract columns that identify the borrower's rows, with the texts that do.
Wanted = list[tuple[ColumnSpec, frozenset[str]]]


class RedactionError(ValueError):
    """A delivered file that cannot be rewritten without the borrower's rows (its format
    cannot be written back, or it cannot be read): the caller deletes it instead."""

    def __init__(self, file_name: str, reason: str) -> None:
        super().__init__(f"{file_name}: {reason}")
        self.file_name = file_name
        self.reason = reason


@dataclass(frozen=True)
class Redacted:
    """What erasure did to one stored object: the audit trail names it, never the values."""

    key: str  # a data-store key or a landing-zone location
    rows_removed: int
    action: Action
    note: str = ""


def identifier_texts(values: Collection[str]) -> frozenset[str]:
    """Identifiers as the texts compared (trimmed, empty ones dropped: an empty identifier
    would match every blank value). A bare string is one identifier, not its characters."""
    items = [values] if isinstance(values, str) else list(values)
    return frozenset(text for value in items if (text := str(value).strip()))


# --- Parquet frames in the data store ------------------------------------------------------


def redact_frames(
    store: DataStore, prefix: str, match: Mapping[str, Collection[str]]
) -> list[Redacted]:
    """Remove, from every Parquet object under `prefix`, the rows in which any column named
    in `match` (that the object has) holds one of its values, compared as text so an int id
    matches its string; one entry per object. An object is rewritten (same schema, even with
    no row left) only when a row was removed."""
    wanted = {column: identifier_texts(values) for column, values in match.items()}
    keys = [key for key in store.list_keys(prefix) if key.endswith(".parquet")]
    return [_redact_frame(store, key, wanted) for key in keys]


def rows_matching(schema: pl.Schema, wanted: Mapping[str, frozenset[str]]) -> pl.Expr | None:
    """Whether a row holds one of the values in one of the columns (null never matches);
    None when the frame has none of the columns. Nested columns cannot hold an id."""
    conditions = [
        pl.col(column)
        .cast(pl.String, strict=False)
        .str.strip_chars()
        .is_in(sorted(values))
        .fill_null(False)
        for column, values in wanted.items()
        if values and column in schema and not schema[column].is_nested()
    ]
    return pl.any_horizontal(conditions) if conditions else None


def _redact_frame(store: DataStore, key: str, wanted: Mapping[str, frozenset[str]]) -> Redacted:
    """One object: read whole (a partition or bucket), written back only when changed."""
    frame = store.read_frame(key)
    condition = rows_matching(frame.schema, wanted)
    if condition is None:
        return Redacted(key, 0, "untouched", "none of the matched columns")
    kept = frame.filter(~condition)
    removed = frame.height - kept.height
    if removed == 0:
        return Redacted(key, 0, "untouched")
    store.write_frame(key, kept)
    return Redacted(key, removed, "rewritten")


# --- Quarantined rows ----------------------------------------------------------------------


def redact_quarantine(
    store: DataStore, prefix: str, identifiers: Collection[str]
) -> list[Redacted]:
    """Remove quarantined rows (QUARANTINE_SCHEMA) that hold an identifier: a value of the
    raw `record` equal to it (trimmed), or the identifier quoted in the `reason` or in a
    malformed line. A row refused for a malformed id holds that id in its record, so it is
    found by the same rule."""
    ids = identifier_texts(identifiers)
    keys = [key for key in store.list_keys(prefix) if key.endswith(".parquet")]
    return [_redact_quarantine_object(store, key, ids) for key in keys]


def _redact_quarantine_object(store: DataStore, key: str, ids: frozenset[str]) -> Redacted:
    """One quarantine object; one without a record or reason is not a quarantine."""
    frame = store.read_frame(key)
    if not ids or not {"record", "reason"} & set(frame.columns):
        return Redacted(key, 0, "untouched", "no record or reason column")
    drop = quarantined_matches(frame, ids)
    removed = int(drop.sum())
    if removed == 0:
        return Redacted(key, 0, "untouched")
    store.write_frame(key, frame.filter(~drop))
    return Redacted(key, removed, "rewritten")


def quarantined_matches(frame: pl.DataFrame, ids: frozenset[str]) -> pl.Series:
    """Which quarantined rows hold an identifier. The text search (vectorised) only picks
    the candidates; each candidate's record is then parsed, so `B1` does not match `B12`."""
    texts = [pl.col(c).fill_null("") for c in ("record", "reason") if c in frame.columns]
    needles = sorted(ids | {json.dumps(i)[1:-1] for i in ids})  # as escaped inside JSON
    suspect = pl.any_horizontal(t.str.contains_any(needles) for t in texts)
    present = [c for c in ("record", "reason") if c in frame.columns]
    candidates = frame.with_row_index("_i").filter(suspect).select("_i", *present)
    hits = [
        row["_i"]
        for row in candidates.iter_rows(named=True)
        if _record_holds(row.get("record"), ids) or _quotes_any(row.get("reason"), ids)
    ]
    return frame.select(pl.int_range(pl.len()).is_in(hits).alias("match")).to_series()


def _record_holds(record: str | None, ids: frozenset[str]) -> bool:
    """A raw record (JSON) with a value equal to an identifier; a malformed line (kept as
    delivered, not JSON) holding one quoted."""
    if record is None:
        return False
    try:
        parsed = json.loads(record)
    except ValueError:
        return _quotes_any(record, ids)
    malformed = parsed.get("_malformed") if isinstance(parsed, dict) else None
    if isinstance(malformed, str) and _quotes_any(malformed, ids):
        return True
    return any(text in ids for text in _scalar_texts(parsed))


def _scalar_texts(value: Any) -> Iterator[str]:
    """Every scalar of a JSON value, as trimmed text (null left out)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _scalar_texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _scalar_texts(item)
    elif value is not None:
        yield as_text(value).strip()


def _quotes_any(text: str | None, ids: frozenset[str]) -> bool:
    """Whether a text quotes an identifier as a value ('B1' or "B1"), as reasons do."""
    if not text:
        return False
    return any(f"'{i}'" in text or f'"{i}"' in text for i in ids)


# --- Delivered files -----------------------------------------------------------------------


def redact_delivered(
    data: bytes, file_name: str, contract: Contract, match: Mapping[str, Collection[str]]
) -> tuple[bytes, int]:
    """A delivered file without the rows whose contract column (found by its `header:` or
    name) holds one of the values, in its own format, encoding and compression, and the
    number of rows removed. Unmatched: the original bytes and 0.

    Raises RedactionError when the file cannot be rewritten in its format (.xls, .ods, or an
    Excel workbook without openpyxl), cannot be read, or lacks every matched column (so
    which rows are the borrower's cannot be told): the caller deletes it.
    """
    fmt = landing_format(file_name)
    if fmt is None:
        raise RedactionError(file_name, f"unsupported file type (expected {SUPPORTED_NAMES})")
    wanted = contract_match(contract, match)
    if not wanted:
        return data, 0
    try:
        redacted, removed = _redact_packed(data, fmt, file_name, contract, wanted)
    except (ReadError, UnicodeError, csv.Error, zipfile.BadZipFile) as exc:
        # Not OSError: a disk or network failure is raised as it is, never a reason to delete.
        raise RedactionError(file_name, str(exc)) from exc
    return (redacted, removed) if removed else (data, 0)


def contract_match(contract: Contract, match: Mapping[str, Collection[str]]) -> Wanted:
    """The contract's columns in `match` with the texts a file may hold for them: the
    values, and a `map:` key that maps to one (the file holds what the lender wrote)."""
    wanted: Wanted = []
    for name, values in match.items():
        spec = contract.columns.get(name)
        ids = identifier_texts(values)
        if spec is None or not ids:
            continue
        exact, _ = spec.map_rules
        wanted.append((spec, ids | {key.strip() for key, value in exact.items() if value in ids}))
    return wanted


def _redact_packed(
    data: bytes, fmt: LandingFormat, file_name: str, contract: Contract, wanted: Wanted
) -> tuple[bytes, int]:
    """Unpacked with ingestion's own bounds (a decompression bomb is refused, not inflated
    in memory), redacted, packed again as it came."""
    with tempfile.TemporaryDirectory(prefix="credit-redact-") as tmp:
        path = Path(tmp) / Path(file_name).name
        path.write_bytes(data)
        with decompressed(path, fmt.compression) as plain:
            if fmt.format == "parquet":
                check_parquet_size(plain)
            elif fmt.format == "excel":
                check_workbook_size(plain)
            content = plain.read_bytes()
    redacted, removed = _redact_plain(content, fmt.format, file_name, contract, wanted)
    if removed == 0:
        return data, 0
    if fmt.compression == "gzip":
        return _gzip_like(data, redacted), removed
    if fmt.compression == "zip":
        return _zip_like(data, redacted), removed
    return redacted, removed


def _redact_plain(
    data: bytes, fmt: str, file_name: str, contract: Contract, wanted: Wanted
) -> tuple[bytes, int]:
    """An uncompressed file by its landing format."""
    if fmt == "csv":
        return _redact_csv(data, contract.csv, wanted)
    if fmt == "jsonl":
        return _redact_jsonl(data, contract, wanted)
    if fmt == "parquet":
        return _redact_parquet(data, wanted)
    return _redact_excel(data, file_name, contract.excel, wanted)


def _gzip_like(original: bytes, content: bytes) -> bytes:
    """`content` gzipped with the original's modification time (bytes 4-8 of its header)."""
    return gzip.compress(content, mtime=int.from_bytes(original[4:8], "little"))


def _zip_like(original: bytes, content: bytes) -> bytes:
    """The archive with its one data member replaced (same name, date and compression);
    other entries (macOS's hidden `._` files) copied as they are."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as source:
        member = zip_member(source)
        with zipfile.ZipFile(out, "w") as target:
            target.comment = source.comment
            for info in source.infolist():
                body = content if info.filename == member.filename else source.read(info)
                target.writestr(info, body)
    return out.getvalue()


def _matches(row_value: object, ids: frozenset[str]) -> bool:
    """A delivered value (trimmed, as ingestion reads it) equal to an identifier."""
    return row_value is not None and as_text(row_value).strip() in ids


# --- Text: encodings, CSV, JSON lines ------------------------------------------------------


def _decode(data: bytes, declared: str) -> tuple[bytes, str, str]:
    """(byte-order mark, codec, text): a mark wins over the declared encoding, as in
    ingestion. Decoding is strict, so encoding the text again gives the same bytes."""
    for mark, codec in _BOMS:
        if data.startswith(mark):
            return mark, codec, data[len(mark) :].decode(codec)
    codec = _WITHOUT_MARK.get(codecs.lookup(declared).name, declared)
    return b"", codec, data.decode(codec)


def _redact_csv(data: bytes, options: CsvOptions, wanted: Wanted) -> tuple[bytes, int]:
    """Banner and header lines kept verbatim; each record kept as its own text (quoted
    fields with the delimiter or a line break included), the borrower's dropped."""
    mark, codec, text = _decode(data, options.encoding)
    head, header, body = _split_header(text, options.skip_rows)
    if not header.strip():
        raise ReadError("empty file (no header)")
    header_fields: list[str | None] = [*next(csv.reader([header], **_dialect(options)), [])]
    names, _ = stable_header_names(header_fields)
    columns = [(names.index(s.file_header), ids) for s, ids in wanted if s.file_header in names]
    if not columns:
        missing = ", ".join(s.file_header for s, _ in wanted)
        raise ReadError(f"no column {missing} in the header: the borrower's rows cannot be told")
    kept: list[str] = []
    removed = 0
    for fields, raw in _csv_records(body, options):
        if any(i < len(fields) and _matches(fields[i], ids) for i, ids in columns):
            removed += 1
        else:
            kept.append(raw)
    if removed == 0:
        return data, 0
    return mark + (head + header + "".join(kept)).encode(codec), removed


def _dialect(options: CsvOptions) -> dict[str, Any]:
    """The csv module's reading of the contract's options, as ingestion's header reader."""
    return {
        "delimiter": options.delimiter,
        "quotechar": options.quote_char or '"',
        "quoting": csv.QUOTE_MINIMAL if options.quote_char else csv.QUOTE_NONE,
    }


def _split_header(text: str, skip_rows: int) -> tuple[str, str, str]:
    """(banner and blank lines, the header line, the rest), split as ingestion reads them:
    `skip_rows` lines, then blank lines, then the header; line ends kept."""
    lines = io.StringIO(text, newline="")
    head = "".join(lines.readline() for _ in range(skip_rows))
    header = lines.readline()
    while header and not header.strip():
        head += header
        header = lines.readline()
    consumed = len(head) + len(header)
    return head, header, text[consumed:]


def _csv_records(body: str, options: CsvOptions) -> Iterator[tuple[list[str], str]]:
    """Each record's fields and its exact text (one line, or several for a quoted line
    break): the csv module pulls lines one at a time, so the lines it consumed for a record
    are that record's text."""
    consumed: list[str] = []

    def lines() -> Iterator[str]:
        for line in io.StringIO(body, newline=""):
            consumed.append(line)
            yield line

    for fields in csv.reader(lines(), **_dialect(options)):
        raw = "".join(consumed)
        consumed.clear()
        yield fields, raw


def _redact_jsonl(data: bytes, contract: Contract, wanted: Wanted) -> tuple[bytes, int]:
    """JSON lines in the contract's encoding (as ingestion decodes them): a line holding
    the borrower's record is dropped whole; a nested document's records are filtered."""
    mark, codec, text = _decode(data, contract.csv.encoding)
    if contract.is_nested:
        kept, removed = _redact_nested(text, contract, wanted)
    else:
        kept, removed = _redact_lines(text, lambda doc: _flat_line(doc, wanted))
    if removed == 0:
        return data, 0
    return mark + kept.encode(codec), removed


LineRedaction = Callable[[Any], tuple[Any, int]]


def _redact_lines(text: str, redact: LineRedaction) -> tuple[str, int]:
    """Line by line (split at `\\n` only, line ends kept): `redact` takes the parsed line
    and gives the document to keep (None: drop the line) and the records removed. A line
    that is not JSON is passed as a `_Line`."""
    kept: list[str] = []
    removed = 0
    for line in re.split(r"(?<=\n)", text):
        if not line.strip():
            kept.append(line)
            continue
        try:
            document: Any = json.loads(line)
        except ValueError:
            document = _Line(line)
        new, count = redact(document)
        removed += count
        if count == 0:
            kept.append(line)
        elif new is not None:
            ending = line[len(line.rstrip("\r\n")) :]
            kept.append(json.dumps(new, ensure_ascii=False) + ending)
    return "".join(kept), removed


@dataclass(frozen=True)
class _Line:
    """A line that is not JSON: ingestion quarantines it as `_malformed`, as delivered."""

    text: str


def _flat_line(document: Any, wanted: Wanted) -> tuple[Any, int]:
    """A flat JSON line (fields named by `header:` or the column name) is the borrower's
    when a field holds an identifier; a line that is not a JSON object when it quotes one."""
    if not isinstance(document, dict):
        text = document.text if isinstance(document, _Line) else json.dumps(document)
        ids = frozenset().union(*(ids for _, ids in wanted))
        return (None, 1) if _quotes_any(text, ids) else (document, 0)
    hit = any(_matches(document.get(spec.file_header), ids) for spec, ids in wanted)
    return (None, 1) if hit else (document, 0)


def _redact_nested(text: str, contract: Contract, wanted: Wanted) -> tuple[str, int]:
    """Nested JSON as ingestion reads it: the whole text as one document (an aggregator's
    response, or an array of documents), else one document per line. A document is the
    borrower's record, or holds records at `records:`, which are filtered."""
    try:
        whole = json.loads(text)
    except ValueError:
        return _redact_lines(text, lambda doc: _nested_document(doc, contract, wanted))
    if isinstance(whole, list):
        results = [_nested_document(doc, contract, wanted) for doc in whole]
        removed = sum(count for _, count in results)
        redacted: Any = [doc for doc, _ in results if doc is not None]
    else:
        redacted, removed = _nested_document(whole, contract, wanted)
        redacted = [] if redacted is None else redacted  # the one record was the borrower's
    if removed == 0:
        return text, 0
    indent = 2 if "\n" in text.strip() else None
    ending = text[len(text.rstrip()) :]
    return json.dumps(redacted, ensure_ascii=False, indent=indent) + ending, removed


def _nested_document(document: Any, contract: Contract, wanted: Wanted) -> tuple[Any, int]:
    """(the document without the borrower's records, or None if it is one; records removed)."""
    ids = frozenset().union(*(ids for _, ids in wanted))
    if isinstance(document, _Line):
        return (None, 1) if _quotes_any(document.text, ids) else (document, 0)
    if contract.records is None:
        return (None, 1) if _nested_record_matches(document, wanted) else (document, 0)
    steps = parse_path(contract.records)
    records = extract(document, steps)
    if not isinstance(records, list):
        return document, 0
    kept = [r for r in records if not _nested_record_matches(r, wanted)]
    if len(kept) == len(records):
        return document, 0
    return _with_value(document, steps, kept), len(records) - len(kept)


def _nested_record_matches(record: Any, wanted: Wanted) -> bool:
    """A nested record whose value at a column's `from:` path (or name) is an identifier."""
    return any(_matches(extract(record, spec.path_steps), ids) for spec, ids in wanted)


def _with_value(document: Any, steps: tuple[Step, ...], value: Any) -> Any:
    """The document with `value` at `steps` (which `extract` just found)."""
    if not steps:
        return value
    parent = extract(document, steps[:-1])
    parent[steps[-1]] = value
    return document


# --- Parquet and Excel ---------------------------------------------------------------------


def _redact_parquet(data: bytes, wanted: Wanted) -> tuple[bytes, int]:
    """A delivered Parquet file: its columns are named as the file's header."""
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except Exception as exc:  # polars raises several error types for a damaged file
        raise ReadError(f"not a readable Parquet file ({exc})") from exc
    condition = rows_matching(frame.schema, {spec.file_header: ids for spec, ids in wanted})
    if condition is None:
        raise ReadError(_no_column(wanted))
    kept = frame.filter(~condition)
    if kept.height == frame.height:
        return data, 0
    out = io.BytesIO()
    kept.write_parquet(out)
    return out.getvalue(), frame.height - kept.height


def _no_column(wanted: Wanted) -> str:
    """Why a file without any matched column cannot be redacted (so it is deleted)."""
    names = ", ".join(spec.file_header for spec, _ in wanted)
    return f"no column {names} in the file: the borrower's rows cannot be told"


def _redact_excel(
    data: bytes, file_name: str, options: ExcelOptions, wanted: Wanted
) -> tuple[bytes, int]:
    """The contract's sheet without the borrower's rows (other sheets kept), through
    openpyxl: only .xlsx and .xlsm can be written back."""
    suffix = Path(file_name).suffix.lower()
    if suffix not in (".xlsx", ".xlsm"):
        raise RedactionError(file_name, f"a {suffix} workbook cannot be rewritten in place")
    try:
        import openpyxl
    except ImportError:
        raise RedactionError(
            file_name, "openpyxl is not installed, so the workbook cannot be rewritten"
        ) from None
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), keep_vba=suffix == ".xlsm")
    except Exception as exc:  # openpyxl raises several error types for a damaged file
        raise ReadError(f"not a readable workbook ({exc})") from exc
    sheet = _sheet(book, options.sheet)
    rows = _excel_rows(sheet, options.skip_rows, wanted)
    if not rows:
        return data, 0
    for row in reversed(rows):
        sheet.delete_rows(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue(), len(rows)


def _sheet(book: Any, sheet: str | int) -> Any:
    """The contract's sheet, refused as the calamine reader refuses it."""
    names = book.sheetnames
    if isinstance(sheet, int) and not 0 <= sheet < len(names):
        raise ReadError(f"excel.sheet {sheet} does not exist; the sheets are {names}")
    if isinstance(sheet, str) and sheet not in names:
        raise ReadError(f"no sheet {sheet!r} in the workbook; its sheets are {names}")
    return book[names[sheet] if isinstance(sheet, int) else sheet]


def _excel_rows(sheet: Any, skip_rows: int, wanted: Wanted) -> list[int]:
    """The 1-based sheet rows below the header (after `skip_rows` rows of the used range,
    as the calamine reader counts) that hold an identifier."""
    first = sheet.min_row + skip_rows
    rows = sheet.iter_rows(min_row=first, min_col=sheet.min_column, values_only=True)
    header = next(rows, None)
    if header is None:
        raise ReadError("the sheet is empty")
    names, _ = stable_header_names([None if v is None else _cell_text(v) for v in header])
    columns = [(names.index(s.file_header), ids) for s, ids in wanted if s.file_header in names]
    if not columns:
        raise ReadError(_no_column(wanted))
    return [
        first + offset
        for offset, values in enumerate(rows, start=1)
        if any(i < len(values) and _matches(_cell_text(values[i]), ids) for i, ids in columns)
    ]


def _cell_text(value: Any) -> str | None:
    """A cell as the text ingestion reads (a whole number stored as a float without `.0`)."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return as_text(value)


# --- The landing zone ----------------------------------------------------------------------


def redact_zone(
    zone: LandingZone, contract: Contract, match: Mapping[str, Collection[str]]
) -> list[Redacted]:
    """Every file of the contract's source waiting in the landing folder, archived or set
    aside, redacted in place; one entry per file. A file that cannot be redacted is deleted
    (the erasure wins over keeping an unreadable file); a `.reason.json` note has the
    identifiers it quotes replaced by "[erased]". Nothing to do when `match` names none of
    the contract's columns."""
    if not contract_match(contract, match):
        return []
    ids = frozenset().union(*(identifier_texts(values) for values in match.values()))
    results = []
    for area in AREAS:
        for file in sorted(zone._list(area, contract.name), key=lambda f: f.name):
            results.append(_redact_zone_file(zone, file, contract, match, ids))
    return results


def _redact_zone_file(
    zone: LandingZone,
    file: LandingFile,
    contract: Contract,
    match: Mapping[str, Collection[str]],
    ids: frozenset[str],
) -> Redacted:
    """One zone file: a note, an upload still arriving (left alone), or a delivered file."""
    if file.name.endswith(NOTE_SUFFIX):
        return _redact_note(zone, file, ids)
    if file.name.endswith(PARTIAL_SUFFIXES):
        return Redacted(
            file.location, 0, "failed", "an upload in progress: erase again once it completes"
        )
    try:
        redacted, removed = redact_delivered(zone._read(file), file.name, contract, match)
    except RedactionError as exc:
        if zone_delete(zone, file):
            return Redacted(file.location, 0, "deleted", f"could not be redacted: {exc.reason}")
        return Redacted(file.location, 0, "failed", f"{exc.reason}; the zone cannot delete it")
    if removed == 0:
        return Redacted(file.location, 0, "untouched")
    zone_write(zone, file, redacted)
    return Redacted(file.location, removed, "rewritten")


def _redact_note(zone: LandingZone, file: LandingFile, ids: frozenset[str]) -> Redacted:
    """A set-aside note (JSON) with every value equal to an identifier, or quoting one,
    replaced by "[erased]"."""
    try:
        note = json.loads(zone._read(file))
    except ValueError:
        if zone_delete(zone, file):
            return Redacted(file.location, 0, "deleted", "an unreadable note")
        return Redacted(file.location, 0, "failed", "an unreadable note")
    erased, count = erase_values(note, ids)
    if count == 0:
        return Redacted(file.location, 0, "untouched")
    zone_write(zone, file, json.dumps(erased, indent=2).encode())
    return Redacted(file.location, 0, "rewritten", f"{count} value(s) replaced by {ERASED}")


def erase_values(value: Any, ids: frozenset[str]) -> tuple[Any, int]:
    """A JSON value with each text equal to an identifier replaced by "[erased]", and each
    quoted one inside a text ('B1' in a reason) by '[erased]'; and how many were."""
    if isinstance(value, dict):
        pairs = [(k, *erase_values(v, ids)) for k, v in value.items()]
        return {k: v for k, v, _ in pairs}, sum(n for _, _, n in pairs)
    if isinstance(value, list):
        items = [erase_values(v, ids) for v in value]
        return [v for v, _ in items], sum(n for _, n in items)
    if not isinstance(value, str):
        return value, 0
    if value.strip() in ids:
        return ERASED, 1
    count = 0
    for identifier in ids:
        for quote in ("'", '"'):
            quoted = f"{quote}{identifier}{quote}"
            count += value.count(quoted)
            value = value.replace(quoted, f"{quote}{ERASED}{quote}")
    return value, count


def zone_write(zone: LandingZone, file: LandingFile, data: bytes) -> None:
    """Replace a zone file's content where it is. Locally through a temporary file and a
    rename, so a crash never leaves half a file (the zone's own `_write` writes in place);
    on S3 a PUT is atomic already."""
    if isinstance(zone, LocalLandingZone):
        target = Path(file.location)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return
    zone._write(file.area, file.source, file.name, data)


def zone_delete(zone: LandingZone, file: LandingFile) -> bool:
    """Delete a zone file; False for a zone this module does not know how to delete from
    (LandingZone has no delete of its own)."""
    if isinstance(zone, LocalLandingZone):
        Path(file.location).unlink(missing_ok=True)
        return True
    if isinstance(zone, S3LandingZone):
        zone.client.delete_object(Bucket=zone.bucket, Key=zone._key(file))
        return True
    return False
