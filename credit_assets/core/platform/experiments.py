"""Champion/challenger experiments: a share of live borrowers decided by a challenger.

At most one experiment runs. It is started for a registered challenger (status
`challenger` or `held_back`) whose compliance gates passed: no protected inputs, approved
reasons, reasons that lower risk when neutralised, monotone constraints and the fairness
rule. The quality gates may have said no: whether it is better is what the experiment tests.

Assignment is sticky and auditable: `assign_arm` is an HMAC-SHA256 of the lender and the
borrower's key under the experiment's own random key, read as a number in [0, 1); below
the share it is the challenger's. The same borrower of the same lender always gets the same
arm for the life of the experiment, and nobody without the key can steer an applicant into
an arm. The borrower's key is the `borrower_id` (by id, or the application's
`borrower_id`), else the application's id column, else the digest of the application as sent
(`assignment_subject`).

Stopping is recorded (who, when, why: an operator, a guardrail, `max_days`,
`max_decisions`); the API sends everyone to the champion from its next model poll.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from credit_assets.core.platform.db import decision_log, experiments
from credit_assets.core.platform.registry import (
    CHALLENGER,
    HELD_BACK,
    current_champion,
    get_model,
)
from credit_assets.core.promotion.verdicts import (
    FAIRNESS,
    LEAKAGE,
    MONOTONICITY,
    NO_PROTECTED,
    REASON_ACCURACY,
    REASONS,
)

CHAMPION_ARM, CHALLENGER_ARM = "champion", "challenger"
RUNNING, STOPPED = "running", "stopped"
# What a challenger must have passed to decide real applications (a model that learned the
# outcome from a leaked column must not decide anyone's loan, even on a share of traffic).
COMPLIANCE_GATES = (NO_PROTECTED, LEAKAGE, REASONS, REASON_ACCURACY, MONOTONICITY, FAIRNESS)


class ExperimentError(ValueError):
    """An experiment that cannot start or stop; the message says why."""


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    challenger_version: str
    champion_version: str
    share: float
    assignment_key: str
    status: str
    started_at: datetime
    started_by: str
    max_days: float | None
    max_decisions: int | None
    stopped_at: datetime | None
    stopped_by: str | None
    stop_reason: str | None
    fallback_reason: str | None

    @property
    def key(self) -> bytes:
        return bytes.fromhex(self.assignment_key)

    def arm(self, lender: str, subject: str) -> str:
        return assign_arm(self.key, self.share, lender, subject)

    def public(self) -> dict[str, Any]:
        """Everything but the assignment key (status output, reports)."""
        return {k: v for k, v in asdict(self).items() if k != "assignment_key"}


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def assign_arm(key: bytes, share: float, lender: str, subject: str) -> str:
    """`challenger` for a `share` of (lender, subject) pairs, by a keyed hash; else `champion`."""
    digest = hmac.new(key, f"{lender}\x1f{subject}".encode(), hashlib.sha256).digest()
    return CHALLENGER_ARM if int.from_bytes(digest[:8], "big") < share * 2**64 else CHAMPION_ARM


def assignment_subject(
    borrower_id: str | None, application_id: str | None, inputs_digest: str
) -> str:
    """Who a request is, for assignment: the borrower id, else the application id, else the
    digest of the application as sent (the same application always lands in the same arm)."""
    if borrower_id:
        return f"borrower:{borrower_id}"
    if application_id:
        return f"application:{application_id}"
    return f"inputs:{inputs_digest}"


def _experiment(row: Any) -> Experiment:
    return Experiment(**{c.name: getattr(row, c.name) for c in experiments.columns})


def running_experiment(engine: Engine) -> Experiment | None:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(experiments)
            .where(experiments.c.status == RUNNING)
            .order_by(experiments.c.started_at.desc())
            .limit(1)
        ).first()
    return _experiment(row) if row is not None else None


def get_experiment(engine: Engine, experiment_id: str) -> Experiment:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(experiments).where(experiments.c.experiment_id == experiment_id)
        ).first()
    if row is None:
        raise ExperimentError(f"no experiment {experiment_id!r}")
    return _experiment(row)


def list_experiments(engine: Engine) -> list[Experiment]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(experiments).order_by(experiments.c.started_at.desc()))
        return [_experiment(r) for r in rows]


def compliance_problems(decision: dict[str, Any]) -> list[str]:
    """The compliance gates a registered model has not passed (none when it may decide)."""
    gates = {g.get("name"): g for g in decision.get("gates", [])}
    problems = []
    for name in COMPLIANCE_GATES:
        gate = gates.get(name)
        if gate is None:
            problems.append(f"{name} was not judged")
        elif not gate.get("passed") or not gate.get("assessed", True):
            problems.append(f"{name} did not pass ({gate.get('detail', '')})")
    return problems


def start_experiment(
    engine: Engine,
    *,
    challenger_version: str,
    share: float,
    started_by: str,
    max_share: float,
    max_days: float | None = None,
    max_decisions: int | None = None,
) -> Experiment:
    """Record a running experiment, or ExperimentError saying why it cannot start."""
    if not 0 < share <= max_share:
        raise ExperimentError(
            f"share {share:g}: give a share in (0, {max_share:g}] (CREDIT_EXPERIMENT_MAX_SHARE)"
        )
    if max_days is not None and max_days <= 0:
        raise ExperimentError("max-days must be positive")
    if max_decisions is not None and max_decisions < 1:
        raise ExperimentError("max-decisions must be at least 1")
    running = running_experiment(engine)
    if running is not None:
        raise ExperimentError(
            f"experiment {running.experiment_id} (challenger {running.challenger_version}) is "
            "running; stop it first"
        )
    champion = current_champion(engine)
    if champion is None:
        raise ExperimentError("no champion is serving: there is nothing to compare with")
    try:
        record = get_model(engine, challenger_version)
    except LookupError as exc:
        raise ExperimentError(f"no registered model {challenger_version!r}") from exc
    if record.status not in (CHALLENGER, HELD_BACK):
        raise ExperimentError(
            f"model {challenger_version} is {record.status}: only a challenger (or one held "
            "back by a gate) can be tested against the champion"
        )
    problems = compliance_problems(record.decision)
    if problems:
        raise ExperimentError(
            f"model {challenger_version} may not decide real applications: " + "; ".join(problems)
        )
    experiment = Experiment(
        experiment_id=f"exp_{secrets.token_hex(8)}",
        challenger_version=challenger_version,
        champion_version=champion.version,
        share=share,
        assignment_key=secrets.token_hex(32),
        status=RUNNING,
        started_at=_now(),
        started_by=started_by,
        max_days=max_days,
        max_decisions=max_decisions,
        stopped_at=None,
        stopped_by=None,
        stop_reason=None,
        fallback_reason=None,
    )
    with engine.begin() as conn:
        conn.execute(sa.insert(experiments).values(**asdict(experiment)))
    return experiment


def stop_experiment(
    engine: Engine, *, stopped_by: str, reason: str, experiment_id: str | None = None
) -> Experiment:
    """Stop the running experiment (or `experiment_id`, if it is the running one)."""
    running = running_experiment(engine)
    if running is None or (experiment_id is not None and running.experiment_id != experiment_id):
        raise ExperimentError(
            "no experiment is running" + (f" as {experiment_id}" if experiment_id else "")
        )
    with engine.begin() as conn:
        conn.execute(
            sa.update(experiments)
            .where(experiments.c.experiment_id == running.experiment_id)
            .values(status=STOPPED, stopped_at=_now(), stopped_by=stopped_by, stop_reason=reason)
        )
    return get_experiment(engine, running.experiment_id)


def record_fallback(engine: Engine, experiment_id: str, reason: str | None) -> None:
    """Note (or clear) why the challenger arm is decided by the champion."""
    with engine.begin() as conn:
        conn.execute(
            sa.update(experiments)
            .where(experiments.c.experiment_id == experiment_id)
            .values(fallback_reason=reason)
        )


def decisions_by_arm(
    engine: Engine, experiment_id: str, since: datetime | None = None
) -> dict[str, int]:
    """How many logged decisions each arm made (since `since`)."""
    query = (
        sa.select(decision_log.c.arm, sa.func.count())
        .where(decision_log.c.experiment_id == experiment_id)
        .group_by(decision_log.c.arm)
    )
    if since is not None:
        query = query.where(decision_log.c.created_at >= since)
    with engine.connect() as conn:
        return {arm: int(n) for arm, n in conn.execute(query)}


def limit_reached(
    experiment: Experiment, decisions: int, now: datetime | None = None
) -> str | None:
    """Why `max_days` or `max_decisions` ends the experiment now, if one does."""
    now = now or _now()
    if experiment.max_days is not None and now - experiment.started_at >= timedelta(
        days=experiment.max_days
    ):
        return f"max-days reached ({experiment.max_days:g} days since {experiment.started_at:%Y-%m-%d %H:%M})"
    if experiment.max_decisions is not None and decisions >= experiment.max_decisions:
        return f"max-decisions reached ({decisions} decisions, limit {experiment.max_decisions})"
    return None


def experiment_decisions(engine: Engine, experiment_id: str, since: datetime | None = None) -> Any:
    """The experiment's logged decisions (since `since`): arm, model_version, scorable, score,
    pd, band, reasons (JSON), borrower_id and created_at, as a Polars frame."""
    import polars as pl

    columns = (
        "arm",
        "model_version",
        "scorable",
        "score",
        "pd",
        "band",
        "reasons",
        "borrower_id",
        "created_at",
    )
    query = sa.select(*(decision_log.c[c] for c in columns)).where(
        decision_log.c.experiment_id == experiment_id
    )
    if since is not None:
        query = query.where(decision_log.c.created_at >= since)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(decision_log.c.created_at)).fetchall()
    schema: dict[str, Any] = {
        "arm": pl.String,
        "model_version": pl.String,
        "scorable": pl.Boolean,
        "score": pl.Int64,
        "pd": pl.Float64,
        "band": pl.String,
        "reasons": pl.String,
        "borrower_id": pl.String,
        "created_at": pl.Datetime("us"),
    }
    return pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")
