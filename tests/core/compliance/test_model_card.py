"""Model card: JSON round trip, stable section ids, a self-contained page Chromium renders."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from credit_assets.core.compliance import (
    SECTION_IDS,
    ModelCard,
    build_model_card,
    explainability_report,
    fairness_report,
)
from credit_assets.core.features.specs import FeatureCatalogue, FeatureSpec
from credit_assets.core.modeling import RiskBands, ScoreScale, evaluate
from credit_assets.core.modeling.candidates import cross_validation
from credit_assets.core.modeling.cross_validation import CVConfig
from credit_assets.core.modeling.train import TrainConfig
from tests.support.production import IN_CI

CHROMIUM = "/usr/bin/chromium"
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
VERSION = "20250101T000000Z-abcd1234"


@pytest.fixture(scope="module")
def model_card() -> ModelCard:
    """A card built from cheap but real evidence: metrics, fairness and plots of a scored population."""
    return build_card()


def build_card() -> ModelCard:
    rng = np.random.default_rng(0)
    n = 400
    pd_test = np.clip(rng.beta(2, 8, n), 0.001, 0.999)
    y = (rng.uniform(size=n) < pd_test).astype(int)
    scale = ScoreScale()
    scores = scale.score_from_pd(pd_test)
    evaluation = evaluate(y, pd_test, scores, bands=RiskBands())
    report = {
        "challenger_version": VERSION,
        "champion_version": None,
        "test_rows": n,
        "bayes_optimal_auc": 0.81,
        "models": {
            "challenger": {
                k: evaluation[k] for k in ("n", "bad_rate", "auc", "gini", "ks", "brier", "ece")
            }
        },
        "challenger_bands": evaluation["bands"],
        "challenger_calibration": evaluation["calibration"],
    }
    scored = pl.DataFrame(
        {
            "score": scores,
            "pd": pd_test,
            "default_flag": y,
            "protected_sex": rng.choice(["female", "male", None], n, p=[0.45, 0.45, 0.1]),
            "protected_age": rng.integers(18, 80, n),
        }
    )
    cutoff = int(np.quantile(scores, 0.3))
    fairness = fairness_report(scored, protected=["sex", "age"], cutoff=cutoff, n_bootstrap=200)
    manifest = {
        "version": VERSION,
        "model_type": "catboost",
        "features": ["rent_on_time_ratio_12m", "employment_type"],
        "feature_specs": [
            {"name": "rent_on_time_ratio_12m", "monotone": "decreasing", "reason_code": "R10"},
            {"name": "employment_type", "monotone": "none", "reason_code": "A30"},
        ],
        "monotone_constraints": {"rent_on_time_ratio_12m": -1},
        "params": {"depth": 6, "iterations": 1000},
        "catalogue_version": "cat123",
        "training_snapshot_id": "snap456",
        "tree_count": 212,
        "score_scale": scale.to_dict(),
        "risk_bands": RiskBands().to_dict(),
        "monotonicity": {
            "passed": True,
            "tolerance": 1e-9,
            "n_rows": 500,
            "grid_size": 20,
            "features": [
                {
                    "feature": "rent_on_time_ratio_12m",
                    "direction": "decreasing",
                    "status": "pass",
                    "grid": [0.1, 0.5, 0.9],
                    "rows_checked": 500,
                    "rows_violating": 0,
                    "max_violation": 0.0,
                    "note": "",
                },
            ],
        },
    }
    return build_model_card(
        model_version=VERSION,
        manifest=manifest,
        evaluation=report,
        fairness_report=fairness.to_dict(),
        reason_accuracy={
            "checked": 200,
            "passed": 196,
            "share": 0.98,
            "target": 0.95,
            "meets_target": True,
        },
        explainability={
            "importance": [
                {
                    "feature": "rent_on_time_ratio_12m",
                    "mean_abs_shap": 0.4,
                    "share": 0.7,
                    "reason_code": "R10",
                    "reason_text": "Rent payments were late",
                    "direction": "decreasing",
                },
                {
                    "feature": "employment_type",
                    "mean_abs_shap": 0.17,
                    "share": 0.3,
                    "reason_code": "A30",
                    "reason_text": "Type of employment",
                    "direction": "none",
                },
            ]
        },
        lineage={
            "sources": [
                {"name": "rent_payments", "asset_key": "raw_rent_payments", "run_id": "run-1"},
                {"name": "training_set", "asset_key": "training_set", "run_id": "run-2"},
            ],
            "training_run_id": "run-3",
        },
        population={
            "rows": 5000,
            "date_range": "2023-01-01 to 2024-06-30",
            "default_rate": 0.12,
            "thin_file_share": 0.64,
            "exclusions": ["applications without a matured outcome"],
        },
        stability={"score_psi_train_vs_test": 0.02},
        curves={"challenger": (y, pd_test)},
        created_at=datetime(2025, 1, 2, tzinfo=UTC),
    )


def test_json_round_trip_is_lossless(model_card):
    original = model_card
    text = original.to_json()
    restored = ModelCard.from_json(text)
    assert restored == original
    assert restored.plots["roc"] == original.plots["roc"]
    assert json.loads(text)["fairness_summary"]["cutoff"] == original.fairness_summary["cutoff"]


def test_html_has_every_section_by_a_stable_id(model_card):
    page = model_card.to_html()
    for section_id in SECTION_IDS:
        assert f'<section id="{section_id}">' in page
    assert len(SECTION_IDS) == 10


def test_html_is_self_contained_with_performance_and_fairness_plots(model_card):
    page = model_card.to_html()
    assert not EXTERNAL.search(page)
    # ROC, calibration, approval by group, AIR across approval rates
    assert page.count('<img src="data:image/png;base64,') == 4
    assert "raw_rent_payments" in page and "Rent payments were late" in page


def test_markdown_carries_the_same_sections(model_card):
    markdown = model_card.to_markdown(embed_images=False)
    for title in (
        "Purpose and intended use",
        "Promotion decision",
        "Data and lineage",
        "Population and exclusions",
        "Performance",
        "Stability",
        "Fairness",
        "Explainability and reason codes",
        "Monotone constraints",
        "Limitations",
    ):
        assert f"## {title}" in markdown


def test_failed_fairness_is_listed_among_the_limitations(model_card):
    failed = {**model_card.fairness_summary, "passed": False}
    rebuilt = build_model_card(
        model_version=VERSION, manifest={}, evaluation={}, fairness_summary=failed
    )
    assert any("fairness gate fails" in line for line in rebuilt.limitations)


def test_a_held_back_challenger_card_shows_the_gates_that_said_no():
    from credit_assets.core.promotion import PromotionPolicy, decide, fairness_gate, quality_gate

    scored = population_with_disparity()
    fairness = fairness_report(scored, protected=["sex"], cutoff=600, n_bootstrap=100).to_dict()
    policy = PromotionPolicy()
    decision = decide(
        [quality_gate(0.74, None, policy), fairness_gate(fairness, policy, declared=True)]
    )
    card = build_model_card(
        model_version=VERSION,
        manifest={},
        evaluation={},
        fairness_report=fairness,
        decision=decision,
        registry={"status": "held_back", "version": VERSION},
    )
    assert card.title == f"Model card: {VERSION} (held back)"
    markdown = card.to_markdown(embed_images=False)
    assert "Held back: at least one gate said no." in markdown
    assert "| four_fifths_rule |" in markdown and "| FAIL |" in markdown
    assert "Gates that said no: four_fifths_rule: sex=B AIR" in markdown


def population_with_disparity() -> pl.DataFrame:
    """B approved at 56 % against A's 80 %, 500 applicants each."""
    sex = ["A"] * 500 + ["B"] * 500
    score = [700] * 400 + [500] * 100 + [700] * 280 + [500] * 220
    return pl.DataFrame({"protected_sex": sex, "score": score})


