"""Champion against shadow on a hand-made pair of five decisions."""

from __future__ import annotations

import json

import polars as pl
import pytest

from credit_assets.core.monitoring import shadow_comparison

CHAMPION = pl.DataFrame(
    {
        "decision_id": ["d1", "d2", "d3", "d4", "d5", "d6"],
        "score": [730, 650, 610, 590, None, 700],
        "band": ["A", "C", "C", "D", None, "B"],
        "pd": [0.001, 0.01, 0.02, 0.1, None, 0.003],
    }
)
# d6 is missing from the shadow; d7 from the champion.
SHADOW = pl.DataFrame(
    {
        "decision_id": ["d1", "d2", "d3", "d4", "d5", "d7"],
        "score": [725, 665, 595, 605, None, 640],
        "band": ["A", "B", "D", "C", None, "C"],
        "pd": [0.002, 0.005, 0.03, 0.05, None, 0.02],
    }
)


def test_only_decisions_scored_by_both_are_compared() -> None:
    result = shadow_comparison(CHAMPION, SHADOW)
    assert (result.n_compared, result.n_champion_only, result.n_shadow_only) == (5, 1, 1)


def test_band_agreement_counts_not_scorable_as_a_band() -> None:
    # d1 (A=A) and d5 (not scorable both) agree; d2, d3, d4 move.
    assert shadow_comparison(CHAMPION, SHADOW).band_agreement == pytest.approx(2 / 5)


def test_score_shift_is_shadow_minus_champion_over_scored_decisions() -> None:
    result = shadow_comparison(CHAMPION, SHADOW)
    # Shifts -5, +15, -15, +15 (d5 has no score).
    assert result.mean_score_shift == pytest.approx((-5 + 15 - 15 + 15) / 4)
    assert result.mean_abs_score_shift == pytest.approx((5 + 15 + 15 + 15) / 4)
    assert result.mean_pd_shift == pytest.approx((0.001 - 0.005 + 0.01 - 0.05) / 4)


def test_migration_matrix_counts_champion_band_by_shadow_band() -> None:
    assert shadow_comparison(CHAMPION, SHADOW).migration == {
        "A": {"A": 1},
        "C": {"B": 1, "D": 1},
        "D": {"C": 1},
        "not scorable": {"not scorable": 1},
    }


def test_approve_decline_swaps_at_the_cutoff() -> None:
    # Cutoff 600: champion approves d1, d2, d3; shadow approves d1, d2, d4.
    result = shadow_comparison(CHAMPION, SHADOW, cutoff=600)
    assert result.champion_approval_rate == pytest.approx(3 / 5)
    assert result.shadow_approval_rate == pytest.approx(3 / 5)
    assert result.approved_by_champion_only == pytest.approx(1 / 5)  # d3
    assert result.approved_by_shadow_only == pytest.approx(1 / 5)  # d4
    assert result.swap_rate == pytest.approx(2 / 5)


def test_no_overlap_gives_an_empty_comparison() -> None:
    result = shadow_comparison(CHAMPION.head(1), SHADOW.tail(1))
    assert result.n_compared == 0 and result.band_agreement is None
    assert "No decision was scored by both" in result.to_markdown()


def test_duplicate_decisions_are_refused() -> None:
    with pytest.raises(ValueError, match="shadow frame has more than one row"):
        shadow_comparison(CHAMPION, pl.concat([SHADOW, SHADOW.head(1)]))


def test_comparison_serialises_and_renders() -> None:
    result = shadow_comparison(CHAMPION, SHADOW)
    assert json.loads(json.dumps(result.to_dict()))["migration"]["C"] == {"B": 1, "D": 1}
    assert "Band migration" in result.to_markdown()
