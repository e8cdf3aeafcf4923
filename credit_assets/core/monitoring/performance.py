"""Back-testing live decisions against matured outcomes, by monthly vintage and overall.

A decision's vintage is the calendar month of its `created_at`. Only decisions
with a PD and a matured outcome count; when one key was scored several times
the latest decision stands (it is the one the lender acted on). AUC and KS are
None for a vintage with only goods or only bads: they are undefined there, and
a report must not invent them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from credit_assets.core.modeling.metrics import auc, ks_statistic
from credit_assets.core.reports.metadata import markdown_table, md_escape

VINTAGE = "vintage"


def _segment(frame: pl.DataFrame, label: str) -> dict[str, Any]:
    """n, bad rate, AUC, KS, calibration gap and bad rate by band of one group of decisions."""
    y = frame.get_column(label).to_numpy().astype(np.float64)
    p = frame.get_column("pd").to_numpy().astype(np.float64)
    both = 0 < y.sum() < y.size
    bands = (
        frame.group_by("band")
        .agg(
            pl.len().alias("n"),
            pl.col(label).sum().alias("n_bad"),
            pl.col(label).mean().alias("bad_rate"),
            pl.col("pd").mean().alias("mean_pd"),
        )
        .with_columns(pl.col("band").fill_null("not banded"))
        .sort("band")
    )
    return {
        "n": int(y.size),
        "n_bad": int(y.sum()),
        "bad_rate": float(y.mean()),
        "mean_pd": float(p.mean()),
        # Positive: the model predicted more defaults than happened.
        "calibration_gap": float(p.mean() - y.mean()),
        "auc": auc(y, p) if both else None,
        "ks": ks_statistic(y, p) if both else None,
        "bands": bands.to_dicts(),
    }


@dataclass(frozen=True)
class PerformanceReport:
    overall: dict[str, Any]
    vintages: list[dict[str, Any]]
    validation: dict[str, Any]
    tolerance: float
    degraded: bool
    reason: str
    n_decisions: int
    n_matched: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "degraded": self.degraded,
            "reason": self.reason,
            "tolerance": self.tolerance,
            "validation": self.validation,
            "n_decisions": self.n_decisions,
            "n_matched": self.n_matched,
            "overall": self.overall,
            "vintages": self.vintages,
        }

    def to_markdown(self) -> str:
        columns = ["vintage", "n", "n_bad", "bad_rate", "mean_pd", "auc", "ks"]
        overall = {"vintage": "overall", **self.overall}
        comparison = [
            {"figure": k, "validation": self.validation.get(k), "live": self.overall.get(k)}
            for k in ("auc", "ks", "bad_rate")
            if k in self.validation or self.overall.get(k) is not None
        ]
        lines = [
            "## Performance on matured decisions",
            f"**{'Degraded' if self.degraded else 'Not degraded'}.** {md_escape(self.reason)}",
            "",
            f"{self.n_matched} of {self.n_decisions} decisions have a matured outcome.",
            "",
            markdown_table(comparison, ["figure", "validation", "live"]),
            "",
            "### By vintage",
            markdown_table([*self.vintages, overall], columns),
            "",
            "### Bad rate by band (overall)",
            markdown_table(
                self.overall.get("bands", []), ["band", "n", "n_bad", "bad_rate", "mean_pd"]
            ),
        ]
        return "\n".join(lines)


def _match_key(decisions: pl.DataFrame, outcomes: pl.DataFrame, key: str | None) -> str:
    if key is not None:
        for side, frame in (("decisions", decisions), ("outcomes", outcomes)):
            if key not in frame.columns:
                raise ValueError(f"{side} have no column {key!r} to match on")
        return key
    for candidate in ("application_id", "borrower_id"):
        if candidate in decisions.columns and candidate in outcomes.columns:
            return candidate
    raise ValueError("decisions and outcomes share neither application_id nor borrower_id")


def _month(column: pl.Series) -> pl.Expr:
    expr = pl.col("created_at")
    if column.dtype == pl.String:
        expr = expr.str.to_datetime(strict=False)
    return expr.dt.strftime("%Y-%m").alias(VINTAGE)


def performance_report(
    decisions: pl.DataFrame,
    outcomes: pl.DataFrame,
    *,
    validation: dict[str, Any],
    tolerance: float = 0.05,
    label: str = "default_flag",
    key: str | None = None,
) -> PerformanceReport:
    """Live AUC, KS, bad rate and calibration per monthly vintage against the validation figures.

    `decisions` need `created_at`, `pd`, `band` and the match key
    (`application_id`, else `borrower_id`, or `key`); `outcomes` the key and
    `label` (1 = default). `degraded` is True when the overall live AUC is more
    than `tolerance` below `validation["auc"]`; `reason` says why in a sentence.
    """
    match = _match_key(decisions, outcomes, key)
    for column in ("created_at", "pd", "band"):
        if column not in decisions.columns:
            raise ValueError(f"decisions have no column {column!r}")
    if label not in outcomes.columns:
        raise ValueError(f"outcomes have no label column {label!r}")

    scored = (
        decisions.filter(pl.col("pd").is_not_null() & pl.col(match).is_not_null())
        .with_columns(_month(decisions.get_column("created_at")))
        .sort("created_at")
        .unique(subset=[match], keep="last", maintain_order=True)
    )
    matured = (
        outcomes.select(match, pl.col(label).cast(pl.Int64))
        .filter(pl.col(label).is_not_null())
        .unique(subset=[match], keep="last")
    )
    joined = scored.join(matured, on=match, how="inner")
    if joined.height and not joined.get_column(label).is_in([0, 1]).all():
        raise ValueError(f"outcome label {label!r} must be 0 (good) or 1 (bad)")

    vintages = [
        {VINTAGE: group.get_column(VINTAGE)[0], **_segment(group, label)}
        for group in joined.partition_by(VINTAGE, maintain_order=False)
    ]
    vintages.sort(key=lambda v: v[VINTAGE])
    overall = _segment(joined, label) if joined.height else {"n": 0, "auc": None, "ks": None}
    degraded, reason = _judge(overall, validation, tolerance)
    return PerformanceReport(
        overall=overall,
        vintages=vintages,
        validation=dict(validation),
        tolerance=tolerance,
        degraded=degraded,
        reason=reason,
        n_decisions=decisions.height,
        n_matched=joined.height,
    )


def _judge(
    overall: dict[str, Any], validation: dict[str, Any], tolerance: float
) -> tuple[bool, str]:
    reference = validation.get("auc")
    live = overall.get("auc")
    if overall.get("n", 0) == 0:
        return False, "No decision has a matured outcome yet; performance cannot be judged."
    if live is None:
        return False, (
            f"AUC is undefined on {overall['n']} matured decisions with only one outcome class; "
            "performance cannot be judged yet."
        )
    if reference is None:
        return False, f"Live AUC is {live:.3f}; no validation AUC to compare with."
    drop = reference - live
    if drop > tolerance:
        return True, (
            f"Live AUC {live:.3f} on {overall['n']} matured decisions is {drop:.3f} below "
            f"the validation AUC {reference:.3f}, beyond the tolerance of {tolerance:g}."
        )
    return False, (
        f"Live AUC {live:.3f} on {overall['n']} matured decisions is within {tolerance:g} "
        f"of the validation AUC {reference:.3f}."
    )
