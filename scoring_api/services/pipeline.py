"""Micro-batching: requests that arrive together are decided together.

A request handler puts its jobs on a queue and awaits them; one background
thread takes whatever has queued up (up to `max_batch` jobs) and hands the lot
to a batch function, which settles every job with its outcome. While the batch
function works, the next requests queue up, so under load the per-request costs
(a database round trip, a CatBoost call, a commit) are paid once per batch, and
with no load a request waits for nobody.

Outcomes go back to the event loop that is awaiting them with one
`call_soon_threadsafe` per batch and loop, not one per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class PipelineClosedError(RuntimeError):
    """The pipeline is stopped; nothing more can be decided."""


class Ticket(Generic[T]):
    """One job and the future its request awaits. `outcome` is a result or an exception."""

    __slots__ = ("future", "job", "loop")

    def __init__(self, job: T, loop: asyncio.AbstractEventLoop) -> None:
        self.job = job
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()


def _set(pairs: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, outcome in pairs:
        if not future.done():  # a request cancelled meanwhile (client gone)
            future.set_result(outcome)


def settle(outcomes: Sequence[tuple[Ticket[Any], Any]]) -> None:
    """Hand each ticket its outcome (callable from any thread): one wake-up per event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = defaultdict(
        list
    )
    for ticket, outcome in outcomes:
        by_loop[ticket.loop].append((ticket.future, outcome))
    for loop, pairs in by_loop.items():
        # A closed loop (RuntimeError) has nobody waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_set, pairs)


_STOP = object()


class BatchingPipeline(Generic[T]):
    """One thread feeding queued tickets to `process(tickets)` in batches of up to `max_batch`.

    `process` must settle every ticket (see `settle`), now or later from another
    thread; if it raises, every ticket of the batch gets the exception.
    """

    def __init__(
        self,
        process: Callable[[list[Ticket[T]]], None],
        max_batch: int = 256,
        name: str = "scoring-pipeline",
    ) -> None:
        self.process = process
        self.max_batch = max_batch
        self.name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.batches = 0  # batches processed (observability and tests)
        self.jobs = 0

    def start(self) -> BatchingPipeline[T]:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Process what is queued, then stop."""
        self._closed = True
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    async def run(self, jobs: Sequence[T]) -> list[Any]:
        """Each job's outcome, in order: a result, or the exception that job ended with."""
        if self._closed or self._thread is None:
            raise PipelineClosedError(f"the {self.name} is not running")
        loop = asyncio.get_running_loop()
        tickets = [Ticket(job, loop) for job in jobs]
        for ticket in tickets:
            self._queue.put(ticket)
        return [await ticket.future for ticket in tickets]

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self.batches += 1
            self.jobs += len(batch)
            try:
                self.process(batch)
            except Exception as exc:
                log.exception("%s: a batch of %d failed", self.name, len(batch))
                settle([(ticket, exc) for ticket in batch])