def test_without_a_protected_attribute_the_card_says_there_is_no_fairness_evidence():
    card = build_model_card(
        model_version=VERSION,
        manifest={},
        evaluation={},
        fairness_note="no fairness evidence: no protected attribute or proxy input declared",
    )
    markdown = card.to_markdown(embed_images=False)
    fairness = markdown.split("## Fairness", 1)[1].split("##", 1)[0]
    assert "No fairness evidence: no protected attribute or proxy input declared." in fairness
    assert "passes" not in fairness
    assert (
        "No fairness evidence: no protected attribute or proxy input declared." in card.limitations
    )


def test_the_card_shows_every_candidate_family_with_its_interval_and_the_fold_plot():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 300)
    frame = pl.DataFrame(
        {
            "x": y * 0.8 + rng.normal(0, 1, 300),
            "default_flag": y.astype(np.int8),
            "split": ["train"] * 300,
        }
    )
    specs = [FeatureSpec("x", "", "s", "float", "increasing")]
    evidence = cross_validation(
        frame, specs, TrainConfig(iterations=50, threads=1), CVConfig(folds=3, repeats=1)
    )
    card = build_model_card(
        model_version=VERSION, manifest={}, evaluation={"candidates": evidence.to_dict()}
    )
    performance = card.to_markdown(embed_images=False).split("## Performance", 1)[1]
    performance = performance.split("\n## ", 1)[0]
    assert "Repeated stratified 3-fold cross-validation x 1 repeats on 300 labelled rows" in (
        performance
    )
    assert f"Candidate families (best: {evidence.best})" in performance
    assert "Each family against CatBoost on the same folds or rows" in performance
    logistic = evidence.models["logistic"]
    assert f"{logistic['auc_low']:.4g}" in performance
    assert card.plots["fold_auc"][:4] == b"\x89PNG"


