"""shap's beeswarm and waterfall in the explainability report, drawn from the platform's values.

The plots are `shap.plots.beeswarm` and `shap.plots.waterfall` themselves; these tests catch
the `shap.Explanation` each one is handed and check it carries the platform's own SHAP matrix
and expected value, that the pictures are PNGs with captions, and that awkward inputs (one
feature, one row, missing values, a scorecard, lender text with markup or `$`) never crash
a report.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
import shap
from PIL import Image

from credit_assets.core.compliance import ExplainabilityReport, explainability_report
from credit_assets.core.compliance.explainability import MAX_PLOT_POINTS
from credit_assets.core.compliance.shap_plots import plot_text
from credit_assets.core.explain import LeafShapExplainer, needs_background
from credit_assets.core.features.specs import FeatureCatalogue, FeatureSpec
from credit_assets.core.modeling import TrainConfig, to_catboost_frame, train_challenger
from credit_assets.core.modeling.scorecard import train_scorecard
from credit_assets.core.modeling.scorecard_model import ScorecardExplainer

SMALL = TrainConfig(
    iterations=60, learning_rate=0.15, depth=3, early_stopping_rounds=30, threads=2, seed=1
)
SPECS = [
    FeatureSpec("rent_on_time_ratio_12m", "", "rent", "float", "decreasing", "R10", "Rent late"),
    FeatureSpec("bank_overdraft_days_6m", "", "bank", "float", "increasing", "B20", "Overdrawn"),
    FeatureSpec("employment_type", "", "application", "category", "none", "A30", "Employment"),
]
CATALOGUE = FeatureCatalogue(tuple(SPECS))
NAMES = [s.name for s in SPECS]


def applications(n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rent = np.where(rng.uniform(size=n) < 0.25, np.nan, rng.beta(4, 1.5, n))  # thin files
    overdraft = rng.poisson(3, n).astype(float)
    employment = rng.choice(["salaried", "self_employed", "gig"], n).astype(object)
    employment[rng.uniform(size=n) < 0.1] = None
    logit = -1.2 - 2.5 * np.nan_to_num(rent - 0.75) + 0.25 * (overdraft - 3)
    return pl.DataFrame(
        {
            "rent_on_time_ratio_12m": rent,
            "bank_overdraft_days_6m": overdraft,
            "employment_type": list(employment),
            "default_flag": (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.int8),
            "split": rng.choice(["train", "validation", "test"], n, p=[0.6, 0.2, 0.2]),
        }
    ).with_columns(pl.col("rent_on_time_ratio_12m").fill_nan(None))


class Drawn:
    """The explanations shap's plots were handed, by plot."""

    def __init__(self) -> None:
        self.beeswarm: list[Any] = []
        self.waterfall: list[Any] = []


@pytest.fixture
def drawn(monkeypatch) -> Drawn:
    """Records what reaches `shap.plots.beeswarm` and `shap.plots.waterfall`, which still draw."""
    record = Drawn()
    for name in ("beeswarm", "waterfall"):
        original = getattr(shap.plots, name)

        def spy(explanation: Any, *args: Any, _original=original, _name=name, **kwargs: Any):
            getattr(record, _name).append(explanation)
            return _original(explanation, *args, **kwargs)

        monkeypatch.setattr(shap.plots, name, spy)
    return record


def assert_png(png: bytes | None) -> tuple[int, int]:
    assert png is not None and png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(png)) as image:
        image.verify()
        assert image.format == "PNG"
        return image.size


@pytest.fixture(scope="module")
def catboost_shap() -> tuple[np.ndarray, pd.DataFrame, float]:
    """The platform's exact SHAP of a monotone-constrained CatBoost challenger on its test rows."""
    frame = applications(800)
    trained = train_challenger(frame, SPECS, SMALL)
    train = to_catboost_frame(frame.filter(pl.col("split") == "train"), SPECS)
    background = train if needs_background(trained.model) else None
    explainer = LeafShapExplainer.from_model(trained.model, background=background)
    inputs = to_catboost_frame(frame.filter(pl.col("split") == "test"), SPECS)
    values, _raw = explainer.explain(inputs)
    return values, inputs, explainer.expected_value


def report_of(values: np.ndarray, inputs: pd.DataFrame, expected: float, **kw: Any):
    names = list(inputs.columns)
    return explainability_report(
        values, inputs, names, CATALOGUE, monotonicity=None, expected_value=expected, **kw
    )


