"""Fairness report: adverse impact ratio with its interval, SMD, per-group AUC, verdicts."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest

from credit_assets.core.compliance import MISSING_GROUP, FairnessReport, band_age, fairness_report

CUTOFF = 600


def population(groups: dict[str | None, tuple[int, int]], column: str = "protected_sex") -> pl.DataFrame:
    """Per group (approved, total): approved rows score 700, declined 500."""
    sex, score = [], []
    for group, (approved, total) in groups.items():
        sex += [group] * total
        score += [700] * approved + [500] * (total - approved)
    return pl.DataFrame({column: sex, "score": score}, schema={column: pl.String, "score": pl.Int64})


def attribute(report: FairnessReport, name: str = "sex"):
    return next(a for a in report.attributes if a.attribute == name)


def group(report: FairnessReport, name: str, attr: str = "sex"):
    return next(g for g in attribute(report, attr).groups if g.group == name)


def test_adverse_impact_ratio_and_its_interval_on_a_hand_made_population():
    report = fairness_report(population({"A": (80, 100), "B": (56, 100)}), protected=["sex"], cutoff=CUTOFF)
    b = group(report, "B")
    assert b.approval_rate == pytest.approx(0.56)
    assert b.adverse_impact_ratio == pytest.approx(0.70)
    assert b.air_ci_low < 0.70 < b.air_ci_high < 1.0
    assert group(report, "A").is_reference and group(report, "A").adverse_impact_ratio == 1.0


def test_interval_is_significant_only_when_wholly_below_the_threshold():
    small = fairness_report(population({"A": (80, 100), "B": (56, 100)}), protected=["sex"], cutoff=CUTOFF)
    large = fairness_report(population({"A": (800, 1000), "B": (560, 1000)}), protected=["sex"], cutoff=CUTOFF)
    assert group(small, "B").air_ci_high > 0.8 and not group(small, "B").significant
    assert group(large, "B").air_ci_high < 0.8 and group(large, "B").significant
    assert large.summary["significant_groups"] == ["sex=B"]


def test_bootstrap_interval_is_reproducible_with_the_seed():
    frame = population({"A": (80, 100), "B": (56, 100)})
    first = group(fairness_report(frame, protected=["sex"], cutoff=CUTOFF, seed=7), "B")
    again = group(fairness_report(frame, protected=["sex"], cutoff=CUTOFF, seed=7), "B")
    assert (first.air_ci_low, first.air_ci_high) == (again.air_ci_low, again.air_ci_high)


def test_missing_values_are_their_own_group_and_never_the_reference():
    frame = population({"A": (80, 100), "B": (72, 100), None: (40, 40)})
    report = fairness_report(frame, protected=["sex"], cutoff=CUTOFF)
    missing = group(report, MISSING_GROUP)
    assert (missing.n, missing.n_approved) == (40, 40)
    assert not missing.is_reference
    assert attribute(report).reference_group == "A"
    assert attribute(report).n_missing == 40
    assert sum(g.n for g in attribute(report).groups) == frame.height


def test_standardized_mean_difference_matches_the_hand_computation():
    frame = pl.DataFrame({"protected_sex": ["A", "A", "A", "B", "B"], "score": [600, 620, 640, 580, 600]})
    report = fairness_report(frame, protected=["sex"], cutoff=590, min_group_size=1)
    # means 620 and 590; variances 400 and 200; pooled sd sqrt((2*400 + 1*200) / 3)
    expected = (590 - 620) / math.sqrt((2 * 400 + 1 * 200) / 3)
    assert group(report, "B").standardized_mean_difference == pytest.approx(expected)
    assert group(report, "A").standardized_mean_difference == 0.0


def test_per_group_auc_and_calibration_use_labelled_rows():
    frame = pl.DataFrame({
        "protected_sex": ["A"] * 4 + ["B"] * 4 + ["B"],
        "score": [700, 690, 520, 510, 700, 690, 520, 510, 650],
        "pd": [0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4, 0.25],
        "default_flag": [0, 0, 1, 1, 1, 1, 0, 0, None],
    })
    report = fairness_report(frame, protected=["sex"], cutoff=CUTOFF, min_group_size=1)
    a, b = group(report, "A"), group(report, "B")
    assert a.auc == 1.0 and b.auc == 0.0
    assert b.n == 5 and b.n_labelled == 4
    assert a.mean_pd == pytest.approx(0.25) and a.observed_bad_rate == 0.5


def test_verdict_fails_when_a_group_is_below_four_fifths():
    report = fairness_report(population({"A": (80, 100), "B": (56, 100)}), protected=["sex"], cutoff=CUTOFF)
    summary = report.summary
    assert summary["passed"] is False
    assert summary["worst_adverse_impact_ratio"] == pytest.approx(0.70)
    assert (summary["attribute"], summary["worst_group"]) == ("sex", "B")
    assert (summary["cutoff"], summary["threshold"]) == (CUTOFF, 0.8)


def test_verdict_passes_when_every_group_is_at_least_four_fifths():
    report = fairness_report(population({"A": (80, 100), "B": (72, 100)}), protected=["sex"], cutoff=CUTOFF)
    assert report.summary["passed"] is True
    assert report.summary["worst_adverse_impact_ratio"] == pytest.approx(0.90)


def test_threshold_is_configurable():
    frame = population({"A": (80, 100), "B": (72, 100)})
    assert not fairness_report(frame, protected=["sex"], cutoff=CUTOFF, threshold=0.95).passed


def test_small_groups_are_reported_but_not_judged():
    frame = population({"A": (80, 100), "B": (72, 100), "C": (0, 5)})
    report = fairness_report(frame, protected=["sex"], cutoff=CUTOFF, min_group_size=30)
    c = group(report, "C")
    assert c.small_group and c.adverse_impact_ratio == 0.0
    assert report.passed


@pytest.mark.parametrize(
    ("age", "band"),
    [(18, "<25"), (24.9, "<25"), (25, "25-34"), (34, "25-34"), (35, "35-44"), (44, "35-44"),
     (45, "45-54"), (54, "45-54"), (55, "55+"), (90, "55+"), (None, None)],
)
def test_band_age(age, band):
    frame = pl.DataFrame({"age": [age]}, schema={"age": pl.Float64})
    assert frame.select(band_age("age")).item() == band


def test_numeric_protected_attribute_is_banded_automatically():
    ages = np.arange(18, 78).repeat(5)
    frame = pl.DataFrame({"protected_age": ages, "score": np.where(ages < 25, 500, 700)})
    report = fairness_report(frame, protected=["age"], cutoff=CUTOFF)
    age = attribute(report, "age")
    assert age.grouping == "age bands"
    assert [g.group for g in age.groups] == ["<25", "25-34", "35-44", "45-54", "55+"]
    assert age.worst_group == "<25" and age.worst_adverse_impact_ratio == 0.0


def test_report_serialises_renders_and_plots():
    frame = population({"A": (80, 100), "B": (56, 100), None: (5, 10)})
    report = fairness_report(frame, protected=["sex"], cutoff=CUTOFF)
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["summary"] == report.summary
    assert FairnessReport.from_dict(data).to_dict() == report.to_dict()
    markdown = report.to_markdown()
    assert "**FAIL**" in markdown and MISSING_GROUP in markdown
    assert report.plot_png().startswith(b"\x89PNG")


def test_unknown_protected_attribute_is_an_error():
    with pytest.raises(ValueError, match="protected_religion"):
        fairness_report(population({"A": (1, 2)}), protected=["religion"], cutoff=CUTOFF)
