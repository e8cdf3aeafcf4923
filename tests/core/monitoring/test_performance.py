"""Live performance per vintage against outcomes whose AUC is known by construction."""

from __future__ import annotations

import json
from datetime import datetime

import polars as pl
import pytest

from credit_assets.core.monitoring import performance_report

# January: bads (0.3, 0.4) above goods (0.1, 0.2) -> AUC 1.
# February: goods 0.1, 0.4; bads 0.35, 0.8 -> 3 of 4 pairs right -> AUC 0.75.
# Overall, 16 bad-good pairs: bad 0.3 beats 3 goods, 0.4 beats 3 and ties 1 (0.5),
# 0.35 beats 3, 0.8 beats 4 -> 13.5 / 16.
JAN_PD, JAN_Y = [0.1, 0.2, 0.3, 0.4], [0, 0, 1, 1]
FEB_PD, FEB_Y = [0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]
OVERALL_AUC = 13.5 / 16


def decisions_and_outcomes() -> tuple[pl.DataFrame, pl.DataFrame]:
    pds = JAN_PD + FEB_PD
    created = [datetime(2026, 1, 10 + i) for i in range(4)] + [
        datetime(2026, 2, 3 + i) for i in range(4)
    ]
    decisions = pl.DataFrame(
        {
            "decision_id": [f"d{i}" for i in range(8)],
            "created_at": created,
            "application_id": [f"A{i}" for i in range(8)],
            "pd": pds,
            "score": [700 - int(p * 200) for p in pds],
            "band": ["A", "B", "C", "C", "A", "C", "C", "E"],
            "model_version": ["v1"] * 8,
        }
    )
    outcomes = pl.DataFrame(
        {"application_id": [f"A{i}" for i in range(8)], "default_flag": JAN_Y + FEB_Y}
    )
    return decisions, outcomes


def test_auc_per_vintage_and_overall_match_the_construction() -> None:
    decisions, outcomes = decisions_and_outcomes()
    report = performance_report(decisions, outcomes, validation={"auc": 0.85})
    assert [v["vintage"] for v in report.vintages] == ["2026-01", "2026-02"]
    assert report.vintages[0]["auc"] == pytest.approx(1.0)
    assert report.vintages[1]["auc"] == pytest.approx(0.75)
    assert report.overall["auc"] == pytest.approx(OVERALL_AUC)
    # KS in February: below 0.8 half the bads and no good; below 0.35 all bads, half the goods.
    assert report.vintages[1]["ks"] == pytest.approx(0.5)


def test_bad_rate_calibration_and_bands() -> None:
    decisions, outcomes = decisions_and_outcomes()
    report = performance_report(decisions, outcomes, validation={})
    assert report.overall["n"] == 8 and report.overall["bad_rate"] == pytest.approx(0.5)
    assert report.overall["mean_pd"] == pytest.approx(sum(JAN_PD + FEB_PD) / 8)
    assert report.overall["calibration_gap"] == pytest.approx(sum(JAN_PD + FEB_PD) / 8 - 0.5)
    bands = {b["band"]: b for b in report.overall["bands"]}
    # Band C holds pd 0.3 (bad), 0.4 (bad), 0.4 (good), 0.35 (bad).
    assert bands["C"]["n"] == 4 and bands["C"]["bad_rate"] == pytest.approx(0.75)
    assert bands["A"]["bad_rate"] == 0.0


def test_an_auc_drop_beyond_tolerance_is_degraded_with_the_reason() -> None:
    decisions, outcomes = decisions_and_outcomes()
    report = performance_report(decisions, outcomes, validation={"auc": 0.95}, tolerance=0.05)
    assert report.degraded
    assert "0.844" in report.reason and "0.950" in report.reason and "0.106" in report.reason


def test_an_auc_drop_within_tolerance_is_not_degraded() -> None:
    decisions, outcomes = decisions_and_outcomes()
    report = performance_report(decisions, outcomes, validation={"auc": 0.88}, tolerance=0.05)
    assert not report.degraded
    assert "within 0.05" in report.reason


def test_a_vintage_with_one_class_has_no_auc() -> None:
    decisions, outcomes = decisions_and_outcomes()
    outcomes = outcomes.with_columns(
        pl.when(pl.col("application_id").is_in(["A0", "A1", "A2", "A3"]))
        .then(0)
        .otherwise(pl.col("default_flag"))
        .alias("default_flag")
    )
    report = performance_report(decisions, outcomes, validation={"auc": 0.8})
    assert report.vintages[0]["auc"] is None and report.vintages[0]["ks"] is None
    assert report.vintages[0]["bad_rate"] == 0.0
    assert report.overall["auc"] is not None


def test_only_matured_scorable_latest_decisions_count() -> None:
    decisions, outcomes = decisions_and_outcomes()
    extra = pl.DataFrame(
        {
            "decision_id": ["late", "unscorable", "immature"],
            # A re-score of A0 in March replaces the January decision.
            "created_at": [datetime(2026, 3, 1), datetime(2026, 3, 2), datetime(2026, 3, 3)],
            "application_id": ["A0", "A8", "A9"],
            "pd": [0.05, None, 0.2],
            "score": [720, None, 660],
            "band": ["A", None, "B"],
            "model_version": ["v1"] * 3,
        }
    )
    outcomes = pl.concat([outcomes, pl.DataFrame({"application_id": ["A8"], "default_flag": [1]})])
    report = performance_report(pl.concat([decisions, extra]), outcomes, validation={})
    assert report.n_decisions == 11 and report.n_matched == 8
    assert [(v["vintage"], v["n"]) for v in report.vintages] == [
        ("2026-01", 3),
        ("2026-02", 4),
        ("2026-03", 1),
    ]


def test_matches_on_borrower_id_when_there_is_no_application_id() -> None:
    decisions, outcomes = decisions_and_outcomes()
    decisions = decisions.rename({"application_id": "borrower_id"})
    outcomes = outcomes.rename({"application_id": "borrower_id", "default_flag": "default_12m"})
    report = performance_report(decisions, outcomes, validation={}, label="default_12m")
    assert report.overall["auc"] == pytest.approx(OVERALL_AUC)


def test_no_matured_outcome_is_reported_not_raised() -> None:
    decisions, _ = decisions_and_outcomes()
    empty = pl.DataFrame(
        {"application_id": [], "default_flag": []},
        schema={"application_id": pl.String, "default_flag": pl.Int64},
    )
    report = performance_report(decisions, empty, validation={"auc": 0.8})
    assert not report.degraded and report.n_matched == 0
    assert "No decision has a matured outcome" in report.reason


def test_report_serialises_and_renders() -> None:
    decisions, outcomes = decisions_and_outcomes()
    report = performance_report(decisions, outcomes, validation={"auc": 0.95, "ks": 0.6})
    assert json.loads(json.dumps(report.to_dict()))["degraded"] is True
    markdown = report.to_markdown()
    assert "**Degraded.**" in markdown and "2026-02" in markdown
