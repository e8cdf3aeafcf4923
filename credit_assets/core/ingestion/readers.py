"""Reading a landing file as its contract says it is written: format, compression,
encoding, CSV dialect, banner lines, Excel sheet and header names.

Every reader returns the rows as delivered (text columns stay text, so a bad value can
be quarantined with the row) under stable header names: a blank header is called
`column_<position>` and a repeated one `<name>_2`, `<name>_3`, in `infer`, `check` and
ingestion alike (`stable_header_names`).

Decoding streams: a non-UTF-8 file is transcoded to a temporary UTF-8 file chunk by
chunk (Python's incremental codecs), and a compressed one is decompressed to a
temporary file the same way, so neither is ever held whole in memory before Polars
parses it. Polars' own CSV reader reads only UTF-8, hence the transcoding.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

import polars as pl

from credit_assets.core.contracts import LINEAGE_COLUMNS, CsvOptions, ExcelOptions

LANDING_EXTENSIONS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".xlsx": "excel",
    ".xlsm": "excel",
    ".xls": "excel",
    ".ods": "excel",
}
COMPRESSIONS = {".gz": "gzip", ".zip": "zip"}
SUPPORTED_NAMES = (
    ", ".join(sorted(LANDING_EXTENSIONS)) + " (CSV and JSON lines also as .gz or .zip)"
)
Compression = Literal["gzip", "zip"] | None
EXTRA_FIELDS = "_extra_fields"  # what a CSV row holds beyond the header's columns
CHUNK = 1 << 20
# A byte-order mark says what a file is, whatever the contract says.
BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class ReadError(ValueError):
    """What is wrong with a file as a whole; the caller names the file."""


@dataclass(frozen=True)
class LandingFormat:
    """How a file's name says it is stored: its format and its compression, if any."""

    format: str
    compression: Compression = None


def landing_format(name: str) -> LandingFormat | None:
    """`applications.csv.gz` -> csv, gzip; `book.xlsx` -> excel; None for anything else.

    A `.zip` alone is taken as one compressed CSV (as spreadsheet tools write it); the
    member's own extension is checked when it is opened.
    """
    path = Path(name.lower())
    compression = COMPRESSIONS.get(path.suffix)
    if compression is not None:
        inner = Path(path.stem).suffix
        if compression == "zip" and inner == "":
            return LandingFormat("csv", "zip")
        fmt = LANDING_EXTENSIONS.get(inner)
        if fmt not in ("csv", "jsonl"):
            return None
        return LandingFormat(fmt, compression)  # type: ignore[arg-type]
    fmt = LANDING_EXTENSIONS.get(path.suffix)
    return LandingFormat(fmt) if fmt is not None else None


@dataclass(frozen=True)
class IngestLimits:
    """What one landing file may expand to before it is set aside as a bomb, not read:
    `max_bytes` of decompressed content, `max_expansion` times its compressed size, and
    `max_rows` rows (a Parquet file's metadata says how many before anything is read), at
    most `max_rows_per_byte` rows per byte of the file (a real Parquet file of records has
    well under one; 20 M identical rows zstd-compressed into 267 KB have 75)."""

    max_bytes: int = 20 * 1024**3
    max_expansion: float = 200.0
    max_rows: int = 200_000_000
    max_rows_per_byte: float = 5.0


DEFAULT_LIMITS = IngestLimits()


def _copy_bounded(src: IO[bytes], dst: IO[bytes], packed: int, limits: IngestLimits) -> None:
    """Copy a decompressing stream, refusing it as soon as it passes the limits."""
    bound = min(limits.max_bytes, int(max(packed, 1) * limits.max_expansion))
    written = 0
    while block := src.read(CHUNK):
        written += len(block)
        if written > bound:
            raise ReadError(
                f"decompresses past {bound:,} bytes ({written / max(packed, 1):,.0f}× its "
                f"{packed:,} compressed bytes): a decompression bomb, or raise "
                "CREDIT_INGEST_MAX_EXPANSION / CREDIT_INGEST_MAX_UNCOMPRESSED_BYTES"
            )
        dst.write(block)


@contextmanager
def decompressed(
    path: Path, compression: Compression, limits: IngestLimits = DEFAULT_LIMITS
) -> Iterator[Path]:
    """The file's content as a local uncompressed file for the duration of the block;
    ReadError once it expands past `limits`."""
    if compression is None:
        yield path
        return
    packed = path.stat().st_size
    with tempfile.TemporaryDirectory(prefix="credit-unpack-") as tmp:
        target = Path(tmp) / Path(path.name).stem
        try:
            if compression == "gzip":
                with gzip.open(path, "rb") as src, target.open("wb") as dst:
                    _copy_bounded(src, dst, packed, limits)  # type: ignore[arg-type]
            else:
                with (
                    zipfile.ZipFile(path) as archive,
                    archive.open(zip_member(archive)) as src,
                    target.open("wb") as dst,
                ):
                    _copy_bounded(src, dst, packed, limits)
        except (OSError, EOFError, zipfile.BadZipFile, gzip.BadGzipFile) as exc:
            raise ReadError(f"not a readable {compression} file ({exc})") from exc
        yield target


