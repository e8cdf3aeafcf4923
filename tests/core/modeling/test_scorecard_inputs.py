"""How the scorecard reads awkward inputs: missing values, bureau codes, numbers delivered as
text and rare categories, each in a bin of its own and each scored on the serving path."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from credit_assets.core.features.specs import FeatureSpec
from credit_assets.core.modeling.scorecard import (
    TrainedScorecard,
    to_scorecard_frame,
    train_scorecard,
)
from credit_assets.core.modeling.scorecard_inputs import sentinel_codes
from credit_assets.core.modeling.scorecard_model import MISSING_TOKEN

N = 6000


def _labels(rng: np.random.Generator, log_odds: np.ndarray) -> np.ndarray:
    return (rng.uniform(size=log_odds.size) < 1 / (1 + np.exp(-log_odds))).astype(np.int8)


def _woe(bads: int, goods: int, total_bads: int, total_goods: int) -> float:
    """optbinning's WoE: ln(share of goods / share of bads)."""
    return math.log((goods / total_goods) / (bads / total_bads))


def _feature(scorecard: TrainedScorecard, name: str):
    return next(f for f in scorecard.features if f.name == name)


@pytest.fixture(scope="module")
def bureau() -> pl.DataFrame:
    """A late-payment count with the bureau codes 96 and 98 on 3 % of rows (60 % bad), an
    income missing for a fifth of the rows (which go bad less often), and a utilisation."""
    rng = np.random.default_rng(7)
    late = np.minimum(rng.geometric(0.7, N) - 1, 9)
    coded = rng.uniform(size=N) < 0.03
    late = np.where(coded, rng.choice([96, 98], N), late)
    income = np.round(np.exp(rng.normal(np.log(5000), 0.5, N)), -1)
    no_income = rng.uniform(size=N) < 0.2
    utilisation = rng.uniform(0, 1, N)
    log_odds = (
        -2.6
        + 0.7 * np.where(coded, 0, late)
        + 3.0 * coded
        - 0.8 * no_income
        - 0.6 * np.log(income / 5000)
        + 1.5 * utilisation
    )
    return pl.DataFrame(
        {
            "late_payments": late,
            "income": np.where(no_income, np.nan, income),
            "utilisation": utilisation,
            "default_flag": _labels(rng, log_odds),
            "split": "train",
        }
    ).with_columns(pl.col("income").fill_nan(None))


BUREAU_SPECS = [
    FeatureSpec("late_payments", "", "s", "int", "increasing"),
    FeatureSpec("income", "", "s", "float", "decreasing"),
    FeatureSpec("utilisation", "", "s", "float", "increasing"),
]


@pytest.fixture(scope="module")
def bureau_card(bureau: pl.DataFrame) -> TrainedScorecard:
    return train_scorecard(bureau, BUREAU_SPECS, seed=0)


def test_missing_values_have_a_bin_of_their_own_with_their_empirical_woe(
    bureau: pl.DataFrame, bureau_card: TrainedScorecard
) -> None:
    income = _feature(bureau_card, "income")
    y = bureau["default_flag"].to_numpy()
    missing = bureau["income"].is_null().to_numpy()
    bads, total_bads = int(y[missing].sum()), int(y.sum())
    expected = _woe(bads, int(missing.sum()) - bads, total_bads, y.size - total_bads)

    assert income.missing_count == missing.sum()
    assert income.missing_woe == pytest.approx(expected, abs=1e-9)
    assert income.missing_woe > 0.2  # the missing-income rows are the safer ones
    scored = income.woe_of(pl.Series([None, float("nan")], dtype=pl.Float64))
    assert list(scored) == [income.missing_woe] * 2
    assert list(income.woe_of_values([None])) == [income.missing_woe]


