"""Drafting a data contract from a sample file, and checking a contract file.

`infer_contract` reads a landing file with the ingestion reader, types every column by
the ingestion rules (so what the draft declares is what ingestion accepts), lets pandera
infer dtype, nullability and range from the typed sample, and guesses each column's role
from its name and values. A draft is a starting point: a person reviews every role and
every reason text before a lender's file is scored with it.

`check_contract` lists every problem of a contract file at once, and with a sample file
also what ingestion would make of it.
"""

from __future__ import annotations

import difflib
import math
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl
import yaml
from pandera.pandas import Column, infer_schema
from pydantic import ValidationError

from credit_assets.core.contracts import (
    ALL_FORMATS,
    EXCEL_SERIAL,
    ColumnSpec,
    ColumnType,
    Contract,
    CsvOptions,
    Role,
    SourceKind,
)

# The ingestion rules themselves: a draft typed by anything else could quarantine its own file.
from credit_assets.core.ingestion.files import UnreadableFileError, file_format, read_delivered
from credit_assets.core.ingestion.readers import EXTRA_FIELDS, ReadError
from credit_assets.core.ingestion.values import number_text, typed_value
from credit_assets.core.onboarding.dialect import Detected, detect_reading

SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_ALLOWED_VALUES = 20
MISSING_MARKERS = ["na", "n/a", "null", "none", "nil", "-", "?", "missing", "#n/a"]
WARNING = "warning: "
# Kinds whose `feature` columns are model inputs as declared, so each needs a reason.
REASONED_KINDS = (SourceKind.APPLICATIONS, SourceKind.GENERIC)


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


LABEL_WORDS = (
    "target",
    "label",
    "default",
    "defaulted",
    "bad",
    "outcome",
    "risk",
    "class",
    "y",
    "status",
)
PROTECTED_WORDS = _word_set(
    "sex sexual gender age race racial ethnicity ethnic marital religion religious nationality"
    " citizenship citizen disability disabled pregnancy pregnant dob birth birthdate birthday"
    " foreign immigration"
)
PROTECTED_PHRASES = (("national", "origin"), ("public", "assistance"), ("skin", "colour"))
ID_WORDS = frozenset({"id", "ids", "identifier", "uuid", "guid"})
BORROWER_WORDS = frozenset({"borrower", "customer", "client", "member", "applicant"})
TIMESTAMP_WORDS = _word_set(
    "application applied apply app created creation submitted submission origination"
    " originated timestamp"
)
# Geography and personal names can stand in for protected characteristics (and a
# declined applicant may not be told "your postcode"): carried, never a feature.
PROXY_WORDS = _word_set(
    "zip zipcode postcode postal county tract address addr street city surname firstname"
    " lastname email phone ssn"
)
PROXY_PHRASES = (("first", "name"), ("last", "name"), ("full", "name"))

# Columns BISG can read: proposed with their proxy role (fairness testing only).
PROXY_ROLE_WORDS: tuple[tuple[Role, frozenset[str], tuple[tuple[str, ...], ...]], ...] = (
    (
        Role.PROXY_SURNAME,
        frozenset({"surname", "lastname"}),
        (("last", "name"), ("family", "name")),
    ),
    (
        Role.PROXY_FIRST_NAME,
        frozenset({"firstname", "forename"}),
        (("first", "name"), ("given", "name")),
    ),
    (Role.PROXY_ZIP, frozenset({"zip", "zipcode", "zcta", "zcta5"}), (("postal", "code"),)),
    (Role.PROXY_TRACT, frozenset({"tract", "geoid"}), (("census", "tract"),)),
)

