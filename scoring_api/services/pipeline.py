"""Micro-batching on the event loop: what arrives together is handled together.

A `Batcher` is a queue and one task. Requests `put` items (each with a future
they await); the task hands whatever has queued up, at most `max_batch` items,
to an async handler, and takes the next batch when the handler returns. While
the handler awaits the database, the loop goes on accepting requests, so under
load a batch grows to what arrived during one round trip, and with no load an
item waits for nobody.

Between the two, at moderate load, batches of one or two cost the most: every
batch pays fixed costs (a database round trip, a CatBoost call) several times what
one more request adds to a large batch. A batcher with a `linger` therefore holds a
small batch (fewer than `GATHER` items) for company until its oldest item has waited
`linger` (time spent queued behind the previous batch counts) or `GATHER` items
wait, but only while items arrive more often than once per linger interval (a
smoothed mean gap), so a lone request at low load still waits for nobody. Fewer,
larger batches cost less CPU per request; no item waits for company longer than the
linger.

The scoring path runs two in a row (`services/scoring.py`): the decider (one
feature read, one scoring pass per batch) and the log writer (one group commit
per batch). Both live on the event loop: no thread hand-offs, no GIL
contention between request handling and the database work.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, Protocol, TypeVar

log = logging.getLogger(__name__)


class Pending(Protocol):
    future: asyncio.Future[Any]


T = TypeVar("T", bound=Pending)


GATHER = 8  # a batch this big has paid off most of its fixed costs: no linger
_GAP_WEIGHT = 0.05  # smoothing of the mean gap between arrivals (about the last 20)


class BatcherClosedError(RuntimeError):
    """The batcher is stopped; nothing more is accepted."""


def settle(future: asyncio.Future[Any], outcome: Any) -> None:
    """Hand a waiting request its outcome: a result, or the exception it ends with (as a value,
    so an outcome nobody awaits any more is never reported as an unretrieved exception)."""
    if not future.done():
        future.set_result(outcome)


class Batcher(Generic[T]):
    """One task feeding queued items to `handle(batch)` in batches of up to `max_batch`.

    `handle` settles every item's future, or hands the item on to a batcher that will;
    if it raises, every item of the batch not yet settled gets the exception.
    """

    def __init__(
        self,
        handle: Callable[[list[T]], Awaitable[None]],
        max_batch: int,
        name: str,
        linger: float = 0.0,
    ) -> None:
        self.handle = handle
        self.max_batch = max_batch
        self.name = name
        self.linger = linger  # seconds a small batch may wait for company (0: never)
        # Smoothed seconds between arrivals; it starts as after a long pause (see `put`).
        self.mean_gap = 10 * linger
        self._last_put = 0.0
        self._oldest = 0.0  # when the oldest item waiting was put
        self._gathered: asyncio.Future[None] | None = None  # set once GATHER items wait
        self._items: list[T] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.batches = 0  # batches handled (observability and tests)

    def start(self) -> Batcher[T]:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)
        return self

    def put(self, items: Iterable[T]) -> None:
        if self._closing or self._task is None:
            raise BatcherClosedError(f"the {self.name} is not running")
        before = len(self._items)
        self._items.extend(items)
        if self.linger:
            now = time.monotonic()
            added = len(self._items) - before
            if not before:
                self._oldest = now
            if self._gathered is not None and len(self._items) >= GATHER:
                settle(self._gathered, None)
            if added:
                # A pause (say, a quiet minute) counts as a short one, so the mean
                # recovers within a few arrivals when the load comes back.
                gap = min(now - self._last_put, 10 * self.linger) / added
                self._last_put = now
                self.mean_gap += _GAP_WEIGHT * (gap - self.mean_gap)
        self._wake.set()

    async def close(self) -> None:
        """Handle what is queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._gathered is not None:
            settle(self._gathered, None)
        if self._task is not None:
            await self._task
            self._task = None

    async def _linger(self) -> None:
        """Wait until the oldest item has waited `linger` (time spent queued behind the
        previous batch counts) or until GATHER items wait, whichever comes first."""
        wait = self._oldest + self.linger - time.monotonic()
        if wait <= 0:
            return
        loop = asyncio.get_running_loop()
        gathered = self._gathered = loop.create_future()
        timer = loop.call_later(wait, settle, gathered, None)
        try:
            await gathered
        finally:
            timer.cancel()
            self._gathered = None

    async def _run(self) -> None:
        while True:
            if not self._items:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if (
                self.linger
                and len(self._items) < GATHER
                and self.mean_gap < self.linger
                and not self._closing
            ):
                await self._linger()
            batch = self._items[: self.max_batch]
            del self._items[: self.max_batch]
            self.batches += 1
            try:
                await self.handle(batch)
            except Exception as exc:
                log.exception("%s: a batch of %d failed", self.name, len(batch))
                for item in batch:
                    settle(item.future, exc)
