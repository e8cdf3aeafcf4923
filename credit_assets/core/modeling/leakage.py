"""A screen for target leakage, before a model is trusted: a column that alone nearly
separates the outcome was most likely recorded after the decision (spending on the card,
a collections flag), and a model built on it is excellent on paper and useless in use.

Two findings, each per feature on the development rows:

- **separates**: the feature's own AUC (numbers as they are; categories by their bad
  rate, only categories with at least `min_value_rows` rows) is at or above
  `max_single_auc` (either direction: max(AUC, 1 - AUC));
- **one label**: a value held by at least `min_value_rows` rows (and `min_value_share` of
  them) occurs with one outcome only, and that is beyond chance: were the value unrelated to
  the outcome, all its rows would share one outcome with probability (the outcome's share)
  to the power of its rows, which must be below `max_one_label_chance` (1e-4: 42 rows at a
  20 % bad rate, 180 at 5 %, so an imbalanced file's common values are not flagged).

A finding is cleared when the feature's contract column says `known_at_decision: true`;
otherwise the `no_target_leakage` gate holds the model back (core/promotion).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl
from sklearn.metrics import roc_auc_score

MAX_SINGLE_AUC = 0.95
MIN_VALUE_ROWS = 30
MIN_VALUE_SHARE = 0.02
MAX_ONE_LABEL_CHANCE = 1e-4


@dataclass(frozen=True)
class LeakageFinding:
    feature: str
    kind: str  # "separates" or "one_label"
    auc: float | None
    detail: str


@dataclass
class LeakageScreen:
    rows: int
    bads: int
    max_single_auc: float
    findings: list[LeakageFinding] = field(default_factory=list)
    # The feature's AUC alone, for every feature screened (None where undefined).
    single_auc: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "bads": self.bads,
            "max_single_auc": self.max_single_auc,
            "findings": [asdict(f) for f in self.findings],
            "single_auc": self.single_auc,
        }


def _auc(y: np.ndarray, score: np.ndarray) -> float | None:
    if y.size == 0 or y.min() == y.max() or np.unique(score).size < 2:
        return None
    auc = float(roc_auc_score(y, score))
    return max(auc, 1.0 - auc)


def screen_leakage(
    frame: pl.DataFrame,
    label: str,
    features: Iterable[str],
    *,
    max_single_auc: float = MAX_SINGLE_AUC,
    min_value_rows: int = MIN_VALUE_ROWS,
    min_value_share: float = MIN_VALUE_SHARE,
    max_one_label_chance: float = MAX_ONE_LABEL_CHANCE,
) -> LeakageScreen:
    """Screen `features` of `frame` against `label` (1 = bad, 0 = good; nulls skipped)."""
    labelled = frame.filter(pl.col(label).is_not_null())
    y_all = labelled.get_column(label).cast(pl.Int8).to_numpy()
    screen = LeakageScreen(labelled.height, int(y_all.sum()), max_single_auc)
    min_rows = max(min_value_rows, int(np.ceil(min_value_share * labelled.height)))
    for name in features:
        if name not in labelled.columns:
            continue
        column = labelled.get_column(name)
        present = column.is_not_null().to_numpy()
        y = y_all[present]
        values = column.filter(column.is_not_null())
        if values.dtype.is_numeric() or values.dtype == pl.Boolean:
            auc = _auc(y, values.cast(pl.Float64).to_numpy())
        else:
            auc = _category_auc(values.cast(pl.String), y, min_rows)
            pure = _one_label_values(values.cast(pl.String), y, min_rows, max_one_label_chance)
            if pure:
                value, n, outcome = pure[0]
                screen.findings.append(
                    LeakageFinding(
                        name,
                        "one_label",
                        auc,
                        f"{name} = {value!r} ({n} rows) occurs only with {outcome} outcomes",
                    )
                )
        screen.single_auc[name] = None if auc is None else round(auc, 4)
        if auc is not None and auc >= max_single_auc:
            screen.findings.append(
                LeakageFinding(
                    name,
                    "separates",
                    round(auc, 4),
                    f"{name} alone separates the outcome (AUC {auc:.3f} >= {max_single_auc:g})",
                )
            )
    return screen


def _category_auc(values: pl.Series, y: np.ndarray, min_rows: int) -> float | None:
    """AUC of a category's bad rate as the score, over categories with enough rows (rarer
    ones pooled), so a many-valued column cannot separate by memorising its rows."""
    frame = pl.DataFrame({"v": values, "y": y})
    counts = frame.group_by("v").agg(pl.len().alias("n"))
    common = counts.filter(pl.col("n") >= min_rows).get_column("v")
    pooled = frame.with_columns(
        pl.when(pl.col("v").is_in(common.implode())).then(pl.col("v")).otherwise(pl.lit("\0rare"))
    )
    rates = pooled.with_columns(pl.col("y").mean().over("v").alias("rate"))
    return _auc(rates.get_column("y").to_numpy(), rates.get_column("rate").to_numpy())


def _one_label_values(
    values: pl.Series, y: np.ndarray, min_rows: int, max_chance: float
) -> list[tuple[str, int, str]]:
    if y.size == 0:
        return []
    bad_rate = float(y.mean())
    frame = pl.DataFrame({"v": values, "y": y})
    pure = (
        frame.group_by("v")
        .agg(pl.len().alias("n"), pl.col("y").min().alias("lo"), pl.col("y").max().alias("hi"))
        .filter((pl.col("n") >= min_rows) & (pl.col("lo") == pl.col("hi")))
        .sort("n", descending=True)
    )
    found = []
    for value, n, lo in pure.select("v", "n", "lo").iter_rows():
        share = bad_rate if lo == 1 else 1.0 - bad_rate
        if share**n < max_chance:  # all n rows one outcome, were the value unrelated to it
            found.append((str(value), int(n), "bad" if lo == 1 else "good"))
    return found
