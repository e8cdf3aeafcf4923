"""ScoringModel: one row and a whole frame give the same decisions, from the manifest and the
family's explanation (CatBoost's exact SHAP, a scorecard's points lost); both families."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from credit_assets.core.modeling import ArtifactIntegrityError
from credit_assets.core.platform.db import migrated_engine
from credit_assets.core.platform.registry import get_model
from credit_assets.core.platform.settings import Settings
from credit_assets.core.scoring import (
    INSUFFICIENT_HISTORY,
    NO_APPLICATION_DATA,
    MissingFeaturesError,
    ScoringModel,
    not_scorable_reason,
    scorable_expr,
)
from tests.support.scoring import (
    APPLICATION_FEATURES,
    built_application_model,
    built_model,
    built_scorecard,
    payload_features,
    payloads,
    save_and_register,
    tamper_registry_sha,
    training_frame,
)

FAMILIES = {"catboost": built_model, "scorecard": built_scorecard}


@pytest.fixture(params=sorted(FAMILIES))
def model(request: pytest.FixtureRequest) -> ScoringModel:
    settings = Settings()
    return ScoringModel.load(settings, save_and_register(settings, FAMILIES[request.param]()))


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return (
        training_frame(rows=400, seed=11)
        .with_row_index("borrower_id")
        .with_columns(pl.col("borrower_id").cast(pl.String))
    )


def test_one_row_at_a_time_equals_the_vectorised_frame(
    model: ScoringModel, frame: pl.DataFrame
) -> None:
    batch = model.score_frame(frame)
    singles = [model.score_one(row) for row in frame.iter_rows(named=True)]
    assert [d.scorable for d in singles] == batch["scorable"].to_list()
    assert [d.pd for d in singles] == batch["pd"].to_list()  # bit for bit
    assert [d.score for d in singles] == batch["score"].to_list()
    assert [d.band for d in singles] == batch["band"].to_list()
    assert [d.reasons_json() for d in singles] == batch["reasons"].to_list()
    assert model.score_rows(list(frame.iter_rows(named=True))) == singles


def test_pd_is_the_model_prediction(model: ScoringModel, frame: pl.DataFrame) -> None:
    scored = model.score_frame(frame)
    expected = FAMILIES[model.family]().trained.predict_pd(frame)
    mask = scored["scorable"].to_numpy()
    assert np.abs(scored["pd"].to_numpy()[mask] - expected[mask]).max() < 1e-12


def test_score_and_band_follow_the_manifest_scale(model: ScoringModel, frame: pl.DataFrame) -> None:
    scored = model.score_frame(frame).filter(pl.col("scorable"))
    assert scored["score"].to_list() == model.scale.score_from_pd(scored["pd"].to_numpy()).tolist()
    assert scored["score"].min() >= 300 and scored["score"].max() <= 850
    assert scored["band"].to_list() == [model.bands.band_for_score(s) for s in scored["score"]]


def test_reasons_are_at_most_four_risk_increasing_codes_largest_first(
    model: ScoringModel, frame: pl.DataFrame
) -> None:
    for reasons in model.score_frame(frame)["reasons"]:
        contributions = [r["contribution"] for r in reasons]
        assert len(reasons) <= 4
        assert all(c > 0 for c in contributions)
        assert contributions == sorted(contributions, reverse=True)
        assert all(r["text"] for r in reasons)


def test_score_frame_keeps_ids_in_row_order(model: ScoringModel, frame: pl.DataFrame) -> None:
    scored = model.score_frame(frame, chunk_rows=64)
    assert scored["borrower_id"].to_list() == frame["borrower_id"].to_list()
    assert scored["model_version"].unique().to_list() == [model.version]


@pytest.mark.parametrize(
    ("features", "scorable"),
    [
        ({"n_alternative_sources": 0, "bureau_score": None}, False),
        ({"n_alternative_sources": None}, False),
        ({}, False),
        (
            {"n_alternative_sources": 0, "bureau_score": math.nan, "bureau_open_accounts": None},
            False,
        ),
        ({"n_alternative_sources": 1, "bureau_score": None}, True),
        ({"n_alternative_sources": 0, "bureau_open_accounts": 0}, True),
    ],
)
def test_no_alternative_data_and_no_bureau_record_is_not_scorable(
    features: dict, scorable: bool
) -> None:
    assert (not_scorable_reason(features) is None) == scorable
    if features:
        frame = pl.DataFrame([features], strict=False)
        assert frame.select(scorable_expr(frame.columns)).item() == scorable


@pytest.fixture(scope="module")
def applications_only() -> pl.DataFrame:
    """A borrower snapshot of a lender with its application file alone: no
    `n_alternative_sources`, no `bureau_*` column."""
    return (
        training_frame(rows=300, seed=13)
        .select(APPLICATION_FEATURES)
        .with_row_index("borrower_id")
        .with_columns(pl.col("borrower_id").cast(pl.String))
    )


def application_model() -> ScoringModel:
    settings = Settings()
    return ScoringModel.load(settings, save_and_register(settings, built_application_model()))


def test_a_model_on_application_attributes_alone_scores_every_applicant(
    applications_only: pl.DataFrame,
) -> None:
    scored = application_model().score_frame(applications_only)
    assert scored.height == applications_only.height == 300
    assert scored["scorable"].mean() == 1.0
    assert scored["score"].null_count() == 0


def test_application_only_decisions_agree_between_rows_and_frame(
    applications_only: pl.DataFrame,
) -> None:
    """The API decides with `score_rows`, batch scores with `score_frame`: the same decisions."""
    model = application_model()
    rows = list(applications_only.iter_rows(named=True))
    decisions = model.score_rows(rows)
    batch = model.score_frame(applications_only)
    assert [d.scorable for d in decisions] == batch["scorable"].to_list()
    assert [d.pd for d in decisions] == batch["pd"].to_list()
    assert [d.reasons_json() for d in decisions] == batch["reasons"].to_list()
    assert decisions == [model.score_one(row) for row in rows]


def test_an_applicant_with_none_of_the_models_attributes_is_not_scorable(
    applications_only: pl.DataFrame,
) -> None:
    model = application_model()
    empty = dict.fromkeys(["borrower_id", *APPLICATION_FEATURES])
    decision = model.score_one(empty)
    assert not decision.scorable
    assert decision.not_scorable_reason == NO_APPLICATION_DATA
    frame = pl.concat(
        [applications_only.head(2), pl.DataFrame([empty], schema=applications_only.schema)]
    )
    scored = model.score_frame(frame)
    assert scored["scorable"].to_list() == [True, True, False]
    assert scored["not_scorable_reason"].to_list() == [None, None, NO_APPLICATION_DATA]


def test_a_thin_file_gets_the_reason_and_no_score(model: ScoringModel) -> None:
    decision = model.score_one(payload_features(payloads()["b-thin"]))
    assert not decision.scorable
    assert decision.not_scorable_reason == INSUFFICIENT_HISTORY
    assert decision.score is None and decision.reasons == ()


def test_features_missing_for_the_model_are_named(model: ScoringModel) -> None:
    features = payload_features(payloads()["b-good"])
    del features["declared_monthly_income"]
    with pytest.raises(MissingFeaturesError, match="declared_monthly_income"):
        model.score_one(features)


def test_a_tampered_shap_table_file_is_refused() -> None:
    settings = Settings()
    record = save_and_register(settings, built_model())
    tables = Path(record.artifact_uri) / "leaf_shap.npz"
    data = bytearray(tables.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tables.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError, match="leaf_shap.npz"):
        ScoringModel.load(settings, record)


def test_an_artifact_whose_checksum_differs_from_the_registry_is_refused() -> None:
    settings = Settings()
    record = save_and_register(settings, built_model())
    tamper_registry_sha(settings, record.version)
    tampered = get_model(migrated_engine(settings.resolved_database_url), record.version)
    with pytest.raises(ArtifactIntegrityError, match="manifest.json"):
        ScoringModel.load(settings, tampered)


def test_the_scoring_path_never_imports_dagster() -> None:
    code = (
        "import sys, scoring_api.main, credit_assets.core.scoring; print('dagster' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