def test_the_beeswarm_is_handed_the_platforms_shap_matrix_and_expected_value(
    catboost_shap, drawn
) -> None:
    values, inputs, expected = catboost_shap
    report = report_of(values, inputs, expected)
    [explanation] = drawn.beeswarm
    assert np.array_equal(explanation.values, values)  # every test row: fewer than the cap
    assert np.all(explanation.base_values == expected)
    assert list(explanation.feature_names) == NAMES
    # Colour comes from a numeric feature's value; categories and missing values are grey.
    rent = inputs["rent_on_time_ratio_12m"].to_numpy()
    assert np.array_equal(explanation.data[:, 0], rent, equal_nan=True)
    assert np.isnan(explanation.data[:, 2]).all()
    assert_png(report.beeswarm_png)


def test_the_waterfall_explains_the_riskiest_decision_with_the_platforms_values(
    catboost_shap, drawn
) -> None:
    values, inputs, expected = catboost_shap
    report = report_of(values, inputs, expected)
    [explanation] = drawn.waterfall
    riskiest = int(np.argmax(expected + values.sum(axis=1)))
    assert np.array_equal(explanation.values, values[riskiest])
    assert explanation.base_values == expected
    employment = inputs["employment_type"].iloc[riskiest]
    shown = explanation.display_data[2]
    assert shown == ("missing" if employment == "__missing__" else employment)
    assert f"(row {riskiest} of {len(values)}, counted from 0;" in report.waterfall_caption
    assert_png(report.waterfall_png)


def test_report_shows_both_pictures_with_their_captions_in_html_and_markdown(
    catboost_shap,
) -> None:
    values, inputs, expected = catboost_shap
    report = report_of(values, inputs, expected)
    page = report.to_html()
    assert page.count('<img src="data:image/png;base64,') == 2 + len(report.top_features)
    assert 'alt="SHAP beeswarm (shap.plots.beeswarm)"' in page
    assert '<section id="decision">' in page and 'alt="SHAP waterfall of one decision"' in page
    assert f"shap.plots.beeswarm of all {len(values)} explained rows" in page
    assert "shap.plots.waterfall of one decision" in page
    assert "log-odds of default: the values a decision&#x27;s principal reasons" in page
    markdown = report.to_markdown()
    assert "![SHAP waterfall of one decision](data:image/png;base64," in markdown


def test_to_dict_carries_both_pictures_for_the_model_card(catboost_shap) -> None:
    values, inputs, expected = catboost_shap
    record = report_of(values, inputs, expected).to_dict()
    assert set(record["plots"]) == {"shap_beeswarm", "shap_waterfall"}
    for encoded in record["plots"].values():
        assert_png(base64.b64decode(encoded))
    assert record["plot_captions"]["shap_beeswarm"].startswith("shap.plots.beeswarm of all")


