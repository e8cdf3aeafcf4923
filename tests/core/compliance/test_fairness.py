"""Fairness report: adverse impact ratio with its interval, SMD, per-group AUC, verdicts."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest

from credit_assets.core.compliance import MISSING_GROUP, FairnessReport, band_age, fairness_report
from credit_assets.core.compliance.fairness import cutoff_for_approval_rate
from credit_assets.core.promotion import FairnessPolicy
from tests.support.markdown import HOSTILE, active_markup, rendered, shown_text

CUTOFF = 600


def population(
    groups: dict[str | None, tuple[int, int]], column: str = "protected_sex"
) -> pl.DataFrame:
    """Per group (approved, total): approved rows score 700, declined 500."""
    sex, score = [], []
    for group, (approved, total) in groups.items():
        sex += [group] * total
        score += [700] * approved + [500] * (total - approved)
    return pl.DataFrame(
        {column: sex, "score": score}, schema={column: pl.String, "score": pl.Int64}
    )


def attribute(report: FairnessReport, name: str = "sex"):
    return next(a for a in report.attributes if a.attribute == name)


def group(report: FairnessReport, name: str, attr: str = "sex"):
    return next(g for g in attribute(report, attr).groups if g.group == name)


def test_adverse_impact_ratio_and_its_interval_on_a_hand_made_population():
    report = fairness_report(
        population({"A": (80, 100), "B": (56, 100)}), protected=["sex"], cutoff=CUTOFF
    )
    b = group(report, "B")
    assert b.approval_rate == pytest.approx(0.56)
    assert b.adverse_impact_ratio == pytest.approx(0.70)
    assert b.air_ci_low < 0.70 < b.air_ci_high < 1.0
    assert group(report, "A").is_reference and group(report, "A").adverse_impact_ratio == 1.0


def test_a_group_fails_when_its_disparity_is_practically_and_statistically_significant():
    large = fairness_report(
        population({"A": (800, 1000), "B": (560, 1000)}), protected=["sex"], cutoff=CUTOFF
    )
    b = group(large, "B")
    assert b.practically_significant and b.statistically_significant and b.fails
    assert b.p_value < 1e-20  # Fisher's exact test, 560/1000 against 800/1000
    assert large.summary["failing_groups"][0].startswith("sex=B AIR 0.700 [")


def test_a_small_sample_disparity_is_flagged_but_does_not_fail():
    # AIR 0.70 on 25 against 25 applicants: Fisher's exact p 0.128 (14 of 25 against 20 of 25).
    small = fairness_report(
        population({"A": (20, 25), "B": (14, 25)}),
        protected=["sex"],
        cutoff=CUTOFF,
        policy=FairnessPolicy(min_group_size=20),
    )
    b = group(small, "B")
    assert b.practically_significant and not b.statistically_significant and not b.fails
    assert b.p_value == pytest.approx(0.128, abs=1e-3)
    assert small.passed and small.summary["flagged_groups"] == ["sex=B"]


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
    frame = pl.DataFrame(
        {"protected_sex": ["A", "A", "A", "B", "B"], "score": [600, 620, 640, 580, 600]}
    )
    report = fairness_report(
        frame, protected=["sex"], cutoff=590, policy=FairnessPolicy(min_group_size=1)
    )
    # means 620 and 590; variances 400 and 200; pooled sd sqrt((2*400 + 1*200) / 3)
    expected = (590 - 620) / math.sqrt((2 * 400 + 1 * 200) / 3)
    assert group(report, "B").standardized_mean_difference == pytest.approx(expected)
    assert group(report, "A").standardized_mean_difference == 0.0


def test_per_group_auc_and_calibration_use_labelled_rows():
    frame = pl.DataFrame(
        {
            "protected_sex": ["A"] * 4 + ["B"] * 4 + ["B"],
            "score": [700, 690, 520, 510, 700, 690, 520, 510, 650],
            "pd": [0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4, 0.25],
            "default_flag": [0, 0, 1, 1, 1, 1, 0, 0, None],
        }
    )
    report = fairness_report(
        frame, protected=["sex"], cutoff=CUTOFF, policy=FairnessPolicy(min_group_size=1)
    )
    a, b = group(report, "A"), group(report, "B")
    assert a.auc == 1.0 and b.auc == 0.0
    assert b.n == 5 and b.n_labelled == 4
    assert a.mean_pd == pytest.approx(0.25) and a.observed_bad_rate == 0.5


def test_verdict_fails_when_a_group_is_below_four_fifths():
    report = fairness_report(
        population({"A": (400, 500), "B": (280, 500)}), protected=["sex"], cutoff=CUTOFF
    )
    summary = report.summary
    assert summary["passed"] is False
    assert summary["worst_adverse_impact_ratio"] == pytest.approx(0.70)
    assert (summary["attribute"], summary["worst_group"]) == ("sex", "B")
    assert (summary["cutoff"], summary["threshold"]) == (CUTOFF, 0.8)


def test_verdict_passes_when_every_group_is_at_least_four_fifths():
    report = fairness_report(
        population({"A": (80, 100), "B": (72, 100)}), protected=["sex"], cutoff=CUTOFF
    )
    assert report.summary["passed"] is True
    assert report.summary["worst_adverse_impact_ratio"] == pytest.approx(0.90)


def test_threshold_is_configurable():
    frame = population({"A": (800, 1000), "B": (720, 1000)})
    strict = FairnessPolicy(min_adverse_impact_ratio=0.95)
    assert not fairness_report(frame, protected=["sex"], cutoff=CUTOFF, policy=strict).passed
    assert fairness_report(frame, protected=["sex"], cutoff=CUTOFF).passed


def test_small_groups_are_reported_but_not_judged():
    frame = population({"A": (80, 100), "B": (72, 100), "C": (0, 5)})
    report = fairness_report(frame, protected=["sex"], cutoff=CUTOFF)
    c = group(report, "C")
    assert c.small_group and c.adverse_impact_ratio == 0.0
    assert not c.decides and c.not_deciding_because == "fewer than 30 applicants"
    assert report.passed


@pytest.mark.parametrize(
    ("age", "band"),
    [
        (18, "<25"),
        (24.9, "<25"),
        (25, "25-34"),
        (34, "25-34"),
        (35, "35-44"),
        (44, "35-44"),
        (45, "45-54"),
        (54, "45-54"),
        (55, "55+"),
        (90, "55+"),
        (None, None),
    ],
)
def test_band_age(age, band):
    frame = pl.DataFrame({"age": [age]}, schema={"age": pl.Float64})
    assert frame.select(band_age("age")).item() == band


def test_numeric_protected_attribute_is_banded_automatically():
    ages = np.arange(18, 78).repeat(5)
    frame = pl.DataFrame({"protected_age": ages, "score": np.where(ages < 25, 500, 700)})
    report = fairness_report(
        frame, protected=["age"], cutoff=CUTOFF, policy=FairnessPolicy(min_group_size=20)
    )
    age = attribute(report, "age")
    assert age.grouping == "age bands"
    assert [g.group for g in age.groups] == ["<25", "25-34", "35-44", "45-54", "55+"]
    assert age.worst_group == "<25" and age.worst_adverse_impact_ratio == 0.0


def test_report_serialises_renders_and_plots():
    frame = population({"A": (400, 500), "B": (280, 500), None: (5, 10)})
    report = fairness_report(frame, protected=["sex"], cutoff=CUTOFF)
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["summary"] == report.summary
    assert FairnessReport.from_dict(data).to_dict() == report.to_dict()
    markdown = report.to_markdown()
    assert "**FAIL**" in markdown and MISSING_GROUP in markdown
    assert "Adverse impact ratio across approval rates" in markdown
    assert report.plot_png().startswith(b"\x89PNG")
    assert report.curve_png().startswith(b"\x89PNG")


def test_a_payload_without_attributes_reads_as_an_empty_report():
    empty = FairnessReport.from_dict({"summary": None, "note": "no protected attribute declared"})
    assert empty.attributes == [] and empty.passed


def scored(n: int = 2000, gap: float = 25.0, seed: int = 3) -> pl.DataFrame:
    """Group B scores `gap` points lower on average than A."""
    rng = np.random.default_rng(seed)
    sex = np.where(rng.random(n) < 0.3, "B", "A")
    score = rng.normal(640, 60, n) - np.where(sex == "B", gap, 0.0)
    return pl.DataFrame({"protected_sex": sex, "score": score})


def test_cutoff_for_an_approval_rate_approves_that_share():
    scores = np.arange(1000, dtype=float)
    cutoff = cutoff_for_approval_rate(scores, 0.88)
    assert (scores >= cutoff).mean() == pytest.approx(0.88)


def test_air_across_approval_rates_shows_where_the_four_fifths_line_is_crossed():
    # A single cut-off hides the disparity: at 85 % approval B is above 0.8, at 40 % below.
    frame = scored()
    report = fairness_report(
        frame, protected=["sex"], cutoff=cutoff_for_approval_rate(frame["score"].to_numpy(), 0.85)
    )
    assert report.passed
    curve = {r["approval_rate"]: r for r in report.approval_curve if r["group"] == "B"}
    assert curve[0.85]["air"] > 0.85 and curve[0.4]["air"] < 0.8
    assert curve[0.4]["holds_back"] and not curve[0.85]["crosses"]
    [crossing] = report.summary["crossings"]
    assert crossing["group"] == "B" and 0.4 in crossing["approval_rates"]
    assert 0.85 not in crossing["approval_rates"]
    # the cut-off's own approval rate is reported
    assert report.approval_rate == pytest.approx(0.85, abs=0.001)


def test_unknown_protected_attribute_is_an_error():
    with pytest.raises(ValueError, match="protected_religion"):
        fairness_report(population({"A": (1, 2)}), protected=["religion"], cutoff=CUTOFF)


def test_a_lenders_group_names_are_shown_as_text_in_the_markdown():
    frame = population({"A": (400, 500), HOSTILE: (280, 500)})
    page = rendered(fairness_report(frame, protected=["sex"], cutoff=CUTOFF).to_markdown())
    # The report's own verdict, legend and notes only; the group name is text wherever it is.
    assert set(active_markup(page)) <= {"<strong>", "<em>", "<code>"}
    assert "<script" not in page and shown_text(page).count(HOSTILE) >= 3
