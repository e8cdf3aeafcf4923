"""The hard-shape generator: the shape it promises, and the contract the platform drafts
for the file it writes (income and dependents with `NA` for missing)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from credit_assets.core.contracts import load_contract
from credit_assets.core.features.specs import application_feature_specs
from credit_assets.core.onboarding.inference import infer_contract
from tests.support.hard_shape import (
    AS_DELIVERED_SPECS,
    DELIVERED_AS_TEXT,
    HARD_SHAPE_SPECS,
    hard_shape_frame,
    write_as_delivered,
)


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return hard_shape_frame(60_000, seed=1)


def test_the_file_has_the_promised_shape(frame: pl.DataFrame) -> None:
    y = frame["default_flag"].to_numpy()
    utilisation = frame["revolving_utilisation"].to_numpy()
    coded = frame["past_due_90"].is_in([96, 98]).to_numpy()
    no_income = frame["monthly_income"].is_null().to_numpy()

    assert 0.06 < y.mean() < 0.075
    assert 0.17 < no_income.mean() < 0.22 and y[no_income].mean() < y.mean()
    assert frame["dependents"].is_null().mean() == pytest.approx(0.025, abs=0.01)
    assert 0.001 < coded.mean() < 0.004 and y[coded].mean() > 3 * y.mean()
    assert (frame["past_due_30_59"].is_in([96, 98]).to_numpy() == coded).all()
    # Risk peaks just over the limit and falls back for the absurd utilisations.
    over, absurd = (utilisation > 1) & (utilisation < 5), utilisation >= 10
    assert utilisation.max() > 10_000 and 0.002 < absurd.mean() < 0.01
    assert y[over].mean() > 4 * y.mean() > 2 * y[absurd].mean()
    # Where income is missing, the debt ratio is the debt itself: its tail.
    debt = frame["debt_ratio"].to_numpy()
    assert np.median(debt[no_income]) > 500 > 1 > np.median(debt[~no_income])


def test_the_delivered_file_is_drafted_with_na_as_missing_and_income_as_a_number(
    frame: pl.DataFrame, tmp_path: Path
) -> None:
    path = write_as_delivered(frame.head(5_000), tmp_path / "hard_shape.csv")
    contract = tmp_path / "hard_shape.yaml"
    contract.write_text(infer_contract(path, "hard_shape", label="default_flag", bad="1").to_yaml())
    loaded = load_contract(contract)
    drafted = application_feature_specs(loaded)
    # `NA` is drafted as the columns' `missing:` text, so they keep their numeric type
    # (AS_DELIVERED_SPECS is the contract that declares them as text, which the scorecard
    # must still handle).
    typed = {(s.name, s.dtype) for s in HARD_SHAPE_SPECS if s.name != "age"}
    assert {(s.name, s.dtype) for s in drafted.features} == typed
    for name in DELIVERED_AS_TEXT:
        assert loaded.columns[name].missing == ["NA"]
    assert len(AS_DELIVERED_SPECS) == len(HARD_SHAPE_SPECS) - 1  # age is protected
