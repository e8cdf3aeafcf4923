"""Protected attributes as groups: how values become the groups fairness is measured on.

- Missing values (null, NaN) form their own group, `(missing)`, listed last.
- Numeric protected columns with more than `MAX_CODES` distinct values are
  banded: columns named like `age` with `band_age` (`<25`, `25-34`, ...), others
  into quintiles.
- A protected attribute `sex` is the column `protected_sex` of the training set.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np
import polars as pl

from credit_assets.core.promotion import MISSING_GROUP

__all__ = [
    "AGE_BAND_EDGES",
    "MAX_CODES",
    "MISSING_GROUP",
    "PROTECTED_PREFIX",
    "band_age",
    "band_labels",
    "group_labels",
    "protected_column",
]

PROTECTED_PREFIX = "protected_"
AGE_BAND_EDGES: tuple[int, ...] = (25, 35, 45, 55)
MAX_CODES = 10
"""A numeric protected column with at most this many distinct values is a code, not a measure."""


def band_labels(
    edges: Sequence[float] = AGE_BAND_EDGES, *, whole_numbers: bool = True
) -> list[str]:
    """Labels of the bands `band_age` produces: `<25, 25-34, 35-44, 45-54, 55+` by default.

    With `whole_numbers=False` (a continuous measure) bands read `<a`, `a-<b`, `>=c`.
    """
    if whole_numbers:
        cuts = [int(e) for e in edges]
        return [f"<{cuts[0]}", *(f"{a}-{b - 1}" for a, b in pairwise(cuts)), f"{cuts[-1]}+"]
    cut = [f"{e:.4g}" for e in edges]
    return [f"<{cut[0]}", *(f"{a}-<{b}" for a, b in pairwise(cut)), f">={cut[-1]}"]


def band_age(
    age: str | pl.Expr, edges: Sequence[float] = AGE_BAND_EDGES, *, whole_numbers: bool = True
) -> pl.Expr:
    """Age in years as a band label: `<25`, `25-34`, `35-44`, `45-54`, `55+` (default edges).

    A band includes its lower edge (25 is in `25-34`); null stays null, so the
    caller decides how missing ages are reported. Other edges band any numeric
    column the same way (`whole_numbers=False` for continuous measures).
    """
    value = (pl.col(age) if isinstance(age, str) else age).cast(pl.Float64)
    labels = band_labels(edges, whole_numbers=whole_numbers)
    expr: Any = pl.when(value.is_null()).then(pl.lit(None, dtype=pl.String))
    for edge, label in zip(edges, labels, strict=False):
        expr = expr.when(value < edge).then(pl.lit(label))
    name = age if isinstance(age, str) else age.meta.output_name(raise_if_undetermined=False)
    banded = expr.otherwise(pl.lit(labels[-1]))
    return banded.alias(name) if name else banded


def protected_column(name: str) -> str:
    """`sex` -> `protected_sex`; a name already prefixed is returned as is."""
    return name if name.startswith(PROTECTED_PREFIX) else f"{PROTECTED_PREFIX}{name}"


def group_labels(frame: pl.DataFrame, column: str) -> tuple[np.ndarray, list[str], str]:
    """Group label per row, the groups in display order, and how values were grouped."""
    series = frame.get_column(column)
    if series.dtype.is_float():
        series = series.fill_nan(None)  # NaN is as missing as null
    elif series.dtype == pl.Object:  # e.g. a numpy object array with None
        series = pl.Series(column, [None if v is None else str(v) for v in series], dtype=pl.String)
    frame = series.to_frame()
    how = "categories"
    if series.dtype.is_numeric() and series.drop_nulls().n_unique() > MAX_CODES:
        if "age" in column.removeprefix(PROTECTED_PREFIX).lower():
            labelled, order, how = (
                frame.select(band_age(column)).to_series(),
                band_labels(),
                "age bands",
            )
        else:
            edges = sorted(
                set(np.quantile(series.drop_nulls().to_numpy(), [0.2, 0.4, 0.6, 0.8]).tolist())
            )
            labelled = frame.select(band_age(column, edges, whole_numbers=False)).to_series()
            order = band_labels(edges, whole_numbers=False)
            how = "quintile bands"
    else:
        labelled = series.cast(pl.String)
        order = sorted(labelled.drop_nulls().unique().to_list())
    values = labelled.fill_null(MISSING_GROUP).to_numpy().astype(str)
    present = set(values.tolist())
    ordered = [g for g in order if g in present] + sorted(present - set(order) - {MISSING_GROUP})
    if MISSING_GROUP in present:
        ordered.append(MISSING_GROUP)
    return values, ordered, how
