"""Monitoring automation: the drift sensor retrains on significant drift only, failures alert."""

import dagster as dg
import numpy as np
import polars as pl
import sqlalchemy as sa

from credit_assets.core.monitoring.drift import drift_report
from credit_assets.core.platform.alerts import record_alert
from credit_assets.core.platform.db import alerts, migrated_engine
from credit_assets.core.platform.settings import get_settings
from credit_assets.defs.monitoring.sensors import drift_retrain_sensor
from credit_assets.orchestration import load_definitions


def _report(shift: float):
    rng = np.random.default_rng(0)
    baseline = rng.normal(640, 50, 5000)
    current = rng.normal(640 - shift, 50, 2000)
    income = pl.DataFrame({"declared_monthly_income": rng.lognormal(8, 0.4, 5000)})
    income_now = pl.DataFrame(
        {"declared_monthly_income": rng.lognormal(8 - shift / 100, 0.4, 2000)}
    )
    return drift_report(baseline, current, income, income_now, ["declared_monthly_income"], set())


def _evaluate_after(report, partition: str):
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                "drift_report",
                partition=partition,
                metadata={"significant": report.significant, "score_psi": float(report.score_psi)},
            )
        )
        context = dg.build_sensor_context(instance=instance, definitions=load_definitions())
        return drift_retrain_sensor.evaluate_tick(context)


def test_drift_sensor_requests_a_retrain_on_a_shifted_log():
    shifted = _report(shift=60)
    assert shifted.significant and shifted.score_status == "red"
    tick = _evaluate_after(shifted, "2026-11-26")
    assert len(tick.run_requests) == 1
    assert tick.run_requests[0].tags["credit/trigger"] == "drift"


def test_drift_sensor_stays_quiet_on_a_stable_log():
    stable = _report(shift=0)
    assert not stable.significant and stable.score_status == "green"
    tick = _evaluate_after(stable, "2026-11-26")
    assert tick.run_requests == []
    assert "no significant drift" in tick.skip_message


def test_a_failed_run_becomes_an_alert_row():
    engine = migrated_engine(get_settings().resolved_database_url)
    record_alert(engine, "run_failure", "retrain_job failed: boom", "run-1", {"job": "retrain_job"})
    with engine.connect() as conn:
        row = conn.execute(sa.select(alerts)).mappings().one()
    assert (row["kind"], row["run_id"]) == ("run_failure", "run-1")
    assert "boom" in row["message"]


def test_schedules_and_sensors_are_on_by_default():
    defs = load_definitions()
    for name in ("landing_zone_sensor", "drift_retrain_sensor", "run_failure_alerts"):
        assert defs.resolve_sensor_def(name).default_status == dg.DefaultSensorStatus.RUNNING
    for schedule in defs.schedules:
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING, schedule.name
