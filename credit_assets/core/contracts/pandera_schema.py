"""Pandera schemas generated from data contracts.

The ingestion checks run these against every accepted partition, so a
contract is enforced by a library built for it rather than trusted.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import pandera.polars as pa
import polars as pl

from credit_assets.core.contracts import POLARS_TYPES, Contract, Role
from credit_assets.core.reports.render import markdown_table


def pandera_schema(contract: Contract) -> pa.DataFrameSchema:
    """The pandera (Polars) schema of a contract's accepted data."""
    columns = {}
    for spec in contract.columns.values():
        checks = []
        if spec.min is not None:
            checks.append(pa.Check.ge(spec.min))
        if spec.max is not None:
            checks.append(pa.Check.le(spec.max))
        if spec.allowed is not None:
            allowed = (
                [str(v) for v in spec.allowed]
                if spec.type in ("string", "category")
                else spec.allowed
            )
            checks.append(pa.Check.isin(allowed))
        if spec.pattern is not None:
            checks.append(pa.Check.str_matches(spec.pattern))
        columns[spec.name] = pa.Column(
            POLARS_TYPES[spec.type],
            checks=checks,
            nullable=spec.is_nullable,
            unique=contract.keys == [spec.name],
            description=spec.description or None,
        )
    return pa.DataFrameSchema(
        columns,
        name=contract.name,
        unique=contract.keys if len(contract.keys) > 1 else None,
        strict=False,  # lineage columns ride along
        description=contract.description or None,
    )


@dataclass(frozen=True)
class SchemaReport:
    passed: bool
    failure_count: int
    failures: pl.DataFrame

    def markdown(self, limit: int = 10, shown: Collection[str] | None = None) -> str:
        """The first `limit` failures as a table. With `shown`, only those columns' failure
        cases are quoted; another column's (an identifier, a name, a protected attribute, a
        multi-column key) is withheld, for this table goes where an erasure cannot reach (a
        run's history), and the row itself stays in the raw data, which it can."""
        if self.passed:
            return "All rows conform to the contract schema."
        rows = [
            {
                "column": r.get("column"),
                "check": r.get("check"),
                "failure case": (
                    r.get("failure_case") if shown is None or r.get("column") in shown else WITHHELD
                ),
            }
            for r in self.failures.head(limit).to_dicts()
        ]
        # A failure case is a value from the lender's file: the table shows it escaped.
        return markdown_table(rows, ["column", "check", "failure case"])


WITHHELD = "(withheld: not a feature, label or date column)"
QUOTABLE_ROLES = (Role.FEATURE, Role.LABEL, Role.TIMESTAMP)


def quotable_columns(contract: Contract) -> frozenset[str]:
    """Columns whose values a report that outlives an erasure may quote: features, the label
    and dates; never an identifier, a name, a protected attribute or an ignored column."""
    return frozenset(c.name for c in contract.columns_with(*QUOTABLE_ROLES))


def check_against_contract(frame: pl.DataFrame, contract: Contract) -> SchemaReport:
    """Validate a frame with the contract's pandera schema, collecting every failure."""
    try:
        pandera_schema(contract).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        failures = (
            pl.DataFrame(exc.failure_cases)
            if not isinstance(exc.failure_cases, pl.DataFrame)
            else exc.failure_cases
        )
        failures = failures.select(pl.all().cast(pl.String))
        return SchemaReport(False, failures.height, failures)
    return SchemaReport(True, 0, pl.DataFrame())


def check_parquet_against_contract(
    path: Path, contract: Contract, batch_rows: int = 1_000_000
) -> SchemaReport:
    """`check_against_contract` over a Parquet file of any size, a slice of rows at a time
    (pandera validates a frame in memory); failures of every slice are collected."""
    total = int(pl.scan_parquet(path).select(pl.len()).collect().item())
    failures: list[pl.DataFrame] = []
    count = 0
    for offset in range(0, max(total, 1), batch_rows):
        report = check_against_contract(
            pl.scan_parquet(path).slice(offset, batch_rows).collect(), contract
        )
        if not report.passed:
            count += report.failure_count
            failures.append(report.failures)
    if not failures:
        return SchemaReport(True, 0, pl.DataFrame())
    return SchemaReport(False, count, pl.concat(failures, how="diagonal_relaxed"))
