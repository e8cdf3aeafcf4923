"""Reading landing files and splitting their rows into accepted and quarantined.

Every row of a readable file ends in exactly one of two places: the accepted
frame (typed as the contract declares) or the rejected frame (with the file,
the row number, the raw values and a reason naming the column at fault).
A file that cannot be read at all raises `UnreadableFileError` naming the file
and, where one is at fault, the column.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import polars as pl

from credit_assets.core.contracts import (
    OWN_FURNISHER,
    POLARS_TYPES,
    ColumnSpec,
    Contract,
    CsvOptions,
)
from credit_assets.core.contracts.json_paths import as_text, extract, parse_path
from credit_assets.core.ingestion.readers import (
    DEFAULT_LIMITS,
    EXTRA_FIELDS,
    SUPPORTED_NAMES,
    IngestLimits,
    LandingFormat,
    ReadError,
    as_utf8,
    check_parquet_size,
    check_workbook_size,
    csv_header,
    decompressed,
    landing_format,
    read_excel_text,
    refuse_reserved,
    scan_csv_text,
    stable_header_names,
)
from credit_assets.core.ingestion.values import (
    delivered_text,
    signed_by,
    typed_from_text,
    value_is_bad,
    value_problem,
)

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "source_file": pl.String(),
    "file_sha256": pl.String(),
    "row_number": pl.Int64(),
    "reason": pl.String(),
    "record": pl.String(),
    "quarantined_at": pl.Datetime("us"),
}


class UnreadableFileError(ValueError):
    """The file as a whole cannot be ingested (encoding, format, missing columns)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path.name}: {reason}")
        self.path = path
        self.reason = reason


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_format(path: Path, contract: Contract) -> LandingFormat:
    """The landing format of a file from its name, if the contract accepts it."""
    fmt = landing_format(path.name)
    if fmt is None:
        raise UnreadableFileError(
            path, f"unsupported file type {path.suffix!r} (expected {SUPPORTED_NAMES})"
        )
    if fmt.format not in contract.formats:
        raise UnreadableFileError(
            path,
            f"{fmt.format} files are not accepted for source {contract.name} "
            f"(its contract's formats: {', '.join(contract.formats)})",
        )
    return fmt


@dataclass(frozen=True)
class DeliveredRows:
    """A file's rows as delivered (text), with `_row_number`, and how its header was named."""

    frame: pl.DataFrame
    header_notes: list[str]


@dataclass(frozen=True)
class ScannedRows:
    """A landing file's rows as delivered, lazily: scanned (CSV, Parquet) or read (Excel,
    JSON lines), with how its header was named and how its numbers are written."""

    frame: pl.LazyFrame
    columns: list[str]
    header_notes: list[str]
    numbers: CsvOptions | None


def scan_delivered(
    path: Path, contract: Contract, stack: ExitStack, limits: IngestLimits = DEFAULT_LIMITS
) -> ScannedRows:
    """A landing file as its contract says it is written, as a lazy frame valid while
    `stack` is open (a decompressed or transcoded copy lives in a temporary folder).

    Text columns stay text so bad values can be reported; `_row_number` is the 1-based
    data row. Columns are renamed from their `header:` to the contract's names. Raises
    UnreadableFileError for a file that cannot be decoded or parsed at all, or that lacks
    a required column (naming the likely cause: a wrong delimiter, banner lines).
    """
    fmt = file_format(path, contract)
    notes: list[str] = []
    numbers: CsvOptions | None = None
    csv_text: Path | None = None  # where a missing header's likely cause is looked for
    try:
        plain = stack.enter_context(decompressed(path, fmt.compression, limits))
        if fmt.format == "parquet":
            check_parquet_size(plain, limits)
            frame = _numbered(_scan_parquet(plain))
        elif fmt.format == "excel":
            check_workbook_size(plain, limits)
            rows, notes = read_excel_text(plain, contract.excel)
            frame = rows.lazy()
        else:
            text_file = stack.enter_context(as_utf8(plain, contract.csv.encoding))
            if fmt.format == "csv":
                frame, notes = scan_csv_text(text_file, contract.csv)
                numbers, csv_text = contract.csv, text_file
            else:
                data = text_file.read_bytes().removeprefix(codecs.BOM_UTF8)
                frame = _numbered(_read_jsonl(path, data, contract).lazy())
        columns = frame.collect_schema().names()
        if not contract.is_nested:
            require_headers(columns, contract, csv_text)
    except ReadError as exc:
        raise UnreadableFileError(path, str(exc)) from exc
    if not contract.is_nested:
        renames = {h: n for h, n in contract.header_renames.items() if h in columns}
        frame = frame.rename(renames)
        columns = [renames.get(c, c) for c in columns]
    return ScannedRows(frame, columns, notes, numbers)


