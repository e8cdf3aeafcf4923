"""Champion/challenger experiments through the scoring API (in process): start and stop from
the CLI, sticky keyed-hash assignment, the arm and the deciding version in the body and the
decision log, no change at all without an experiment, and the fallback to the champion when
the challenger's artifact is refused."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from credit_assets.cli import main
from credit_assets.core.platform.db import decision_log, experiments, migrated_engine
from credit_assets.core.platform.experiments import (
    COMPLIANCE_GATES,
    ExperimentError,
    assign_arm,
    assignment_subject,
    running_experiment,
    start_experiment,
)
from credit_assets.core.platform.registry import RegistryRecord, hold_back
from credit_assets.core.promotion.verdicts import (
    FAIRNESS,
    LEAKAGE,
    Gate,
)
from scoring_api.schemas import ScoreResponse
from tests.support.experiments import COMPLIANT, held_back_decision
from tests.support.scoring import (
    RunningApi,
    application,
    built_scorecard,
    running_api,
    save_and_register,
    tamper_registry_sha,
)


def held_back_challenger(api: RunningApi, *, gates: list[Gate] | None = None) -> RegistryRecord:
    """The scorecard, registered after the champion and held back by the quality gate only."""
    record = save_and_register(api.settings, built_scorecard(), promote_it=False)
    engine = migrated_engine(api.settings.resolved_database_url)
    return hold_back(engine, record.version, decision=held_back_decision(gates))


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningApi]:
    with running_api(monkeypatch, shadow="false") as running:
        yield running


def inline(i: int) -> dict:
    return {"application": application(f"exp-borrower-{i}")}


def log_rows(api: RunningApi) -> list:
    engine = migrated_engine(api.settings.resolved_database_url)
    with engine.connect() as conn:
        return conn.execute(
            sa.select(decision_log.c.decision_id, decision_log.c.arm, decision_log.c.model_version,
                      decision_log.c.experiment_id, decision_log.c.borrower_id)
        ).fetchall()  # fmt: skip


def test_assignment_is_sticky_keyed_and_close_to_the_share() -> None:
    key = bytes(range(32))
    arms = Counter(assign_arm(key, 0.1, "acme", f"borrower:B{i}") for i in range(20_000))
    assert abs(arms["challenger"] / 20_000 - 0.1) < 0.01
    assert all(
        assign_arm(key, 0.1, "acme", f"borrower:B{i}")
        == assign_arm(key, 0.1, "acme", f"borrower:B{i}")
        for i in range(200)
    )
    other_key = bytes(32)
    moved = sum(
        assign_arm(key, 0.5, "acme", f"borrower:B{i}")
        != assign_arm(other_key, 0.5, "acme", f"borrower:B{i}")
        for i in range(2000)
    )
    assert 800 < moved < 1200  # another experiment's key draws the arms afresh
    assert assignment_subject(None, "APP-1", "d" * 64) == "application:APP-1"
    assert assignment_subject("B1", "APP-1", "d" * 64) == "borrower:B1"
    assert assignment_subject(None, None, "d" * 64) == "inputs:" + "d" * 64


def test_an_experiment_decides_a_sticky_share_with_the_challenger_and_logs_the_arm(api, capsys):
    before = api.score(inline(0)).json()
    # No experiment: exactly the keys a response always had, none of the experiment's.
    assert set(before) == set(ScoreResponse.model_fields) - {"experiment_id", "arm"}
    challenger = held_back_challenger(api)

    assert (
        main(
            [
                "experiment",
                "start",
                "--challenger",
                challenger.version,
                "--share",
                "0.2",
                "--by",
                "risk-team",
            ]
        )
        == 0
    )
    experiment_id = capsys.readouterr().out.strip()
    api.services.holder.reload()
    first = [api.score(inline(i)).json() for i in range(60)]
    arms = Counter(body["arm"] for body in first)
    assert arms["challenger"] > 0 and arms["champion"] > arms["challenger"]
    for body in first:
        assert body["experiment_id"] == experiment_id
        expected = challenger.version if body["arm"] == "challenger" else api.champion.version
        assert body["model_version"] == expected
    again = [api.score(inline(i)).json() for i in range(60)]
    assert [b["arm"] for b in again] == [b["arm"] for b in first]  # sticky

    rows = {r.decision_id: r for r in log_rows(api)}
    for body in first + again:
        row = rows[body["decision_id"]]
        assert (row.arm, row.model_version, row.experiment_id) == (
            body["arm"], body["model_version"], experiment_id
        )  # fmt: skip
    stored = api.client.get(f"/v1/decisions/{first[0]['decision_id']}", headers=api.headers).json()
    assert stored["arm"] == first[0]["arm"]
    challenger_body = next(i for i, b in enumerate(first) if b["arm"] == "challenger")
    once = api.score(inline(challenger_body), **{"Idempotency-Key": "exp-replay-1"}).json()
    twice = api.score(inline(challenger_body), **{"Idempotency-Key": "exp-replay-1"}).json()
    assert once == twice and once["arm"] == "challenger"  # a replay is the logged decision

    assert main(["experiment", "status", "--json"]) == 0
    [status] = json.loads(capsys.readouterr().out)
    assert status["started_by"] == "risk-team" and status["status"] == "running"
    assert sum(status["decisions"].values()) == 121 and "assignment_key" not in status
    assert status["recommendation"] is None  # no experiment_report yet

    assert main(["experiment", "stop", "--reason", "enough evidence", "--by", "risk-team"]) == 0
    api.services.holder.reload()
    after = api.score(inline(1)).json()
    assert "arm" not in after and after["model_version"] == api.champion.version


def test_a_refused_challenger_sends_its_arm_to_the_champion_and_says_so(api):
    challenger = held_back_challenger(api)
    engine = migrated_engine(api.settings.resolved_database_url)
    experiment = start_experiment(
        engine, challenger_version=challenger.version, share=0.2, started_by="t", max_share=0.2
    )
    tamper_registry_sha(api.settings, challenger.version)
    api.services.holder.reload()
    bodies = [api.score(inline(i)).json() for i in range(40)]
    assert {b["arm"] for b in bodies} == {"champion"}
    assert {b["model_version"] for b in bodies} == {api.champion.version}
    ready = api.client.get("/readyz").json()
    assert ready["ready"] is True and ready["experiment"]["state"] == "fallback"
    assert ready["experiment"]["reason"].startswith(f"challenger {challenger.version} refused")
    with engine.connect() as conn:
        reason = conn.execute(
            sa.select(experiments.c.fallback_reason).where(
                experiments.c.experiment_id == experiment.experiment_id
            )
        ).scalar()
    assert reason.startswith(f"challenger {challenger.version} refused")


def test_an_experiment_needs_a_compliant_challenger_and_a_bounded_share(api, capsys):
    engine = migrated_engine(api.settings.resolved_database_url)
    unfair = held_back_challenger(
        api, gates=[*COMPLIANT[:-1], Gate(FAIRNESS, False, "AIR 0.71 for age=<25")]
    )
    with pytest.raises(ExperimentError, match="four_fifths_rule did not pass"):
        start_experiment(
            engine, challenger_version=unfair.version, share=0.1, started_by="t", max_share=0.2
        )
    leaky = held_back_challenger(
        api,
        gates=[
            Gate(name, name != LEAKAGE, "repaid_flag predicts the outcome alone")
            for name in COMPLIANCE_GATES
        ],
    )
    with pytest.raises(ExperimentError, match="no_target_leakage did not pass"):
        start_experiment(
            engine, challenger_version=leaky.version, share=0.1, started_by="t", max_share=0.2
        )
    with pytest.raises(ExperimentError, match="is champion"):
        start_experiment(
            engine,
            challenger_version=api.champion.version,
            share=0.1,
            started_by="t",
            max_share=0.2,
        )
    assert main(["experiment", "start", "--challenger", unfair.version, "--share", "0.5"]) == 2
    assert "CREDIT_EXPERIMENT_MAX_SHARE" in capsys.readouterr().err
    assert main(["experiment", "start", "--challenger", "nope", "--share", "0.1"]) == 2
    assert "no registered model 'nope'" in capsys.readouterr().err
    assert running_experiment(engine) is None
    assert main(["experiment", "stop"]) == 2
