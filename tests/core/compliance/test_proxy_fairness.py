"""Fairness on BISG probabilities: every applicant counted in every group with its weight."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from credit_assets.core.compliance.bisg import PROBABILITY_COLUMNS, PROXY_GROUPS
from credit_assets.core.compliance.fairness import fairness_report
from credit_assets.core.compliance.proxy_fairness import MOST_LIKELY, WEIGHTED
from credit_assets.core.promotion import FairnessPolicy


def _frame(n_per_kind: int, approve_black: float) -> pl.DataFrame:
    """Half the applicants 90 % white, half 90 % black; black-looking ones approved less."""
    rng = np.random.default_rng(3)
    rows = []
    for kind, share_approved in (("white", 0.6), ("black", approve_black)):
        probabilities = dict.fromkeys(PROXY_GROUPS, 0.0)
        probabilities[kind] = 0.9
        probabilities["hispanic"] = 0.1
        for approved in rng.random(n_per_kind) < share_approved:
            rows.append({**probabilities, "score": 700 if approved else 500})
    frame = pl.DataFrame(rows)
    return frame.rename(dict(zip(PROXY_GROUPS, PROBABILITY_COLUMNS, strict=True)))


def test_weighted_approval_rates_are_probability_weighted_means() -> None:
    frame = _frame(400, approve_black=0.3)
    report = fairness_report(frame, protected=[], cutoff=600, n_bootstrap=200)
    [weighted] = [a for a in report.attributes if a.attribute == WEIGHTED]
    groups = {g.group: g for g in weighted.groups}
    approved = (frame["score"] >= 600).to_numpy()
    for group in ("white", "black", "hispanic"):
        w = frame[f"bisg_{group}"].to_numpy()
        assert groups[group].approval_rate == pytest.approx((w * approved).sum() / w.sum())
        assert groups[group].n == round(w.sum())  # expected applicants, not rows
    assert set(groups) == {"white", "black", "hispanic"}  # groups nobody belongs to are left out
    black = groups["black"]
    assert black.adverse_impact_ratio == pytest.approx(
        black.approval_rate / groups["white"].approval_rate
    )
    assert black.fails and black.p_value is not None and black.p_value < 0.01
    assert black.air_ci_low < black.adverse_impact_ratio < black.air_ci_high
    assert report.evidence.startswith("BISG") and not report.passed


def test_equal_approval_passes_both_methods_and_below_threshold_applicants_are_missing() -> None:
    frame = _frame(400, approve_black=0.6)
    report = fairness_report(frame, protected=[], cutoff=600, n_bootstrap=200)
    assert report.passed
    [most_likely] = [a for a in report.attributes if a.attribute == MOST_LIKELY]
    assert {g.group for g in most_likely.groups} == {"white", "black"}  # 0.9 >= 0.8


def test_a_small_proxied_group_is_reported_not_deciding() -> None:
    frame = _frame(20, approve_black=0.0)
    policy = FairnessPolicy(min_group_size=30)
    report = fairness_report(frame, protected=[], cutoff=600, policy=policy, n_bootstrap=100)
    [weighted] = [a for a in report.attributes if a.attribute == WEIGHTED]
    black = next(g for g in weighted.groups if g.group == "black")
    assert black.small_group and not black.decides and not black.fails


def test_without_bootstrap_draws_the_weighted_p_value_comes_from_effective_sizes() -> None:
    frame = _frame(400, approve_black=0.3)
    report = fairness_report(frame, protected=[], cutoff=600, n_bootstrap=0, approval_rates=())
    [weighted] = [a for a in report.attributes if a.attribute == WEIGHTED]
    black = next(g for g in weighted.groups if g.group == "black")
    assert black.p_value is not None and black.p_value < 1e-6 and black.fails
    assert black.air_ci_low is None  # no interval without draws