def test_bureau_codes_get_a_bin_of_their_own_not_the_top_count_bin(
    bureau: pl.DataFrame, bureau_card: TrainedScorecard
) -> None:
    late = _feature(bureau_card, "late_payments")
    coded = bureau["late_payments"].is_in([96, 98]).to_numpy()
    y = bureau["default_flag"].to_numpy()
    bads, total_bads = int(y[coded].sum()), int(y.sum())

    assert late.special_codes == [96.0, 98.0]
    assert late.special_count == coded.sum()
    expected = _woe(bads, int(coded.sum()) - bads, total_bads, y.size - total_bads)
    assert late.special_woe == pytest.approx(expected, abs=1e-9)
    # No count bin holds a code: the top bin's rows are real counts.
    assert sum(late.counts) + late.missing_count == (~coded).sum()
    assert late.splits[-1] < 96
    assert list(late.woe_of_values([96, 98.0])) == [late.special_woe] * 2
    assert late.woe_of(pl.Series([97])).item() == late.woe[-1]  # not a code seen in training
    assert any(row["bin"] == "Special: 96, 98" for row in bureau_card.points_table())


def test_the_card_predicts_as_the_fitted_optbinning_object_with_codes_and_missing(
    bureau: pl.DataFrame, bureau_card: TrainedScorecard
) -> None:
    frame = to_scorecard_frame(bureau, BUREAU_SPECS, bureau_card.reading)
    fitted = bureau_card.fitted.predict_proba(frame)[:, 1]
    np.testing.assert_allclose(bureau_card.predict_pd(bureau), fitted, rtol=0, atol=1e-12)
    reloaded = TrainedScorecard.from_json(bureau_card.to_json())
    np.testing.assert_array_equal(reloaded.predict_pd(bureau), bureau_card.predict_pd(bureau))


@pytest.mark.parametrize(
    ("values", "codes"),
    [
        ([0, 1, 2, 3, 13, 96, 98], [96.0, 98.0]),
        ([21, 40, 67, 96, 99, 103], []),  # ages: 96 and 99 are people, not codes
        ([0.0, 0.4, 1.0, 2.5, 50_000.0, 99.0], []),  # a heavy tail swallows 99
        ([0, 5, 30, 9999, 9998], [9998.0, 9999.0]),
        ([-1, 0, 4, 12], [-1.0]),  # "never" in a count of months since
        ([-7, -1, 0, 4], [-7.0, -1.0]),
        ([-250.5, -1, 0, 4], []),  # a balance can be negative: -1 is a value
        ([0, 1, 2, 95.5], []),  # a code is whole
    ],
)
def test_a_code_is_a_bureau_pattern_far_beyond_every_other_value(
    values: list[float], codes: list[float]
) -> None:
    assert sentinel_codes(np.array(values, dtype=np.float64)) == codes


@pytest.fixture(scope="module")
def delivered() -> pl.DataFrame:
    """Income delivered as text with `NA` for a fifth of the rows, and a job code "0".."3"."""
    rng = np.random.default_rng(11)
    income = np.round(np.exp(rng.normal(np.log(5000), 0.6, N)), -1)
    no_income = rng.uniform(size=N) < 0.2
    job = rng.integers(0, 4, N)
    log_odds = -2.2 - 1.0 * np.log(income / 5000) - 0.7 * no_income + 0.3 * job
    return pl.DataFrame(
        {
            "income": np.where(no_income, "NA", np.char.mod("%.1f", income)),
            "job": job.astype(str),
            "default_flag": _labels(rng, log_odds),
            "split": "train",
        }
    )


DELIVERED_SPECS = [
    FeatureSpec("income", "", "s", "category"),
    FeatureSpec("job", "", "s", "category"),
]


@pytest.fixture(scope="module")
def delivered_card(delivered: pl.DataFrame) -> TrainedScorecard:
    return train_scorecard(delivered, DELIVERED_SPECS, seed=0)


