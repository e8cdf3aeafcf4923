"""Two experiments whose right answers are known, through the real API, end to end.

Both models are CatBoost models trained on the synthetic population: a strong one on every
feature the platform computes, a weak one on a feature that says nothing about default
(`housing_status`). `credit-platform serve` splits the traffic of
`simulate-traffic` between champion and challenger; the generator draws every decided
applicant's outcome from its true default probability and writes it to the landing zone; the
outcomes are ingested and `experiment_report` measures the arms on them.

First the weak model is the champion and the strong one the challenger: truly better, the
report must recommend promoting it, and `experiment promote` puts it through champion_model's
gates with quality judged on those outcomes; then the weak model is tested against it: truly
worse, the report must keep the champion. The second experiment scores borrowers the
first never saw (`first_borrower`), as a second experiment on live traffic would.
"""

from __future__ import annotations

import io
import json
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import polars as pl
import pytest

from credit_assets.cli import main
from credit_assets.core.contracts import load_contracts
from credit_assets.core.explain import LeafShapExplainer
from credit_assets.core.features import build_training_set, feature_catalogue, model_feature_names
from credit_assets.core.ingestion.landing import scan_source
from credit_assets.core.modeling import (
    TrainConfig,
    catboost_pool,
    to_catboost_frame,
    train_challenger,
)
from credit_assets.core.platform.apikeys import create_api_key
from credit_assets.core.platform.db import migrated_engine
from credit_assets.core.platform.experiments import get_experiment
from credit_assets.core.platform.registry import current_champion, get_model, hold_back
from credit_assets.core.platform.settings import Settings
from credit_assets.core.platform.storage.keys import TRAINING_SET, report_key
from credit_assets.core.platform.storage.local import data_store
from credit_assets.core.promotion.verdicts import FAIRNESS, QUALITY
from credit_assets.core.tools.synthetic import generate_frames
from credit_assets.core.tools.traffic import TRAFFIC_FIRST_BORROWER, simulate_traffic
from credit_assets.orchestration import ingest_landing_zone, load_definitions
from tests.support.experiments import held_back_decision, materialize_report
from tests.support.paths import REPO_ROOT
from tests.support.scoring import BuiltModel, save_and_register
from tests.support.uploads import served_api

pytestmark = pytest.mark.slow

REQUESTS = 2000  # per experiment, half of them to the challenger
WEAK_FEATURES = ("housing_status",)


@lru_cache(maxsize=1)
def population_models() -> tuple[BuiltModel, BuiltModel, pl.DataFrame]:
    """(strong, weak) CatBoost models trained on 12,000 synthetic borrowers, with their
    leaf SHAP tables (the API's reason codes), and the training set they learnt from."""
    contracts = load_contracts(REPO_ROOT / "contracts")
    frames = generate_frames(12_000, seed=3)
    sources = {name: f.lazy() for name, f in frames.items() if name in contracts}
    training_set = build_training_set(sources, contracts, seed=3)
    catalogue = feature_catalogue(contracts)
    built = []
    for names in (model_feature_names(training_set, catalogue), WEAK_FEATURES):
        specs = [catalogue[name] for name in names]
        config = TrainConfig(iterations=200, depth=4, threads=2, seed=1)
        trained = train_challenger(training_set, specs, config)
        train_rows = training_set.filter(pl.col("split") == "train")
        background = catboost_pool(to_catboost_frame(train_rows, specs), specs)
        explainer = LeafShapExplainer.from_model(trained.model, background=background)
        built.append(BuiltModel(trained, explainer.to_bytes(), float(explainer.expected_value)))
    strong, weak = built
    return strong, weak, training_set


def _serving(url: str) -> dict[str, Any] | None:
    return httpx.get(f"{url}/readyz", timeout=5).json().get("experiment")


def run_experiment(
    url: str,
    key: str,
    challenger: str,
    first_borrower: int,
    seed: int,
    capsys: pytest.CaptureFixture[str],
    stop: bool = True,
) -> dict[str, Any]:
    """Start an experiment (half the borrowers to `challenger`), send the traffic, stop it
    (unless not `stop`), ingest the outcomes and materialize its report; the report's JSON."""
    assert main(["experiment", "start", "--challenger", challenger, "--share", "0.5"]) == 0
    experiment_id = capsys.readouterr().out.strip()
    deadline = time.monotonic() + 30
    while (_serving(url) or {}).get("experiment_id") != experiment_id:
        assert time.monotonic() < deadline, "the API never picked the experiment up"
        time.sleep(0.2)  # the API's next model poll
    settings = Settings()
    traffic = simulate_traffic(
        url,
        key,
        REQUESTS,
        concurrency=4,
        seed=seed,
        first_borrower=first_borrower,
        outcomes_dir=settings.home / "landing" / "outcomes",
    )
    assert traffic["status_counts"] == {"200": REQUESTS}, traffic["error_samples"]
    assert min(traffic["arms"].values()) > REQUESTS * 0.4, traffic["arms"]
    if stop:
        assert main(["experiment", "stop", "--reason", "the outcomes are in"]) == 0
        capsys.readouterr()
    with dg.instance_for_test() as instance:
        ingested = ingest_landing_zone(load_definitions(), instance, log=lambda _: None)
        assert ingested.success, ingested.failures
        metadata = materialize_report(instance, experiment_id)
    report = json.loads(
        data_store(settings).get_bytes(report_key("experiments", experiment_id, "json"))
    )
    assert report["recommendation"] == metadata["recommendation"].value
    assert report["experiment"]["challenger_version"] == challenger
    return report