def test_the_card_shows_the_explainability_reports_shap_beeswarm_and_waterfall():
    rng = np.random.default_rng(3)
    names = ["rent_on_time_ratio_12m", "<b>employment</b>"]
    frame = pd.DataFrame({names[0]: rng.uniform(size=60), names[1]: ["gig", "salaried"] * 30})
    report = explainability_report(
        rng.normal(0, 0.3, (60, 2)),
        frame,
        names,
        FeatureCatalogue(()),
        monotonicity=None,
        expected_value=-1.5,
    )
    card = build_model_card(
        model_version=VERSION,
        manifest={},
        evaluation={},
        explainability=json.loads(json.dumps(report.to_dict())),  # as the asset stores it
    )
    assert card.plots["shap_beeswarm"] == report.beeswarm_png
    assert card.plots["shap_waterfall"] == report.waterfall_png
    assert ModelCard.from_json(card.to_json()) == card
    page = card.to_html()
    explainability = page.split('<section id="explainability">', 1)[1].split("</section>", 1)[0]
    assert explainability.count('<img src="data:image/png;base64,') == 2
    assert 'alt="shap_beeswarm"' in explainability and 'alt="shap_waterfall"' in explainability
    assert "shap.plots.beeswarm of all 60 explained rows" in explainability
    assert "shap.plots.waterfall of one decision" in explainability
    assert "<b>employment</b>" not in page
    markdown = card.to_markdown(embed_images=False)
    assert "_\\[figure: shap_beeswarm\\]_" in markdown
    assert "shap.plots.waterfall of one decision" in markdown


def test_unknown_plot_name_is_rejected():
    with pytest.raises(ValueError, match="unknown plot"):
        build_model_card(model_version=VERSION, manifest={}, evaluation={}, plots={"pie": b""})


