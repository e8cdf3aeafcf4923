"""The decision log: group inserts, one row per idempotency key, on both stores; the batchers
that make the groups."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from credit_assets.core.platform.db import decision_log, migrated_engine
from credit_assets.core.platform.decision_log import (
    DuplicateIdempotencyKeyError,
    canonical_json,
    inputs_digest,
    insert_decisions,
)
from credit_assets.core.platform.online_store import NoSnapshotError, publish_snapshot
from credit_assets.core.platform.settings import Settings
from scoring_api.errors import DatabaseUnavailableError
from scoring_api.services.log_writer import new_decision_id
from scoring_api.services.pipeline import GATHER, Batcher, BatcherClosedError, settle
from scoring_api.services.pool import Connections, asyncpg_dsn
from scoring_api.services.store import DecisionStore, EngineStore, PostgresStore


def row(decision_id: str, key: str | None = None, lender: str = "acme-bank") -> dict:
    return {
        "decision_id": decision_id,
        "lender": lender,
        "created_at": datetime.now(UTC).replace(tzinfo=None),
        "borrower_id": None,
        "inputs_digest": "0" * 64,
        "feature_snapshot_id": None,
        "model_version": "v1",
        "scorable": True,
        "score": 640,
        "pd": 0.04,
        "band": "C",
        "reasons": "[]",
        "features": '{"x":1.0}',
        "latency_ms": 1.5,
        "idempotency_key": key,
        "response": json.dumps({"decision_id": decision_id}, separators=(",", ":")),
    }


def logged(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(sa.select(decision_log.c.decision_id)).scalars())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "sqlite":
        yield Settings().resolved_database_url
    else:
        yield request.getfixturevalue("postgres_url")


async def open_store(url: str) -> DecisionStore:
    engine = migrated_engine(url)  # migrates
    if engine.dialect.name == "postgresql":
        return await PostgresStore.open(url, max_connections=4, timeout=10.0)
    return EngineStore(engine)


def test_a_group_is_one_insert_and_a_reused_key_fails_only_its_own_row(database: str) -> None:
    async def scenario() -> list[Any]:
        store = await open_store(database)
        try:
            first = await store.insert_decisions([row("first", key="k1")])
            group = await store.insert_decisions(
                [
                    row("second", key="k1"),  # reuses a logged key
                    row("third", key="k2"),
                    row("fourth", key="k2"),  # reuses a key of its own group
                    row("fifth", key="k1", lender="other-bank"),  # keys are per lender
                    row("sixth"),  # no key: never a conflict
                    row("seventh"),
                ]
            )
            found = await store.find_decisions("acme-bank", ["k1", "k2", "nope"])
        finally:
            await store.close()
        return [first, group, found]

    first, group, found = asyncio.run(scenario())
    assert first == [None]
    assert [type(e).__name__ if e else None for e in group] == [
        "DuplicateIdempotencyKeyError",
        None,
        "DuplicateIdempotencyKeyError",
        None,
        None,
        None,
    ]
    assert logged(migrated_engine(database)) == sorted(
        ["first", "third", "fifth", "sixth", "seventh"]
    )
    assert {k: v.decision_id for k, v in found.items()} == {"k1": "first", "k2": "third"}
    assert found["k1"].response == '{"decision_id":"first"}'


def test_features_come_from_the_current_snapshot_and_unknown_ids_are_absent(
    database: str,
) -> None:
    import polars as pl

    engine = migrated_engine(database)

    async def read(ids: list[str]) -> Any:
        store = await open_store(database)
        try:
            return await store.read_features(ids)
        except NoSnapshotError as exc:
            return exc
        finally:
            await store.close()

    assert isinstance(asyncio.run(read(["b1"])), NoSnapshotError)
    for value in (1.0, 2.0):  # the second publish switches the pointer
        snapshot = publish_snapshot(
            engine,
            pl.DataFrame({"borrower_id": ["b1", "b2"], "x": [value, value * 10]}),
            as_of=datetime(2024, 6, 1).date(),
            catalogue_version="test",
        )
    found = asyncio.run(read(["b2", "b1", "b1", "nobody"]))
    assert sorted(found) == ["b1", "b2"]
    assert found["b1"].features == {"x": 2.0} and found["b2"].features == {"x": 20.0}
    assert {f.snapshot_id for f in found.values()} == {snapshot}


def test_the_sync_insert_reports_a_reused_key_per_row() -> None:
    engine = migrated_engine(Settings().resolved_database_url)
    assert insert_decisions(engine, [row("a", key="k")]) == [None]
    errors = insert_decisions(engine, [row("b", key="k"), row("c", key="j")])
    assert isinstance(errors[0], DuplicateIdempotencyKeyError) and errors[1] is None
    assert logged(engine) == ["a", "c"]


def test_an_unreachable_postgres_is_database_unavailable_not_a_hang() -> None:
    async def scenario() -> None:
        # A port nothing listens on: refused at once.
        store = await PostgresStore.open(
            "postgresql+psycopg2://postgres@127.0.0.1:9/none", max_connections=2, timeout=5.0
        )
        try:
            await store.insert_decisions([row("x")])
        finally:
            await store.close()

    with pytest.raises(DatabaseUnavailableError):
        asyncio.run(asyncio.wait_for(scenario(), 20))


class Item:
    def __init__(self, value: int) -> None:
        self.value = value
        self.future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()


def test_items_arriving_together_share_batches_and_close_drains_the_queue() -> None:
    async def scenario() -> tuple[list[int], list[int], int]:
        sizes: list[int] = []

        async def handle(batch: list[Item]) -> None:
            sizes.append(len(batch))
            await asyncio.sleep(0.01)  # a database round trip
            for item in batch:
                settle(item.future, item.value * 2)

        batcher = Batcher(handle, max_batch=8, name="test batcher").start()
        items = [Item(i) for i in range(40)]
        for item in items:  # 40 requests arriving one by one
            batcher.put([item])
            await asyncio.sleep(0)
        late = Item(99)
        batcher.put([late])
        await batcher.close()  # handles what is queued before stopping
        results = [await item.future for item in [*items, late]]
        with pytest.raises(BatcherClosedError):
            batcher.put([Item(100)])
        return sizes, results, batcher.batches

    sizes, results, batches = asyncio.run(scenario())
    assert results == [i * 2 for i in range(40)] + [198]
    assert sum(sizes) == 41 and max(sizes) <= 8
    assert batches == len(sizes) < 41 / 4  # batching happened: far fewer batches than items


def test_a_failing_batch_answers_each_request_with_the_error() -> None:
    async def scenario() -> list[Any]:
        async def handle(batch: list[Item]) -> None:
            settle(batch[0].future, "done")  # one settled before the failure keeps its result
            raise DatabaseUnavailableError("ConnectionRefusedError")

        batcher = Batcher(handle, max_batch=8, name="test batcher").start()
        items = [Item(i) for i in range(3)]
        batcher.put(items)
        outcomes = [await item.future for item in items]
        await batcher.close()
        return outcomes

    outcomes = asyncio.run(scenario())
    assert outcomes[0] == "done"
    assert all(isinstance(o, DatabaseUnavailableError) for o in outcomes[1:])


def test_the_inputs_digest_ignores_key_order() -> None:
    assert canonical_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    assert inputs_digest({"b": 1, "a": 2}) == inputs_digest({"a": 2, "b": 1})


def _arrivals(
    linger: float, gap: float, count: int, handling: float = 0.001
) -> tuple[list[int], list[float]]:
    """Items put every `gap` seconds into a batcher whose handler takes `handling` seconds;
    the batch sizes and each item's wait from put to handling."""

    async def scenario() -> tuple[list[int], list[float]]:
        sizes: list[int] = []
        waits: list[float] = []
        loop = asyncio.get_running_loop()

        async def handle(batch: list[Item]) -> None:
            sizes.append(len(batch))
            waits.extend(loop.time() - item.value for item in batch)
            await asyncio.sleep(handling)
            for item in batch:
                settle(item.future, None)

        batcher = Batcher(handle, max_batch=64, name="test batcher", linger=linger).start()
        items = []
        for _ in range(count):
            item = Item(0)
            item.value = loop.time()  # type: ignore[assignment]
            items.append(item)
            batcher.put([item])
            await asyncio.sleep(gap)
        for item in items:
            await item.future
        await batcher.close()
        return sizes, waits

    return asyncio.run(scenario())


