"""The value of a delivered text as its contract types it: the one rule ingestion,
`contract infer`, `contract check` and inline scoring share.

Text is trimmed (empty is missing), mapped by `map:`, a label's case and spaces are folded,
numbers are read with the file's decimal comma and thousands separator, dates by their
`format:` (or ISO 8601), and a value that does not parse is null: the caller quarantines
the row with `value_problem`'s reason, never keeps the value as text.
"""

from __future__ import annotations

import re
from datetime import datetime

import polars as pl

from credit_assets.core.contracts import EXCEL_SERIAL, POLARS_TYPES, ColumnSpec, CsvOptions, Role


def typed_value(column: ColumnSpec, raw: pl.Expr, numbers: CsvOptions | None = None) -> pl.Expr:
    """The contract-typed value of a raw column (after its `map:` and `scale:`); null where
    the text is not a valid value. `numbers` says how a CSV file writes numbers (a decimal
    comma, a thousands separator); other formats carry numbers as numbers."""
    return typed_from_text(column, delivered_text(raw, column.missing), numbers)


def delivered_text(raw: pl.Expr, missing: list[str] | None = None) -> pl.Expr:
    """A delivered value as text, trimmed; empty text, or one of the column's `missing:`
    texts, is missing (null)."""
    text = raw.cast(pl.String).str.strip_chars()
    absent = text == ""
    if missing:
        absent = absent | text.is_in([str(m).strip() for m in missing])
    return pl.when(absent).then(None).otherwise(text)


def typed_from_text(column: ColumnSpec, text: pl.Expr, numbers: CsvOptions | None) -> pl.Expr:
    """`typed_value` of a value already made `delivered_text` (computed once per column)."""
    if column.value_map is not None:
        text = mapped_text(column, text)
    if column.role is Role.LABEL and column.labels is not None:
        text = _normalised_label(column, text)
    if numbers is not None and column.type in ("int", "float"):
        text = number_text(text, numbers)
    typed = _typed_text(column, text)
    if column.scale is not None:
        typed = (typed * column.scale).cast(POLARS_TYPES[column.type])
    return typed


def number_text(text: pl.Expr, numbers: CsvOptions) -> pl.Expr:
    """A number as written with a decimal comma or thousands separators, as plain text.

    Strict, so that nothing is misread: a thousands separator must group digits by three
    (`1.169,94`, not `1.16`), and a point in a decimal-comma file without `.` thousands is
    not a number at all; either is quarantined as "not a valid float".
    """
    separator, decimal = numbers.thousands, numbers.decimal
    if separator is not None:
        grouped = rf"^[+-]?\d{{1,3}}(?:[{separator}]\d{{3}})+(?:[{decimal}]\d*)?$"
        text = (
            pl.when(text.str.contains(separator, literal=True) & ~text.str.contains(grouped))
            .then(None)
            .otherwise(text.str.replace_all(separator, "", literal=True))
        )
    if decimal == ",":
        text = (
            pl.when(text.str.contains(".", literal=True))
            .then(None)
            .otherwise(text.str.replace_all(",", ".", literal=True))
        )
    return text


def _normalised_label(column: ColumnSpec, text: pl.Expr) -> pl.Expr:
    """A label value that differs from a declared one only by case or surrounding spaces
    (`BAD `, `Bad` for `bad`) reads as the declared one."""
    assert column.labels is not None
    result = text
    for value in column.labels.values():
        declared = str(value)
        result = (
            pl.when(text.str.to_lowercase() == declared.strip().lower())
            .then(pl.lit(declared))
            .otherwise(result)
        )
    return result


def mapped_text(column: ColumnSpec, text: pl.Expr) -> pl.Expr:
    """`ColumnSpec.mapped` as an expression: the exact key, else the longest prefix, else
    the text as delivered."""
    exact, prefixes = column.map_rules
    mapped = text
    for prefix, target in reversed(prefixes):  # the longest prefix is tested first
        mapped = pl.when(text.str.starts_with(prefix)).then(pl.lit(target)).otherwise(mapped)
    if exact:
        mapped = (
            pl.when(text.is_in(list(exact)))
            .then(text.replace_strict(exact, default=None, return_dtype=pl.String))
            .otherwise(mapped)
        )
    return mapped


