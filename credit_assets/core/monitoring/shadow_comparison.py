"""Champion against shadow model on the same decisions: agreement, score shift, band migration.

Both frames carry one row per decision (`decision_id`, `score`, `band`, `pd`);
only decisions present in both are compared. A decision without a score (not
scorable) has band "not scorable" and is never approved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from credit_assets.core.reports.metadata import markdown_table

NOT_SCORABLE = "not scorable"
DEFAULT_CUTOFF = 600
"""Approve at score >= 600: the lower edge of band C on the default scale (PD about 3.2 %)."""


@dataclass(frozen=True)
class ShadowComparison:
    n_compared: int
    n_champion_only: int
    n_shadow_only: int
    band_agreement: float | None
    mean_score_shift: float | None  # shadow minus champion
    mean_abs_score_shift: float | None
    mean_pd_shift: float | None
    migration: dict[str, dict[str, int]]  # champion band -> shadow band -> count
    cutoff: float
    champion_approval_rate: float | None
    shadow_approval_rate: float | None
    approved_by_champion_only: float | None  # share of compared decisions
    approved_by_shadow_only: float | None

    @property
    def swap_rate(self) -> float | None:
        """Share of decisions that would flip between approve and decline."""
        if self.approved_by_champion_only is None or self.approved_by_shadow_only is None:
            return None
        return self.approved_by_champion_only + self.approved_by_shadow_only

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_compared": self.n_compared,
            "n_champion_only": self.n_champion_only,
            "n_shadow_only": self.n_shadow_only,
            "band_agreement": self.band_agreement,
            "mean_score_shift": self.mean_score_shift,
            "mean_abs_score_shift": self.mean_abs_score_shift,
            "mean_pd_shift": self.mean_pd_shift,
            "migration": self.migration,
            "cutoff": self.cutoff,
            "champion_approval_rate": self.champion_approval_rate,
            "shadow_approval_rate": self.shadow_approval_rate,
            "approved_by_champion_only": self.approved_by_champion_only,
            "approved_by_shadow_only": self.approved_by_shadow_only,
            "swap_rate": self.swap_rate,
        }

    def to_markdown(self) -> str:
        if self.n_compared == 0:
            return "## Shadow comparison\nNo decision was scored by both models."
        shadow_bands = sorted({b for row in self.migration.values() for b in row}, key=_band_order)
        matrix = [
            {"champion \\ shadow": band, **{s: row.get(s, 0) for s in shadow_bands}}
            for band, row in self.migration.items()
        ]
        summary = [
            {"figure": "band agreement", "value": self.band_agreement},
            {"figure": "mean score shift (shadow - champion)", "value": self.mean_score_shift},
            {"figure": "mean absolute score shift", "value": self.mean_abs_score_shift},
            {"figure": "mean PD shift", "value": self.mean_pd_shift},
            {
                "figure": f"approval rate, champion (score >= {self.cutoff:g})",
                "value": self.champion_approval_rate,
            },
            {
                "figure": f"approval rate, shadow (score >= {self.cutoff:g})",
                "value": self.shadow_approval_rate,
            },
            {"figure": "approved by champion only", "value": self.approved_by_champion_only},
            {"figure": "approved by shadow only", "value": self.approved_by_shadow_only},
        ]
        return "\n".join(
            [
                "## Shadow comparison",
                f"{self.n_compared} decisions scored by both models "
                f"({self.n_champion_only} by the champion only, {self.n_shadow_only} by the shadow only).",
                "",
                markdown_table(summary),
                "",
                "### Band migration (rows: champion, columns: shadow)",
                markdown_table(matrix, ["champion \\ shadow", *shadow_bands]),
            ]
        )


def _band_order(band: str) -> tuple[int, str]:
    return (1 if band == NOT_SCORABLE else 0, band)


def _mean(frame: pl.DataFrame, expr: pl.Expr) -> float | None:
    value = frame.select(expr.mean()).item()
    return None if value is None else float(value)


def shadow_comparison(
    champion: pl.DataFrame, shadow: pl.DataFrame, *, cutoff: float = DEFAULT_CUTOFF
) -> ShadowComparison:
    """Compare two models' outputs decision by decision; approve means score >= `cutoff`."""
    _check_decisions(champion, "champion")
    _check_decisions(shadow, "shadow")
    both = _side(champion, "c").join(_side(shadow, "s"), on="decision_id", how="inner")
    n = both.height
    n_champion_only = champion.height - n
    n_shadow_only = shadow.height - n
    if n == 0:
        return _nothing_compared(n_champion_only, n_shadow_only, cutoff)
    shift = pl.col("score_s") - pl.col("score_c")
    approved_c = pl.col("score_c").fill_null(float("-inf")) >= cutoff
    approved_s = pl.col("score_s").fill_null(float("-inf")) >= cutoff
    return ShadowComparison(
        n_compared=n,
        n_champion_only=n_champion_only,
        n_shadow_only=n_shadow_only,
        band_agreement=_mean(both, (pl.col("band_c") == pl.col("band_s")).cast(pl.Float64)),
        mean_score_shift=_mean(both, shift),
        mean_abs_score_shift=_mean(both, shift.abs()),
        mean_pd_shift=_mean(both, pl.col("pd_s") - pl.col("pd_c")),
        migration=_migration(both),
        cutoff=cutoff,
        champion_approval_rate=_mean(both, approved_c.cast(pl.Float64)),
        shadow_approval_rate=_mean(both, approved_s.cast(pl.Float64)),
        approved_by_champion_only=_mean(both, (approved_c & ~approved_s).cast(pl.Float64)),
        approved_by_shadow_only=_mean(both, (approved_s & ~approved_c).cast(pl.Float64)),
    )


