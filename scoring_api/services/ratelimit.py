"""Per-lender token buckets (`RateLimiter`: `rate` requests per second sustained, `burst` at
once) and the brake on guessing API keys (`FailedKeyLimiter`)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Sequence


class RateLimiter:
    """In-process limits; with N worker processes a lender gets up to N times the rate."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._buckets: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def take(self, lender: str) -> float | None:
        """Spend one token; None if allowed, else the seconds until one is available."""
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get(lender)
            if bucket is None:
                bucket = self._buckets[lender] = [self.burst, now]
            tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
            bucket[1] = now
            if tokens >= 1.0:
                bucket[0] = tokens - 1.0
                return None
            bucket[0] = tokens
            return (1.0 - tokens) / self.rate


class FailedKeyLimiter:
    """Attempts with API keys not yet proven, per subject (a client address, a key id): once
    a subject has `limit` failures in the last `window` seconds, or attempts in flight and
    failures together reach `limit`, further attempts are refused until the oldest failure
    leaves the window, without checking the key.

    Each distinct key in flight counts once, from the moment it starts: a burst of concurrent
    guesses stops at `limit` too, while a lender's new key sent by 40 threads at once is one
    attempt (the verifier proves it once; `ApiKeyVerifier`). A key that proves good leaves
    nothing behind; each refused presentation is a failure. At most `max_subjects` subjects'
    failures are remembered, the least recently seen forgotten first. In-process, like
    `RateLimiter`: with N worker processes a subject gets up to N times the limit."""

    def __init__(self, limit: int, window: float, max_subjects: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_subjects = max_subjects
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._in_flight: dict[str, dict[bytes, int]] = {}  # subject -> key -> attempts
        self._lock = threading.Lock()

    def begin(self, subjects: Sequence[str], key: bytes) -> float | None:
        """Let an attempt with `key` (its fingerprint) start: None, or the seconds until the
        most limited subject may try again (then nothing is counted)."""
        now = time.monotonic()
        with self._lock:
            waits = []
            for subject in subjects:
                flying = self._in_flight.get(subject, {})
                if key in flying:
                    continue  # joins an attempt with the same key, already counted
                failures = self._recent(subject, now)
                if len(failures) + len(flying) >= self.limit:
                    waits.append(failures[0] + self.window - now if failures else 1.0)
            if waits:
                return max(waits)
            for subject in subjects:
                flying = self._in_flight.setdefault(subject, {})
                flying[key] = flying.get(key, 0) + 1
            return None

    def end(self, subjects: Sequence[str], key: bytes, failed: bool) -> None:
        """An attempt `begin` let start is over; `failed` when the key was refused."""
        now = time.monotonic()
        with self._lock:
            for subject in subjects:
                flying = self._in_flight.get(subject, {})
                if flying.get(key, 0) > 1:
                    flying[key] -= 1
                else:
                    flying.pop(key, None)
                    if not flying:
                        self._in_flight.pop(subject, None)
                if failed:
                    self._failures.setdefault(subject, deque()).append(now)
                    self._failures.move_to_end(subject)
            while len(self._failures) > self.max_subjects:
                self._failures.popitem(last=False)

    def _recent(self, subject: str, now: float) -> deque[float]:
        failures = self._failures.get(subject)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures
