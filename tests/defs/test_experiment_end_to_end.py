"""An experiment end to end: started from the CLI, traffic split by the real API (in
process), every decision logged with its arm, stopped by the guardrail sensor as the daemon
evaluates it, reported by the `experiment_report` asset in a real Dagster run.

The challenger is the champion's own model under a score scale 120 points higher: it ranks
borrowers identically but approves far more of them, which is what the guardrail exists to
catch."""

from __future__ import annotations

import statistics

import dagster as dg
import sqlalchemy as sa

from credit_assets.cli import main
from credit_assets.core.modeling import ScoreScale
from credit_assets.core.platform.db import decision_log, migrated_engine
from credit_assets.core.platform.experiments import get_experiment
from credit_assets.core.platform.registry import current_champion, hold_back
from credit_assets.core.platform.storage.local import data_store
from credit_assets.defs.common.resources import PlatformResource
from credit_assets.defs.monitoring.experiments import experiment_guardrail_sensor
from tests.support.experiments import held_back_decision, materialize_report
from tests.support.scoring import (
    application,
    built_model,
    running_api,
    save_and_register,
    utility_records,
)

GENEROUS = ScoreScale(770.0, 20.0, 40.0)


def test_start_split_log_guardrail_stop_and_report(monkeypatch, capsys) -> None:
    monkeypatch.setenv("CREDIT_EXPERIMENT_MIN_DECISIONS", "25")
    with running_api(monkeypatch, shadow="false") as api:
        engine = migrated_engine(api.settings.resolved_database_url)
        generous = save_and_register(api.settings, built_model(), promote_it=False, scale=GENEROUS)
        hold_back(
            engine,
            generous.version,
            decision=held_back_decision(),
        )
        assert (
            main(["experiment", "start", "--challenger", generous.version, "--share", "0.2"]) == 0
        )
        experiment_id = capsys.readouterr().out.strip()
        api.services.holder.reload()  # the model poll

        bodies = []
        for i in range(240):
            payload = {
                "application": application(f"e2e-{i}", declared_monthly_income=1500 + 37 * i),
                "records": {"utility_payments": utility_records(6 + i % 6, (i * 7) % 40)},
            }
            response = api.score(payload)
            assert response.status_code == 200, response.text
            bodies.append(response.json())
        by_arm = {arm: [b for b in bodies if b["arm"] == arm] for arm in ("champion", "challenger")}
        assert len(by_arm["challenger"]) >= 25 and len(by_arm["champion"]) >= 150
        with engine.connect() as conn:
            logged = dict(
                conn.execute(
                    sa.select(decision_log.c.arm, sa.func.count())
                    .where(decision_log.c.experiment_id == experiment_id)
                    .group_by(decision_log.c.arm)
                ).fetchall()
            )
        assert logged == {arm: len(b) for arm, b in by_arm.items()}

        # The cutoff at the champion arm's median score: half approved there, most in the other.
        cutoff = int(statistics.median(b["score"] for b in by_arm["champion"]))
        monkeypatch.setenv("CREDIT_APPROVAL_CUTOFF_SCORE", str(cutoff))
        with dg.instance_for_test() as instance:
            context = dg.build_sensor_context(
                instance=instance, resources={"platform": PlatformResource()}
            )
            result = experiment_guardrail_sensor(context)
            stopped = get_experiment(engine, experiment_id)
            assert (
                stopped.status == "stopped" and stopped.stopped_by == "experiment_guardrail_sensor"
            )
            assert stopped.stop_reason.startswith("guardrail: approval rate")
            [request] = result.run_requests
            metadata = materialize_report(instance, request.partition_key)
        assert metadata["recommendation"].value == "run_longer"  # no outcome has matured yet
        capsys.readouterr()
        assert main(["experiment", "status"]) == 0
        assert "report: run_longer: too few matured outcomes" in capsys.readouterr().out
        assert metadata["decisions"].value == 240
        html = (
            data_store(api.settings).get_bytes(f"reports/experiments/{experiment_id}.html").decode()
        )
        assert "How traffic was split" in html and stopped.stop_reason in html
        assert "data:image/png;base64," in html

        api.services.holder.reload()  # the next poll: everyone back to the champion
        after = api.score({"application": application("e2e-0")}).json()
        assert "arm" not in after and after["model_version"] == api.champion.version

        # Promotion from an experiment that does not exist is refused, naming it (exit 2, as
        # `experiment report` answers it); nothing changes.
        assert main(["experiment", "promote", "--experiment", "exp_nope"]) == 2
        assert "no experiment 'exp_nope'" in capsys.readouterr().err
        assert current_champion(engine).version == api.champion.version
