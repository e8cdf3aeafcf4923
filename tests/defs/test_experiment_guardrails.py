"""The experiment guardrail sensor: it stops a running experiment by itself when the challenger
arm leaves its bounds against the champion arm, or a limit is reached, and records why.

Decisions are written to the real decision log (as the API writes them); the sensor is
evaluated as the daemon evaluates it, with the platform resource."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl
import pytest
import sqlalchemy as sa

from credit_assets.core.monitoring.experiments import (
    GuardrailBounds,
    arm_summaries,
    guardrail_breaches,
)
from credit_assets.core.platform.db import alerts, decision_log, migrated_engine
from credit_assets.core.platform.experiments import get_experiment, start_experiment
from credit_assets.core.platform.registry import hold_back, promote, register_challenger
from credit_assets.core.platform.settings import get_settings
from credit_assets.defs.common.resources import PlatformResource
from credit_assets.defs.monitoring.experiments import (
    experiment_guardrail_sensor,
    judge_running_experiment,
)
from tests.support.experiments import held_back_decision


@pytest.fixture
def engine():
    engine = migrated_engine(get_settings().resolved_database_url)
    for version in ("champ-1", "chall-1"):
        register_challenger(
            engine, version=version, artifact_uri=f"file:///{version}", manifest_sha256="0" * 64,
            run_id=None, metrics={}, lineage={},
        )  # fmt: skip
    promote(engine, "champ-1", run_id="r1", fairness={})
    hold_back(engine, "chall-1", decision=held_back_decision())
    return engine


def log_decisions(
    engine, experiment_id: str, arm: str, scores: list[int], pd: float, batch: str = "a"
) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        {
            "decision_id": f"{arm}-{batch}{i}-{experiment_id}",
            "lender": "acme",
            "created_at": now,
            "borrower_id": f"{arm}-B{i}",
            "inputs_digest": "x",
            "model_version": "chall-1" if arm == "challenger" else "champ-1",
            "scorable": True,
            "score": score,
            "pd": pd,
            "band": "C",
            "experiment_id": experiment_id,
            "arm": arm,
        }
        for i, score in enumerate(scores)
    ]
    with engine.begin() as conn:
        conn.execute(sa.insert(decision_log), rows)


def evaluate() -> str:
    """What one evaluation of the guardrail sensor decides."""
    return judge_running_experiment(PlatformResource())


def test_a_challenger_approving_far_more_is_stopped_by_the_sensor(engine):
    experiment = start_experiment(
        engine, challenger_version="chall-1", share=0.2, started_by="t", max_share=0.2
    )
    log_decisions(engine, experiment.experiment_id, "champion", [550, 650] * 100, 0.08)  # 50 %
    log_decisions(engine, experiment.experiment_id, "challenger", [650] * 90 + [550] * 30, 0.08)
    message = evaluate()
    assert message.startswith(
        f"stopped experiment {experiment.experiment_id}: guardrail: approval rate 75.0%"
    )
    stopped = get_experiment(engine, experiment.experiment_id)
    assert stopped.status == "stopped" and stopped.stopped_by == "experiment_guardrail_sensor"
    assert "gap +25.0%, bound ±10%" in (stopped.stop_reason or "")
    with engine.connect() as conn:
        kinds = conn.execute(sa.select(alerts.c.kind, alerts.c.message)).fetchall()
    assert [k for k, _ in kinds] == ["experiment_stopped"]
    assert evaluate() == "no experiment is running"


def test_within_bounds_or_too_few_decisions_it_keeps_running(engine):
    experiment = start_experiment(
        engine, challenger_version="chall-1", share=0.2, started_by="t", max_share=0.2
    )
    log_decisions(engine, experiment.experiment_id, "champion", [550, 650] * 100, 0.08)
    log_decisions(engine, experiment.experiment_id, "challenger", [650] * 50, 0.30)  # too few yet
    assert (
        evaluate() == f"experiment {experiment.experiment_id} within its guardrails (250 decisions)"
    )
    log_decisions(
        engine, experiment.experiment_id, "challenger", [650] * 40 + [550] * 20, 0.02, "b"
    )
    # 110 challenger decisions: approval 82 % against 50 %, mean PD 0.147 against 0.080.
    message = evaluate()
    assert "approval rate 81.8%" in message and "mean PD 0.147 against 0.080" in message
    assert get_experiment(engine, experiment.experiment_id).status == "stopped"


def test_max_decisions_and_max_days_end_an_experiment(engine):
    experiment = start_experiment(
        engine,
        challenger_version="chall-1",
        share=0.1,
        started_by="t",
        max_share=0.2,
        max_decisions=10,
    )
    log_decisions(engine, experiment.experiment_id, "champion", [600] * 12, 0.05)
    assert evaluate().endswith("max-decisions reached (12 decisions, limit 10)")
    later = start_experiment(
        engine, challenger_version="chall-1", share=0.1, started_by="t", max_share=0.2, max_days=1
    )
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE experiments SET started_at = :t WHERE experiment_id = :e"),
            {
                "t": datetime.now(UTC).replace(tzinfo=None) - timedelta(days=2),
                "e": later.experiment_id,
            },
        )
    assert "max-days reached (1 days" in evaluate()


def test_the_worst_adverse_impact_ratio_is_judged_against_the_champion_arm():
    borrowers = [f"B{i}" for i in range(400)]
    group = ["a" if i % 2 else "b" for i in range(400)]
    champion_scores = [650 if i % 3 else 550 for i in range(400)]  # both groups ~67 %
    challenger_scores = [
        650 if (i % 2 and i % 3) or (not i % 2 and i % 5 == 0) else 550 for i in range(400)
    ]
    decisions = pl.DataFrame(
        {
            "arm": ["champion"] * 400 + ["challenger"] * 400,
            "scorable": [True] * 800,
            "score": champion_scores + challenger_scores,
            "pd": [0.05] * 800,
            "borrower_id": borrowers + borrowers,
        }
    )
    protected = pl.DataFrame({"borrower_id": borrowers, "sex": group})
    summaries = arm_summaries(decisions, cutoff=600, protected=protected, min_group_size=30)
    assert summaries["champion"].worst_air == pytest.approx(1.0, abs=0.03)
    assert summaries["challenger"].worst_air == pytest.approx(0.3, abs=0.03)
    assert summaries["challenger"].worst_air_group == "sex=b"
    bounds = GuardrailBounds(100, 0.5, 0.05, 0.10, 0.8, 30)
    [breach] = guardrail_breaches(summaries, bounds)
    assert breach.startswith("worst adverse impact ratio 0.30 (sex=b) against 1.00")


def test_the_sensor_adds_a_report_partition_and_requests_the_final_report(engine):
    experiment = start_experiment(
        engine,
        challenger_version="chall-1",
        share=0.2,
        started_by="t",
        max_share=0.2,
        max_decisions=5,
    )
    log_decisions(engine, experiment.experiment_id, "champion", [600] * 6, 0.05)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance, resources={"platform": PlatformResource()}
        )
        result = experiment_guardrail_sensor(context)
        [added] = result.dynamic_partitions_requests
        assert list(added.partition_keys) == [experiment.experiment_id]
        [request] = result.run_requests
        assert request.partition_key == experiment.experiment_id
        assert request.run_key == f"{experiment.experiment_id}-final-outcomes-none"
        stopped = get_experiment(engine, experiment.experiment_id)
        assert stopped.stop_reason.startswith("max-decisions")

        # Outcomes mature after the stop: once they are ingested, the report is asked for again.
        instance.add_dynamic_partitions("experiments", [experiment.experiment_id])
        instance.report_runless_asset_event(dg.AssetMaterialization("raw_outcomes"))
        ingested = instance.get_latest_materialization_event(dg.AssetKey("raw_outcomes"))
        again = experiment_guardrail_sensor(context)
        assert again.dynamic_partitions_requests == []
        [request] = again.run_requests
        assert request.run_key == (
            f"{experiment.experiment_id}-final-outcomes-{ingested.timestamp * 1000:.0f}"
        )
        assert get_experiment(engine, experiment.experiment_id) == stopped  # judged once


def test_the_air_guardrail_reads_the_bisg_groups_where_race_is_not_collected(engine):
    """Race/ethnicity is not collected: the guardrail joins the most-likely BISG group of each
    borrower's latest application (demographic_proxies) and judges the arms on it."""
    from credit_assets.core.compliance.bisg import METHOD_COLUMN, PROXY_GROUPS, probability_column
    from credit_assets.core.compliance.proxy_fairness import MOST_LIKELY
    from credit_assets.core.platform.storage.keys import DEMOGRAPHIC_PROXIES, raw_key
    from credit_assets.core.platform.storage.local import data_store
    from credit_assets.defs.monitoring.experiments import protected_attributes

    store = data_store(get_settings())
    n = 200
    store.write_frame(
        raw_key("applications", "apps.csv"),
        pl.DataFrame(
            {
                "application_id": [f"A{i}" for i in range(n)],
                "borrower_id": [f"B{i}" for i in range(n)],
                "_source_file": "apps.csv",
                "_row_number": list(range(1, n + 1)),
                "_file_sha256": "x",
                "_ingested_at": datetime(2026, 1, 1),
            }
        ),
    )
    likely = ["black" if i % 2 else "white" for i in range(n)]
    store.write_frame(
        DEMOGRAPHIC_PROXIES,
        pl.DataFrame(
            {
                "application_id": [f"A{i}" for i in range(n)],
                **{
                    probability_column(g): [0.9 if g == likely[i] else 0.02 for i in range(n)]
                    for g in PROXY_GROUPS
                },
                METHOD_COLUMN: "bisg_zcta",
            }
        ),
    )
    protected = protected_attributes(PlatformResource())
    assert protected is not None and MOST_LIKELY in protected.columns
    groups = dict(zip(protected["borrower_id"], protected[MOST_LIKELY], strict=True))
    assert groups["B1"] == "black" and groups["B0"] == "white"

    decisions = pl.DataFrame(
        {
            "arm": ["champion"] * n + ["challenger"] * n,
            "scorable": True,
            "score": [650] * n + [550 if i % 2 and i % 3 else 650 for i in range(n)],
            "pd": 0.05,
            "borrower_id": [f"B{i}" for i in range(n)] * 2,
        }
    )
    summaries = arm_summaries(decisions, cutoff=600, protected=protected, min_group_size=30)
    assert summaries["champion"].worst_air == pytest.approx(1.0)
    assert summaries["challenger"].worst_air_group == f"{MOST_LIKELY}=black"
    assert summaries["challenger"].worst_air == pytest.approx(0.33, abs=0.02)


def test_a_new_champion_ends_the_experiment_it_was_not_part_of(engine):
    experiment = start_experiment(
        engine, challenger_version="chall-1", share=0.2, started_by="t", max_share=0.2
    )
    register_challenger(
        engine, version="champ-2", artifact_uri="file:///champ-2", manifest_sha256="0" * 64,
        run_id=None, metrics={}, lineage={},
    )  # fmt: skip
    promote(engine, "champ-2", run_id="r2", fairness={})
    assert evaluate().endswith(
        "the champion changed (champ-1 -> champ-2): start a new experiment against the new champion"
    )
    assert get_experiment(engine, experiment.experiment_id).status == "stopped"