def zip_member(archive: zipfile.ZipFile) -> zipfile.ZipInfo:
    """The one file a landing `.zip` holds (hidden files, as macOS adds, left out)."""
    members = [
        m
        for m in archive.infolist()
        if not m.is_dir() and not Path(m.filename).name.startswith(".")
    ]
    if len(members) != 1:
        names = ", ".join(m.filename for m in members[:5]) or "none"
        raise ReadError(f"a .zip must hold exactly one file, it holds {len(members)} ({names})")
    return members[0]


def check_workbook_size(path: Path, limits: IngestLimits = DEFAULT_LIMITS) -> None:
    """ReadError for an .xlsx/.xlsm/.ods workbook (a zip of XML) whose parts would expand past
    the limits: calamine would inflate them whole. An .xls (not a zip) is bounded by its size."""
    if not zipfile.is_zipfile(path):
        return
    packed = max(path.stat().st_size, 1)
    with zipfile.ZipFile(path) as archive:
        expanded = sum(member.file_size for member in archive.infolist())
    bound = min(limits.max_bytes, int(packed * limits.max_expansion))
    if expanded > bound:
        raise ReadError(
            f"a workbook of {packed:,} bytes expanding to {expanded:,} ({expanded / packed:,.0f}×): "
            "a decompression bomb, or raise CREDIT_INGEST_MAX_EXPANSION / "
            "CREDIT_INGEST_MAX_UNCOMPRESSED_BYTES"
        )


def check_parquet_size(path: Path, limits: IngestLimits = DEFAULT_LIMITS) -> None:
    """ReadError for a Parquet file whose metadata promises more rows than the limits allow."""
    import pyarrow.parquet as pq

    try:
        rows = pq.ParquetFile(path).metadata.num_rows
    except Exception as exc:  # pyarrow raises several error types for a damaged file
        raise ReadError(f"not a readable Parquet file ({exc})") from exc
    size = max(path.stat().st_size, 1)
    if rows > limits.max_rows or rows / size > limits.max_rows_per_byte:
        raise ReadError(
            f"{rows:,} rows in {size:,} bytes ({rows / size:,.1f} rows per byte): over the "
            f"limits of {limits.max_rows:,} rows and {limits.max_rows_per_byte:g} rows per byte "
            "(CREDIT_INGEST_MAX_ROWS, CREDIT_INGEST_MAX_ROWS_PER_BYTE); a Parquet bomb, or "
            "split the file"
        )


def sniff_bom(head: bytes) -> str | None:
    """The encoding a byte-order mark at the start of `head` declares, if any."""
    return next((encoding for bom, encoding in BOMS if head.startswith(bom)), None)


def effective_encoding(path: Path, declared: str) -> str:
    """The contract's encoding, unless the file starts with a byte-order mark."""
    with path.open("rb") as handle:
        head = handle.read(4)
    return sniff_bom(head) or declared


def _is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name == "utf-8"


# What lenders' systems write when not UTF-8, most common first: the tie-break between
# encodings charset-normalizer finds equally plausible (it has no notion of what is common,
# and on German or French text alone it may rank hp_roman8 first).
COMMON_ENCODINGS = (
    "utf_8",
    "cp1252",
    "latin_1",
    "iso8859_15",
    "cp1250",
    "iso8859_2",
    "cp1251",
    "cp1254",
    "iso8859_9",
    "utf_16",
    "cp850",
)
WESTERN = {"cp1250", "cp1252", "latin_1", "iso8859_15", "iso8859_2", "iso8859_9", "cp1254"}


def guess_encoding(sample: bytes) -> str | None:
    """The encoding of a text sample that is not UTF-8, by charset-normalizer: the least
    chaotic reading, common encodings first among equals, Windows-1252 where it reads the
    sample the same way (what a Windows export is). None when no encoding fits."""
    from charset_normalizer import from_bytes

    def rank(match: object) -> tuple[float, int]:
        names = getattr(match, "could_be_from_charset", []) or [getattr(match, "encoding", "")]
        common = [COMMON_ENCODINGS.index(n) for n in names if n in COMMON_ENCODINGS]
        return round(float(getattr(match, "chaos", 1.0)), 2), min(common, default=99)

    matches = list(from_bytes(sample))
    if not matches:
        return None
    best = min(matches, key=rank)
    names = list(best.could_be_from_charset or [best.encoding])
    common = sorted((n for n in names if n in COMMON_ENCODINGS), key=COMMON_ENCODINGS.index)
    guess = common[0] if common else best.encoding
    if guess in WESTERN and _same_text(sample, guess, "cp1252"):
        guess = "cp1252"
    return guess


