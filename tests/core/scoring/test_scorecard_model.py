"""A scorecard served as a ScoringModel: reasons by the points method, the artifact verified."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from credit_assets.core.modeling import ArtifactIntegrityError
from credit_assets.core.modeling.artifacts import SCORECARD_FILE
from credit_assets.core.platform.settings import Settings
from credit_assets.core.scoring import ScoringModel
from tests.support.scoring import built_scorecard, save_and_register, training_frame


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return training_frame(rows=300, seed=5).with_columns(pl.lit(2).alias("n_alternative_sources"))


@pytest.fixture
def model() -> ScoringModel:
    settings = Settings()
    return ScoringModel.load(settings, save_and_register(settings, built_scorecard()))


def _points_by_feature(model: ScoringModel, row: dict) -> dict[str, tuple[float, float]]:
    """Per characteristic, (points of the applicant's bin, most points attainable), read off
    the published points table: a second route to the figures the reasons rank."""
    scorecard = model.model
    table = scorecard.points_table()
    result = {}
    for f in scorecard.features:
        rows = [r for r in table if r["feature"] == f.name]
        woe = float(f.woe_of(pl.Series([row[f.name]], strict=False))[0])
        mine = min(rows, key=lambda r: abs(r["woe"] - woe))["points"]
        result[f.name] = (mine, max(r["points"] for r in rows))
    return result


def test_the_reasons_are_the_characteristics_that_lost_the_most_points(
    model: ScoringModel, frame: pl.DataFrame
) -> None:
    assert model.family == "scorecard" and model.explainer is None
    checked = 0
    for row in frame.head(60).iter_rows(named=True):
        decision = model.score_one(row)
        points = _points_by_feature(model, row)
        lost = {name: best - mine for name, (mine, best) in points.items()}
        by_code: dict[str, float] = {}
        for name, value in lost.items():
            code = model.reason_map.codes[
                model.reason_map.feature_code[model.feature_names.index(name)]
            ]
            by_code[code] = by_code.get(code, 0.0) + value
        expected = [
            c for c, v in sorted(by_code.items(), key=lambda kv: (-kv[1], kv[0])) if v > 1e-9
        ]
        assert [r.code for r in decision.reasons] == expected[:4]
        for reason in decision.reasons:
            # Contributions are log-odds; times the scale's factor they are the points lost.
            assert reason.contribution * model.scale.factor == pytest.approx(
                by_code[reason.code], abs=1e-6
            )
        checked += bool(decision.reasons)
    assert checked > 40


def _best_value(f) -> object:
    """A value that lands in the characteristic's lowest-risk bin (None when that is missing)."""
    attainable = f.attainable_woe
    i = int(np.argmin([f.coefficient * w for w in attainable]))
    if i == len(f.woe):
        return None
    if i > len(f.woe):
        return "a category never seen in training"
    if f.kind == "categorical":
        return f.categories[i][0]
    return f.splits[i - 1] if i else (f.splits[0] - 1.0 if f.splits else 0.0)


def test_an_applicant_in_the_best_bin_of_every_characteristic_gets_no_reason(
    model: ScoringModel,
) -> None:
    best = {f.name: _best_value(f) for f in model.model.features}
    decision = model.score_one({"n_alternative_sources": 2, **best})
    assert decision.scorable and decision.reasons == ()
    worse = dict(best, utility_on_time_ratio_12m=0.05, utility_missed_payments_12m=5)
    reasons = model.score_one({"n_alternative_sources": 2, **worse}).reasons
    assert reasons and {"utility_on_time_ratio_12m", "utility_missed_payments_12m"} & {
        name for r in reasons for name in r.features
    }


def test_a_tampered_scorecard_file_is_refused() -> None:
    settings = Settings()
    record = save_and_register(settings, built_scorecard())
    path = Path(record.artifact_uri) / SCORECARD_FILE
    document = json.loads(path.read_text())
    document["intercept"] += 0.5
    path.write_text(json.dumps(document))
    with pytest.raises(ArtifactIntegrityError, match=SCORECARD_FILE):
        ScoringModel.load(settings, record)


def test_the_manifest_names_the_family_and_has_no_shap_tables(model: ScoringModel) -> None:
    assert model.manifest["model_type"] == "scorecard"
    assert model.manifest["model_file"] == SCORECARD_FILE
    assert set(model.manifest["files"]) == {SCORECARD_FILE}
