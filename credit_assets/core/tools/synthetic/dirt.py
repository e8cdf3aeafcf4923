"""Dirty rows and badly formed files, the way real landing zones receive them.

Every dirty row breaks the source's contract in exactly one way: an exact
duplicate of another row, a value that does not parse (a malformed number or
date), a value outside the contract's range or allowed set, or a required
value missing. The ingestion layer must quarantine each of them with a reason.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

# Malformed values no reader takes for null; "n/a" (which some readers do) only goes where
# a null is invalid as well.
MALFORMED_NUMBERS = ("12,5x", "1.2.3", "abc")
MALFORMED_DATES = ("2025-13-45", "31/12/2025", "not a date", "2025-02-30")
# Share of a file's dirt that is exact duplicate rows (the rest are damaged rows).
DUPLICATE_SHARE = 0.2


@dataclass(frozen=True)
class Damage:
    """One way to damage a row: put one of `values` in `column` (None writes an empty value)."""

    kind: str  # missing | malformed | out_of_range
    column: str
    values: tuple[str | float | None, ...]


def _bills(extra: tuple[Damage, ...] = ()) -> tuple[Damage, ...]:
    return (
        Damage("missing", "borrower_id", (None,)),
        Damage("missing", "bill_id", (None,)),
        Damage("missing", "due_date", (None,)),
        Damage("malformed", "amount_due", MALFORMED_NUMBERS),
        Damage("malformed", "days_late", MALFORMED_NUMBERS),
        Damage("malformed", "due_date", MALFORMED_DATES),
        Damage("malformed", "paid_date", MALFORMED_DATES),
        Damage("out_of_range", "amount_due", ("-45.5", "-1200.0")),
        Damage("out_of_range", "amount_paid", ("-30.0",)),
        Damage("out_of_range", "days_late", ("9999", "-3")),
        *extra,
    )


DAMAGE: dict[str, tuple[Damage, ...]] = {
    "applications": (
        Damage("missing", "borrower_id", (None,)),
        Damage("missing", "application_id", (None,)),
        Damage("malformed", "loan_amount", MALFORMED_NUMBERS),
        Damage("malformed", "declared_monthly_income", MALFORMED_NUMBERS),
        Damage("malformed", "application_date", MALFORMED_DATES),
        Damage("out_of_range", "loan_amount", ("-2500.0", "2500000.0")),
        Damage("out_of_range", "term_months", ("7", "120")),
        Damage("out_of_range", "product", ("mortgage",)),
        Damage("out_of_range", "employment_length_years", ("-3.0", "99.0")),
    ),
    "outcomes": (
        Damage("missing", "borrower_id", (None,)),
        Damage("missing", "default_12m", (None,)),
        Damage("malformed", "outcome_date", MALFORMED_DATES),
        Damage("malformed", "default_12m", ("n/a", "yes", "1.0x")),
        Damage("out_of_range", "default_12m", ("2", "-1")),
    ),
    "utility_payments": _bills(),
    "telecom_payments": _bills(),
    "rent_payments": _bills(),
    "bureau": (
        Damage("missing", "borrower_id", (None,)),
        Damage("missing", "report_date", (None,)),
        Damage("malformed", "report_date", MALFORMED_DATES),
        Damage("malformed", "open_accounts", MALFORMED_NUMBERS),
        Damage("out_of_range", "bureau_score", ("999", "120")),
        Damage("out_of_range", "open_accounts", ("-1",)),
        Damage("out_of_range", "credit_utilization", ("7.5",)),
    ),
    "demographics": (
        Damage("missing", "borrower_id", (None,)),
        Damage("out_of_range", "sex", ("F", "unknown")),
        Damage("out_of_range", "age_band", ("17-", "0-200")),
        Damage("out_of_range", "ethnicity_group", ("group_z",)),
    ),
    # Parquet keeps its types, so only nulls and out-of-range values can get in.
    "bank_transactions": (
        Damage("missing", "borrower_id", (None,)),
        Damage("missing", "booked_date", (None,)),
        Damage("missing", "transaction_id", (None,)),
        Damage("out_of_range", "amount", (2_500_000.0, -2_500_000.0)),
        Damage("out_of_range", "balance", (-99_999.0, 5_000_000.0)),
        Damage("out_of_range", "category", ("crypto_exchange",)),
    ),
}


@dataclass(frozen=True)
class DirtPlan:
    """Which rows of one file to damage and which to duplicate."""

    damaged: np.ndarray  # sorted row positions
    damage: np.ndarray  # index into DAMAGE[source] per damaged row
    value: np.ndarray  # index into that damage's values (modulo their count)
    duplicated: np.ndarray  # sorted positions of rows written twice

    @property
    def n_dirty(self) -> int:
        return int(self.damaged.size + self.duplicated.size)


def plan_dirt(
    source: str, n_rows: int, rate: float, rng: np.random.Generator, duplicates: bool
) -> DirtPlan:
    """Choose rows so that dirty rows / rows written == rate (duplicates add rows)."""
    n_dup = round(rate * n_rows * DUPLICATE_SHARE) if duplicates else 0
    n_damaged = min(max(round(rate * (n_rows + n_dup)) - n_dup, 0), n_rows - n_dup)
    rows = rng.permutation(n_rows)[: n_damaged + n_dup]
    order = np.argsort(rows[:n_damaged])
    return DirtPlan(
        damaged=rows[:n_damaged][order],
        damage=rng.integers(0, len(DAMAGE[source]), n_damaged)[order],
        value=rng.integers(0, 1 << 20, n_damaged)[order],
        duplicated=np.sort(rows[n_damaged:]),
    )


def damage_typed(frame: pl.DataFrame, source: str, plan: DirtPlan) -> pl.DataFrame:
    """Apply a plan's damage in place of typed values (for Parquet)."""
    damages = DAMAGE[source]
    updates: dict[str, pl.Series] = {}
    for d, damage in enumerate(damages):
        rows = plan.damaged[plan.damage == d]
        if rows.size == 0:
            continue
        picks = plan.value[plan.damage == d] % len(damage.values)
        values = pl.Series([damage.values[i] for i in picks], dtype=frame.schema[damage.column])
        column = updates.get(damage.column, frame[damage.column])
        updates[damage.column] = column.scatter(rows, values)
    return frame.with_columns(**updates) if updates else frame