def read_delivered(path: Path, contract: Contract) -> DeliveredRows:
    """`scan_delivered`, collected: the rows of a file that fits in memory."""
    with ExitStack() as stack:
        scanned = scan_delivered(path, contract, stack)
        try:
            return DeliveredRows(scanned.frame.collect(), scanned.header_notes)
        except pl.exceptions.PolarsError as exc:
            raise UnreadableFileError(path, f"not a parseable file ({exc})") from exc


def read_landing_file(path: Path, contract: Contract) -> pl.DataFrame:
    """`read_delivered`'s rows: text columns as delivered plus `_row_number`."""
    return read_delivered(path, contract).frame


def _numbered(frame: pl.LazyFrame) -> pl.LazyFrame:
    refuse_reserved(frame.collect_schema().names())
    return frame.with_row_index("_row_number", offset=1).with_columns(
        pl.col("_row_number").cast(pl.Int64)
    )


def _scan_parquet(path: Path) -> pl.LazyFrame:
    try:
        frame = pl.scan_parquet(path, glob=False)  # a '[' in a lender's file name is a name
        frame.collect_schema()
    except Exception as exc:  # polars raises several error types for a damaged file
        raise ReadError(f"not a readable Parquet file ({exc})") from exc
    return frame


def require_headers(names: list[str], contract: Contract, text_file: Path | None = None) -> None:
    """ReadError unless a flat file's columns hold every required header, naming the
    likely cause (`missing_columns_reason`; `text_file` lets it look for the header line)."""
    columns = [c for c in names if c not in ("_row_number", EXTRA_FIELDS)]
    missing = [h for h in contract.required_headers if h not in columns]
    if missing:
        raise ReadError(missing_columns_reason(missing, columns, contract, text_file))


SEPARATOR_NAMES = {";": "';'", "\t": "a tab", "|": "'|'", ",": "','"}


def missing_columns_reason(
    missing: list[str], columns: list[str], contract: Contract, text_file: Path | None
) -> str:
    """Why required columns are missing, with the likely cause and its fix where one shows:
    one column whose name holds another delimiter, or the header further down (banner
    lines above it)."""
    reason = f"required column(s) missing: {', '.join(missing)}"
    if len(columns) == 1:
        found = [s for s in SEPARATOR_NAMES if s != contract.csv.delimiter and s in columns[0]]
        if found:
            sep = found[0]
            return (
                f"1 column found; the header contains {SEPARATOR_NAMES[sep]}: set csv.delimiter: "
                f"{sep!r} in the contract ({reason})"
            )
    if text_file is not None:
        line = _header_line(text_file, contract)
        if line is not None and line > contract.csv.skip_rows:
            return (
                f"the header is on line {line + 1}: set csv.skip_rows: {line} in the contract "
                f"to skip the lines above it ({reason})"
            )
    return reason


def _header_line(text_file: Path, contract: Contract, max_lines: int = 30) -> int | None:
    """The 0-based line among the first ones that holds the most required header names."""
    wanted = set(contract.required_headers)
    best: tuple[int, int] | None = None
    for line in range(max_lines):
        options = contract.csv.model_copy(update={"skip_rows": line})
        try:
            names, _ = stable_header_names(list(csv_header(text_file, options)))
        except (OSError, UnicodeDecodeError):
            return None
        if not names:
            break
        hits = len(wanted.intersection(names))
        if hits and (best is None or hits > best[0]):
            best = (hits, line)
    return best[1] if best is not None else None


def _read_jsonl(path: Path, data: bytes, contract: Contract) -> pl.DataFrame:
    """JSON lines as text columns; a line that is not a JSON object is kept as a bad row.

    Polars reads a well-formed file in one pass; only a file with a broken line (a
    truncated write, say) is read line by line so the broken line can be quarantined.
    """
    if contract.is_nested:
        return _read_nested_json(path, data, contract)
    first = next((line for line in data.splitlines() if line.strip()), b"")
    try:
        keys = list(json.loads(first))
        frame = pl.read_ndjson(io.BytesIO(data), schema={k: pl.String for k in keys})
    except (ValueError, TypeError, pl.exceptions.PolarsError):
        return _read_jsonl_by_line(path, data, contract)
    return frame