def _check_decisions(frame: pl.DataFrame, name: str) -> None:
    """ValueError unless `frame` has the compared columns and one row per decision."""
    missing = [c for c in ("decision_id", "score", "band", "pd") if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} frame lacks columns {missing}")
    if frame.get_column("decision_id").is_duplicated().any():
        raise ValueError(f"{name} frame has more than one row per decision_id")


def _side(frame: pl.DataFrame, suffix: str) -> pl.DataFrame:
    """One model's score, band (not scorable when null) and PD, suffixed for the join."""
    return frame.select(
        "decision_id",
        pl.col("score").cast(pl.Float64).alias(f"score_{suffix}"),
        pl.col("band").cast(pl.String).fill_null(NOT_SCORABLE).alias(f"band_{suffix}"),
        pl.col("pd").cast(pl.Float64).alias(f"pd_{suffix}"),
    )


def _nothing_compared(n_champion_only: int, n_shadow_only: int, cutoff: float) -> ShadowComparison:
    """The comparison when no decision was scored by both models: counts only."""
    return ShadowComparison(
        n_compared=0,
        n_champion_only=n_champion_only,
        n_shadow_only=n_shadow_only,
        band_agreement=None,
        mean_score_shift=None,
        mean_abs_score_shift=None,
        mean_pd_shift=None,
        migration={},
        cutoff=cutoff,
        champion_approval_rate=None,
        shadow_approval_rate=None,
        approved_by_champion_only=None,
        approved_by_shadow_only=None,
    )


def _migration(both: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Champion band -> shadow band -> count, bands in order with not scorable last."""
    counts = both.group_by("band_c", "band_s").len()
    migration: dict[str, dict[str, int]] = {}
    for band in sorted(set(counts.get_column("band_c").to_list()), key=_band_order):
        rows = counts.filter(pl.col("band_c") == band)
        migration[band] = {
            s: int(k)
            for s, k in sorted(
                zip(
                    rows.get_column("band_s").to_list(),
                    rows.get_column("len").to_list(),
                    strict=True,
                ),
                key=lambda item: _band_order(item[0]),
            )
        }
    return migration
