"""An experiment's report without the Dagster daemon: the command line adds the experiment's
partition of `experiment_report` and measures it by the guardrail sensor's own rule
(`report_due`), `experiment report` measures one on demand, and `experiment promote` without a
report names the command that measures it instead of judging on nothing."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import dagster as dg
import pytest
import sqlalchemy as sa

from credit_assets.cli import main
from credit_assets.core.platform.db import decision_log, migrated_engine
from credit_assets.core.platform.experiments import (
    Experiment,
    start_experiment,
    stop_experiment,
)
from credit_assets.core.platform.registry import hold_back
from credit_assets.core.platform.settings import get_settings
from credit_assets.core.platform.storage.keys import TRAINING_SET
from credit_assets.core.platform.storage.local import data_store
from credit_assets.defs.common.experiment_reports import MeasuredReport, report_due
from credit_assets.defs.common.resources import PlatformResource
from credit_assets.defs.monitoring.experiments import experiment_guardrail_sensor
from credit_assets.orchestration import ensure_dagster_home
from tests.support.experiments import held_back_decision
from tests.support.scoring import built_model, save_and_register, training_frame


@pytest.fixture
def stopped(credit_home) -> Experiment:
    """A stopped experiment of 40 decisions per arm, never reported."""
    settings = get_settings()
    engine = migrated_engine(settings.resolved_database_url)
    champion = save_and_register(settings, built_model())
    # The champion's training population, where the pipeline publishes it (drift_report).
    buffer = io.BytesIO()
    training_frame().write_parquet(buffer)
    data_store(settings).put_bytes(TRAINING_SET, buffer.getvalue())
    challenger = save_and_register(settings, built_model(), promote_it=False)
    hold_back(engine, challenger.version, decision=held_back_decision())
    experiment = start_experiment(
        engine, challenger_version=challenger.version, share=0.5, started_by="t", max_share=0.5
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        {
            "decision_id": f"{arm}-{i}",
            "lender": "acme",
            "created_at": now,
            "borrower_id": f"{arm}-B{i}",
            "inputs_digest": "x",
            "model_version": (champion if arm == "champion" else challenger).version,
            "scorable": True,
            "score": 560 + 3 * i,
            "pd": 0.06,
            "band": "C",
            "experiment_id": experiment.experiment_id,
            "arm": arm,
        }
        for arm in ("champion", "challenger")
        for i in range(40)
    ]
    with engine.begin() as conn:
        conn.execute(sa.insert(decision_log), rows)
    return stop_experiment(engine, stopped_by="t", reason="enough")


def _experiment(status: str) -> Experiment:
    return Experiment(
        "exp_1", "chall-1", "champ-1", 0.2, "00", status, datetime(2026, 1, 1), "t",
        None, None, None, None, None, None,
    )  # fmt: skip


def _measured(status: str, at: float) -> MeasuredReport:
    return MeasuredReport(at, status, "run_longer", "too few matured outcomes", "x.html")


def test_a_report_is_due_while_running_then_once_stopped_then_on_new_outcomes() -> None:
    running, stopped = _experiment("running"), _experiment("stopped")
    assert report_due(running, _measured("running", 100.0), outcomes_at=None)
    assert report_due(stopped, None, outcomes_at=None)
    assert report_due(stopped, _measured("running", 100.0), outcomes_at=None)  # before the stop
    assert not report_due(stopped, _measured("stopped", 100.0), outcomes_at=None)
    assert not report_due(stopped, _measured("stopped", 100.0), outcomes_at=90.0)
    assert report_due(stopped, _measured("stopped", 100.0), outcomes_at=110.0)


def test_promote_without_a_report_names_the_command_and_experiment_report_measures_it(
    stopped: Experiment, capsys: pytest.CaptureFixture[str]
) -> None:
    command = f"credit-platform experiment report --experiment {stopped.experiment_id}"
    assert main(["experiment", "status"]) == 0
    assert f"report: none yet (`{command}` measures it)" in capsys.readouterr().out
    assert main(["experiment", "promote"]) == 2  # refused: nothing is judged
    err = capsys.readouterr().err
    assert (
        f"has no report yet, and its quality is judged on it: measure it first with `{command}`"
        in err
    )

    assert main(["experiment", "report"]) == 0
    out = capsys.readouterr().out.strip()
    html = (
        get_settings().home / "data" / "reports" / "experiments" / f"{stopped.experiment_id}.html"
    )
    assert out.startswith(f"experiment {stopped.experiment_id}: run_longer: ")
    assert out.endswith(f"; report {html}") and html.is_file()
    assert main(["experiment", "status"]) == 0
    assert "report: run_longer: " in capsys.readouterr().out

    assert main(["experiment", "report", "--experiment", "exp_nope"]) == 2
    assert "experiment report: no experiment 'exp_nope'" in capsys.readouterr().err


def test_materialize_measures_a_stopped_experiment_once_and_again_on_new_outcomes(
    stopped: Experiment, capsys: pytest.CaptureFixture[str]
) -> None:
    experiment_id = stopped.experiment_id
    assert main(["materialize", "--select", "monitoring"]) == 0
    out = capsys.readouterr().out
    assert f"materialize experiment_report [{experiment_id}]: ok" in out
    assert f"==> experiment {experiment_id}: run_longer: " in out

    # Measured since its stop: nothing to do, said so; the sensor agrees (one rule).
    assert main(["materialize", "--select", "monitoring"]) == 0
    out = capsys.readouterr().out
    assert "experiment_report: nothing to measure: no experiment is running, and every " in out
    assert "materialize experiment_report" not in out
    ensure_dagster_home(get_settings())
    with dg.DagsterInstance.get() as instance:
        context = dg.build_sensor_context(
            instance=instance, resources={"platform": PlatformResource()}
        )
        assert experiment_guardrail_sensor(context).run_requests == []

        # Outcomes ingested after the report: due again, for the sensor and the command line.
        instance.report_runless_asset_event(dg.AssetMaterialization("raw_outcomes"))
        [request] = experiment_guardrail_sensor(context).run_requests
        assert request.partition_key == experiment_id
    assert main(["materialize", "--select", "monitoring"]) == 0
    assert f"materialize experiment_report [{experiment_id}]: ok" in capsys.readouterr().out