def _read_jsonl_by_line(path: Path, data: bytes, contract: Contract) -> pl.DataFrame:
    rows: list[dict[str, str | None]] = []
    columns = list(contract.columns)
    for line in data.decode("utf-8").splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError("not an object")
        except ValueError:
            rows.append({"_malformed": line[:500]})
            continue
        for key in obj:
            if key not in columns:
                columns.append(key)
        rows.append({k: None if v is None else as_text(v) for k, v in obj.items()})
    if not rows:
        raise UnreadableFileError(path, "empty file (no JSON lines)")
    present = {k for row in rows for k in row}
    schema = {c: pl.String for c in columns if c in present}
    if any("_malformed" in row for row in rows):
        schema["_malformed"] = pl.String
    return pl.DataFrame(rows, schema=schema)


def _read_nested_json(path: Path, data: bytes, contract: Contract) -> pl.DataFrame:
    """Rows mapped by the contract's paths from JSON documents: one document per line, or
    the whole file as one document (an aggregator's response). With `records:` each
    document's array at that path gives the rows. A line that is not JSON, or a document
    without the array, is kept as a bad row."""
    text = data.decode("utf-8")
    try:
        documents: list[object] = [json.loads(text)]
    except ValueError:
        documents = []
        for line in text.splitlines():
            if line.strip():
                try:
                    documents.append(json.loads(line))
                except ValueError:
                    documents.append(_Malformed(line))
    if len(documents) == 1 and isinstance(documents[0], list):
        documents = list(documents[0])  # a JSON array of records
    records_at = parse_path(contract.records) if contract.records else None
    columns = {name: spec.path_steps for name, spec in contract.columns.items()}
    rows: list[dict[str, str | None]] = []
    for document in documents:
        if isinstance(document, _Malformed):
            rows.append({"_malformed": document.line[:500]})
            continue
        records = extract(document, records_at) if records_at is not None else [document]
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            rows.append(
                {
                    "_malformed": json.dumps(document)[:500],
                    "_malformed_reason": f"no array of records at {contract.records}",
                }
            )
            continue
        for record in records:
            rows.append(
                {
                    name: None if (value := extract(record, steps)) is None else as_text(value)
                    for name, steps in columns.items()
                }
            )
    if not rows:
        raise UnreadableFileError(path, "empty file (no JSON records)")
    schema = {c: pl.String for c in columns}
    if any("_malformed" in row for row in rows):
        schema |= {"_malformed": pl.String, "_malformed_reason": pl.String}
    return pl.DataFrame(rows, schema=schema)


class _Malformed(NamedTuple):
    line: str


def raw_columns_of(columns: list[str]) -> list[str]:
    """The delivered columns of a raw frame: not lineage, but `_malformed` and
    `_extra_fields` where present."""
    return [c for c in columns if not c.startswith("_") or c in ("_malformed", EXTRA_FIELDS)]


def checked_rows(
    raw: pl.LazyFrame, contract: Contract, columns: list[str], numbers: CsvOptions | None
) -> pl.LazyFrame:
    """Raw rows with `_typed_<column>` for each contract column and `_bad`, whether the row
    has any problem. Duplicate keys are not judged here; `with_reasons` names the problems
    (only of the rows that have one, since building the text is what costs)."""
    specs = list(contract.columns.values())
    missing = [c.name for c in specs if c.name not in columns]
    if missing:
        raw = raw.with_columns(pl.lit(None, dtype=pl.String).alias(name) for name in missing)
    # Each value's trimmed text once: typing and every check read it.
    texts = raw.with_columns(
        delivered_text(pl.col(c.name), c.missing).alias(f"_text_{c.name}") for c in specs
    )
    typed_exprs = {c.name: typed_from_text(c, pl.col(f"_text_{c.name}"), numbers) for c in specs}
    for c in specs:
        if c.sign_from is not None:
            sign, _ = signed_by(c, pl.col(c.sign_from.column))
            typed_exprs[c.name] = (typed_exprs[c.name].abs() * sign).cast(POLARS_TYPES[c.type])
    typed = texts.with_columns(expr.alias(f"_typed_{name}") for name, expr in typed_exprs.items())
    bad = pl.any_horizontal(_conditions(contract, columns, with_text=True)).alias("_bad")
    return typed.with_columns(bad).drop(f"_text_{c.name}" for c in specs)


def _judged(contract: Contract) -> list[tuple[ColumnSpec, pl.Expr, pl.Expr]]:
    """(column, its delivered value, its typed value) for every contract column."""
    return [(c, pl.col(c.name), pl.col(f"_typed_{c.name}")) for c in contract.columns.values()]