def test_numbers_delivered_as_text_are_binned_as_numbers_and_na_is_missing(
    delivered: pl.DataFrame, delivered_card: TrainedScorecard
) -> None:
    income = _feature(delivered_card, "income")
    assert income.kind == "numerical" and income.read_as_number
    assert income.missing_texts == ["NA"]
    assert income.missing_count == (delivered["income"] == "NA").sum()
    assert np.all(np.diff(income.woe) > -0.5)  # safer as income rises, no category soup
    first_bin_value = income.splits[0] - 1.0
    assert income.woe_of_values([first_bin_value, str(first_bin_value)])[1] == income.woe[0]
    # Every text scores: NA, CatBoost's missing token, text never seen, a number as a float.
    texts = pl.Series(["NA", MISSING_TOKEN, "n/a", None], dtype=pl.String)
    assert list(income.woe_of(texts)) == [income.missing_woe] * 4
    assert (
        list(income.woe_of_values([5000.0, "5000.0", " 5000 "]))
        == [income.woe_of_values([5000.0])[0]] * 3
    )
    assert "numbers delivered as text" in delivered_card.characteristics()[0]["note"]


def test_a_code_with_a_few_numbers_stays_a_category(delivered_card: TrainedScorecard) -> None:
    job = _feature(delivered_card, "job")
    assert job.kind == "categorical" and not job.read_as_number
    assert sorted(c for group in job.categories for c in group) == ["0", "1", "2", "3"]


def test_numbers_read_from_text_serve_and_round_trip(
    delivered: pl.DataFrame, delivered_card: TrainedScorecard
) -> None:
    reloaded = TrainedScorecard.from_json(delivered_card.to_json())
    frame = to_scorecard_frame(delivered, DELIVERED_SPECS, delivered_card.reading)
    np.testing.assert_allclose(
        delivered_card.predict_pd(delivered),
        delivered_card.fitted.predict_proba(frame)[:, 1],
        rtol=0,
        atol=1e-12,
    )
    np.testing.assert_array_equal(
        reloaded.predict_pd(delivered), delivered_card.predict_pd(delivered)
    )
    best = reloaded.best_values()["income"]
    assert isinstance(best, dict) and len(best) == 1  # a text value, as the column holds


def test_rare_categories_are_pooled_so_their_outcomes_cannot_leak_into_the_bins() -> None:
    """A branch column of 1 500 levels, most seen a few times, and no link to the outcome:
    binned level by level its WoE would be the label itself; pooled, it carries nothing."""
    rng = np.random.default_rng(3)
    branch = np.where(
        rng.uniform(size=N) < 0.5,
        rng.choice(["north", "south"], N),
        np.char.add("b", rng.integers(0, 1500, N).astype(str)),
    )
    x = rng.normal(size=N)
    data = pl.DataFrame(
        {"branch": branch, "x": x, "default_flag": _labels(rng, -2 + x), "split": "train"}
    )
    specs = [FeatureSpec("branch", "", "s", "category"), FeatureSpec("x", "", "s", "float")]
    scorecard = train_scorecard(data, specs, seed=0)

    branch_card = _feature(scorecard, "branch") if "branch" in scorecard.feature_names else None
    information = {r["feature"]: r["information_value"] for r in scorecard.characteristics()}
    assert information["branch"] < 0.03 < information["x"]
    if branch_card is not None:
        assert branch_card.pooled_categories > 1000
        assert branch_card.pooled_count > N * 0.4
        pooled = next(i for i, g in enumerate(branch_card.bin_labels) if "rare or unseen" in g)
        assert branch_card.unknown_woe == branch_card.woe[pooled]
        assert branch_card.woe_of_values(["a branch opened tomorrow"])[0] == branch_card.unknown_woe
        assert {"north", "south"} <= {c for g in branch_card.categories for c in g}


def test_characteristics_list_information_value_treatments_and_what_was_dropped(
    bureau_card: TrainedScorecard,
) -> None:
    rows = bureau_card.characteristics()
    kept = [r for r in rows if r["status"] == "kept"]
    assert [r["information_value"] for r in kept] == sorted(
        (r["information_value"] for r in kept), reverse=True
    )
    late = next(r for r in rows if r["feature"] == "late_payments")
    assert late["special_codes"] == [96.0, 98.0] and 0.02 < late["special_share"] < 0.04
    assert "bureau codes 96, 98" in late["note"]
    income = next(r for r in rows if r["feature"] == "income")
    assert 0.15 < income["missing_share"] < 0.25 and "missing values" in income["note"]