def test_a_linger_gathers_small_batches_only_while_requests_come_fast() -> None:
    # An item every 0.5 ms asked (about every 1 ms given, by the loop's timer resolution),
    # a 5 ms linger: once the mean gap is short (~50 items), batches gather what arrives
    # within the linger (~6), and no item waits much beyond it.
    fast, waits = _arrivals(linger=0.005, gap=0.0005, count=200)
    plain, _ = _arrivals(linger=0.0, gap=0.0005, count=200)
    assert sum(fast) == sum(plain) == 200
    assert sum(size >= 4 for size in fast) >= 10  # ~25 such batches after the warm-up
    assert len(fast) < len(plain)  # fewer, larger batches
    # The linger, plus a handler and scheduling slack, for nearly every item; on a loaded
    # machine one scheduler stall can hold a single batch back (83 ms once in a full run).
    assert sorted(waits)[int(0.95 * len(waits))] < 0.005 + 0.02
    assert max(waits) < 0.25
    # One every 20 ms (50/s), slower than the linger: no item waits for company.
    slow, slow_waits = _arrivals(linger=0.005, gap=0.02, count=20)
    assert slow == [1] * 20
    assert max(slow_waits) < 0.005


def test_a_linger_counts_the_time_queued_behind_the_previous_batch() -> None:
    # The handler takes 25 ms and an item comes every 5 ms: the items of the next batch have
    # waited up to 25 ms already when the handler returns, so they linger only what is left
    # of the 30 ms, not 30 ms more (the oldest would wait ~55 ms). The linger starts once
    # the mean gap is short, after ~50 items.
    sizes, waits = _arrivals(linger=0.03, gap=0.005, count=120, handling=0.025)
    assert sum(sizes) == 120
    assert max(sizes) > 1
    assert max(waits) < 0.03 + 0.012  # the linger, plus timer and scheduling slack


