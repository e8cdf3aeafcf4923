"""PSI and CSI against figures worked out by hand, and the drift report built on them."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest

from credit_assets.core.monitoring import (
    EMPTY_BIN_SHARE,
    categorical_stability_index,
    characteristic_stability,
    drift_report,
    population_stability_index,
    psi_status,
)


def term(actual: float, expected: float) -> float:
    return (actual - expected) * math.log(actual / expected)


# Baseline 1..8 in 4 bins: cuts at 2, 4, 6, so each bin holds a quarter.
BASELINE_1_TO_8 = np.arange(1.0, 9.0)


def test_four_bin_psi_matches_the_formula_written_out() -> None:
    # Current shares 0.4 (<= 2), 0.3 (2-4], 0.2 (4-6], 0.1 (> 6).
    current = np.array([1, 2, 1, 2, 3, 4, 3, 5, 6, 7], dtype=float)
    result = population_stability_index(BASELINE_1_TO_8, current, bins=4)
    expected = term(0.4, 0.25) + term(0.3, 0.25) + term(0.2, 0.25) + term(0.1, 0.25)
    assert result.psi == pytest.approx(expected)
    assert [b.label for b in result.bins] == ["<= 2", "(2, 4]", "(4, 6]", "> 6"]
    assert [b.actual_share for b in result.bins] == pytest.approx([0.4, 0.3, 0.2, 0.1])
    assert [b.contribution for b in result.bins] == pytest.approx(
        [term(0.4, 0.25), term(0.3, 0.25), term(0.2, 0.25), term(0.1, 0.25)]
    )


def test_bins_come_from_the_baseline_and_are_open_ended() -> None:
    # -100 and +100 lie far outside the baseline but land in the first and last bins.
    result = population_stability_index(BASELINE_1_TO_8, [-100, 100], bins=4)
    assert result.bins[0].upper == 2 and result.bins[0].lower is None
    assert result.bins[-1].lower == 6 and result.bins[-1].upper is None
    assert [b.actual_count for b in result.bins] == [1, 0, 0, 1]


def test_empty_bin_uses_the_documented_epsilon() -> None:
    # Everyone in the first bin: the three empty bins count as 1e-4 each.
    result = population_stability_index(BASELINE_1_TO_8, [1.0, 1.5, 2.0], bins=4)
    expected = term(1.0, 0.25) + 3 * term(EMPTY_BIN_SHARE, 0.25)
    assert EMPTY_BIN_SHARE == 1e-4
    assert result.psi == pytest.approx(expected)


def test_identical_distributions_have_zero_psi() -> None:
    values = np.random.default_rng(0).lognormal(7, 0.5, 2000)
    assert population_stability_index(values, values).psi == pytest.approx(0.0, abs=1e-12)


def test_two_samples_of_one_distribution_are_green() -> None:
    rng = np.random.default_rng(1)
    result = population_stability_index(rng.normal(size=20_000), rng.normal(size=20_000))
    assert result.psi < 0.01
    assert psi_status(result.psi) == "green"


def test_a_one_standard_deviation_shift_is_red() -> None:
    rng = np.random.default_rng(2)
    result = population_stability_index(rng.normal(size=5000), rng.normal(1.0, 1.0, size=5000))
    assert result.psi > 0.25
    assert psi_status(result.psi) == "red"


def test_missing_values_are_their_own_bin() -> None:
    # Baseline: 1..8 plus 2 missing of 10 -> 0.2 per value bin, 0.2 missing.
    # Current: 5 missing of 10; 1, 2 in the first bin, 5 in the third, 7, 8 in the last.
    baseline = [*BASELINE_1_TO_8, None, None]
    current = np.array([1, 2, 5, 7, 8, np.nan, np.nan, np.nan, np.nan, np.nan])
    result = population_stability_index(baseline, current, bins=4)
    assert [b.label for b in result.bins] == ["<= 2", "(2, 4]", "(4, 6]", "> 6", "missing"]
    assert [b.expected_share for b in result.bins] == pytest.approx([0.2, 0.2, 0.2, 0.2, 0.2])
    assert [b.actual_share for b in result.bins] == pytest.approx([0.2, 0.0, 0.1, 0.2, 0.5])
    expected = (
        term(0.2, 0.2)
        + term(EMPTY_BIN_SHARE, 0.2)
        + term(0.1, 0.2)
        + term(0.2, 0.2)
        + term(0.5, 0.2)
    )
    assert result.psi == pytest.approx(expected)


def test_quantile_cuts_collapse_on_discrete_values() -> None:
    # 70 % zeros, 30 % ones: two bins (<= 0, > 0), not ten with empty ones between.
    baseline = np.array([0] * 70 + [1] * 30, dtype=float)
    current = np.array([0] * 40 + [1] * 60, dtype=float)
    result = population_stability_index(baseline, current)
    assert [b.label for b in result.bins] == ["<= 0", "> 0"]
    assert result.psi == pytest.approx(term(0.4, 0.7) + term(0.6, 0.3))


def test_categorical_psi_has_baseline_categories_other_and_missing() -> None:
    baseline = ["rent", "rent", "own", "family"]
    current = ["rent", "own", "own", "hostel", None]
    result = categorical_stability_index(baseline, current)
    assert [b.label for b in result.bins] == ["family", "own", "rent", "other", "missing"]
    assert [b.expected_share for b in result.bins] == pytest.approx([0.25, 0.25, 0.5, 0, 0])
    assert [b.actual_share for b in result.bins] == pytest.approx([0, 0.4, 0.2, 0.2, 0.2])
    expected = (
        term(EMPTY_BIN_SHARE, 0.25)
        + term(0.4, 0.25)
        + term(0.2, 0.5)
        + term(0.2, EMPTY_BIN_SHARE)
        + term(0.2, EMPTY_BIN_SHARE)
    )
    assert result.psi == pytest.approx(expected)


def test_categorical_psi_of_the_same_mix_is_zero() -> None:
    values = ["a", "b", "b", "c", None]
    assert categorical_stability_index(values, list(reversed(values))).psi == pytest.approx(0.0)


def test_psi_status_thresholds_are_inclusive_at_the_top() -> None:
    assert [psi_status(x) for x in (0.0, 0.099, 0.10, 0.2499, 0.25)] == [
        "green",
        "green",
        "amber",
        "amber",
        "red",
    ]
    assert psi_status(0.05, thresholds=(0.02, 0.04)) == "red"


def _frames(shift: float, n: int = 3000) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(3)
    baseline = pl.DataFrame(
        {
            "income": rng.lognormal(7.5, 0.4, n),
            "tenure": rng.integers(0, 120, n).astype(float),
            "housing": rng.choice(["rent", "own", "family"], n, p=[0.5, 0.4, 0.1]),
        }
    )
    current = pl.DataFrame(
        {
            "income": rng.lognormal(7.5, 0.4, n) * shift,
            "tenure": rng.integers(0, 120, n).astype(float),
            "housing": rng.choice(["rent", "own", "family"], n, p=[0.5, 0.4, 0.1]),
        }
    )
    return baseline, current


def test_characteristic_stability_ranks_the_drifting_feature_first() -> None:
    baseline, current = _frames(shift=0.6)
    drifts = characteristic_stability(baseline, current, ["tenure", "housing", "income"], set())
    assert drifts[0].feature == "income" and drifts[0].status == "red"
    assert {d.feature: d.status for d in drifts[1:]} == {"tenure": "green", "housing": "green"}
    assert next(d for d in drifts if d.feature == "housing").result.kind == "categorical"
    assert drifts[0].csi == pytest.approx(
        population_stability_index(baseline["income"].to_numpy(), current["income"].to_numpy()).psi
    )


def test_characteristic_stability_names_a_missing_column() -> None:
    baseline, current = _frames(shift=1.0)
    with pytest.raises(ValueError, match="current frame has no column 'income'"):
        characteristic_stability(baseline, current.drop("income"), ["income"], set())


def test_drift_report_is_significant_when_a_feature_is_red_even_if_the_score_is_green() -> None:
    baseline, current = _frames(shift=0.6)
    scores = np.random.default_rng(4).normal(650, 40, 3000)
    report = drift_report(
        scores, scores, baseline, current, ["income", "tenure", "housing"], {"housing"}
    )
    assert report.score_status == "green"
    assert report.significant
    assert "income" in report.reasons[0]
    assert report.top_features[0] == "income"
    assert report.plots["income"].startswith(b"\x89PNG")


def test_drift_report_without_drift_is_not_significant() -> None:
    baseline, current = _frames(shift=1.0)
    scores = np.random.default_rng(5).normal(650, 40, 3000)
    report = drift_report(scores, scores, baseline, current, ["income", "tenure", "housing"], set())
    assert not report.significant
    assert report.reasons == []


def test_drift_report_score_shift_turns_red_and_serialises() -> None:
    baseline, current = _frames(shift=1.0)
    rng = np.random.default_rng(6)
    report = drift_report(
        rng.normal(650, 40, 3000), rng.normal(610, 40, 3000), baseline, current, ["income"], set()
    )
    assert report.score_status == "red" and report.significant
    summary = json.loads(json.dumps(report.to_dict()))
    assert summary["score_status"] == "red"
    assert summary["features"][0]["feature"] == "income"
    markdown = report.to_markdown()
    assert "Significant drift" in markdown
    assert "data:image/png;base64," in markdown


def test_drift_report_thresholds_are_configurable() -> None:
    baseline, current = _frames(shift=1.0)
    rng = np.random.default_rng(7)
    a, b = rng.normal(650, 40, 3000), rng.normal(655, 40, 3000)
    default = drift_report(a, b, baseline, current, [], set())
    strict = drift_report(a, b, baseline, current, [], set(), thresholds=(0.001, 0.002))
    assert default.score_status == "green"
    assert strict.score_status == "red" and strict.significant