def synthetic(n: int, names: list[str], seed: int = 0) -> tuple[np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    values = rng.normal(0, 0.3, (n, len(names)))
    frame = pd.DataFrame({name: rng.normal(size=n) for name in names})
    return values, frame


def test_beeswarm_plots_a_bounded_sample_and_says_so(drawn) -> None:
    values, frame = synthetic(MAX_PLOT_POINTS + 500, NAMES[:2])
    report = report_of(values, frame, -1.0, seed=3)
    [explanation] = drawn.beeswarm
    assert explanation.values.shape == (MAX_PLOT_POINTS, 2)
    position = {value: i for i, value in enumerate(values[:, 0])}
    rows = [position[value] for value in explanation.values[:, 0]]
    assert rows == sorted(rows) and len(set(rows)) == MAX_PLOT_POINTS
    assert np.array_equal(explanation.values, values[rows])  # the platform's rows, unchanged
    assert "2,000 of the 2,500 explained rows (a random sample, seed 3)" in report.beeswarm_caption


def test_more_features_than_shown_are_summed_in_the_last_row(drawn) -> None:
    names = [f"feature_{i}" for i in range(12)]
    values, frame = synthetic(50, names)
    report = report_of(values, frame, 0.0, top_n=4)
    assert "the 4 largest shown and the other 8 summed in the last row" in report.beeswarm_caption
    assert_png(report.beeswarm_png)
    assert_png(report.waterfall_png)


@pytest.mark.parametrize(
    ("rows", "names"),
    [(1, NAMES), (2, NAMES), (40, NAMES[:1]), (1, NAMES[:1])],
    ids=["one-row", "two-rows", "one-feature", "one-row-one-feature"],
)
def test_tiny_populations_and_single_features_still_get_both_pictures(rows, names) -> None:
    values, frame = synthetic(rows, names)
    report = report_of(values, frame, 0.2)
    assert_png(report.beeswarm_png)
    assert_png(report.waterfall_png)


def test_missing_values_are_drawn_and_written_as_missing(drawn) -> None:
    values, frame = synthetic(30, NAMES[:2])
    frame["rent_on_time_ratio_12m"] = np.nan  # a source nobody in the sample has
    frame.loc[::3, "bank_overdraft_days_6m"] = np.nan
    frame["employment_type"] = [None, "__missing__", "gig"] * 10
    values = np.column_stack([values, np.zeros(30)])
    values[0] = [1.0, 1.0, 1.0]  # the riskiest row: every value missing
    report = report_of(values, frame, 0.0)
    [waterfall] = drawn.waterfall
    assert list(waterfall.display_data) == ["missing", "missing", "missing"]
    assert_png(report.beeswarm_png)
    assert_png(report.waterfall_png)


def test_all_zero_shap_values_still_draw() -> None:
    _, frame = synthetic(20, NAMES[:2])
    report = report_of(np.zeros((20, 2)), frame, -2.0)
    assert_png(report.beeswarm_png)
    assert_png(report.waterfall_png)


def test_lender_text_is_escaped_in_captions_and_drawn_literally_in_the_pictures(drawn) -> None:
    hostile = '<img src=x onerror="alert(1)">'
    values, frame = synthetic(25, [hostile, "amount_$"])
    frame["$\\frac{$"] = ["$\\bad{$ \n<b>x</b>"] * 25  # not valid mathtext
    values = np.column_stack([values, np.zeros(25)])
    values[7] = [3.0, 0.1, 0.2]  # the riskiest row, its largest contribution the hostile name
    report = report_of(values, frame, 0.0)
    assert hostile in report.waterfall_caption
    page = report.to_html()
    assert hostile not in page and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert "<b>x</b>" not in page
    markdown = report.to_markdown(embed_images=False)
    assert hostile not in markdown and "\\<img src=x onerror=" in markdown
    [waterfall] = drawn.waterfall
    assert list(waterfall.feature_names) == [hostile, r"amount_\$", r"\$\frac{\$"]
    assert waterfall.display_data[2] == r"\$\bad{\$ <b>x</b>"
    assert_png(report.beeswarm_png)
    assert_png(report.waterfall_png)


def test_plot_text_is_one_literal_line_of_bounded_length() -> None:
    assert plot_text("cost $5 to $10") == r"cost \$5 to \$10"
    assert plot_text("two\nlines\x00here") == "two lines here"
    assert plot_text("x" * 100, limit=10) == "x" * 9 + "…"


def test_a_plot_that_cannot_be_drawn_is_omitted_with_the_reason(monkeypatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("no canvas")

    monkeypatch.setattr(shap.plots, "waterfall", broken)
    values, frame = synthetic(10, NAMES[:2])
    report = report_of(values, frame, 0.0)
    assert report.waterfall_png is None
    assert report.waterfall_caption.startswith(
        "The waterfall could not be drawn (RuntimeError: no canvas)."
    )
    assert set(report.plots) == {"shap_beeswarm"}
    assert "The waterfall could not be drawn" in report.to_html()


def test_a_scorecard_champion_gets_the_same_pictures_of_its_additive_shap(drawn) -> None:
    frame = applications(600, seed=4)
    scorecard = train_scorecard(frame, SPECS, seed=0)
    inputs = to_catboost_frame(frame.filter(pl.col("split") == "test"), SPECS)
    explainer = ScorecardExplainer(scorecard)
    values, expected = explainer.shap(inputs)
    names = scorecard.feature_names
    report: ExplainabilityReport = explainability_report(
        values,
        inputs,
        names,
        CATALOGUE,
        monotonicity=None,
        expected_value=expected,
        points_table=scorecard.points_table(),
    )
    [beeswarm] = drawn.beeswarm
    [waterfall] = drawn.waterfall
    assert np.array_equal(beeswarm.values, values)
    raw = explainer.explain(inputs)[1]
    riskiest = int(np.argmax(raw))
    assert np.allclose(waterfall.values.sum() + waterfall.base_values, raw[riskiest])
    assert "its principal reasons use the points method" in report.waterfall_caption
    assert_png(report.beeswarm_png)
    assert_png(report.waterfall_png)