def _typed_text(column: ColumnSpec, text: pl.Expr) -> pl.Expr:
    match column.type:
        case "int":
            as_float = text.cast(pl.Float64, strict=False)
            # inf, NaN and values beyond Int64 are not integers: quarantined, never a crash.
            whole = (
                as_float.is_finite() & (as_float.abs() < 2.0**63) & (as_float == as_float.round(0))
            )
            return pl.when(whole).then(as_float).otherwise(None).cast(pl.Int64)
        case "float":
            as_float = text.cast(pl.Float64, strict=False)
            return pl.when(as_float.is_finite()).then(as_float).otherwise(None)
        case "bool":
            lowered = text.str.to_lowercase()
            return (
                pl.when(lowered.is_in(["true", "1", "yes", "y"]))
                .then(True)
                .when(lowered.is_in(["false", "0", "no", "n"]))
                .then(False)
                .otherwise(None)
            )
        case "date":
            if column.format == EXCEL_SERIAL:
                return excel_serial(text).dt.date()
            if column.format is not None:
                return _digits_padded(text, column.format).str.to_date(column.format, strict=False)
            return text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
        case "datetime":
            if column.format == EXCEL_SERIAL:
                return excel_serial(text)
            if column.format is not None:
                return parsed_datetime(_digits_padded(text, column.format), column.format)
            return iso_datetime(text)
        case _:
            return text