IMAGE_CHECK = """<script>
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var ok = images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute("data-images-ok", String(ok));
  document.body.setAttribute("data-images-total", String(images.length));
});
</script>
"""


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    profile.mkdir()
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]
    return subprocess.run(
        [CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.e2e
def test_model_card_renders_in_headless_chromium(model_card, tmp_path: Path):
    if not (Path(CHROMIUM).exists() and shutil.which(CHROMIUM)):
        message = f"{CHROMIUM} is not installed"
        if IN_CI:
            pytest.fail(message + " (CI must install chromium for the browser tests)")
        pytest.skip(message)
    page = model_card.to_html()
    n_images = page.count("<img ")
    page_file = tmp_path / "model_card.html"
    page_file.write_text(page.replace("</body>", IMAGE_CHECK + "</body>"), encoding="utf-8")
    url = page_file.as_uri()

    dumped = chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", url)
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = dumped.stdout
    for section_id in SECTION_IDS:
        assert f'id="{section_id}"' in dom
    assert n_images == 4
    assert f'data-images-total="{n_images}"' in dom
    assert f'data-images-ok="{n_images}"' in dom

    screenshot = tmp_path / "model_card.png"
    shot = chromium(tmp_path, "--window-size=1200,2400", f"--screenshot={screenshot}", url)
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.read_bytes().startswith(b"\x89PNG") and screenshot.stat().st_size > 10_000


def test_a_scorecard_card_lists_its_characteristics_with_what_was_done_to_each():
    from credit_assets.core.modeling.scorecard import train_scorecard
    from tests.support.hard_shape import AS_DELIVERED_SPECS, as_delivered, hard_shape_frame

    frame = as_delivered(hard_shape_frame(3000, seed=3))
    scorecard = train_scorecard(frame, AS_DELIVERED_SPECS, seed=0)
    rows = scorecard.characteristics()
    card = build_model_card(
        model_version=VERSION,
        manifest={"model_type": "scorecard", "characteristics": rows},
        evaluation={},
    )
    section = card.to_markdown(embed_images=False).split("## Explainability", 1)[1]
    assert "Scorecard characteristics" in section
    # every input the scorecard kept or dropped is a row, with its information value
    for row in rows:
        assert f"| {row['feature']} |" in section
        assert f"| {row['information_value']:.4g} |" in section
    income = next(r for r in rows if r["feature"] == "monthly_income")
    assert income["read_as_number"] is True and income["missing_share"] > 0.1


def test_the_card_names_the_method_and_the_counts_behind_every_figure():
    evaluation = {
        "test_rows": 71,
        "test_counts": {
            "rows": 71,
            "bads": 6,
            "auc_low": 0.61,
            "auc_high": 0.95,
            "interval": "DeLong 95 %",
        },
        "candidates": {
            "method": "cross_validation",
            "rows": 283,
            "plan": {"folds": 5, "repeats": 1, "n_rows": 283, "n_test_bad": 21},
            "models": {"catboost": {"auc": 0.71}},
            "details": {
                "why": "the out-of-time validation split is too thin to choose on (3 bads in "
                "the out-of-time validation rows (minimum 30))",
                "fallbacks": ["CatBoost tuning failed (ValueError: x); the configured depth 5"],
            },
        },
    }
    evaluation["candidates"]["plan"]["scheme"] = "time_ordered"
    card = build_model_card(model_version=VERSION, manifest={}, evaluation=evaluation)
    performance = card.to_markdown(embed_images=False).split("## Performance", 1)[1]
    performance = performance.split("\n## ", 1)[0]
    assert "**bads in the test rows (behind every gate's test figure)**: 6" in performance
    assert "[0.610, 0.950] (DeLong 95 %)" in card.to_html()
    assert "Time-ordered cross-validation: 5 expanding-window folds over 283 dated" in performance
    assert "21 bads in the tested blocks" in performance
    assert "too thin to choose on (3 bads" in performance
    assert "CatBoost tuning failed" in performance
    holdout = build_model_card(
        model_version=VERSION,
        manifest={},
        evaluation={
            "candidates": {
                "method": "holdout",
                "rows": 200,
                "models": {"catboost": {"auc": 0.7}},
                "details": {"counts": {"rows": 200, "bads": 40, "where": "test split"}},
            }
        },
    ).to_markdown(embed_images=False)
    assert "(test split, 200 rows, 40 bads)" in holdout
    assert "A holdout, not cross-validated." in holdout