def test_a_linger_ends_once_a_batch_has_gathered() -> None:
    # A 1 s linger, an item every ms: once the mean gap is short (after ~45 items), a batch
    # is handled as soon as GATHER items wait, long before the linger is up. Only the last
    # few items, with nobody left to come, wait the whole linger.
    sizes, waits = _arrivals(linger=1.0, gap=0.001, count=120)
    assert sum(sizes) == 120
    assert GATHER in sizes
    assert 0 < sum(wait >= 0.1 for wait in waits) < GATHER
    assert max(waits) < 1.0 + 0.05


def test_decision_ids_are_uuid7_and_grow_with_time() -> None:
    first = new_decision_id()
    time.sleep(0.002)
    second = new_decision_id()
    parsed = uuid.UUID(first)
    assert len(first) == 32 and parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert first < second  # a later millisecond sorts after
    assert abs(int(first[:12], 16) - time.time_ns() // 1_000_000) < 1000
    assert len({new_decision_id() for _ in range(10_000)}) == 10_000


@pytest.mark.postgres
def test_the_connection_list_hands_over_replaces_broken_ones_and_times_out(
    postgres_url: str,
) -> None:
    async def scenario() -> None:
        connections = Connections(asyncpg_dsn(postgres_url), max_size=2, timeout=0.5)
        try:
            first, second = await connections.acquire(), await connections.acquire()
            assert connections.opened == 2
            third = asyncio.ensure_future(connections.acquire())
            await asyncio.sleep(0.05)
            assert not third.done()  # at the limit: waits for a release
            connections.release(first)
            assert await third is first  # handed over, not reopened
            # A broken connection is closed; its place goes to the next waiter, who opens anew.
            fourth = asyncio.ensure_future(connections.acquire())
            await asyncio.sleep(0.05)
            connections.release(second, broken=True)
            replacement = await fourth
            assert replacement is not second and await replacement.fetchval("SELECT 1") == 1
            assert second.is_closed() and connections.opened == 2
            # Nobody releases: the wait ends at the timeout.
            with pytest.raises(TimeoutError):
                await connections.acquire()
            connections.release(first)
            connections.release(replacement)
            again = await connections.acquire()  # the last one put back
            assert again is replacement and connections.opened == 2
            connections.release(again)
        finally:
            await connections.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))