def gates_of(engine: Any, version: str) -> dict[str, dict[str, Any]]:
    return {g["name"]: g for g in get_model(engine, version).decision["gates"]}


def promote_after(
    report: dict[str, Any], version: str, engine: Any, capsys: pytest.CaptureFixture[str]
) -> Any:
    """`experiment promote` on an experiment that recommends promoting `version`: its live
    outcomes pass the quality gate. These test models were registered without the reports a
    pipeline writes (reason accuracy, fairness), so those gates say no, and it takes the
    documented override; the champion's registry record after it."""
    experiment_id = report["experiment"]["experiment_id"]
    assert main(["experiment", "promote", "--experiment", experiment_id]) == 0
    assert f"challenger {version} held back" in capsys.readouterr().out
    gates = gates_of(engine, version)
    assert gates[QUALITY]["passed"], gates[QUALITY]
    assert f"live outcomes of experiment {experiment_id}" in gates[QUALITY]["detail"]
    assert "no fairness report" in gates[FAIRNESS]["detail"] and not gates[FAIRNESS]["passed"]
    reason = "test models carry no pipeline reports; the experiment is the evidence"
    assert (
        main(["experiment", "promote", "--experiment", experiment_id, "--override-reason", reason])
        == 0
    )
    assert f"challenger {version} promoted" in capsys.readouterr().out
    champion = current_champion(engine)
    assert champion is not None and champion.version == version
    return champion


@pytest.mark.timeout(600)
def test_a_truly_better_challenger_is_promoted_and_a_truly_worse_one_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {
        "CREDIT_HOME": str(tmp_path / "home"),
        "CREDIT_API_MODEL_POLL_SECONDS": "1",
        "CREDIT_API_SHADOW": "false",
        "CREDIT_EXPERIMENT_MAX_SHARE": "0.5",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    engine = migrated_engine(settings.resolved_database_url)
    strong, weak, training_set = population_models()
    # The training set where the pipeline publishes it: the model card documents it.
    buffer = io.BytesIO()
    training_set.write_parquet(buffer)
    data_store(settings).put_bytes(TRAINING_SET, buffer.getvalue())
    save_and_register(settings, weak)  # today's champion
    better = save_and_register(settings, strong, promote_it=False)
    hold_back(engine, better.version, decision=held_back_decision())
    key = create_api_key(engine, "acme-bank")

    with served_api(env, tmp_path / "logs") as (url, _service):
        first = run_experiment(
            url, key, better.version, TRAFFIC_FIRST_BORROWER, 11, capsys, stop=False
        )
        assert first["recommendation"] == "promote", first["reason"]
        assert first["auc_difference"] > 0.1 and first["auc_p_value"] < 0.05
        matured = sum(arm["matured"] for arm in first["outcomes"].values())
        assert matured > REQUESTS / 2  # outcomes of most decided applicants matured

        # Promotion goes through champion_model's gates, quality on the live outcomes.
        promoted = promote_after(first, better.version, engine, capsys)
        assert promoted.override_reason and promoted.lineage["experiment_id"]
        # The experiment still ran: the promotion of its challenger ended it.
        ended = get_experiment(engine, first["experiment"]["experiment_id"])
        assert ended.status == "stopped" and ended.stopped_by == "champion_model"
        worse = save_and_register(settings, weak, promote_it=False)
        hold_back(engine, worse.version, decision=held_back_decision())
        second = run_experiment(
            url, key, worse.version, TRAFFIC_FIRST_BORROWER + REQUESTS, 12, capsys
        )
        assert second["experiment"]["champion_version"] == better.version
        assert second["recommendation"] == "keep_champion", second["reason"]
        assert second["auc_difference"] < -0.1 and second["auc_p_value"] < 0.05
        second_id = second["experiment"]["experiment_id"]
        assert main(["experiment", "promote", "--experiment", second_id, "--strict"]) == 3
        assert f"challenger {worse.version} held back" in capsys.readouterr().out
        quality = gates_of(engine, worse.version)[QUALITY]
        assert not quality["passed"] and "recommends keep_champion" in quality["detail"]
        assert current_champion(engine).version == better.version

    contracts = load_contracts(REPO_ROOT / "contracts")
    outcomes = scan_source(data_store(settings), contracts["outcomes"]).collect()
    assert outcomes.height == matured + sum(a["matured"] for a in second["outcomes"].values())
    assert outcomes["borrower_id"].is_unique().all()  # no borrower was scored twice
