"""What the quarantine says, counted: rejected rows per kind of problem.

A rejected row's reason lists every problem of the row (`amount: not a valid float: '12x';
due_date: required value missing`); a kind is a problem without its value
(`amount: not a valid float`). Counted lazily, so a file whose every row was refused is
summarised without holding its quarantine in memory.
"""

from __future__ import annotations

import polars as pl


def problem_counts(rejected: pl.LazyFrame) -> pl.LazyFrame:
    """(problem, rows) per kind of problem, most frequent first (ties by name)."""
    parts = rejected.select(pl.col("reason").str.split("; ").alias("problem")).explode("problem")
    pieces = pl.col("problem").str.split(": ")
    kind = (
        pl.when(pieces.list.len() > 1)
        .then(pieces.list.slice(0, 2).list.join(": "))
        .otherwise(pl.col("problem"))
    )
    return (
        parts.select(kind.alias("problem"))
        .group_by("problem")
        .agg(pl.len().alias("rows"))
        .sort(["rows", "problem"], descending=[True, False])
    )
