"""Fairness is judged at the lender's operating point, not at a fixed score."""

import numpy as np
import polars as pl
import pytest

from credit_assets.core.compliance import fairness_report
from credit_assets.core.compliance.operating_point import (
    CONFIGURED_CUTOFF,
    CONFIGURED_RATE,
    DEFAULT_RATE,
    operating_point,
)
from credit_assets.core.promotion import PromotionPolicy, fairness_gate


def scores_and_age(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scores that sit low (a fixed 600 approves about 11 %) and a young group that scores
    somewhat lower: a big disparity at the top of the range, a mild one where lenders run."""
    rng = np.random.default_rng(seed)
    young = rng.random(n) < 0.3
    scores = np.round(rng.normal(540, 50, n) - np.where(young, 25, 0))
    return scores, np.where(young, "young", "older")


def test_a_fixed_cut_off_that_approves_few_is_not_where_the_default_judges() -> None:
    scores, _ = scores_and_age()
    point = operating_point(
        scores, api_cutoff=600, cutoff_configured=False, approval_rate=None, good_rate=0.8
    )
    assert point.basis == DEFAULT_RATE and point.target_rate == 0.8
    assert point.approval_rate == pytest.approx(0.8, abs=0.01)
    assert point.cutoff == np.sort(scores)[::-1][int(np.ceil(0.8 * scores.size)) - 1]
    assert point.api_approval_rate == pytest.approx(float((scores >= 600).mean()))
    assert 0.08 < point.api_approval_rate < 0.15  # the fixed 600 approves about 11 %
    assert f"the API's cut-off 600 approves {point.api_approval_rate:.1%}" in point.detail


def test_a_configured_rate_wins_then_an_explicit_cut_off() -> None:
    scores, _ = scores_and_age()
    rate = operating_point(
        scores, api_cutoff=600, cutoff_configured=True, approval_rate=0.6, good_rate=0.8
    )
    assert rate.basis == CONFIGURED_RATE and rate.approval_rate == pytest.approx(0.6, abs=0.01)
    cut = operating_point(
        scores, api_cutoff=580, cutoff_configured=True, approval_rate=None, good_rate=0.8
    )
    assert cut.basis == CONFIGURED_CUTOFF and cut.cutoff == 580 and cut.target_rate is None
    assert cut.approval_rate == pytest.approx(float((scores >= 580).mean()))
    assert "the API's cut-off" not in cut.detail  # the same point


def test_the_gate_judges_at_the_operating_point_and_says_where() -> None:
    scores, age = scores_and_age()
    frame = pl.DataFrame({"score": scores, "protected_age_band": age})
    at_600 = fairness_report(frame, protected=["age_band"], cutoff=600, n_bootstrap=50)
    point = operating_point(
        scores, api_cutoff=600, cutoff_configured=False, approval_rate=None, good_rate=0.8
    )
    at_point = fairness_report(frame, protected=["age_band"], cutoff=point.cutoff, n_bootstrap=50)
    at_point.extras["operating_point"] = point.to_dict()
    air_600 = at_600.summary["worst_adverse_impact_ratio"]
    air_point = at_point.summary["worst_adverse_impact_ratio"]
    # independent figures: approval rates per group at each cut-off
    young = age == "young"

    def air(cutoff: float) -> float:
        return float((scores[young] >= cutoff).mean() / (scores[~young] >= cutoff).mean())

    assert air_600 == pytest.approx(air(600), abs=1e-9)
    assert air_point == pytest.approx(air(point.cutoff), abs=1e-9)
    assert air_600 < 0.8 < air_point  # fails at 600, passes where the lender would run
    policy = PromotionPolicy()
    assert not fairness_gate(at_600.to_dict(), policy, declared=True).passed
    gate = fairness_gate(at_point.to_dict(), policy, declared=True)
    assert gate.passed and "judged at cut-off" in gate.detail and DEFAULT_RATE in gate.detail
    assert "Operating point: judged at cut-off" in at_point.to_markdown()
