"""The scoring path's asyncpg connections: a plain free list, opened on demand.

`PostgresStore` (`services/store.py`) takes a connection for each statement and puts it
back; `asyncpg_dsn` turns the platform's SQLAlchemy URL into what asyncpg connects to.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import sqlalchemy as sa

from scoring_api.errors import DatabaseUnavailableError


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL (any driver) as the libpq-style DSN asyncpg takes."""
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Connections:
    """A free list of asyncpg connections, opened on demand up to `max_size`.

    asyncpg's own `Pool` costs two extra tasks per statement (`wait_for` around the
    acquire, `shield` around the release) plus a reset round trip per release unless
    disabled: a real share of an API process's CPU under load, for a path where two tasks
    (the decider and the log writer) each run one statement at a time. Here a connection is
    taken from a list and put back; nothing runs on release, because the store's
    statements leave no session state (no SET, LISTEN, advisory lock or cursor).

    No connection is opened at start: the API starts (and says it is not ready) while
    the database is down, and connects when it comes back. A connection whose
    statement failed is closed, not put back (its protocol state is unknown)."""

    def __init__(self, dsn: str, max_size: int, timeout: float) -> None:
        self.dsn = dsn
        self.max_size = max_size
        self.timeout = timeout
        self.opened = 0  # connections open or being opened
        self._idle: list[Any] = []
        self._waiters: deque[asyncio.Future[Any]] = deque()
        self._closed = False

    async def acquire(self) -> Any:
        if self._closed:
            raise DatabaseUnavailableError("the scoring store is closed")
        if self._idle:
            return self._idle.pop()
        if self.opened < self.max_size:
            return await self._connect()
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.timeout):
                connection = await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # Handed a connection (or a free place) just as we gave up: pass it on.
                if waiter.result() is None:
                    self._hand_over(None)
                else:
                    self.release(waiter.result())
            raise
        # None: a connection was closed and its place is ours to open.
        return connection if connection is not None else await self._connect()

    async def _connect(self) -> Any:
        import asyncpg

        self.opened += 1
        try:
            return await asyncpg.connect(
                self.dsn, timeout=min(self.timeout, 10.0), command_timeout=self.timeout
            )
        except BaseException:
            self.opened -= 1
            self._hand_over(None)
            raise

    def release(self, connection: Any, *, broken: bool = False) -> None:
        """Put a connection back; a broken one is closed and its place freed."""
        if broken or self._closed:
            connection.terminate()
            self.opened -= 1
            self._hand_over(None)
        elif not self._hand_over(connection):
            self._idle.append(connection)

    def _hand_over(self, connection: Any) -> bool:
        """Give the first waiter still waiting `connection`, or None: a free place to open."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return True
        return False

    async def close(self) -> None:
        self._closed = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(DatabaseUnavailableError("the scoring store is closed"))
        idle, self._idle = self._idle, []
        for connection in idle:
            self.opened -= 1
            try:
                await asyncio.wait_for(connection.close(), 5.0)
            except Exception:
                connection.terminate()
