"""The decision log writer: group commits, durable before return, one row per idempotency key."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from credit_assets.core.db import decision_log, platform_engine
from credit_assets.core.decision_log import (
    DecisionLogClosedError,
    DecisionLogWriter,
    DuplicateIdempotencyKeyError,
    canonical_json,
    inputs_digest,
)
from credit_assets.core.settings import Settings


def row(decision_id: str, key: str | None = None) -> dict:
    return {
        "decision_id": decision_id,
        "lender": "acme-bank",
        "created_at": datetime.now(UTC).replace(tzinfo=None),
        "inputs_digest": "0" * 64,
        "scorable": True,
        "score": 640,
        "reasons": "[]",
        "idempotency_key": key,
    }


def logged(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(sa.select(decision_log.c.decision_id)).scalars())


def concurrent_appends_share_commits(engine: sa.Engine, requests: int = 40) -> None:
    writer = DecisionLogWriter(engine).start()
    barrier = threading.Barrier(requests)

    def one(i: int) -> None:
        barrier.wait()
        writer.append(row(f"d{i:03d}"))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    assert logged(engine) == [f"d{i:03d}" for i in range(requests)]
    assert writer.commits < requests


@pytest.fixture
def engine() -> sa.Engine:
    return platform_engine(Settings().resolved_database_url)


def test_concurrent_decisions_are_all_logged_in_fewer_commits(engine: sa.Engine) -> None:
    concurrent_appends_share_commits(engine)


def test_a_reused_idempotency_key_fails_only_its_own_row(engine: sa.Engine) -> None:
    writer = DecisionLogWriter(engine).start()
    writer.append(row("first", key="k1"))
    errors = writer.append_many([row("second", key="k1"), row("third", key="k2")])
    writer.close()
    assert isinstance(errors[0], DuplicateIdempotencyKeyError) and errors[1] is None
    assert logged(engine) == ["first", "third"]


def test_a_stopped_writer_refuses_rather_than_dropping(engine: sa.Engine) -> None:
    writer = DecisionLogWriter(engine).start()
    writer.close()
    with pytest.raises(DecisionLogClosedError):
        writer.append(row("late"))


def test_the_inputs_digest_ignores_key_order() -> None:
    assert canonical_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    assert inputs_digest({"b": 1, "a": 2}) == inputs_digest({"a": 2, "b": 1})