def write_text_with_dirt(
    frame: pl.DataFrame,
    source: str,
    fmt: str,
    plan: DirtPlan,
    path: Path,
    block_rows: int = 250_000,
) -> None:
    """Write CSV or JSON lines block by block, swapping damaged lines and repeating duplicated ones."""
    damages = DAMAGE[source]
    with path.open("w", encoding="utf-8", newline="") as out:
        if fmt == "csv":
            out.write(",".join(frame.columns) + "\n")
        for start in range(0, max(frame.height, 1), block_rows):
            block = frame.slice(start, block_rows)
            text = block.write_csv(include_header=False) if fmt == "csv" else block.write_ndjson()
            lines = text.split("\n")[: block.height]
            lo, hi = np.searchsorted(plan.damaged, [start, start + block.height])
            local = plan.damaged[lo:hi] - start
            rows = block[local].to_dicts()
            for i, row, d, v in zip(
                local, rows, plan.damage[lo:hi], plan.value[lo:hi], strict=True
            ):
                damage = damages[d]
                value = damage.values[v % len(damage.values)]
                if fmt == "jsonl" and damage.kind == "out_of_range":
                    value = _as_json_number(value)
                row[damage.column] = value
                lines[i] = _serialise(row, fmt)
            lo, hi = np.searchsorted(plan.duplicated, [start, start + block.height])
            dup = plan.duplicated[lo:hi] - start
            if dup.size:
                # A duplicate follows its original a few lines later, as a re-sent record would.
                target = np.minimum(dup + plan.duplicated[lo:hi] % 7, block.height - 1) + 0.5
                order = np.argsort(
                    np.r_[np.arange(block.height, dtype=np.float64), target], kind="stable"
                )
                lines = lines + [lines[i] for i in dup]
                lines = [lines[k] for k in order]
            if lines:
                out.write("\n".join(lines) + "\n")


def _as_json_number(value: str | float | None) -> str | float | int | None:
    """An out-of-range number stays a JSON number; only malformed values are strings."""
    if not isinstance(value, str):
        return value
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value


def _serialise(row: dict, fmt: str) -> str:
    values = {k: v.isoformat() if isinstance(v, date) else v for k, v in row.items()}
    if fmt == "jsonl":
        return json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(
        ["" if v is None else v for v in values.values()]
    )
    return buffer.getvalue()


def write_bad_files(
    frames: dict[str, pl.DataFrame], landing_dir: Path, n_rows: int = 500
) -> list[Path]:
    """One CSV without a required column and one in Windows-1252 (as a Windows export writes
    it) that the UTF-8 contract cannot read."""
    missing = landing_dir / "utility_payments" / "utility_payments-missing-column.csv"
    missing.parent.mkdir(parents=True, exist_ok=True)
    frames["utility_payments"].head(n_rows).drop("due_date").write_csv(missing)
    encoded = landing_dir / "rent_payments" / "rent_payments-latin1.csv"
    encoded.parent.mkdir(parents=True, exist_ok=True)
    accented = (
        frames["rent_payments"]
        .head(n_rows)
        .with_columns((pl.col("provider") + " Société").alias("provider"))
    )
    encoded.write_bytes(accented.write_csv().encode("cp1252"))
    return [missing, encoded]


BAD_FILE_NAMES = {
    "utility_payments": "utility_payments-missing-column.csv",
    "rent_payments": "rent_payments-latin1.csv",
}
