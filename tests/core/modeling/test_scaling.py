"""Points to double the odds, 300-850, and the A-E risk bands."""

from __future__ import annotations

import math

import numpy as np
import pytest

from credit_assets.core.modeling.scaling import RiskBands, ScoreScale, band_table

SCALE = ScoreScale()


def test_base_odds_score_the_base_score() -> None:
    pd_at_base_odds = 1 / (1 + 30.0)
    assert SCALE.raw_score_from_pd(pd_at_base_odds) == pytest.approx(600.0)
    assert SCALE.score_from_pd(pd_at_base_odds) == 600


def test_pdo_more_points_double_the_odds_of_good() -> None:
    def odds_good(score: float) -> float:
        pd = SCALE.pd_from_score(score)
        return (1 - pd) / pd

    assert odds_good(620) / odds_good(600) == pytest.approx(2.0)
    assert odds_good(700) / odds_good(600) == pytest.approx(2.0**5)


def test_pd_to_score_to_pd_round_trips_within_half_a_point() -> None:
    pd = np.geomspace(1e-3, 0.9, 200)
    back = SCALE.pd_from_score(SCALE.score_from_pd(pd))
    log_odds_gap = np.abs(np.log(back / (1 - back)) - np.log(pd / (1 - pd)))
    assert log_odds_gap.max() <= 0.5 / SCALE.factor + 1e-12


def test_scores_are_whole_points_clipped_to_300_850() -> None:
    scores = SCALE.score_from_pd(np.array([1e-12, 0.5, 1 - 1e-12]))
    assert scores.dtype.kind == "i"
    assert scores[0] == 850 and scores[-1] == 300
    assert SCALE.score_from_pd(0.5) == round(SCALE.offset)


def test_lower_pd_never_scores_lower() -> None:
    scores = SCALE.score_from_pd(np.linspace(0.0001, 0.9999, 1000))
    assert np.all(np.diff(scores) <= 0)


def test_factor_and_offset_follow_points_to_double_odds() -> None:
    assert SCALE.factor == pytest.approx(20 / math.log(2))
    assert SCALE.offset == pytest.approx(600 - 20 / math.log(2) * math.log(30))


def test_scale_round_trips_through_json() -> None:
    custom = ScoreScale(base_score=500, base_odds=50.0, pdo=40, min_score=100, max_score=900)
    assert ScoreScale.from_json(custom.to_json()) == custom


def test_default_band_cut_offs() -> None:
    bands = RiskBands()
    scores = (850, 720, 719, 660, 600, 540, 539, 300)
    assert "".join(bands.band_for_score(s) for s in scores) == "AABBCDEE"
    assert list(bands.bands_for_scores([720, 659, 539])) == ["A", "C", "E"]


def test_bands_are_ordered_best_to_worst_by_pd_and_observed_bad_rate() -> None:
    rng = np.random.default_rng(5)
    pd = np.exp(rng.uniform(np.log(1e-4), np.log(0.6), 50_000))
    y = (rng.uniform(size=pd.size) < pd).astype(int)
    table = band_table(SCALE.score_from_pd(pd), pd, y)
    assert [r["band"] for r in table] == ["A", "B", "C", "D", "E"]
    mean_pd = [r["mean_pd"] for r in table]
    bad_rate = [r["observed_bad_rate"] for r in table]
    assert mean_pd == sorted(mean_pd) and bad_rate == sorted(bad_rate)
    assert table[0]["pd_max"] <= table[1]["pd_min"]


def test_band_cut_offs_must_decrease() -> None:
    with pytest.raises(ValueError, match="strictly decrease"):
        RiskBands(cutoffs=(("A", 600), ("B", 700)))


def test_bands_round_trip_through_a_dict() -> None:
    bands = RiskBands(cutoffs=(("A", 700), ("B", 650), ("C", 580)), floor_band="D")
    assert RiskBands.from_dict(bands.to_dict()) == bands
    assert bands.names == ["A", "B", "C", "D"]
