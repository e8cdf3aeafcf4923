"""An experiment measured to a decision: the arms compared on decisions and on outcomes.

From the start: per arm the decisions, approval rate, score and PD distributions, the mix of
principal reasons and the worst adverse impact ratio (`arm_summaries`). As outcomes mature
(the outcomes source, joined on the borrower; a borrower decided twice counts once, by its
first decision): per arm the bad rate with its Wilson interval and a two-proportion z-test,
and the AUC with its DeLong interval and a z-test of the difference (the arms hold different
borrowers: their variances add). The power calculation gives the matured outcomes each arm
still needs to detect the observed AUC difference, or `min_effect` if that is smaller, at
`alpha` with `power`.

The recommendation follows one rule: with enough bads and goods in each arm, a significant
AUC difference promotes the challenger (if it is higher; promotion still goes through
`champion_model`'s gates) or keeps the champion (if lower); without one, the champion stays
when the arms already hold the outcomes needed to see `min_effect`, else the experiment runs
longer.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
from scipy import stats

from credit_assets.core.modeling.cross_validation import auc_standard_error
from credit_assets.core.monitoring.experiments import ArmSummary, arm_summaries
from credit_assets.core.platform.experiments import CHALLENGER_ARM, CHAMPION_ARM

Recommendation = Literal["promote", "keep_champion", "run_longer"]
MIN_CLASS = 30  # bads and goods each arm needs before its AUC is read


@dataclass(frozen=True)
class ArmOutcomes:
    arm: str
    matured: int
    bads: int
    bad_rate: float | None
    bad_rate_interval: tuple[float, float] | None
    auc: float | None
    auc_interval: tuple[float, float] | None
    auc_se: float | None


@dataclass(frozen=True)
class ExperimentEvidence:
    arms: dict[str, ArmSummary]
    quantiles: dict[str, dict[str, float]]
    reasons: list[dict[str, Any]]
    outcomes: dict[str, ArmOutcomes]
    bad_rate_difference: float | None
    bad_rate_p_value: float | None
    auc_difference: float | None
    auc_p_value: float | None
    outcomes_needed_per_arm: int | None
    recommendation: Recommendation
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def wilson_interval(bads: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = bads / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _arm_outcomes(arm: str, matured: pl.DataFrame, confidence: float) -> ArmOutcomes:
    rows = matured.filter(pl.col("arm") == arm)
    n, bads = rows.height, int(rows["bad"].sum()) if rows.height else 0
    auc = se = None
    interval = None
    if bads >= MIN_CLASS and n - bads >= MIN_CLASS:
        auc, se = auc_standard_error(rows["bad"].to_numpy(), rows["pd"].to_numpy())
        z = float(stats.norm.ppf(0.5 + confidence / 2))
        interval = (auc - z * se, auc + z * se)
    return ArmOutcomes(
        arm=arm,
        matured=n,
        bads=bads,
        bad_rate=bads / n if n else None,
        bad_rate_interval=wilson_interval(bads, n, confidence) if n else None,
        auc=auc,
        auc_interval=interval,
        auc_se=se,
    )


def _two_proportions(a: ArmOutcomes, b: ArmOutcomes) -> tuple[float | None, float | None]:
    if not a.matured or not b.matured:
        return None, None
    pooled = (a.bads + b.bads) / (a.matured + b.matured)
    se = math.sqrt(pooled * (1 - pooled) * (1 / a.matured + 1 / b.matured))
    difference = (b.bads / b.matured) - (a.bads / a.matured)
    if se == 0:
        return difference, 1.0
    return difference, float(2 * stats.norm.sf(abs(difference) / se))


def experiment_evidence(
    decisions: pl.DataFrame,
    outcomes: pl.DataFrame | None,
    *,
    cutoff: int,
    protected: pl.DataFrame | None = None,
    min_group_size: int = 30,
    alpha: float = 0.05,
    power: float = 0.8,
    min_effect: float = 0.02,
) -> ExperimentEvidence:
    """`decisions`: arm, scorable, score, pd, borrower_id, reasons (JSON); `outcomes`:
    borrower_id, bad (1 bad, 0 good)."""
    arms = arm_summaries(
        decisions, cutoff=cutoff, protected=protected, min_group_size=min_group_size
    )
    scored = decisions.filter(pl.col("scorable"))
    quantiles = _quantiles(scored)
    reasons = _reason_mix(scored)
    matured = _matured(scored, outcomes)
    confidence = 1 - alpha
    by_arm = {
        arm: _arm_outcomes(arm, matured, confidence) for arm in (CHAMPION_ARM, CHALLENGER_ARM)
    }
    champion, challenger = by_arm[CHAMPION_ARM], by_arm[CHALLENGER_ARM]
    bad_diff, bad_p = _two_proportions(champion, challenger)
    auc_diff, auc_p, needed = _auc_test(champion, challenger, alpha, power, min_effect)
    recommendation, reason = _recommend(by_arm, auc_diff, auc_p, needed, alpha, min_effect)
    return ExperimentEvidence(
        arms=arms,
        quantiles=quantiles,
        reasons=reasons,
        outcomes=by_arm,
        bad_rate_difference=bad_diff,
        bad_rate_p_value=bad_p,
        auc_difference=auc_diff,
        auc_p_value=auc_p,
        outcomes_needed_per_arm=needed,
        recommendation=recommendation,
        reason=reason,
    )


def _quantiles(scored: pl.DataFrame) -> dict[str, dict[str, float]]:
    """Each arm's score and PD at the 10th, 25th, 50th, 75th and 90th percentiles."""
    return {
        arm: {
            f"{column} p{int(q * 100)}": float(v)
            for column in ("score", "pd")
            for q in (0.1, 0.25, 0.5, 0.75, 0.9)
            if (v := scored.filter(pl.col("arm") == arm)[column].quantile(q)) is not None
        }
        for arm in (CHAMPION_ARM, CHALLENGER_ARM)
    }