def _same_text(sample: bytes, one: str, other: str) -> bool:
    try:
        return sample.decode(one, errors="strict") == sample.decode(other, errors="strict")
    except UnicodeDecodeError:
        return False


def encoding_hint(sample: bytes) -> str:
    """What the sample looks like, as advice for the reader of an error."""
    guess = guess_encoding(sample)
    if guess is None:
        return "no text encoding fits; is it a text file?"
    return f"it looks like {guess}: set csv.encoding: {guess} in the contract"


@contextmanager
def as_utf8(path: Path, encoding: str) -> Iterator[Path]:
    """The file as UTF-8 for the block: checked in place when it is UTF-8 (a UTF-8 BOM is
    fine, Polars skips it), else transcoded chunk by chunk to a temporary file. Raises
    ReadError at the first byte that is not valid in the encoding, with a guess of what
    the file really is."""
    encoding = effective_encoding(path, encoding)
    in_place = _is_utf8(encoding) or codecs.lookup(encoding).name == "utf-8-sig"
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    with tempfile.TemporaryDirectory(prefix="credit-decode-") as tmp:
        target = Path(tmp) / path.name
        offset = 0
        with path.open("rb") as src, nullcontext() if in_place else target.open("wb") as dst:
            while block := src.read(CHUNK):
                try:
                    text = decoder.decode(block)
                except UnicodeDecodeError as exc:
                    position = offset + exc.start
                    bad = block[exc.start : exc.start + 1]
                    raise ReadError(
                        f"not valid {encoding} (byte {position}: {bad!r}); "
                        + encoding_hint(block[: 1 << 16])
                    ) from exc
                except UnicodeError as exc:  # utf-16 without its byte-order mark, say
                    raise ReadError(
                        f"not valid {encoding} ({exc}); " + encoding_hint(block[: 1 << 16])
                    ) from exc
                if dst is not None:
                    dst.write(text.encode("utf-8"))
                offset += len(block)
            try:
                tail = decoder.decode(b"", final=True)
            except UnicodeError as exc:
                raise ReadError(f"not valid {encoding} (the file ends inside a character)") from exc
            if dst is not None:
                dst.write(tail.encode("utf-8"))
        yield path if in_place else target


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")  # a tab stays: it says "wrong delimiter"


def stable_header_names(names: list[str | None]) -> tuple[list[str], list[str]]:
    """(names, what was renamed): a blank name becomes `column_<position>` (1-based), a
    repeated one `<name>_2`, `<name>_3`; surrounding spaces and control characters (a NUL,
    a tab) are kept out of a name."""
    result: list[str] = []
    notes: list[str] = []
    seen: dict[str, int] = {}
    for position, raw in enumerate(names, start=1):
        given = (raw or "").strip().removeprefix("\ufeff")
        name = _CONTROL.sub("", given).strip()
        if name != given and name:
            notes.append(f"column {position}'s header holds control characters: called {name}")
        if not name:
            name = f"column_{position}"
            notes.append(f"column {position} has no header name: called {name}")
        if name in seen:
            count = seen[name] + 1
            while f"{name}_{count}" in seen:
                count += 1
            renamed = f"{name}_{count}"
            seen[name] = count
            notes.append(f"header {name!r} appears again in column {position}: called {renamed}")
            name = renamed
        seen.setdefault(name, 1)
        result.append(name)
    return result, notes


def csv_header(path: Path, options: CsvOptions) -> list[str | None]:
    """The header fields of a UTF-8 CSV file after its banner lines (empty: no header)."""
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        for _ in range(options.skip_rows):
            if not handle.readline():
                return []
        line = handle.readline()
        while line and not line.strip():
            line = handle.readline()
    if not line.strip():
        return []
    reader = csv.reader(
        [line],
        delimiter=options.delimiter,
        quotechar=options.quote_char or '"',
        quoting=csv.QUOTE_MINIMAL if options.quote_char else csv.QUOTE_NONE,
    )
    return list(next(reader, []))


def _lines_before_header(path: Path, options: CsvOptions) -> int:
    """Banner lines plus blank lines up to and including the header line."""
    skipped = 0
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        for _ in range(options.skip_rows):
            handle.readline()
            skipped += 1
        for line in handle:
            skipped += 1
            if line.strip():
                break
    return skipped