# ISO 8601 as lenders' systems write it: `T` or a space, seconds or not, a fraction, an
# offset or `Z` (read as UTC), or a date alone.
_ISO_DATETIMES = (
    "%Y-%m-%d %H:%M:%S%.f%#z",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M%#z",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)
_DIGIT_FORMAT = {"%Y": 4, "%y": 2, "%m": 2, "%d": 2, "%H": 2, "%M": 2, "%S": 2}
EXCEL_EPOCH = datetime(1899, 12, 30)  # day 0 of Excel's 1900 system (after its 1900 leap bug)


def iso_datetime(text: pl.Expr) -> pl.Expr:
    """A datetime from ISO 8601 text in any of its common spellings, in UTC, without zone."""
    spaced = text.str.replace("T", " ", literal=True)
    return pl.coalesce(parsed_datetime(spaced, fmt) for fmt in _ISO_DATETIMES)


def parsed_datetime(text: pl.Expr, fmt: str) -> pl.Expr:
    """Text parsed by a strftime format; with an offset (`%z`) converted to UTC, and naive."""
    parsed = text.str.to_datetime(fmt, strict=False, time_unit="us")
    return parsed.dt.replace_time_zone(None) if re.search(r"%[#:]?z", fmt) else parsed


def _digits_padded(text: pl.Expr, fmt: str) -> pl.Expr:
    """Digits-only formats (`%y%m%d`) read from integers that lost a leading zero
    (`50105` for 2005-01-05) or that a spreadsheet wrote as `240105.0`."""
    rest = fmt
    width = 0
    for code, digits in _DIGIT_FORMAT.items():
        width += rest.count(code) * digits
        rest = rest.replace(code, "")
    if rest or width == 0:
        return text
    whole = text.str.replace(r"\.0+$", "")
    return pl.when(whole.str.contains(r"^\d+$")).then(whole.str.zfill(width)).otherwise(text)


def excel_serial(text: pl.Expr) -> pl.Expr:
    """Excel's serial day numbers (45296 = 2024-01-05, fractions are the time of day)."""
    days = text.cast(pl.Float64, strict=False)
    valid = days.is_finite() & (days >= 1) & (days < 2_958_466)  # up to 9999-12-31
    millis = (days * 86_400_000).round(0).cast(pl.Int64)
    return (
        pl.when(valid)
        .then(pl.lit(EXCEL_EPOCH) + pl.duration(milliseconds=millis))
        .otherwise(None)
        .cast(pl.Datetime("us"))
    )


def signed_by(column: ColumnSpec, other: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(-1 or 1, a problem or null) for `sign_from`: the sign an unsigned amount takes from
    another column of its row (its text, case and surrounding spaces ignored)."""
    assert column.sign_from is not None
    rule = column.sign_from
    text = other.cast(pl.String).str.strip_chars().str.to_lowercase()
    negative = text.is_in([v.strip().lower() for v in rule.negative])
    sign = pl.when(negative).then(pl.lit(-1)).otherwise(pl.lit(1))
    if rule.positive is None:
        return sign, pl.lit(None, dtype=pl.String)
    known = negative | text.is_in([v.strip().lower() for v in rule.positive])
    problem = (
        pl.when(~known.fill_null(False))
        .then(
            pl.lit(
                f"{column.name}: sign unknown, {rule.column} is neither a negative nor a "
                "positive value: '"
            )
            + other.cast(pl.String).fill_null("").str.slice(0, 40)
            + pl.lit("'")
        )
        .otherwise(None)
    )
    return sign, problem


def value_problem(
    column: ColumnSpec, raw: pl.Expr, typed: pl.Expr, text: pl.Expr | None = None
) -> pl.Expr:
    """A reason string for the first problem with this column's value, else null."""
    expr = pl.lit(None, dtype=pl.String)
    for condition, reason in reversed(value_checks(column, raw, typed, text)):
        expr = pl.when(condition).then(reason).otherwise(expr)
    return expr


def value_is_bad(
    column: ColumnSpec, raw: pl.Expr, typed: pl.Expr, text: pl.Expr | None = None
) -> pl.Expr:
    """Whether this column's value has any problem: `value_problem` is not null exactly
    then, at a fraction of its cost (no reason text is built)."""
    return pl.any_horizontal(condition for condition, _ in value_checks(column, raw, typed, text))


def value_checks(
    column: ColumnSpec, raw: pl.Expr, typed: pl.Expr, text: pl.Expr | None = None
) -> list[tuple[pl.Expr, pl.Expr]]:
    """(condition, reason) for every rule of the column, in the order they are reported;
    conditions are never null. `text` is the value's `delivered_text` where already known."""
    name = column.name
    if text is None:
        text = delivered_text(raw, column.missing)
    present = text.is_not_null()
    text = text.fill_null("")
    checks: list[tuple[pl.Expr, pl.Expr]] = []
    if not column.is_nullable:
        checks.append((~present, pl.lit(f"{name}: required value missing")))
    checks.append(
        (
            present & typed.is_null(),
            pl.lit(f"{name}: not a valid {column.type}: '") + text.str.slice(0, 40) + pl.lit("'"),
        )
    )
    if column.min is not None:
        checks.append(
            (typed < column.min, pl.lit(f"{name}: below minimum {column.min:g}: ") + text)
        )
    if column.max is not None:
        checks.append(
            (typed > column.max, pl.lit(f"{name}: above maximum {column.max:g}: ") + text)
        )
    if column.labels is not None:
        labels = [str(v) for v in column.labels.values()]
        if column.type in ("int", "float"):
            known = typed.cast(pl.Float64).is_in([float(v) for v in column.labels.values()])
        else:
            known = typed.cast(pl.String).is_in(labels)
        checks.append(
            (
                typed.is_not_null() & ~known,
                pl.lit(f"{name}: not one of the labels ({', '.join(labels)}): '")
                + text.str.slice(0, 40)
                + pl.lit("'"),
            )
        )
    if column.allowed is not None:
        allowed = [str(v) for v in column.allowed]
        checks.append(
            (
                typed.is_not_null() & ~typed.cast(pl.String).is_in(allowed),
                pl.lit(f"{name}: value not allowed: '") + text.str.slice(0, 40) + pl.lit("'"),
            )
        )
    if column.pattern is not None:
        checks.append(
            (
                typed.is_not_null() & ~typed.cast(pl.String).str.contains(column.pattern),
                pl.lit(f"{name}: does not match pattern {column.pattern}"),
            )
        )
    return [(condition.fill_null(False), reason) for condition, reason in checks]
