"""An experiment over real HTTP: `credit-platform serve` picks the experiment up at its model
poll, `simulate-traffic`'s client sends synthetic applications, the guardrail sensor stops a
challenger that approves far more, the generator's outcomes of the decided applications are
ingested through the landing zone, and `experiment_report` measures the arms on them.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import dagster as dg
import httpx
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
from credit_assets.defs.common.resources import PlatformResource
from credit_assets.defs.monitoring.experiments import experiment_guardrail_sensor
from credit_assets.orchestration import ingest_landing_zone, load_definitions
from tests.support.experiments import held_back_decision, materialize_report
from tests.support.scoring import built_model, save_and_register
from tests.support.uploads import served_api

pytestmark = pytest.mark.slow
GENEROUS = ScoreScale(800.0, 20.0, 40.0)


def _serving_experiment(url: str) -> dict | None:
    return httpx.get(f"{url}/readyz", timeout=5).json().get("experiment")


@pytest.mark.timeout(600)
def test_an_experiment_over_http_is_split_stopped_and_measured_on_outcomes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {
        "CREDIT_HOME": str(tmp_path / "home"),
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

        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(decision_log.c.arm, decision_log.c.model_version, decision_log.c.score)
                .where(decision_log.c.experiment_id == experiment_id)
            ).fetchall()  # fmt: skip
        assert {(r.arm, r.model_version) for r in rows} == {
            ("champion", champion.version), ("challenger", generous.version)
        }  # fmt: skip
        cutoff = int(statistics.median(r.score for r in rows if r.arm == "champion"))
        monkeypatch.setenv("CREDIT_APPROVAL_CUTOFF_SCORE", str(cutoff))

        with dg.instance_for_test() as instance:
            context = dg.build_sensor_context(
                instance=instance, resources={"platform": PlatformResource()}
            )
            result = experiment_guardrail_sensor(context)
            stopped = get_experiment(engine, experiment_id)
            assert stopped.status == "stopped"
            assert stopped.stop_reason and stopped.stop_reason.startswith(
                "guardrail: approval rate"
            )

            ingested = ingest_landing_zone(load_definitions(), instance, log=lambda _: None)
            assert ingested.success and len(ingested.runs) == 1  # the outcomes file
            [request] = result.run_requests
            metadata = materialize_report(instance, request.partition_key)
        matured = metadata["matured_outcomes"].value
        assert matured > 50  # the generator's outcomes of the decided applications
        assert metadata["recommendation"].value in (
            "promote",
            "keep_champion",
            "run_longer",
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
