"""Real data nobody made up: UCI German credit, onboarded by contract, through the whole
modelling and compliance graph. Published CatBoost 5-fold CV AUC on this set is about 0.785."""

import json
import shutil

import dagster as dg
import polars as pl
import pytest

from credit_assets.cli import main
from credit_assets.core.platform.db import migrated_engine
from credit_assets.core.platform.registry import current_champion
from credit_assets.core.platform.settings import get_settings
from credit_assets.orchestration import materialize_all
from tests.support.paths import GERMAN_CREDIT_CSV, REPO_ROOT


@pytest.mark.slow
def test_german_credit_models_clear_the_published_bar(credit_home, monkeypatch, capsys):
    monkeypatch.setenv("CREDIT_CONTRACTS_DIR", str(REPO_ROOT / "contracts/examples/german_credit"))
    monkeypatch.setenv("CREDIT_FEATURE_BUCKETS", "2")
    # The platform's own selection protocol (5 x 3 folds, CatBoost's grid on small files), not
    # the suite's lighter one: the family chosen is compared with the datasets README's CV.
    monkeypatch.delenv("CREDIT_CV_TUNE_MAX_ROWS")
    monkeypatch.delenv("CREDIT_CV_REPEATS")
    monkeypatch.setenv("CREDIT_LDA_MAX_CANDIDATES_WHEN_FAIR", "4")  # the default, asserted below
    folder = credit_home / "landing/german_credit"
    folder.mkdir(parents=True)
    shutil.copy(GERMAN_CREDIT_CSV, folder / "german_credit.csv")

    log: list[str] = []
    outcome = materialize_all(
        groups=["ingestion", "features", "modeling", "compliance"], log=log.append
    )
    assert outcome.success, "\n".join(log)

    champion = current_champion(migrated_engine(get_settings().resolved_database_url))
    assert champion is not None
    report = json.loads(
        (credit_home / f"data/reports/model_evaluation/{champion.version}.json").read_text()
    )
    challenger_auc = report["models"]["challenger"]["auc"]
    scorecard_auc = report["models"]["baseline_scorecard"]["auc"]
    assert challenger_auc >= 0.72, f"holdout AUC {challenger_auc:.3f}"
    assert scorecard_auc >= 0.70, f"scorecard holdout AUC {scorecard_auc:.3f}"
    assert report["test_rows"] == 200  # seeded stratified 20 % holdout: the file has no dates

    # sex and age are protected: fairness evidence exists for both and neither is an input.
    fairness = json.loads(
        (credit_home / f"data/reports/fairness/{champion.version}.json").read_text()
    )
    summary = fairness["summary"]
    assert summary["attributes"] == ["sex", "age"]
    # Judged at the default operating point: approve the good rate of the 800 development rows
    # (1 - 240/800 = 70 %), which on the 200 sealed test rows is a cut-off of 491 approving
    # 142 (71 %). There age is the worst attribute: the 35-44 band, 35 of 51 approved, against
    # the most favoured band large enough to judge, 25-34 (65 of 89): AIR 0.940. Sex is near
    # parity (women 48 of 69 against men 94 of 131: 0.969). Under-25s, at 14 of 24 (0.799),
    # are too few to decide and are flagged only.
    rows = pl.read_parquet(credit_home / "data/features/training_set.parquet")
    development = rows.filter(pl.col("split") != "test")
    test_rows = rows.filter(pl.col("split") == "test")
    point = fairness["extras"]["operating_point"]
    assert point["target_rate"] == pytest.approx(1 - development["default_flag"].to_numpy().mean())
    assert point["target_rate"] == pytest.approx(0.70)
    assert summary["approval_rate"] == pytest.approx(142 / 200)
    assert summary["attribute"] == "age" and summary["worst_group"] == "35-44"
    assert summary["worst_adverse_impact_ratio"] == pytest.approx(0.940, abs=0.01)
    assert summary["worst_adverse_impact_ratio"] == pytest.approx((35 / 51) / (65 / 89))
    assert summary["flagged_groups"] == ["age=<25"] and summary["failing_groups"] == []
    by_attribute = {a["attribute"]: a for a in fairness["attributes"]}
    approved = {
        name: {g["group"]: (g["n_approved"], g["n"]) for g in attribute["groups"]}
        for name, attribute in by_attribute.items()
    }
    assert approved == {
        "sex": {"female": (48, 69), "male": (94, 131)},
        "age": {
            "<25": (14, 24),
            "25-34": (65, 89),
            "35-44": (35, 51),
            "45-54": (16, 20),
            "55+": (12, 16),
        },
    }
    assert by_attribute["sex"]["worst_group"] == "female"
    assert by_attribute["sex"]["worst_adverse_impact_ratio"] == pytest.approx(0.969, abs=0.01)
    # The group sizes are the sealed test rows', counted here from the training set itself.
    assert dict(test_rows["protected_sex"].value_counts().iter_rows()) == {
        "female": 69,
        "male": 131,
    }
    age = test_rows["protected_age"]
    assert [
        int(((age >= low) & (age < high)).sum())
        for low, high in ((0, 25), (25, 35), (35, 45), (45, 55), (55, 200))
    ] == [24, 89, 51, 20, 16]

    # The fairness gate passes (worst AIR 0.94), so the LDA search is the light one, and no
    # comparable candidate improves the worst AIR beyond sampling noise: a refutation that
    # names its class and budget (docs/LDA.md; the README records the full 24-candidate run).
    lda = json.loads((credit_home / f"data/reports/lda/{champion.version}.json").read_text())
    assert lda["kind"] == "refutation", lda["statement"]
    assert lda["statement"].startswith(
        "Refutation: the challenger passes the fairness policy (worst AIR 0.94); among 4 "
    )
    assert lda["plan"].startswith("the fairness gate passes, so a light search")
    assert lda["budget"]["candidates"] == 4 and lda["adoptable"] is None

    with dg.DagsterInstance.get() as instance:
        challenger = instance.get_latest_materialization_event(dg.AssetKey("challenger_model"))
    manifest = json.loads(
        (credit_home / f"artifacts/models/{champion.version}/manifest.json").read_text()
    )
    # The contract's 7 inputs, less any a scorecard dropped for a coefficient of the wrong sign.
    dropped = manifest["params"].get("dropped_for_sign", [])
    assert challenger.asset_materialization.metadata["features"].value == 7 - len(dropped)
    assert len(manifest["features"]) == 7 - len(dropped)
    assert not {"sex", "age"} & set(manifest["features"])

    # No dates: every family is judged on the same 5 x 3 stratified folds of all 1 000 rows.
    candidates = report["candidates"]
    assert candidates["method"] == "cross_validation" and candidates["rows"] == 1000
    assert candidates["plan"]["n_splits"] == 15 and not candidates["failed"]
    assert set(candidates["models"]) == {"catboost", "scorecard", "logistic"}
    for family, figures in candidates["models"].items():
        assert len(candidates["fold_auc"][family]) == 15
        assert figures["auc_low"] < figures["auc"] < figures["auc_high"]
        assert 0.01 < figures["auc_sd"] < 0.08, family  # ~0.03 between folds of 200 rows
    catboost, logistic = (candidates["models"][f]["auc"] for f in ("catboost", "logistic"))
    assert catboost >= 0.72, f"CatBoost cross-validated AUC {catboost:.3f}"
    assert catboost >= logistic - 0.01, f"CatBoost {catboost:.3f}, logistic {logistic:.3f}"
    assert {c["other"] for c in candidates["comparisons"]} == {"scorecard", "logistic"}

    # The best servable family by the folds won, and was promoted: the bar of issue 17 is the
    # promoted family's cross-validated AUC within 0.01 of the better of logistic and CatBoost.
    servable = {f: candidates["models"][f]["auc"] for f in ("catboost", "scorecard")}
    winner = max(servable, key=servable.get)
    assert report["challenger_family"] == winner
    assert champion.decision["family"] == winner
    assert winner in champion.decision["selection"]["reason"]
    assert servable[winner] >= max(catboost, logistic) - 0.01, servable
    # Refit on the 800 development rows; the 200 test rows stay sealed for the gates.
    with dg.DagsterInstance.get() as instance:
        fitted = instance.get_latest_materialization_event(dg.AssetKey("challenger_model"))
    assert "800 development rows" in fitted.asset_materialization.metadata["fitted"].value

    # The registry keeps every family's figures with the version (`models show` prints them).
    assert champion.metrics["evaluation"]["models"]["logistic"]["auc"] == logistic

    # `models show` prints them with the intervals and the comparisons.
    capsys.readouterr()
    assert main(["models", "show", champion.version]) == 0
    shown = capsys.readouterr().out
    # The method and the counts behind each figure: the folds' rows and bads, the test split's.
    assert "evaluation: 5-fold x 3 cross-validated AUC (1,000 rows, 300 bads): catboost" in shown
    assert "gates judged on the test split: 200 rows, 60 bads, AUC DeLong 95 % interval [" in shown
    assert f"  logistic      {logistic:.4f}" in shown
    assert "scorecard - catboost: " in shown and "corrected resampled t" in shown
    assert f"chosen: {winner}: {winner}" in shown and "fitted: refit on all 800" in shown