def _matured(scored: pl.DataFrame, outcomes: pl.DataFrame | None) -> pl.DataFrame:
    """Each arm's first decision per borrower joined to the borrower's outcome (none without
    an outcomes source)."""
    first = scored.sort("created_at").unique(
        ["arm", "borrower_id"], keep="first", maintain_order=True
    )
    if outcomes is None:
        return first.head(0).with_columns(pl.lit(0, dtype=pl.Int64).alias("bad"))
    return first.join(
        outcomes.select("borrower_id", pl.col("bad").cast(pl.Int64)), on="borrower_id"
    )


def _auc_test(
    champion: ArmOutcomes, challenger: ArmOutcomes, alpha: float, power: float, min_effect: float
) -> tuple[float | None, float | None, int | None]:
    """The AUC difference (challenger minus champion), its p-value, and the matured outcomes
    each arm still needs; all None while either arm has too few to read its AUC."""
    if champion.auc is None or challenger.auc is None:
        return None, None, None
    assert champion.auc_se is not None and challenger.auc_se is not None
    z_alpha, z_power = float(stats.norm.ppf(1 - alpha / 2)), float(stats.norm.ppf(power))
    auc_diff = challenger.auc - champion.auc
    se = math.hypot(champion.auc_se, challenger.auc_se)
    auc_p = float(2 * stats.norm.sf(abs(auc_diff) / se)) if se > 0 else 1.0
    # An AUC's error shrinks as 1/sqrt(n): the outcomes per arm that make the effect
    # sought (at least min_effect) significant with the given power.
    effect = max(abs(auc_diff), min_effect)
    n_now = min(champion.matured, challenger.matured)
    target = math.ceil(n_now * ((z_alpha + z_power) * se / effect) ** 2)
    return auc_diff, auc_p, max(0, target - n_now)


def _recommend(
    by_arm: dict[str, ArmOutcomes],
    auc_diff: float | None,
    auc_p: float | None,
    needed: int | None,
    alpha: float,
    min_effect: float,
) -> tuple[Recommendation, str]:
    champion, challenger = by_arm[CHAMPION_ARM], by_arm[CHALLENGER_ARM]
    if auc_diff is None or auc_p is None:
        short = [
            f"{o.arm}: {o.bads} bads and {o.matured - o.bads} goods matured"
            for o in (champion, challenger)
        ]
        return "run_longer", (
            f"too few matured outcomes to compare the arms (each needs {MIN_CLASS} bads and "
            f"{MIN_CLASS} goods; {'; '.join(short)})"
        )
    assert champion.auc is not None and challenger.auc is not None
    figures = (
        f"AUC {challenger.auc:.3f} (challenger) against {champion.auc:.3f} (champion), "
        f"difference {auc_diff:+.3f}, p = {auc_p:.3g}"
    )
    if auc_p < alpha:
        if auc_diff > 0:
            return "promote", (
                f"the challenger ranks risk better: {figures}. Promote it through "
                "champion_model's gates."
            )
        return "keep_champion", f"the challenger ranks risk worse: {figures}."
    if needed == 0:
        return "keep_champion", (
            f"no difference of {min_effect:g} AUC or more: {figures}, with the outcomes "
            "needed to see one."
        )
    return "run_longer", (
        f"not significant yet: {figures}; about {needed} more matured outcomes per arm are "
        "needed to see the difference with the configured power."
    )


def _reason_mix(scored: pl.DataFrame, top: int = 8) -> list[dict[str, Any]]:
    """The share of each arm's scorable decisions giving each principal reason code."""
    if "reasons" not in scored.columns or scored.is_empty():
        return []
    codes = scored.select(
        "arm",
        pl.col("reasons")
        .str.json_decode(pl.List(pl.Struct({"code": pl.String})))
        .list.eval(pl.element().struct.field("code"))
        .alias("code"),
    ).explode("code")
    totals = scored.group_by("arm").len().rename({"len": "n"})
    mix = (
        codes.drop_nulls("code")
        .group_by("arm", "code")
        .len()
        .join(totals, on="arm")
        .with_columns((pl.col("len") / pl.col("n")).alias("share"))
        .pivot(on="arm", index="code", values="share")
        .fill_null(0.0)
    )
    for arm in (CHAMPION_ARM, CHALLENGER_ARM):
        if arm not in mix.columns:
            mix = mix.with_columns(pl.lit(0.0).alias(arm))
    rows = mix.sort(CHAMPION_ARM, descending=True).head(top).to_dicts()
    return [
        {
            "code": r["code"],
            CHAMPION_ARM: round(r[CHAMPION_ARM], 4),
            CHALLENGER_ARM: round(r[CHALLENGER_ARM], 4),
        }
        for r in rows
    ]


def score_histogram_data(
    decisions: pl.DataFrame, bins: int = 20
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Bin edges over 300-850 and each arm's share of scorable decisions per bin."""
    edges = np.linspace(300, 850, bins + 1)
    shares = {}
    for arm in (CHAMPION_ARM, CHALLENGER_ARM):
        scores = decisions.filter(pl.col("scorable") & (pl.col("arm") == arm))["score"].to_numpy()
        counts, _ = np.histogram(scores, bins=edges)
        shares[arm] = counts / max(1, counts.sum())
    return edges, shares
