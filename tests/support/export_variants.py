"""Export variants of a clean lender file: the same rows as lenders' systems write them.

A lender sends the file its system exports: semicolons and decimal commas, Windows-1252,
banner lines above the header, dates as 240105, a workbook with the data on its second
sheet, a gzip or zip around it, an index column without a name. Each variant is a pure
step `Export -> Export` (`VARIANTS`); steps combine (`combine`) into one file, which
`write_export` writes and describes (see `export_files`): the path, how a correct reader
reads it in the contract's syntax, the header after renaming, the frame it reads back to.

    clean = german_credit_frame()
    variant = write_variant(clean, tmp_path, "semicolon", "decimal_comma", "cp1252", "banner_2")
    variant.reading  # {"formats": ["csv"], "csv": {"delimiter": ";", "decimal": ",", ...}, ...}
    variant.expected  # what the file must read back to

Everything is seeded: the same clean frame and seed give the same bytes. At most one
variant of each of `EXCLUSIVE_GROUPS` goes into one CSV file; a workbook takes none of the
text settings (delimiter, separators, encoding, line endings) but may carry banner rows.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from hypothesis import strategies as st

from tests.support.export_files import (
    BANNER,
    SETTING_DEFAULTS,
    DateStyle,
    Export,
    ExportVariant,
    renamed_header,
    write_export,
)
from tests.support.paths import GERMAN_CREDIT_CSV

Variant = Callable[[Export], Export]

REPORT_BANNER = "Report{sep}Applications{sep}Branch{sep}All"  # a banner holding the delimiter
DATE_COLUMN = "application_date"
FIRST_DATE, LAST_DATE = date(2024, 1, 1), date(2025, 12, 31)
EXCEL_EPOCH = date(1899, 12, 30)  # serial 1 is 1900-01-01 (Excel counts a 29 Feb 1900)
UTC_OFFSETS = ("+01:00", "+02:00", "-05:00", "+05:30", "Z")
LABEL_SPELLINGS = {"bad": ("bad", "BAD ", "Bad"), "good": (" good", "Good", "good")}
TRAILING_BLANK_LINES = 3
# German Credit's values in a lender's own words: they make the text encoding matter.
ACCENTED = {
    "radio/TV": "Radio/Fernseher",
    "furniture/equipment": "Möbel/Einrichtung",
    "domestic appliances": "Haushaltsgeräte",
    "vacation/others": "Urlaub/Sonstiges",
    "repairs": "Réparations",
    "quite rich": "über 500 €",
    "rich": "über 1000 €",
}
GENERIC_ACCENT = " (Zürich)"  # appended to a text column of a file with none of those values


def german_credit_frame() -> pl.DataFrame:
    """The real public German Credit file (risk: 1 good, 0 bad) as polars reads it."""
    return pl.read_csv(GERMAN_CREDIT_CSV)


def with_application_dates(
    frame: pl.DataFrame, *, seed: int = 0, column: str = DATE_COLUMN
) -> pl.DataFrame:
    """`frame` with a date column spread over 2024-2025 (see `_application_dates`)."""
    return frame.with_columns(pl.Series(column, _application_dates(frame.height, seed)))


def _application_dates(n: int, seed: int) -> list[date]:
    """Uniform over 2024-2025; a day after the 12th always occurs, so day-first and
    month-first readings of 05/03/2024 can be told apart."""
    span = (LAST_DATE - FIRST_DATE).days
    offsets = _rng(seed, "dates").integers(0, span + 1, n)
    days = [FIRST_DATE + timedelta(days=int(d)) for d in offsets]
    if days and all(d.day <= 12 for d in days):
        days[0] = days[0].replace(day=25)
    return days


def clean_export(
    clean: pl.DataFrame,
    *,
    seed: int = 0,
    label_column: str | None = "risk",
    bad_value: Any = 0,
    amount_column: str | None = None,
    date_column: str | None = None,
) -> Export:
    """The starting point: `clean` as a plain UTF-8 comma-delimited file.

    `amount_column` (the one variants make fractional or repeat) defaults to `credit_amount`,
    else the numeric column with the largest absolute total; `date_column` to the first Date
    column (date variants add `application_date` when there is none).
    """
    if label_column not in clean.columns:
        label_column = None
    numeric = [c for c, t in clean.schema.items() if t.is_numeric() and c != label_column]
    if amount_column is None and numeric:
        amount_column = (
            "credit_amount"
            if "credit_amount" in numeric
            else max(numeric, key=lambda c: clean[c].cast(pl.Float64).abs().fill_null(0).sum())
        )
    if date_column is None:
        date_column = next((c for c, t in clean.schema.items() if t == pl.Date), None)
    header = tuple(clean.columns)
    if renamed_header(header) != header:
        raise ValueError(f"a clean frame has unique, non-blank column names, not {header}")
    return Export(
        data=clean,
        expected=clean,
        raw_header=header,
        label_column=label_column,
        bad_value=bad_value,
        amount_column=amount_column,
        date_column=date_column,
        seed=seed,
    )


# -- how the text is written ------------------------------------------------------------------


def _configure(export: Export, step: str, **settings: Any) -> Export:
    """Apply settings, refusing one an earlier step already set to something else."""
    for key, value in settings.items():
        current = getattr(export, key)
        if current != SETTING_DEFAULTS[key] and current != value:
            raise ValueError(
                f"variant {step!r} sets {key}={value!r}, but an earlier variant set {current!r}"
            )
    return replace(export, steps=(*export.steps, step), **settings)


def _setting(name: str, doc: str, prepare: Variant | None = None, **settings: Any) -> Variant:
    """A variant that only changes how the file is written (after `prepare` on its values)."""

    def variant(export: Export) -> Export:
        return _configure(prepare(export) if prepare else export, name, **settings)

    variant.__name__ = variant.__qualname__ = name
    variant.__doc__ = doc
    return variant


def _rng(seed: int, step: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(step.encode())])


def _fractional(export: Export) -> Export:
    """Cents on the amount column, so the decimal separator matters (1169 -> 1169.43)."""
    if export.amount_fractional:
        return export
    amount = export.amount_column
    if amount is None:
        raise ValueError("a decimal-separator variant needs a numeric amount column")
    cents = _rng(export.seed, "cents").integers(1, 100, export.data.height)
    whole = np.round(export.expected[amount].cast(pl.Float64).to_numpy() * 100).astype(np.int64)
    # Cents divided by 100 in NumPy (exact division; Polars may multiply by 0.01) is the
    # double nearest the decimal text a reader parses.
    amounts = pl.Series(amount, (whole + cents) / 100.0)
    return replace(
        export,
        data=export.data.with_columns(amounts),
        expected=export.expected.with_columns(amounts),
        columns=_merged(export.columns, amount, {"type": "float"}),
        amount_fractional=True,
    )


def _accented(euro: bool) -> Variant:
    """German Credit's English values in a lender's own words, beyond ASCII."""
    words = {k: v if euro else v.replace("€", "EUR") for k, v in ACCENTED.items()}

    def accented(export: Export) -> Export:
        text = [
            c
            for c, t in export.data.schema.items()
            if t == pl.String and c not in (export.label_column, export.date_column)
        ]
        if not text:
            raise ValueError("an encoding variant needs a text column for non-ASCII letters")
        touched = [c for c in text if export.data[c].is_in(list(words)).any()]
        changes = (
            [pl.col(c).replace(words) for c in touched]
            if touched
            else [pl.col(text[0]) + GENERIC_ACCENT]
        )
        return replace(
            export,
            data=export.data.with_columns(changes),
            expected=export.expected.with_columns(changes),
        )

    return accented


comma = _setting("comma", "The baseline: comma-delimited UTF-8, LF endings.", delimiter=",")
semicolon = _setting("semicolon", "Fields separated by `;`.", delimiter=";")
tab = _setting("tab", "Fields separated by tabs.", delimiter="\t")
pipe = _setting("pipe", "Fields separated by `|`.", delimiter="|")
decimal_comma = _setting(
    "decimal_comma",
    'Decimal commas (`1169,43`); comma-delimited, the value is quoted (`"1169,43"`).',
    _fractional,
    decimal=",",
)
thousands_dot = _setting(
    "thousands_dot",
    "`1.169,43`: dot thousands, comma decimals.",
    _fractional,
    decimal=",",
    thousands=".",
)
thousands_comma = _setting(
    "thousands_comma",
    'Comma thousands (`1,169.43`); comma-delimited, the value is quoted (`"1,169.43"`).',
    _fractional,
    decimal=".",
    thousands=",",
)
utf8_bom = _setting("utf8_bom", "UTF-8 behind a byte-order mark.", encoding="utf-8-sig")
utf16 = _setting("utf16", "UTF-16 (little-endian) behind its byte-order mark.", encoding="utf-16")
cp1252 = _setting(
    "cp1252",
    "Windows-1252, with umlauts, accents and the euro sign (0x80) in text values.",
    _accented(euro=True),
    encoding="cp1252",
)
latin1 = _setting(
    "latin1",
    "ISO-8859-1, with umlauts and accents in text values (it has no euro sign).",
    _accented(euro=False),
    encoding="latin-1",
)
crlf = _setting("crlf", "Windows line endings.", line_terminator="\r\n")
trailing_blank_lines = _setting(
    "trailing_blank_lines",
    "Blank lines after the last row.",
    trailing_blank_lines=TRAILING_BLANK_LINES,
)
banner_1 = _setting("banner_1", "One line above the header, no delimiter in it.", banner=(BANNER,))
banner_2 = _setting(
    "banner_2",
    "Two lines above the header; the second holds the delimiter (fewer fields than a row).",
    banner=(BANNER, REPORT_BANNER),
)
gzip_csv = _setting("gzip", "The CSV gzipped (`.csv.gz`).", container="csv.gz")
zip_csv = _setting("zip", "The CSV as the one member of a `.zip`.", container="zip")
xlsx = _setting(
    "xlsx", "An .xlsx workbook: a notes sheet first, the data on `Applications`.", container="xlsx"
)


def semicolon_decimal_comma(export: Export) -> Export:
    """`;` between fields and decimal commas (`1169,43`), as European spreadsheets save."""
    return decimal_comma(semicolon(export))


def semicolon_thousands_dot(export: Export) -> Export:
    """`;` between fields, `1.169,43`."""
    return thousands_dot(semicolon(export))


# -- the values and the header ------------------------------------------------------------------


def _merged(
    columns: dict[str, dict[str, Any]], name: str, extra: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    return {**columns, name: {**columns.get(name, {}), **extra}}


def _with_header(
    export: Export, raw: tuple[str, ...], data: pl.DataFrame, expected: pl.DataFrame
) -> Export:
    """The export under the written header `raw`. `data` and `expected` hold the columns in
    the order of `raw` (a new one named `_new`); all take the names a reader gives them."""
    moved = dict(zip(data.columns, renamed_header(raw), strict=True))
    return replace(
        export,
        raw_header=raw,
        data=data.rename(moved),
        expected=expected.rename(moved),
        columns={moved.get(name, name): spec for name, spec in export.columns.items()},
    )


def label_spellings(export: Export) -> Export:
    """The label as people typed it: `bad`, `BAD `, `Bad`, ` good`, `Good`, `good` (seeded);
    a reader normalises case and spaces and reads `bad` and `good`."""
    label = export.label_column
    if label is None or "label_spellings" in export.steps:
        raise ValueError("label_spellings needs the label column, as the clean frame codes it")
    canonical = (
        pl.when(pl.col(label) == export.bad_value).then(pl.lit("bad")).otherwise(pl.lit("good"))
    )
    expected = export.expected.with_columns(canonical.alias(label))
    pick = _rng(export.seed, "label_spellings").integers(0, 3, export.data.height)
    spelled = [LABEL_SPELLINGS[v][i] for v, i in zip(expected[label], pick, strict=True)]
    labels = {
        "type": "category",
        "allowed": ["bad", "good"],
        "labels": {"bad": "bad", "good": "good"},
    }
    return replace(
        export,
        data=export.data.with_columns(pl.Series(label, spelled, dtype=pl.String)),
        expected=expected,
        columns=_merged(export.columns, label, labels),
        steps=(*export.steps, "label_spellings"),
    )


def duplicate_header(export: Export) -> Export:
    """A last column under the amount's name again (the approved amount, in hundreds); a
    reader names it `<amount>_2`."""
    amount = export.amount_column
    if amount is None:
        raise ValueError("duplicate_header needs an amount column to repeat")
    approved = (pl.col(amount) // 100 * 100).alias("_new")
    raw = (*export.raw_header, amount)
    updated = _with_header(
        export, raw, export.data.with_columns(approved), export.expected.with_columns(approved)
    )
    kind = "float" if export.expected[amount].dtype.is_float() else "int"
    return replace(
        updated,
        columns=_merged(updated.columns, renamed_header(raw)[-1], {"type": kind, "role": "ignore"}),
        steps=(*export.steps, "duplicate_header"),
    )


def blank_header(export: Export) -> Export:
    """A first column with an empty header holding 0, 1, 2, ... (pandas' `to_csv` index);
    a reader names it `column_1`."""
    index = pl.int_range(pl.len(), dtype=pl.Int64).alias("_new")
    raw = ("", *export.raw_header)
    updated = _with_header(
        export, raw, export.data.select(index, pl.all()), export.expected.select(index, pl.all())
    )
    return replace(
        updated,
        columns=_merged(updated.columns, renamed_header(raw)[0], {"type": "int", "role": "ignore"}),
        steps=(*export.steps, "blank_header"),
    )


def _dated(export: Export, step: str, style: DateStyle) -> Export:
    """The export with its Date column (`application_date` added when there is none)."""
    if export.date_style is not None:
        raise ValueError(f"variant {step!r} styles dates, but an earlier one did already")
    if export.date_column is None:
        dates = pl.Series("_new", _application_dates(export.data.height, export.seed))
        updated = _with_header(
            export,
            (*export.raw_header, DATE_COLUMN),
            export.data.with_columns(dates),
            export.expected.with_columns(dates),
        )
        export = replace(
            updated,
            date_column=DATE_COLUMN,
            columns=_merged(updated.columns, DATE_COLUMN, {"type": "date", "role": "ignore"}),
        )
    column = export.date_column
    if column is None or export.expected[column].dtype != pl.Date:
        raise ValueError(f"date variants restyle a Date column; {column!r} is not one")
    return replace(export, date_style=style, steps=(*export.steps, step))


def _date_style(
    name: str, doc: str, style: DateStyle, written: Callable[[pl.Expr], pl.Expr], number: bool
) -> Variant:
    """A variant writing the date column as `written` makes it, read with `format: style`."""

    def variant(export: Export) -> Export:
        export = _dated(export, name, style)
        column = export.date_column
        assert column is not None
        return replace(
            export,
            data=export.data.with_columns(written(pl.col(column))),
            columns=_merged(export.columns, column, {"format": style}),
            verbatim=export.verbatim | {column} if number else export.verbatim,
        )

    variant.__name__ = variant.__qualname__ = name
    variant.__doc__ = doc
    return variant


dates_dmy = _date_style(
    "dates_dmy",
    "Dates as 25/03/2024 (day first).",
    "%d/%m/%Y",
    lambda d: d.dt.strftime("%d/%m/%Y"),
    False,
)
dates_yymmdd = _date_style(
    "dates_yymmdd",
    "Dates as the integer 240325, a core-banking habit.",
    "%y%m%d",
    lambda d: d.dt.strftime("%y%m%d").cast(pl.Int64),
    True,
)
dates_excel_serial = _date_style(
    "dates_excel_serial",
    "Dates as Excel serial day numbers (45376 is 2024-03-25) in a text file.",
    "excel_serial",
    lambda d: (d - pl.lit(EXCEL_EPOCH)).dt.total_days().cast(pl.Int64),
    True,
)


def datetimes_iso_offset(export: Export) -> Export:
    """ISO 8601 timestamps in several UTC offsets (`2024-03-25T09:14:07+01:00`, `...Z`);
    a reader gives the instant in UTC, without a zone."""
    export = _dated(export, "datetimes_iso_offset", "iso_offset")
    column = export.date_column
    assert column is not None
    rng = _rng(export.seed, "datetimes_iso_offset")
    seconds = rng.integers(7 * 3600, 20 * 3600, export.data.height)
    offsets = rng.integers(0, len(UTC_OFFSETS), export.data.height)
    stamps, instants = [], []
    for day, second, pick in zip(export.expected[column], seconds, offsets, strict=True):
        wall = datetime.combine(day, datetime.min.time()) + timedelta(seconds=int(second))
        stamps.append(wall.isoformat() + UTC_OFFSETS[pick])
        instants.append(datetime.fromisoformat(stamps[-1]).astimezone(UTC).replace(tzinfo=None))
    return replace(
        export,
        data=export.data.with_columns(pl.Series(column, stamps, dtype=pl.String)),
        expected=export.expected.with_columns(pl.Series(column, instants, dtype=pl.Datetime("us"))),
        columns=_merged(export.columns, column, {"type": "datetime"}),
    )


VARIANTS: dict[str, Variant] = {
    "comma": comma,
    "semicolon": semicolon,
    "tab": tab,
    "pipe": pipe,
    "decimal_comma": decimal_comma,
    "thousands_dot": thousands_dot,
    "thousands_comma": thousands_comma,
    "semicolon_decimal_comma": semicolon_decimal_comma,
    "semicolon_thousands_dot": semicolon_thousands_dot,
    "utf8_bom": utf8_bom,
    "utf16": utf16,
    "cp1252": cp1252,
    "latin1": latin1,
    "crlf": crlf,
    "trailing_blank_lines": trailing_blank_lines,
    "banner_1": banner_1,
    "banner_2": banner_2,
    "dates_dmy": dates_dmy,
    "dates_yymmdd": dates_yymmdd,
    "dates_excel_serial": dates_excel_serial,
    "datetimes_iso_offset": datetimes_iso_offset,
    "xlsx": xlsx,
    "gzip": gzip_csv,
    "zip": zip_csv,
    "duplicate_header": duplicate_header,
    "blank_header": blank_header,
    "label_spellings": label_spellings,
}
# At most one variant of each group goes into a CSV file; the rest combine freely.
EXCLUSIVE_GROUPS: tuple[tuple[str, ...], ...] = (
    ("semicolon", "tab", "pipe"),
    ("decimal_comma", "thousands_dot", "thousands_comma"),
    ("utf8_bom", "utf16", "cp1252", "latin1"),
    ("banner_1", "banner_2"),
    ("dates_dmy", "dates_yymmdd", "dates_excel_serial", "datetimes_iso_offset"),
    ("gzip", "zip"),
)
INDEPENDENT = (
    "crlf",
    "trailing_blank_lines",
    "duplicate_header",
    "blank_header",
    "label_spellings",
)


def combine(*names: str) -> Variant:
    """The variants named, applied in order, as one step."""
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise KeyError(f"unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}")

    def combined(export: Export) -> Export:
        for name in names:
            export = VARIANTS[name](export)
        return export

    return combined


def write_variant(
    clean: pl.DataFrame, folder: Path, *names: str, seed: int = 0, **options: Any
) -> ExportVariant:
    """`clean` written into `folder` as the named variants combined (`comma` for none);
    `options` go to `clean_export` (label_column, bad_value, amount_column, date_column)."""
    export = combine(*(names or ("comma",)))(clean_export(clean, seed=seed, **options))
    return write_export(export, folder)


def variant_combinations() -> st.SearchStrategy[tuple[str, ...]]:
    """Names of variants that make one CSV file together: at most one per exclusive group."""
    groups = [st.sampled_from((None, *group)) for group in EXCLUSIVE_GROUPS]
    free = st.lists(st.sampled_from(INDEPENDENT), unique=True)
    return st.tuples(*groups, free).map(
        lambda drawn: tuple(n for n in (*drawn[:-1], *drawn[-1]) if n is not None)
    )