def _conditions(contract: Contract, columns: list[str], *, with_text: bool) -> list[pl.Expr]:
    conditions = [
        value_is_bad(c, raw, typed, pl.col(f"_text_{c.name}") if with_text else None)
        for c, raw, typed in _judged(contract)
    ]
    conditions += [
        signed_by(c, pl.col(c.sign_from.column))[1].is_not_null()
        for c in contract.columns.values()
        if c.sign_from is not None
    ]
    if "_malformed" in columns:
        conditions.append(pl.col("_malformed").is_not_null())
    if EXTRA_FIELDS in columns:
        conditions.append(pl.col(EXTRA_FIELDS).is_not_null())
    return conditions or [pl.lit(False)]


def with_reasons(checked: pl.LazyFrame, contract: Contract) -> pl.LazyFrame:
    """`_reason`: every problem of a row (columns in contract order), null for a good row."""
    columns = checked.collect_schema().names()
    problems = [value_problem(c, raw, typed) for c, raw, typed in _judged(contract)]
    problems += [
        signed_by(c, pl.col(c.sign_from.column))[1]
        for c in contract.columns.values()
        if c.sign_from is not None
    ]
    if "_malformed" in columns:
        reason = (
            pl.col("_malformed_reason")
            if "_malformed_reason" in columns
            else pl.lit(None, dtype=pl.String)
        )
        problems.insert(
            0,
            pl.when(pl.col("_malformed").is_not_null())
            .then(
                pl.concat_str(pl.lit("malformed record: "), reason.fill_null("not a JSON object"))
            )
            .otherwise(None),
        )
    if EXTRA_FIELDS in columns:
        problems.insert(
            0,
            pl.when(pl.col(EXTRA_FIELDS).is_not_null())
            .then(
                pl.lit("more fields than the header has: a value may hold the delimiter unquoted")
            )
            .otherwise(None),
        )
    reasons = pl.concat_str(problems, separator="; ", ignore_nulls=True)
    return checked.with_columns(
        pl.when(reasons == "").then(None).otherwise(reasons).alias("_reason")
    )


def duplicate_reason(contract: Contract) -> str:
    return f"duplicate key ({', '.join(contract.keys)}) already in this file"


def lineage_columns(
    source_file: str, sha256: str, ingested_at: datetime, furnisher: str = OWN_FURNISHER
) -> list[pl.Expr]:
    return [
        pl.lit(source_file).alias("_source_file"),
        pl.col("_row_number"),
        pl.lit(sha256).alias("_file_sha256"),
        pl.lit(ingested_at).cast(pl.Datetime("us")).alias("_ingested_at"),
        pl.lit(furnisher, dtype=pl.String).alias("_furnisher"),
    ]


def accepted_rows(
    checked: pl.LazyFrame, contract: Contract, lineage: list[pl.Expr]
) -> pl.LazyFrame:
    """The rows without a problem, typed as the contract declares, with lineage."""
    return checked.filter(~pl.col("_bad")).select(
        *[
            pl.col(f"_typed_{c.name}").cast(POLARS_TYPES[c.type]).alias(c.name)
            for c in contract.columns.values()
        ],
        *lineage,
    )


def record_json(columns: list[str]) -> pl.Expr:
    """A rejected row's delivered values as one JSON object (a malformed line as itself)."""
    delivered = [c for c in columns if c != "_malformed"]
    as_json = (
        pl.struct(delivered).struct.json_encode() if delivered else pl.lit("{}", dtype=pl.String)
    )
    if "_malformed" not in columns:
        return as_json
    return (
        pl.when(pl.col("_malformed").is_not_null())
        .then(pl.struct("_malformed").struct.json_encode())
        .otherwise(as_json)
    )


def rejected_rows(
    checked: pl.LazyFrame,
    contract: Contract,
    columns: list[str],
    *,
    source_file: str,
    sha256: str,
    ingested_at: datetime,
) -> pl.LazyFrame:
    """The rows with a problem, in the quarantine's shape (the record as delivered)."""
    bad = checked.filter(pl.col("_bad"))
    if "_reason" not in bad.collect_schema().names():
        bad = with_reasons(bad, contract)
    return bad.select(
        pl.lit(contract.name).alias("source"),
        pl.lit(source_file).alias("source_file"),
        pl.lit(sha256).alias("file_sha256"),
        pl.col("_row_number").cast(pl.Int64).alias("row_number"),
        pl.col("_reason").alias("reason"),
        record_json(columns).alias("record"),
        pl.lit(ingested_at).cast(pl.Datetime("us")).alias("quarantined_at"),
    )


