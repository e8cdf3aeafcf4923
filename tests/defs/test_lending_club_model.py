"""Real data nobody here wrote: 9 857 Lending Club loans onboarded by contract alone, end to end.

Mixed types, a 50-level state column (carried, kept out of the model), 5 % bad, no dates and
no protected attribute. Reference 5-fold CV AUC 0.740 for both logistic regression and
CatBoost (shared/datasets/README.md); a 20 % holdout of ~1 970 rows moves by about +-0.02.
"""

import json
import shutil

import pytest

from credit_assets.core.platform.db import migrated_engine
from credit_assets.core.platform.registry import list_models
from credit_assets.core.platform.settings import get_settings
from credit_assets.orchestration import materialize_all
from tests.support.paths import LENDING_CLUB_CSV, REPO_ROOT


@pytest.mark.slow
def test_lending_club_ends_in_a_documented_champion_without_fairness_evidence(
    credit_home, monkeypatch
):
    monkeypatch.setenv("CREDIT_CONTRACTS_DIR", str(REPO_ROOT / "contracts/examples/lending_club"))
    monkeypatch.setenv("CREDIT_FEATURE_BUCKETS", "2")
    # The platform's own selection protocol (5 x 3 folds, CatBoost's grid on small files), not
    # the suite's lighter one: the family chosen is compared with the datasets README's CV.
    monkeypatch.delenv("CREDIT_CV_TUNE_MAX_ROWS")
    monkeypatch.delenv("CREDIT_CV_REPEATS")
    folder = credit_home / "landing/lending_club"
    folder.mkdir(parents=True)
    shutil.copy(LENDING_CLUB_CSV, folder / "lending_club.csv")

    log: list[str] = []
    outcome = materialize_all(log=log.append)
    assert outcome.success, "\n".join(log)
    [model] = list_models(migrated_engine(get_settings().resolved_database_url))
    version = model["version"]
    reports = credit_home / "data/reports"

    evaluation = json.loads((reports / f"model_evaluation/{version}.json").read_text())
    assert evaluation["test_rows"] == 1971  # stratified 20 % of 9 857
    assert evaluation["models"]["challenger"]["auc"] >= 0.70
    assert model["status"] == "champion", model["decision"]["summary"]

    # No protected attribute: the fairness gate is "not assessed", and the card says so.
    gates = {g["name"]: g for g in model["decision"]["gates"]}
    assert gates["four_fifths_rule"]["assessed"] is False
    card = json.loads((reports / f"model_cards/{version}.json").read_text())
    markdown = (reports / f"model_cards/{version}.md").read_text()
    assert card["fairness"] is None
    assert "No fairness evidence: no protected attribute or proxy input declared." in markdown

    # The state column is carried but never an input.
    manifest = json.loads((credit_home / f"artifacts/models/{version}/manifest.json").read_text())
    assert "addr_state" not in manifest["features"] and len(manifest["features"]) <= 21

    # No dates: the families on the same 5 x 3 folds. Reference (datasets README): 5-fold CV
    # AUC 0.740 for both logistic regression and CatBoost.
    candidates = evaluation["candidates"]
    assert candidates["method"] == "cross_validation" and candidates["plan"]["n_splits"] == 15
    models = candidates["models"]
    assert set(models) == {"catboost", "scorecard", "logistic"}, candidates["failed"]
    assert models["catboost"]["auc"] >= 0.72, models["catboost"]
    assert models["catboost"]["auc"] >= models["logistic"]["auc"] - 0.01, models
    assert models["catboost"]["auc_sd"] < 0.04  # ~0.015 between folds of 1 971 rows
    assert "Candidate families" in markdown and "fold_auc" in card["plots"]

    # The best servable family by the folds is the one promoted, within 0.01 of the better
    # of logistic regression and CatBoost (the bar of issue 17), its choice recorded.
    servable = {f: models[f]["auc"] for f in ("catboost", "scorecard")}
    winner = max(servable, key=servable.get)
    assert manifest["model_type"] == winner == model["decision"]["family"]
    assert servable[winner] >= max(models["catboost"]["auc"], models["logistic"]["auc"]) - 0.01
    assert winner in manifest["selection"]["reason"]
    assert "refit on all 7,886 development rows" in manifest["fitted"]