def scan_csv_text(path: Path, options: CsvOptions) -> tuple[pl.LazyFrame, list[str]]:
    """A UTF-8 CSV file as a lazy frame of text columns under stable header names, and the
    renaming notes; nothing is read beyond the header until the frame is collected or sunk.

    Rows whose every field is empty (blank lines, trailing or not) are dropped; the
    `_row_number` of the others is their position among the data lines.
    """
    header = csv_header(path, options)
    if not header:
        raise ReadError("empty file (no header)")
    names, notes = stable_header_names(header)
    refuse_reserved(names)
    # One column more than the header: a row with more fields than the header has (an
    # unquoted delimiter in a value, say) shows there and is quarantined, not cut short.
    frame = pl.scan_csv(
        path,
        has_header=False,
        skip_lines=_lines_before_header(path, options),
        schema={name: pl.String for name in [*names, EXTRA_FIELDS]},
        separator=options.delimiter,
        quote_char=options.quote_char,
        infer_schema=False,
        truncate_ragged_lines=True,
        missing_columns="insert",
        raise_if_empty=False,
        glob=False,  # a '[' or '*' in a lender's file name is part of the name
    )
    return _numbered_without_blank_rows(frame, names), notes


def read_csv_text(path: Path, options: CsvOptions) -> tuple[pl.DataFrame, list[str]]:
    """`scan_csv_text`, collected."""
    frame, notes = scan_csv_text(path, options)
    try:
        return frame.collect(), notes
    except pl.exceptions.PolarsError as exc:
        raise ReadError(f"not a parseable CSV file ({exc})") from exc


def read_excel_text(path: Path, options: ExcelOptions) -> tuple[pl.DataFrame, list[str]]:
    """One sheet of a workbook as text columns under stable header names (calamine, through
    `fastexcel`: .xlsx, .xlsm, .xls and .ods). Dates come as ISO text."""
    import fastexcel

    try:
        workbook = fastexcel.read_excel(path)
    except Exception as exc:  # fastexcel raises its own error types for damaged files
        raise ReadError(f"not a readable workbook ({exc})") from exc
    sheets = workbook.sheet_names
    sheet = options.sheet
    if isinstance(sheet, int) and not 0 <= sheet < len(sheets):
        raise ReadError(f"excel.sheet {sheet} does not exist; the sheets are {sheets}")
    if isinstance(sheet, str) and sheet not in sheets:
        raise ReadError(f"no sheet {sheet!r} in the workbook; its sheets are {sheets}")
    try:
        table = workbook.load_sheet(
            sheet, header_row=None, skip_rows=options.skip_rows, dtypes="string"
        ).to_polars()
    except Exception as exc:
        raise ReadError(f"sheet {sheet!r} cannot be read ({exc})") from exc
    if table.height == 0:
        raise ReadError(f"sheet {sheets[sheet] if isinstance(sheet, int) else sheet!r} is empty")
    header = [None if v is None else str(v) for v in table.row(0)]
    names, notes = stable_header_names(header)
    frame = table.slice(1).rename(dict(zip(table.columns, names, strict=True)))
    frame = frame.with_columns(
        pl.all().cast(pl.String).str.replace(r"^(\d{4}-\d\d-\d\d) 00:00:00$", "$1")
    )
    refuse_reserved(names)
    return _numbered_without_blank_rows(frame.lazy(), names).collect(), notes


def refuse_reserved(names: list[str]) -> None:
    """ReadError for a file column named like a lineage column ingestion adds."""
    reserved = [c for c in names if c in LINEAGE_COLUMNS]
    if reserved:
        raise ReadError(
            f"column(s) {', '.join(reserved)} are reserved for lineage; rename them in the file"
        )


def _numbered_without_blank_rows(frame: pl.LazyFrame, names: list[str]) -> pl.LazyFrame:
    numbered = frame.with_row_index("_row_number", offset=1).with_columns(
        pl.col("_row_number").cast(pl.Int64)
    )
    if not names:
        return numbered
    blank = pl.all_horizontal(
        pl.col(c).is_null() | (pl.col(c).cast(pl.String).str.strip_chars() == "") for c in names
    )
    return numbered.filter(~blank)


def read_head_bytes(path: Path, compression: Compression, size: int = 65536) -> bytes:
    """The first bytes of the (uncompressed) content, for sniffing."""
    if compression == "gzip":
        with gzip.open(path, "rb") as handle:
            return handle.read(size)
    if compression == "zip":
        with zipfile.ZipFile(path) as archive, archive.open(zip_member(archive)) as handle:
            return handle.read(size)
    with path.open("rb") as handle:
        return handle.read(size)


def decode_sample(head: bytes, encoding: str) -> str:
    """A sample's text in an encoding, tolerating a character cut at the sample's end."""
    return io.TextIOWrapper(io.BytesIO(head), encoding=encoding, errors="ignore").read()
