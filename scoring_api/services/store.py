"""The scoring path's database: online features in, decisions out, from the event loop.

Three operations, each one statement: the features of many borrowers from the
current snapshot, the decisions already logged under some idempotency keys, and
a group of decision rows inserted in one transaction.

- `PostgresStore` (a PostgreSQL platform database, production): asyncpg on the
  event loop itself, connections from `services/pool.py`. Statements are prepared
  once per connection, values travel
  in the binary protocol, and a request thread never waits for the GIL to get
  its result back. The insert is one `INSERT ... SELECT FROM unnest(...)`
  whose `ON CONFLICT DO NOTHING` on the idempotency constraint tells, by the
  ids it returns, which rows reused a key, in the same round trip.
- `EngineStore` (any other database, e.g. the embedded SQLite): the platform's
  synchronous SQLAlchemy functions in the thread pool.

Both raise `NoSnapshotError` before the first publish and `DatabaseUnavailableError`
(asyncpg) or SQLAlchemy's `DBAPIError` when the database is down; both become 503.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import orjson
import sqlalchemy as sa
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Engine

from credit_assets.core.platform.db import decision_log, online_feature_current
from credit_assets.core.platform.decision_log import (
    DuplicateIdempotencyKeyError,
    StoredDecision,
    find_by_idempotency_keys,
    insert_decisions,
)
from credit_assets.core.platform.online_store import (
    READ_MANY_PG,
    NoSnapshotError,
    OnlineFeatures,
    read_many,
)
from scoring_api.errors import DatabaseUnavailableError
from scoring_api.services.pool import Connections, asyncpg_dsn

NO_SNAPSHOT = "no online feature snapshot has been published yet"


class DecisionStore(Protocol):
    async def read_features(self, borrower_ids: Sequence[str]) -> dict[str, OnlineFeatures]: ...

    async def find_decisions(
        self, lender: str, keys: Sequence[str]
    ) -> dict[str, StoredDecision]: ...

    async def insert_decisions(
        self, rows: Sequence[Mapping[str, Any]]
    ) -> list[Exception | None]: ...

    async def close(self) -> None: ...


class EngineStore:
    """The synchronous platform functions, run in the thread pool (SQLite and other engines)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def read_features(self, borrower_ids: Sequence[str]) -> dict[str, OnlineFeatures]:
        return await run_in_threadpool(read_many, self.engine, borrower_ids)

    async def find_decisions(self, lender: str, keys: Sequence[str]) -> dict[str, StoredDecision]:
        return await run_in_threadpool(find_by_idempotency_keys, self.engine, lender, keys)

    async def insert_decisions(self, rows: Sequence[Mapping[str, Any]]) -> list[Exception | None]:
        return await run_in_threadpool(insert_decisions, self.engine, rows)

    async def close(self) -> None:
        return None


class _Statement:
    """A SQLAlchemy statement compiled once for asyncpg (`$n` parameters, typed binds)."""

    def __init__(self, statement: Any) -> None:
        compiled = statement.compile(dialect=asyncpg_dialect.dialect())
        self.sql = str(compiled)
        self.names: list[str] = list(compiled.positiontup or [])
        self.defaults = dict(compiled.params)

    def args(self, values: Mapping[str, Any]) -> list[Any]:
        return [values[n] if n in values else self.defaults[n] for n in self.names]


_LOG_COLUMNS = [c.name for c in decision_log.columns]
_INSERT = _Statement(
    pg_insert(decision_log)
    .from_select(
        _LOG_COLUMNS,
        sa.select(
            sa.func.unnest(
                *[sa.bindparam(c.name, type_=ARRAY(c.type)) for c in decision_log.columns]
            )
            .table_valued(*_LOG_COLUMNS)
            .render_derived()
        ),
    )
    .on_conflict_do_nothing(constraint="uq_decision_idempotency")
    .returning(decision_log.c.decision_id)
)
_READ = _Statement(READ_MANY_PG)
_HAS_SNAPSHOT = _Statement(
    sa.select(online_feature_current.c.snapshot_id).where(online_feature_current.c.slot == 1)
)
_FIND = _Statement(
    sa.select(
        decision_log.c.idempotency_key,
        decision_log.c.decision_id,
        decision_log.c.inputs_digest,
        decision_log.c.response,
    ).where(
        decision_log.c.lender == sa.bindparam("lender"),
        decision_log.c.idempotency_key == sa.any_(sa.bindparam("keys", type_=ARRAY(sa.String))),
    )
)


class PostgresStore:
    """asyncpg on the event loop; every failure to reach the database is DatabaseUnavailableError."""

    def __init__(self, connections: Connections) -> None:
        import asyncpg

        self.connections = connections
        # What "the database is unreachable" looks like, built once (not per statement).
        self._unavailable: tuple[type[BaseException], ...] = (
            TimeoutError,
            OSError,
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            asyncpg.InternalClientError,
        )

    @classmethod
    async def open(cls, url: str, max_connections: int, timeout: float) -> PostgresStore:
        return cls(Connections(asyncpg_dsn(url), max_connections, timeout))

    async def _fetch(self, statement: _Statement, **values: Any) -> list[Any]:
        unavailable = self._unavailable
        try:
            conn = await self.connections.acquire()
        except unavailable as exc:
            raise DatabaseUnavailableError(type(exc).__name__) from exc
        try:
            rows = await conn.fetch(statement.sql, *statement.args(values))
        except BaseException as exc:
            # After a failure mid-statement (e.g. the server went away) the connection's
            # protocol state is unknown: close it; the next statement opens a new one.
            self.connections.release(conn, broken=True)
            if isinstance(exc, unavailable):
                raise DatabaseUnavailableError(type(exc).__name__) from exc
            raise
        self.connections.release(conn)
        return rows  # type: ignore[no-any-return]

    async def read_features(self, borrower_ids: Sequence[str]) -> dict[str, OnlineFeatures]:
        unique = list(dict.fromkeys(borrower_ids))
        rows = await self._fetch(_READ, borrower_ids=unique)
        if len(rows) < len(unique) and not await self._fetch(_HAS_SNAPSHOT):
            raise NoSnapshotError(NO_SNAPSHOT)
        return {r[1]: OnlineFeatures(r[0], r[1], orjson.loads(r[2]), r[2]) for r in rows}

    async def find_decisions(self, lender: str, keys: Sequence[str]) -> dict[str, StoredDecision]:
        rows = await self._fetch(_FIND, lender=lender, keys=list(keys))
        return {r[0]: StoredDecision(r[1], r[2], r[3]) for r in rows}

    async def insert_decisions(self, rows: Sequence[Mapping[str, Any]]) -> list[Exception | None]:
        """One transaction (one statement: its commit is the group commit)."""
        if not rows:
            return []
        columns = {name: [row.get(name) for row in rows] for name in _LOG_COLUMNS}
        inserted = {r[0] for r in await self._fetch(_INSERT, **columns)}
        return [
            None
            if row["decision_id"] in inserted
            else DuplicateIdempotencyKeyError(
                f"lender {row['lender']!r} already has a decision under this idempotency key"
            )
            for row in rows
        ]

    async def close(self) -> None:
        await self.connections.close()


async def open_store(
    engine: Engine, url: str, max_connections: int, timeout: float
) -> DecisionStore:
    """asyncpg for a PostgreSQL platform database, the thread pool for anything else."""
    if engine.dialect.name == "postgresql":
        return await PostgresStore.open(url, max_connections, timeout)
    return EngineStore(engine)