# Date spellings tried on a text column, most common in lenders' exports first; day-first
# before month-first, since where both read every value (every day <= 12) the draft says so.
DATE_FORMATS = (
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%Y/%m/%d",
    "%d/%m/%y",
    "%m/%d/%y",
    "%d.%m.%y",
    "%Y%m%d",
    "%y%m%d",
)
DATETIME_FORMATS = (
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
)
# A whole number is a date only in a column named like one (240105 may be an amount).
DATE_WORDS = _word_set(
    "date dates day dt datum tag time timestamp booked booking posted posting created"
    " valuta value settled settlement due paid opened closed"
)
EXCEL_SERIAL_RANGE = (20_000, 60_000)  # 1954-10-03 to 2064-04-09
MONTH_FIRST = ("%m/%d/%Y", "%m/%d/%y", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M")
CODE_WORDS = _word_set("code codes cd type typ class category cat grade kind status")

_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_PLAIN_INT = re.compile(r"^[+-]?(0|[1-9]\d{0,14})$")  # no leading zeros, exact in float64


def name_words(name: str) -> list[str]:
    """The words of a column name as written: `CreditAmount`, `credit_amount` and
    `Credit Amount` all give ["Credit"|"credit", "Amount"|"amount"]."""
    return _WORD.findall(name)


def _tokens(name: str) -> list[str]:
    return [w.lower() for w in name_words(name)]


def _has_phrase(tokens: list[str], phrases: Iterable[tuple[str, ...]]) -> bool:
    return any(tuple(tokens[i : i + len(p)]) == p for p in phrases for i in range(len(tokens)))


def proxy_role(name: str) -> Role | None:
    """The BISG input a column name says it is (`last_name`, `ZipCode`, `census_tract`)."""
    tokens = _tokens(name)
    for role, words, phrases in PROXY_ROLE_WORDS:
        if words.intersection(tokens) or _has_phrase(tokens, phrases):
            return role
    return None


def looks_protected(name: str) -> bool:
    """A name that says sex, age, race, marital status, national origin and the like.

    Whole words of snake, camel or spaced names (`age`, `AgeYears`, `applicant_gender`,
    not `mortgage`). When in doubt a column is protected: one wrongly kept out of the
    model costs a feature, a feature that is really age costs a fair-lending finding.
    """
    tokens = _tokens(name)
    return bool(PROTECTED_WORDS.intersection(tokens)) or _has_phrase(tokens, PROTECTED_PHRASES)


def reason_text_from_name(name: str) -> str:
    """A draft consumer-facing text: `credit_amount` and `CreditAmount` give "Credit amount"."""
    words = [w if len(w) > 1 and w.isupper() else w.lower() for w in name_words(name)]
    text = " ".join(words) or name
    return text[0].upper() + text[1:]


def reason_code_prefix(source: str) -> str:
    """`german_credit` gives "GC", `acme` gives "AC": codes unlikely to clash across sources."""
    parts = [p for p in source.split("_") if p and p[0].isalpha()]
    prefix = parts[0][0] + parts[1][0] if len(parts) > 1 else source[:2]
    return prefix.upper()


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 × 10^k at or above `value` (> 0)."""
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        candidate = step * 10.0**exponent
        if candidate >= value * (1 - 1e-12):
            return candidate
    return 10.0 ** (exponent + 1)


def widened_bounds(observed_min: float, observed_max: float) -> tuple[float, float]:
    """The min/max a draft declares for a numeric column sampled in [observed_min, observed_max].

    A sample shows a lender's range only roughly; the next file must not be quarantined
    for a value just outside it, yet a sign error or a unit slip (cents for dollars)
    still must be. So:
    - min is 0 when no sampled value is negative (amounts, counts, durations, rates and
      ages are never negative, and the next file will have its own smallest value);
      otherwise minus twice the most negative value, rounded out to 1, 2 or 5 × 10^k;
    - max is twice the largest value rounded up to 1, 2 or 5 × 10^k (18 424 gives
      50 000, 72 gives 200, 0.93 gives 2), or 0 when no value is positive.
    """
    low = 0.0 if observed_min >= 0 else -_nice_ceiling(-2 * observed_min)
    high = _nice_ceiling(2 * observed_max) if observed_max > 0 else 0.0
    return low, high


@dataclass(frozen=True)
class ColumnProfile:
    """What the sample says about one column, typed by the ingestion rules."""

    name: str
    type: ColumnType
    present: int  # non-empty values in the sample
    nullable: bool
    n_distinct: int  # distinct typed values
    minimum: float | None
    maximum: float | None
    # For a column with at most 20 distinct values: the sorted typed values and their
    # counts, and the counts of the text as delivered (what `allowed` is compared with).
    distinct: list[Any] = field(default_factory=list)
    typed_counts: list[int] = field(default_factory=list)
    text_counts: dict[str, int] = field(default_factory=dict)
    missing_markers: dict[str, int] = field(default_factory=dict)  # see `_missing_markers`
    format: str | None = None  # a date or datetime column's `format:`, when not ISO
    format_note: str | None = None  # how the format was chosen, for the reviewer


def _probe_type(values: pl.Series, numbers: CsvOptions | None = None) -> ColumnType:
    """The narrowest contract type under which ingestion accepts every (non-empty) value."""
    if values.is_empty():
        return "string"
    frame = values.to_frame("v")

    def accepted(column_type: ColumnType) -> bool:
        spec = ColumnSpec(name="v", type=column_type, role=Role.FEATURE)
        return frame.select(typed_value(spec, pl.col("v"), numbers).null_count()).item() == 0

    if values.str.to_lowercase().is_in(["true", "false"]).all():
        return "bool"
    if values.str.contains(r"^[+-]?0\d").any():
        return "string"  # a code with leading zeros (a postcode, an account number) is text
    plain = (
        values.to_frame("v").select(number_text(pl.col("v"), numbers).alias("v"))["v"]
        if numbers
        else values
    )
    if (
        plain.is_not_null().all()
        and plain.str.contains(_PLAIN_INT.pattern).all()
        and accepted("int")
    ):
        return "int"
    if accepted("float"):
        return "float"
    if (values.str.len_chars() == 10).all() and accepted("date"):
        return "date"
    if accepted("datetime"):
        return "datetime"
    return "string"


def date_format(
    values: pl.Series, name: str, probed: ColumnType
) -> tuple[ColumnType, str, str] | None:
    """(date or datetime, its `format:`, how it was chosen) when every value of a text
    column (or of a whole-number column named like a date) reads as one spelling of a date."""
    if values.is_empty():
        return None
    named_like_date = bool(DATE_WORDS.intersection(_tokens(name)))
    if probed in ("int", "float"):
        if not named_like_date:
            return None
        numbers = values.cast(pl.Float64, strict=False)
        low, high = EXCEL_SERIAL_RANGE
        if numbers.is_between(low, high).all():
            whole = (numbers == numbers.round(0)).all()
            return (
                "date" if whole else "datetime",
                EXCEL_SERIAL,
                "Excel serial day numbers, detected",
            )
        # Eight digits (or seven, a leading zero lost) are a four-digit year; fewer, two.
        digits = values.str.replace(r"\.0+$", "").str.len_chars()
        shortest = int(digits.min() or 0)  # type: ignore[arg-type]
        candidates: tuple[str, ...] = ("%Y%m%d",) if shortest >= 7 else ("%y%m%d",)
    elif probed == "string":
        candidates = DATE_FORMATS + DATETIME_FORMATS
    else:
        return None
    frame = values.to_frame("v")
    readable = []
    for fmt in candidates:
        column_type: ColumnType = "datetime" if "%H" in fmt else "date"
        spec = ColumnSpec(name="v", type=column_type, role=Role.FEATURE, format=fmt)
        if frame.select(typed_value(spec, pl.col("v")).null_count()).item() == 0:
            readable.append((column_type, fmt))
    if not readable:
        return None
    column_type, fmt = readable[0]
    others = [f for _, f in readable[1:] if f in MONTH_FIRST or fmt in MONTH_FIRST]
    if others:
        how = (
            f"dates as {fmt}, detected; {others[0]} reads every value too (no day above 12): "
            "check which the lender means"
        )
    else:
        how = f"dates as {fmt}, detected"
    return column_type, fmt, how


def _missing_markers(values: pl.Series, numbers: CsvOptions | None = None) -> dict[str, int]:
    """Text like `NA` or `null` in an otherwise numeric, boolean or date column, as
    delivered, with its count: the draft lists them as the column's `missing:`."""
    marked = values.str.to_lowercase().is_in(MISSING_MARKERS)
    rest = values.filter(~marked)
    if (
        not marked.any()
        or rest.is_empty()
        or (_probe_type(rest, numbers) == "string" and date_format(rest, "", "string") is None)
    ):
        return {}
    return counted(values.filter(marked))


def _delivered_text(sample: pl.DataFrame, name: str) -> pl.Series:
    """The non-empty values of a column as ingestion sees them: text, trimmed."""
    text = pl.col(name).cast(pl.String).str.strip_chars()
    return sample.select(text.filter(text != "")).get_column(name)


def _typed_sample(
    sample: pl.DataFrame,
    types: dict[str, ColumnType],
    formats: dict[str, str],
    numbers: CsvOptions | None,
) -> pl.DataFrame:
    return sample.select(
        typed_value(
            ColumnSpec(name=name, type=t, role=Role.FEATURE, format=formats.get(name)),
            pl.col(name),
            numbers,
        ).alias(name)
        for name, t in types.items()
    )


def profile_columns(
    sample: pl.DataFrame, numbers: CsvOptions | None = None
) -> dict[str, ColumnProfile]:
    """Type, nullability, range and values of every column of a sample read as delivered.

    Types come from the ingestion rules (with the file's decimal comma and thousands
    separator, and any date spelling in `DATE_FORMATS`); pandera's schema inference on the
    typed sample then gives the dtype, nullability and min/max checks, and what it lacks
    (the distinct values of a low-cardinality column) is counted here.
    """
    texts = {name: _delivered_text(sample, name) for name in sample.columns}
    # `NA`, `null`, `-` ... in an otherwise numeric or date column mean no value: drafted as
    # the column's `missing:` and read as missing, so the column keeps its type.
    markers = {name: _missing_markers(values, numbers) for name, values in texts.items()}
    markers = {name: found for name, found in markers.items() if found}
    if markers:
        sample = _markers_as_missing(sample, markers)
        texts |= {name: _delivered_text(sample, name) for name in markers}
    reading = _sample_reading(texts, markers, numbers)
    typed = _typed_sample(sample, reading.types, reading.formats, numbers)
    inferred = _inferred_columns(typed)
    return {
        name: _column_profile(name, typed[name].drop_nulls(), inferred.get(name), reading)
        for name in sample.columns
    }


@dataclass(frozen=True)
class _SampleReading:
    """How each column of a sample reads: its delivered text, missing markers, type and date
    format (with how the format was chosen)."""

    texts: dict[str, pl.Series]
    markers: dict[str, dict[str, int]]
    types: dict[str, ColumnType]
    formats: dict[str, str]
    format_notes: dict[str, str]


def _markers_as_missing(sample: pl.DataFrame, markers: dict[str, dict[str, int]]) -> pl.DataFrame:
    """`sample` with every missing marker found in a column read as no value."""
    return sample.with_columns(
        pl.when(pl.col(name).cast(pl.String).str.strip_chars().is_in(list(found)))
        .then(None)
        .otherwise(pl.col(name))
        .alias(name)
        for name, found in markers.items()
    )


def _sample_reading(
    texts: dict[str, pl.Series],
    markers: dict[str, dict[str, int]],
    numbers: CsvOptions | None,
) -> _SampleReading:
    """Each column's type by the ingestion rules, a date spelling overriding the probed type."""
    types = {name: _probe_type(values, numbers) for name, values in texts.items()}
    formats: dict[str, str] = {}
    format_notes: dict[str, str] = {}
    for name, values in texts.items():
        dated = date_format(values, name, types[name])
        if dated is not None:
            types[name], formats[name], format_notes[name] = dated
    return _SampleReading(texts, markers, types, formats, format_notes)


def _inferred_columns(typed: pl.DataFrame) -> dict[str, Column]:
    """pandera's inferred schema of the typed sample's columns that hold any value."""
    non_empty = [name for name in typed.columns if typed[name].null_count() < typed.height]
    return infer_schema(typed.select(non_empty).to_pandas(use_pyarrow_extension_array=True)).columns


def counted(values: pl.Series) -> dict[Any, int]:
    """Each value with its count, most frequent first, ties by value: the same draft and the
    same guesses every run (polars' `value_counts` order is not stable between runs)."""
    counts = values.value_counts(name="__count__")  # a column may itself be called `count`
    order = counts.sort(["__count__", values.name], descending=[True, False], nulls_last=True)
    return dict(order.iter_rows())


def _column_profile(
    name: str, series: pl.Series, schema: Column | None, reading: _SampleReading
) -> ColumnProfile:
    """One column's profile from its typed non-empty values and pandera's schema of it."""
    stats: dict[str, Any] = {}
    for check in schema.checks if schema is not None else []:
        stats |= check.statistics or {}
    numeric = reading.types[name] in ("int", "float")
    n_distinct = series.n_unique()
    profile = ColumnProfile(
        name=name,
        type=_contract_type(str(schema.dtype)) if schema is not None else "string",
        present=series.len(),
        nullable=bool(schema.nullable) if schema is not None else True,
        n_distinct=n_distinct,
        minimum=float(stats["min_value"]) if numeric and "min_value" in stats else None,
        maximum=float(stats["max_value"]) if numeric and "max_value" in stats else None,
    )
    if n_distinct <= MAX_ALLOWED_VALUES:
        counts = series.value_counts().sort(name)
        profile = replace(
            profile,
            distinct=counts.get_column(name).to_list(),
            typed_counts=counts.get_column("count").to_list(),
            text_counts=counted(reading.texts[name]),
        )
    if name in reading.markers:
        profile = replace(profile, missing_markers=reading.markers[name])
    if name in reading.formats:
        profile = replace(
            profile, format=reading.formats[name], format_note=reading.format_notes[name]
        )
    return profile


def _contract_type(pandera_dtype: str) -> ColumnType:
    """The contract type of a pandera dtype inferred on the typed (pyarrow-backed) sample."""
    dtype = pandera_dtype.lower()
    if "bool" in dtype:
        return "bool"
    if "int" in dtype:
        return "int"
    if "double" in dtype or "float" in dtype:
        return "float"
    if "date32" in dtype or "date64" in dtype:
        return "date"
    if "timestamp" in dtype or "datetime" in dtype:
        return "datetime"
    return "string"


@dataclass(frozen=True)
class InferredContract:
    """A drafted contract, the facts it was drafted from and what was guessed."""

    contract: Contract
    source_file: Path
    rows_sampled: int
    rows_in_file: int
    guesses: tuple[str, ...]
    column_comments: dict[str, str]

    def to_yaml(self) -> str:
        """The draft as a contract file: a header saying what to review, one line per column."""
        sample = f"{self.rows_sampled:,} rows".replace(",", " ")
        if self.rows_sampled < self.rows_in_file:
            total = f"{self.rows_in_file:,}".replace(",", " ")
            sample = f"a random sample of {sample} (of {total})"
        lines = [
            f"# Drafted by `credit-platform contract infer` from {sample} of {self.source_file.name}.",
            "# Guessed, not known:",
            *(
                line
                for guess in self.guesses
                for line in textwrap.wrap(
                    guess, 96, initial_indent="#   - ", subsequent_indent="#     "
                )
            ),
            "# Review every role and every reason_text — it is what a declined applicant reads — "
            "before use,",
            f"# then: credit-platform contract check {self.contract.name}.yaml "
            f"--sample {self.source_file.name}",
        ]
        contract = self.contract
        top: dict[str, Any] = {
            "name": contract.name,
            "kind": contract.kind.value,
            "description": contract.description,
            "formats": list(contract.formats),
            "keys": list(contract.keys),
        }
        if contract.timestamp is not None:
            top["timestamp"] = contract.timestamp
        if contract.csv != CsvOptions() and set(contract.formats) & {"csv", "jsonl"}:
            top["csv"] = contract.csv.model_dump(exclude_defaults=True)
        if "excel" in contract.formats:
            top["excel"] = contract.excel.model_dump()
        lines += [f"{key}: {_flow(value)}" for key, value in top.items()]
        lines.append("columns:")
        for name, spec in contract.columns.items():
            fields = {
                k: _plain_number(v)
                for k, v in spec.model_dump(
                    mode="json", exclude_defaults=True, exclude={"name"}, by_alias=True
                ).items()
            }
            fields = {"type": spec.type, "role": spec.role.value, **fields}
            comment = self.column_comments.get(name)
            line = f"  {_flow(name)}: {_flow(fields)}"
            lines.append(f"{line}  # {comment}" if comment else line)
        return "\n".join(lines) + "\n"


def _flow(value: Any) -> str:
    """One YAML line, quoted where YAML would misread it (`'yes'`, `'0'`, `'Credit: amount'`)."""
    text = yaml.safe_dump(
        value, default_flow_style=True, sort_keys=False, allow_unicode=True, width=1 << 30
    )
    return text.removesuffix("\n...\n").strip()


def _plain_number(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _plain_number(v) for k, v in value.items()}
    return value


def infer_contract(
    path: Path,
    name: str,
    *,
    label: str | None = None,
    bad: str | None = None,
    sample_rows: int = 10_000,
    kind: str = "applications",
) -> InferredContract:
    """Draft the contract of a CSV, JSON-lines or Parquet file from a sample of its rows.

    The file is read as ingestion reads it; up to `sample_rows` rows (a seeded random
    sample when the file is longer) are profiled. Types, nullability and ranges follow
    `profile_columns`, bounds are widened by `widened_bounds`; a text column with at most
    20 distinct values (each seen at least twice on average) is a `category` with those
    values `allowed`, any other text a `string`.

    Roles, in this order: the `label` given (else a two-valued column named like risk,
    target, label, default, bad, class, status, outcome or y), with `bad` naming the bad
    value (else the minority class); `protected` by name (`looks_protected`); `id` for a
    unique, never-empty string or int named like an id (the first one is the key);
    `borrower_id` for a borrower, customer, client, member or applicant id; `timestamp`
    for the first date named like an application, applied or created date, `ignore` for
    other dates, for geography and personal names, for id-like columns that are not
    unique and for text unique on every row; `feature` for the rest, with a drafted
    reason code and reason text. Raises ValueError for a bad name, kind, label or bad
    value, and UnreadableFileError for a file ingestion could not read either.
    """
    source_kind = _checked_arguments(name, kind, sample_rows)
    read = _read_for_drafting(path, name)
    raw = read.rows
    sample = raw.sample(n=sample_rows, seed=0) if raw.height > sample_rows else raw
    if label is not None and label not in sample.columns:
        raise ValueError(f"--label {label!r} is not a column of {path.name}: {sample.columns}")
    profiles = profile_columns(sample, read.detected.csv if read.fmt == "csv" else None)
    drafter = _Drafter(name, source_kind, profiles, label=label, bad=bad)
    columns = drafter.columns()
    guesses = [*read.detected.notes, *read.header_notes, *drafter.guesses]
    if read.malformed:
        guesses.insert(
            0,
            f"{read.malformed} line(s) of the file are malformed (not a JSON object, or more "
            "fields than the header) and were skipped; ingestion quarantines them",
        )
    return InferredContract(
        contract=_drafted_contract(path, name, source_kind, read, drafter, columns),
        source_file=path,
        rows_sampled=sample.height,
        rows_in_file=raw.height,
        guesses=tuple(guesses),
        column_comments=drafter.comments,
    )


def _checked_arguments(name: str, kind: str, sample_rows: int) -> SourceKind:
    """The source kind, or ValueError for a bad source name, kind or sample size."""
    if not SOURCE_NAME.match(name):
        raise ValueError(
            f"source name {name!r} must match {SOURCE_NAME.pattern} (lower-case letters, "
            f"digits and _, starting with a letter): it names the asset raw_<name>, the "
            f"landing folder and the contract file"
        )
    try:
        source_kind = SourceKind(kind)
    except ValueError:
        kinds = ", ".join(k.value for k in SourceKind)
        raise ValueError(f"unknown source kind {kind!r}; one of {kinds}") from None
    if sample_rows < 1:
        raise ValueError(f"sample_rows must be at least 1, got {sample_rows}")
    return source_kind


@dataclass(frozen=True)
class _DraftRows:
    """A file's rows as ingestion reads them, and how it was read."""

    detected: Detected
    fmt: str
    header_notes: list[str]
    rows: pl.DataFrame  # well-formed data rows, as delivered (text)
    malformed: int  # lines skipped: not a JSON object, or more fields than the header


def _read_for_drafting(path: Path, name: str) -> _DraftRows:
    """The file's well-formed rows, read as ingestion reads it with the detected options;
    UnreadableFileError for a file ingestion could not read or without a data row."""
    try:
        detected = detect_reading(path)
    except ReadError as exc:
        raise UnreadableFileError(path, str(exc)) from exc
    reader = reading_contract(name, detected=detected)
    fmt = file_format(path, reader).format
    delivered = read_delivered(path, reader)
    raw = delivered.frame
    malformed = 0
    for broken in ("_malformed", EXTRA_FIELDS):
        if broken in raw.columns:
            malformed += int(raw.get_column(broken).is_not_null().sum())
            raw = raw.filter(pl.col(broken).is_null()).drop(broken)
    raw = raw.drop("_row_number")
    if raw.height == 0:
        raise UnreadableFileError(path, "no data rows to draft a contract from")
    return _DraftRows(detected, fmt, delivered.header_notes, raw, malformed)


def _drafted_contract(
    path: Path,
    name: str,
    source_kind: SourceKind,
    read: _DraftRows,
    drafter: _Drafter,
    columns: dict[str, dict[str, Any]],
) -> Contract:
    """The drafted columns as a contract, with the reading options detected; ValueError when
    the draft is not a valid contract of its kind."""
    reading: dict[str, Any] = {}
    if read.fmt in ("csv", "jsonl") and read.detected.csv != CsvOptions():
        reading["csv"] = read.detected.csv.model_dump(exclude_defaults=True)
    if read.fmt == "excel":
        reading["excel"] = read.detected.excel.model_dump()
    raw_contract = {
        "name": name,
        "kind": source_kind.value,
        "description": f"Drafted from {path.name}; say what the source is and who sends it.",
        "formats": [read.fmt],
        "keys": drafter.keys,
        **({"timestamp": drafter.timestamp} if drafter.timestamp else {}),
        **reading,
        "columns": columns,
    }
    try:
        return Contract.model_validate(raw_contract)
    except ValidationError as exc:
        raise ValueError(
            f"the draft for {path.name} is not a valid {source_kind.value} contract: "
            + "; ".join(pydantic_problems(exc))
        ) from exc


def reading_contract(
    name: str, *, like: Contract | None = None, detected: Detected | None = None
) -> Contract:
    """A contract that makes the ingestion reader read any file as delivered, with the
    `csv:`/`excel:` options of a contract (`like`) or of what was detected."""
    options: dict[str, Any] = {}
    if like is not None:
        options = {"csv": like.csv, "excel": like.excel}
    elif detected is not None:
        options = {"csv": detected.csv, "excel": detected.excel}
    return Contract(
        name=name, kind=SourceKind.GENERIC, formats=list(ALL_FORMATS), columns={}, **options
    )


class _Drafter:
    """Turns column profiles into contract column specs, recording what it guessed."""

    def __init__(
        self,
        source: str,
        kind: SourceKind,
        profiles: dict[str, ColumnProfile],
        *,
        label: str | None,
        bad: str | None,
    ) -> None:
        self.source, self.kind, self.profiles, self.bad = source, kind, profiles, bad
        self.label_given = label is not None
        self.label = label if label is not None else self._guess_label()
        self.guesses: list[str] = []
        self.comments: dict[str, str] = {}
        self.keys: list[str] = []
        self.timestamp: str | None = None
        self.borrower: str | None = None
        self.proxies: set[Role] = set()

    def _guess_label(self) -> str | None:
        ranked = []
        for position, p in enumerate(self.profiles.values()):
            words = [LABEL_WORDS.index(t) for t in _tokens(p.name) if t in LABEL_WORDS]
            if words and p.n_distinct == 2 and not looks_protected(p.name):
                ranked.append((min(words), position, p.name))
        return min(ranked)[2] if ranked else None

    def columns(self) -> dict[str, dict[str, Any]]:
        specs = {name: self._column(p) for name, p in self.profiles.items()}
        by_role: dict[str, list[str]] = {}
        for name, spec in specs.items():
            by_role.setdefault(spec["role"], []).append(name)
        if self.label is None:
            self.guesses.append("label: none (no two-valued column is named like an outcome)")
        for role, what in (
            (Role.PROTECTED, "protected, by name"),
            (Role.PROXY_SURNAME, "BISG surname (fairness testing only)"),
            (Role.PROXY_FIRST_NAME, "BISG first name (fairness testing only)"),
            (Role.PROXY_ZIP, "BISG ZIP code (fairness testing only)"),
            (Role.PROXY_TRACT, "BISG census tract (fairness testing only)"),
            (Role.ID, "id and key"),
            (Role.BORROWER_ID, "borrower_id"),
            (Role.TIMESTAMP, "timestamp"),
            (Role.IGNORE, "ignore (see the note on each)"),
        ):
            if by_role.get(role.value):
                self.guesses.append(f"{what}: {', '.join(by_role[role.value])}")
        features = by_role.get(Role.FEATURE.value, [])
        if features and self.kind in REASONED_KINDS:
            prefix = reason_code_prefix(self.source)
            width = max(2, len(str(len(features))))
            codes = [f"{prefix}{n:0{width}d}" for n in range(1, len(features) + 1)]
            for name, code in zip(features, codes, strict=True):
                specs[name] |= {"reason_code": code, "reason_text": reason_text_from_name(name)}
            self.guesses.append(
                f"feature: the {len(features)} other columns; reason codes {codes[0]}…{codes[-1]} "
                "and reason texts are drafted from the column names"
            )
        self.guesses.append(
            "min/max: min 0 when no sampled value is negative (else twice the most negative "
            "value), max twice the largest value, both rounded out to 1, 2 or 5 × 10^k"
        )
        self.guesses.append(
            "allowed: the values seen in the sample (a new value in a later file is quarantined)"
        )
        return specs

    def _column(self, p: ColumnProfile) -> dict[str, Any]:
        """The spec drafted for one column; its note, if any, goes to `comments`."""
        if p.name == self.label:
            return self._label(p)
        role, column_type, note = self._role(p)
        if role in (Role.ID, Role.BORROWER_ID):
            column_type = "int" if p.type == "int" else "string"
        spec, note = self._spec(p, role, column_type, note)
        if note:
            self.comments[p.name] = note
        return spec

    def _role(self, p: ColumnProfile) -> tuple[Role, ColumnType, str]:
        """The role a column's name and values suggest, the type it is drafted as, and a note
        for the reviewer (empty for none)."""
        tokens = _tokens(p.name)
        unique = p.present > 0 and p.n_distinct == p.present and not p.nullable
        column_type = self._value_type(p)
        if p.present == 0:
            return Role.IGNORE, column_type, "no value in the sample"
        if looks_protected(p.name):
            return Role.PROTECTED, column_type, ""
        identified = self._id_role(p, tokens, unique)
        if identified is not None:
            return identified[0], column_type, identified[1]
        if p.type in ("date", "datetime"):
            role, note = self._date_role(p, tokens)
            return role, column_type, note
        return self._value_role(p, tokens, unique, column_type)

    def _id_role(
        self, p: ColumnProfile, tokens: list[str], unique: bool
    ) -> tuple[Role, str] | None:
        """For a column named like an id: the borrower id, the record key (the first unique
        one), or ignored; None when it is a code or not named like an id."""
        if not ID_WORDS.intersection(tokens):
            return None
        if BORROWER_WORDS.intersection(tokens) and not p.nullable and not self.borrower:
            self.borrower = p.name
            return Role.BORROWER_ID, "borrower id, guessed by name"
        if unique and p.type in ("string", "int") and not self.keys:
            self.keys.append(p.name)
            return Role.ID, "record id and key: named like an id, unique in the sample"
        if not self._code_like(p):
            return Role.IGNORE, "named like an id but not a unique key"
        return None

    def _date_role(self, p: ColumnProfile, tokens: list[str]) -> tuple[Role, str]:
        """The first date named like an application date is the timestamp; others are ignored."""
        if self.timestamp is None and TIMESTAMP_WORDS.intersection(tokens):
            self.timestamp = p.name
            return Role.TIMESTAMP, "the source's timestamp, guessed by name"
        return Role.IGNORE, "a date other than the application date"

    def _value_role(
        self, p: ColumnProfile, tokens: list[str], unique: bool, column_type: ColumnType
    ) -> tuple[Role, ColumnType, str]:
        """A column neither protected, an id nor a date: a BISG input, free text to ignore,
        or a feature (a possible proxy, a code, or a plain value)."""
        if (proxied := proxy_role(p.name)) is not None and proxied not in self.proxies:
            self.proxies.add(proxied)
            # ZIP codes and tracts keep their leading zeros.
            note = "BISG input: fairness testing only, never a model input"
            return proxied, "string", note
        if column_type == "string" and unique and p.present > MAX_ALLOWED_VALUES:
            return Role.IGNORE, column_type, "text unique on every row: an identifier or free text"
        if PROXY_WORDS.intersection(tokens) or _has_phrase(tokens, PROXY_PHRASES):
            # Drafted as a feature, never silently dropped: the proxy screen judges every
            # feature against the protected groups at training time.
            note = (
                "possible proxy: geography or a name can stand in for a protected trait; the "
                "proxy screen judges it at training time (role: ignore keeps it out)"
            )
            return Role.FEATURE, column_type, note
        if self._code_like(p):
            note = (
                f"a code ({p.n_distinct} distinct values, repeated): drafted as a category, "
                "not a number"
            )
            return Role.FEATURE, "category", note
        return Role.FEATURE, column_type, ""

    def _spec(
        self, p: ColumnProfile, role: Role, column_type: ColumnType, note: str
    ) -> tuple[dict[str, Any], str]:
        """The column's spec, and the note with its date format and missing markers added."""
        spec: dict[str, Any] = {"type": column_type, "role": role.value}
        if p.format is not None and column_type in ("date", "datetime"):
            spec["format"] = p.format
            note = f"{note}; {p.format_note}" if note else str(p.format_note)
        if p.nullable:
            spec["nullable"] = True
        # Constraints only where a value is used: a bound on a carried column would
        # quarantine rows for a value nobody reads.
        if role in (Role.FEATURE, Role.PROTECTED):
            spec |= self._constraints(p, column_type)
        if p.missing_markers:
            spec["missing"] = list(p.missing_markers)
            shown = ", ".join(f"{text!r} ×{n}" for text, n in p.missing_markers.items())
            note = (f"{note}; " if note else "") + f"{shown} read as missing (`missing:`)"
        return spec, note

    @staticmethod
    def _code_like(p: ColumnProfile) -> bool:
        """A whole-number code (`BRANCH_ID`, `PRODUCT_CODE`) repeated across rows: a category."""
        tokens = _tokens(p.name)
        named = bool(ID_WORDS.intersection(tokens) or CODE_WORDS.intersection(tokens))
        repeated = 0 < p.n_distinct <= MAX_ALLOWED_VALUES and p.n_distinct * 2 <= p.present
        return named and p.type == "int" and repeated

    def _value_type(self, p: ColumnProfile) -> ColumnType:
        if p.type != "string":
            return p.type
        repeated = 0 < p.n_distinct <= MAX_ALLOWED_VALUES and p.n_distinct * 2 <= p.present
        return "category" if repeated else "string"

    def _constraints(self, p: ColumnProfile, column_type: ColumnType) -> dict[str, Any]:
        if column_type in ("int", "float") and p.minimum is not None and p.maximum is not None:
            low, high = widened_bounds(p.minimum, p.maximum)
            return {"min": low, "max": high}
        if column_type == "category" and p.text_counts:
            return {"allowed": sorted(p.text_counts)}
        return {}

    def _label(self, p: ColumnProfile) -> dict[str, Any]:
        # Ints stay ints (0/1); anything else is compared as the text the file holds.
        counts: dict[int | str, int]
        value_map: dict[str, str] = {}
        if p.type == "int":
            counts = dict(zip(p.distinct, p.typed_counts, strict=True))
        else:
            counts, value_map = self._label_spellings(p)
        if len(counts) != 2:
            shown = ", ".join(str(v) for v in list(counts)[:5]) or "none"
            raise ValueError(
                f"label column {p.name!r} has {len(counts)} distinct values ({shown}) after "
                "ignoring case and spaces; a label has exactly two, the bad and the good "
                "outcome (a `map:` on the column can fold other spellings into them)"
            )
        values = sorted(counts, key=str)
        if self.bad is not None:
            matches = [v for v in values if str(v).lower() == self.bad.strip().lower()]
            if not matches:
                raise ValueError(
                    f"--bad {self.bad!r} is not a value of label column {p.name!r} "
                    f"(its values: {', '.join(str(v) for v in values)})"
                )
            bad = matches[0]
        else:
            bad = min(values, key=lambda v: (counts[v], str(v)))
        good = values[1 - values.index(bad)]
        minority = f"the minority class, {counts[bad] / p.present:.1%} of the sample"
        label_how = "as given" if self.label_given else "guessed by name"
        bad_how = "as given" if self.bad is not None else f"guessed as {minority}"
        if self.label_given and self.bad is not None:
            self.comments[p.name] = "label and bad value as given"
        else:
            self.comments[p.name] = f"label {label_how}; bad value {bad_how}"
        self.guesses.insert(
            0,
            f"label: {p.name}, {label_how} (two values); bad = {bad!r}, {bad_how}",
        )
        spec: dict[str, Any] = {
            "type": "int" if p.type == "int" else "category",
            "role": Role.LABEL.value,
        }
        if p.nullable:
            spec["nullable"] = True
        spec["allowed"] = values
        spec["labels"] = {"bad": bad, "good": good}
        if value_map:
            spec["map"] = value_map
        return spec

    def _label_spellings(self, p: ColumnProfile) -> tuple[dict[int | str, int], dict[str, str]]:
        """A text label's values, spellings that differ only by case or spaces counted as
        their most frequent one (ingestion reads them so), and a `map:` for a rare value
        that is a near-miss of a frequent one (`godo` for `good`), each one reported."""
        groups: dict[str, dict[str, int]] = {}
        for text, n in p.text_counts.items():
            groups.setdefault(text.strip().lower(), {})[text.strip()] = n
        counts: dict[int | str, int] = {}
        for spellings in groups.values():
            # The lower-case spelling where the file has one, else the most frequent.
            main = max(spellings, key=lambda t: (t == t.lower(), spellings[t], t))
            counts[main] = sum(spellings.values())
            if len(spellings) > 1:
                others = ", ".join(
                    repr(t)
                    for t in p.text_counts
                    if t.strip().lower() == main.lower() and t != main
                )
                self.guesses.append(
                    f"label {p.name}: {others} read as {main!r} (case and spaces are ignored)"
                )
        value_map: dict[str, str] = {}
        if len(counts) > 2:
            frequent = sorted(counts, key=lambda v: -counts[v])[:2]
            for value in list(counts):
                if value in frequent:
                    continue
                match = difflib.get_close_matches(
                    str(value).lower(), [str(f).lower() for f in frequent], n=1, cutoff=0.6
                )
                if match and counts[value] * 10 <= max(counts.values()):
                    target = next(str(f) for f in frequent if str(f).lower() == match[0])
                    value_map[str(value)] = target
                    counts[target] += counts.pop(value)
                    self.guesses.append(
                        f"label {p.name}: {value!r} looks like a misspelling of {target!r}: "
                        f"map: {{{value!r}: {target!r}}} proposed; check it"
                    )
        return counts, value_map


def pydantic_problems(exc: ValidationError) -> list[str]:
    """Every pydantic error as `field.path: message`."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "<contract>"
        problems.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    return problems
