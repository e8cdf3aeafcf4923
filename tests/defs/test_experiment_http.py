"""An experiment over real HTTP and the real daemon: `credit-platform serve` picks the
experiment up at its model poll, `simulate-traffic`'s client sends synthetic applications and
writes the generator's outcomes of the decided ones to the landing zone, and `dagster-daemon
run` (the repository's workspace and dagster.yaml) does the rest by itself: the guardrail
sensor stops a challenger that approves far more, the landing sensor ingests the outcomes,
and `experiment_report` is materialized by the runs the guardrail sensor requests, again
once the outcomes are in. The platform database is PostgreSQL, as in production.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import polars as pl
import pytest
import sqlalchemy as sa

from credit_assets.cli import main
from credit_assets.core.modeling import ScoreScale
from credit_assets.core.platform.apikeys import create_api_key
from credit_assets.core.platform.db import decision_log, migrated_engine
from credit_assets.core.platform.experiments import get_experiment
from credit_assets.core.platform.registry import hold_back
from credit_assets.core.platform.settings import Settings
from credit_assets.core.tools.traffic import simulate_traffic
from tests.support.experiments import held_back_decision
from tests.support.paths import REPO_ROOT
from tests.support.production import VENV_BIN, process_env, running
from tests.support.scoring import built_model, save_and_register
from tests.support.uploads import served_api

pytestmark = pytest.mark.slow
GENEROUS = ScoreScale(800.0, 20.0, 40.0)


def _reported_on_outcomes(instance: dg.DagsterInstance, experiment_id: str) -> Any:
    """The metadata of the newest experiment_report of the experiment measured on matured
    outcomes, or None."""
    for record in instance.fetch_materializations(dg.AssetKey("experiment_report"), 20).records:
        materialization = record.asset_materialization
        if materialization is None or materialization.partition != experiment_id:
            continue
        if materialization.metadata["matured_outcomes"].value:
            return materialization.metadata
    return None


def _report_runs(instance: dg.DagsterInstance, experiment_id: str) -> list[dg.DagsterRun]:
    return list(instance.get_runs(dg.RunsFilter(tags={"credit/experiment": experiment_id})))


def _serving_experiment(url: str) -> dict | None:
    return httpx.get(f"{url}/readyz", timeout=5).json().get("experiment")


@pytest.mark.timeout(600)
def test_an_experiment_over_http_is_split_stopped_and_measured_on_outcomes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    postgres_url: str,
) -> None:
    env = {
        "CREDIT_HOME": str(tmp_path / "home"),
        "CREDIT_DATABASE_URL": postgres_url,
        "CREDIT_API_MODEL_POLL_SECONDS": "1",
        "CREDIT_API_SHADOW": "false",
        "CREDIT_EXPERIMENT_MIN_DECISIONS": "25",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    engine = migrated_engine(settings.resolved_database_url)
    champion = save_and_register(settings, built_model())
    generous = save_and_register(settings, built_model(), promote_it=False, scale=GENEROUS)
    hold_back(engine, generous.version, decision=held_back_decision())
    key = create_api_key(engine, "acme-bank")
    with served_api(env, tmp_path / "logs") as (url, _service):
        assert (
            main(["experiment", "start", "--challenger", generous.version, "--share", "0.2"]) == 0
        )
        experiment_id = capsys.readouterr().out.strip()
        deadline = time.monotonic() + 30
        while not _serving_experiment(url) and time.monotonic() < deadline:
            time.sleep(0.2)  # the API's next model poll
        assert _serving_experiment(url) == {
            "experiment_id": experiment_id,
            "challenger_version": generous.version,
            "share": 0.2,
            "state": "active",
            "reason": None,
        }
        traffic = simulate_traffic(
            url,
            key,
            250,
            concurrency=4,
            outcomes_dir=Path(env["CREDIT_HOME"]) / "landing" / "outcomes",
        )
        assert traffic["status_counts"] == {"200": 250}, traffic["error_samples"]
        assert traffic["arms"]["challenger"] >= 30 and traffic["arms"]["champion"] >= 150
        # Read now: ingestion takes the file out of the landing zone.
        outcomes = pl.read_csv(
            traffic["outcomes_file"], schema_overrides={"borrower_id": pl.String}
        )

        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    decision_log.c.arm,
                    decision_log.c.model_version,
                    decision_log.c.score,
                    decision_log.c.borrower_id,
                    decision_log.c.scorable,
                ).where(decision_log.c.experiment_id == experiment_id)
            ).fetchall()
        assert {(r.arm, r.model_version) for r in rows} == {
            ("champion", champion.version), ("challenger", generous.version)
        }  # fmt: skip
        arms = {arm: sum(r.arm == arm for r in rows) for arm in ("champion", "challenger")}
        assert arms == traffic["arms"] and sum(arms.values()) == 250
        cutoff = int(statistics.median(r.score for r in rows if r.arm == "champion"))

        daemon_env = {
            **env,
            "CREDIT_APPROVAL_CUTOFF_SCORE": str(cutoff),
            "CREDIT_EXPERIMENT_GUARDRAIL_SECONDS": "5",
            "CREDIT_EXECUTOR": "in_process",  # one step per run: no executor subprocess
        }
        dagster_home = Path(os.environ["DAGSTER_HOME"])
        dagster_home.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
        daemon_command = [str(VENV_BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"]
        with (
            running("dagster-daemon", daemon_command, tmp_path / "logs", process_env(daemon_env))
            as daemon,
            dg.DagsterInstance.from_config(str(dagster_home)) as instance,
        ):  # fmt: skip
            daemon.wait_until(
                lambda: get_experiment(engine, experiment_id).status == "stopped",
                timeout=180,
                what="the guardrail sensor stopping the experiment",
            )
            stopped = get_experiment(engine, experiment_id)
            assert stopped.stopped_by == "experiment_guardrail_sensor"
            assert stopped.stop_reason and stopped.stop_reason.startswith(
                "guardrail: approval rate"
            )
            daemon.wait_until(
                lambda: _reported_on_outcomes(instance, experiment_id) is not None,
                timeout=240,
                what="an experiment_report run on the ingested outcomes",
            )
            metadata = _reported_on_outcomes(instance, experiment_id)
            # The report that saw the outcomes may be the stop's run, with the one the new
            # outcomes requested still going: every requested run must finish, and succeed.
            daemon.wait_until(
                lambda: all(r.is_finished for r in _report_runs(instance, experiment_id)),
                timeout=120,
                what="every experiment_report run finishing",
            )
            runs = _report_runs(instance, experiment_id)
        assert metadata is not None
        assert {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}, [
            (r.run_id, r.status) for r in runs
        ]
        assert all(r.tags["dagster/run_key"].startswith(f"{experiment_id}-final-") for r in runs)
        assert metadata["status"].value == "stopped"
        assert metadata["decisions"].value == len(rows)
        assert metadata["matured_outcomes"].value > 50  # the generator's outcomes, ingested
        # The generator gave outcomes to 159 of the 250 borrowers, 17 of them bad: fewer bads
        # than one arm alone needs (30) before its AUC is read. Whichever arm a borrower fell
        # in, the experiment cannot be judged yet, and the report must say so with each arm's
        # matured bads and goods: the scorable decisions joined to the outcomes ingested.
        assert (outcomes.height, outcomes["default_12m"].sum()) == (159, 17)
        decided = pl.DataFrame(
            [{"arm": r.arm, "borrower_id": r.borrower_id} for r in rows if r.scorable]
        ).unique()
        matured = decided.join(outcomes, on="borrower_id")
        per_arm = {
            arm: (
                int(matured.filter(pl.col("arm") == arm)["default_12m"].sum()),
                int((matured.filter(pl.col("arm") == arm)["default_12m"] == 0).sum()),
            )
            for arm in ("champion", "challenger")
        }
        assert (
            metadata["matured_outcomes"].value == matured.height == sum(map(sum, per_arm.values()))
        )
        assert metadata["recommendation"].value == "run_longer"
        assert metadata["outcomes_needed_per_arm"].value is None
        assert metadata["reason"].value == (
            "too few matured outcomes to compare the arms (each needs 30 bads and 30 goods; "
            + "; ".join(f"{arm}: {b} bads and {g} goods matured" for arm, (b, g) in per_arm.items())
            + ")"
        )

        deadline = time.monotonic() + 30
        while _serving_experiment(url) is not None and time.monotonic() < deadline:
            time.sleep(0.2)  # the API's next poll after the stop
        after = httpx.post(
            f"{url}/v1/scores",
            json={"borrower_id": "nobody"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert after.status_code in (404, 503)
        again = simulate_traffic(url, key, 20, concurrency=2)
        assert again["arms"] == {} and again["status_counts"] == {"200": 20}
