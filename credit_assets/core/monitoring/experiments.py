"""How the arms of a running experiment compare on live decisions, and when that stops it.

`arm_summaries` reads the decisions each arm made (from the decision log) in the guardrails'
rolling window: how many, how many scorable, the approval rate (score at or above the
approval cutoff, among scorable decisions), the mean PD and, where the platform holds a
protected attribute for the borrowers decided, the worst adverse impact ratio (the approval
rate of each group over that of the most approved group, groups of at least
`min_group_size`). `guardrail_breaches` says which bounds the challenger arm is outside of,
measured against the champion arm; nothing is judged before both arms have
`min_decisions` scorable decisions in the window.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import polars as pl

from credit_assets.core.platform.experiments import CHALLENGER_ARM, CHAMPION_ARM


@dataclass(frozen=True)
class ArmSummary:
    arm: str
    decisions: int
    scorable: int
    approval_rate: float | None
    mean_pd: float | None
    worst_air: float | None
    worst_air_group: str | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class GuardrailBounds:
    min_decisions: int
    max_approval_gap: float
    max_pd_gap: float
    max_air_drop: float
    min_air: float
    min_group_size: int


def _worst_air(
    approved: pl.DataFrame, protected: pl.DataFrame | None, min_group_size: int
) -> tuple[float | None, str | None]:
    """(worst AIR over every protected attribute, 'attribute=group' it belongs to)."""
    if protected is None or protected.is_empty():
        return None, None
    joined = approved.join(protected, on="borrower_id", how="inner")
    worst: tuple[float | None, str | None] = (None, None)
    for attribute in (c for c in protected.columns if c != "borrower_id"):
        rates = (
            joined.filter(pl.col(attribute).is_not_null())
            .group_by(attribute)
            .agg(pl.len().alias("n"), pl.col("approved").mean().alias("rate"))
            .filter(pl.col("n") >= min_group_size)
        )
        if rates.height < 2:
            continue
        best = rates["rate"].max()
        if not best:
            continue
        lowest = rates.sort("rate").row(0, named=True)
        ratio = float(lowest["rate"]) / float(best)  # type: ignore[arg-type]
        if worst[0] is None or ratio < worst[0]:
            worst = (ratio, f"{attribute}={lowest[attribute]}")
    return worst


def arm_summaries(
    decisions: pl.DataFrame,
    *,
    cutoff: int,
    protected: pl.DataFrame | None = None,
    min_group_size: int = 30,
) -> dict[str, ArmSummary]:
    """Per arm: `decisions` has arm, scorable, score, pd and borrower_id."""
    summaries = {}
    for arm in (CHAMPION_ARM, CHALLENGER_ARM):
        rows = decisions.filter(pl.col("arm") == arm)
        scored = rows.filter(pl.col("scorable"))
        approved = scored.select(
            pl.col("borrower_id"), (pl.col("score") >= cutoff).alias("approved")
        )
        air, group = _worst_air(approved, protected, min_group_size)
        summaries[arm] = ArmSummary(
            arm=arm,
            decisions=rows.height,
            scorable=scored.height,
            approval_rate=float(approved["approved"].mean()) if scored.height else None,  # type: ignore[arg-type]
            mean_pd=float(scored["pd"].mean()) if scored.height else None,  # type: ignore[arg-type]
            worst_air=air,
            worst_air_group=group,
        )
    return summaries


def guardrail_breaches(summaries: dict[str, ArmSummary], bounds: GuardrailBounds) -> list[str]:
    """Why the challenger arm is outside its bounds (empty: within them, or too few decisions)."""
    champion, challenger = summaries[CHAMPION_ARM], summaries[CHALLENGER_ARM]
    if min(champion.scorable, challenger.scorable) < bounds.min_decisions:
        return []
    breaches = []
    assert champion.approval_rate is not None and challenger.approval_rate is not None
    gap = challenger.approval_rate - champion.approval_rate
    if abs(gap) > bounds.max_approval_gap:
        breaches.append(
            f"approval rate {challenger.approval_rate:.1%} in the challenger arm against "
            f"{champion.approval_rate:.1%} in the champion arm (gap {gap:+.1%}, bound "
            f"±{bounds.max_approval_gap:.0%})"
        )
    assert champion.mean_pd is not None and challenger.mean_pd is not None
    pd_gap = challenger.mean_pd - champion.mean_pd
    if abs(pd_gap) > bounds.max_pd_gap:
        breaches.append(
            f"mean PD {challenger.mean_pd:.3f} against {champion.mean_pd:.3f} (gap "
            f"{pd_gap:+.3f}, bound ±{bounds.max_pd_gap:g})"
        )
    if challenger.worst_air is not None and champion.worst_air is not None:
        drop = champion.worst_air - challenger.worst_air
        if drop > bounds.max_air_drop and challenger.worst_air < bounds.min_air:
            breaches.append(
                f"worst adverse impact ratio {challenger.worst_air:.2f} "
                f"({challenger.worst_air_group}) against {champion.worst_air:.2f} in the "
                f"champion arm (below {bounds.min_air:g} and {drop:.2f} lower; bound "
                f"{bounds.max_air_drop:g})"
            )
    return breaches