def validate_records(
    raw: pl.DataFrame,
    contract: Contract,
    *,
    source_file: str,
    sha256: str,
    ingested_at: datetime | None = None,
    numbers: CsvOptions | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split raw rows held in memory into (accepted, rejected) by the contract.

    Accepted rows carry the contract's columns with the contract's types plus
    the lineage columns. Rejected rows carry the raw record as JSON and every
    problem found, columns in contract order. Within a file, a second row with
    the same key is rejected as a duplicate of the first. (A file too large for memory
    goes through `stream.ingest_to_files`, with the same expressions.)
    """
    ingested_at = ingested_at or datetime.now(UTC).replace(tzinfo=None)
    columns = raw_columns_of(raw.columns)
    checked = with_reasons(checked_rows(raw.lazy(), contract, raw.columns, numbers), contract)
    if contract.keys:
        # Only rows that are otherwise valid compete for a key: the first one wins.
        key_cols = [f"_typed_{k}" for k in contract.keys]
        duplicate = ~pl.col("_bad") & (
            pl.int_range(pl.len()).over(key_cols, order_by="_row_number") > 0
        )
        checked = checked.with_columns(
            pl.when(duplicate)
            .then(pl.lit(duplicate_reason(contract)))
            .otherwise(pl.col("_reason"))
            .alias("_reason"),
            (pl.col("_bad") | duplicate).alias("_bad"),
        )
    frame = checked.collect()
    lineage = lineage_columns(source_file, sha256, ingested_at)
    accepted = accepted_rows(frame.lazy(), contract, lineage).collect()
    rejected = rejected_rows(
        frame.lazy(),
        contract,
        columns,
        source_file=source_file,
        sha256=sha256,
        ingested_at=ingested_at,
    ).collect()
    return accepted, rejected.cast(QUARANTINE_SCHEMA)  # type: ignore[arg-type]


def empty_source_frame(contract: Contract) -> pl.DataFrame:
    """A zero-row frame with the contract's typed columns and the lineage columns."""
    schema: dict[str, pl.DataType] = {
        c.name: POLARS_TYPES[c.type] for c in contract.columns.values()
    }
    schema |= {
        "_source_file": pl.String(),
        "_row_number": pl.Int64(),
        "_file_sha256": pl.String(),
        "_ingested_at": pl.Datetime("us"),
        "_furnisher": pl.String(),
    }
    return pl.DataFrame(schema=schema)


def inspect_landing_file(
    path: Path, contract: Contract, limits: IngestLimits = DEFAULT_LIMITS
) -> None:
    """Cheap pre-flight of a landing file: format, compression, encoding and header.

    Raises UnreadableFileError with the reason; returns None for a file worth ingesting.
    The encoding is checked over the whole file (streamed), the header as ingestion names it.
    """
    fmt = file_format(path, contract)
    try:
        with decompressed(path, fmt.compression, limits) as plain:
            if fmt.format == "parquet":
                check_parquet_size(plain, limits)
                try:
                    columns = list(pl.read_parquet_schema(plain))
                except Exception as exc:
                    raise ReadError(f"not a readable Parquet file ({exc})") from exc
                require_headers(columns, contract)
            elif fmt.format == "excel":
                check_workbook_size(plain, limits)
                read_delivered(path, contract)
            else:
                with as_utf8(plain, contract.csv.encoding) as text_file:
                    if fmt.format == "csv":
                        header = csv_header(text_file, contract.csv)
                        if not header:
                            raise ReadError("empty file (no header)")
                        require_headers(stable_header_names(header)[0], contract, text_file)
                    else:
                        _inspect_json(text_file, contract)
    except ReadError as exc:
        raise UnreadableFileError(path, str(exc)) from exc


def _inspect_json(text_file: Path, contract: Contract) -> None:
    with text_file.open("r", encoding="utf-8-sig") as handle:
        first = next((line for line in handle if line.strip()), None)
    if first is None:
        raise ReadError("empty file")
    if contract.is_nested:
        # Columns sit at paths inside the records: a record without a required value is
        # quarantined with the column named, row by row. Here only: is it JSON at all?
        _check_json_documents(text_file, first)
        return
    try:
        columns = list(json.loads(first))
    except (ValueError, TypeError) as exc:
        raise ReadError("first line is not a JSON object") from exc
    require_headers(columns, contract)


def _check_json_documents(text_file: Path, first: str) -> None:
    """Raise unless the text is one JSON document (an aggregator's response, a JSON array)
    or starts with a line that is one (JSON lines)."""
    for candidate in (first, None):
        try:
            document = json.loads(
                candidate if candidate is not None else text_file.read_text(encoding="utf-8-sig")
            )
        except ValueError:
            continue
        if isinstance(document, dict | list):
            return
    raise ReadError("not JSON: neither one JSON document nor JSON lines")
