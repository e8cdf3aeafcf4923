"""Per-lender token buckets: `rate` requests per second sustained, `burst` at once."""

from __future__ import annotations

import threading
import time


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
