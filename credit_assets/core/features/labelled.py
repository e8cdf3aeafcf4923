"""Why a training set has no labelled rows, said in one plain sentence.

A model needs applications with an observed outcome. When not one application has one,
there is nothing to train or judge, and the run ends with this sentence instead of a
model: `no labelled rows: ` and the reasons, the files first (set aside, every row
quarantined; found by the ingestion ledger), then what the ingested rows lack (a label
that is null or neither the good nor the bad value; outcomes that match no application).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from credit_assets.core.contracts import Contract
from credit_assets.core.features.applications import applications_contract
from credit_assets.core.features.training_set import default_flag, label_contract

NO_LABELLED_ROWS = "no labelled rows"


@dataclass(frozen=True)
class Unlabelled:
    """Where labelled rows would come from, and what the rows ingested there lack."""

    sources: tuple[str, ...]
    """The applications source, then the outcomes source when the labels come from it."""
    reasons: tuple[str, ...]
    applications: int
    """Applications on file (accepted rows of the applications source)."""


def diagnose_unlabelled(
    sources: dict[str, pl.LazyFrame], contracts: dict[str, Contract]
) -> Unlabelled:
    """What the rows of the labelled sources lack, for a training set without a labelled row.

    Says nothing about a source without rows: which of its files gave none, and why, is the
    ingestion ledger's to say.
    """
    apps = applications_contract(contracts)
    if apps is None:
        return Unlabelled((), ("no applications source is declared",), 0)
    frames = {**sources, apps.name: sources.get(apps.name, pl.LazyFrame())}
    applications = _rows(frames[apps.name])
    label = label_contract(frames, contracts, apps)
    column = label.label_column
    assert column is not None
    rows = applications if label is apps else _rows(frames[label.name])
    labelled = 0
    if rows:
        labelled = (
            frames[label.name].select(default_flag(column).is_not_null().sum()).collect().item()
        )
    reasons = []
    if rows and not labelled:
        values = column.labels or {}
        reasons.append(
            f"{label.name}: {rows} rows ingested, none with an outcome in {column.name!r} "
            f"(bad is {values.get('bad')!r}, good is {values.get('good')!r})"
        )
    elif labelled and applications and label is not apps:
        ids = label.id_column or "its id"
        reasons.append(
            f"{label.name}: {labelled} labelled rows, none matching one of the {applications} "
            f"applications of {apps.name} by {ids!r}"
        )
    names = (apps.name,) if label is apps else (apps.name, label.name)
    return Unlabelled(names, tuple(reasons), applications)


def no_labelled_rows_message(reasons: Sequence[str]) -> str:
    """`no labelled rows: <reason>; <reason>` (the reasons in the order given)."""
    return f"{NO_LABELLED_ROWS}: " + "; ".join(reasons) if reasons else NO_LABELLED_ROWS


def _rows(frame: pl.LazyFrame) -> int:
    if not frame.collect_schema().names():
        return 0
    return int(frame.select(pl.len()).collect().item())
