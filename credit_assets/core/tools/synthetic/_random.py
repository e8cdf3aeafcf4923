"""Counter-based random numbers keyed by record, so any slice of borrowers is reproducible.

A stateful generator would make a borrower's data depend on how many borrowers
were drawn before it. Here every value is a hash of (seed, stream, key, draw):
generating borrowers [1000, 2000) alone gives exactly what the same borrowers
get inside a run of 10 000, which is what lets `generate` stream in chunks.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
from scipy.special import ndtri

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MASK64 = (1 << 64) - 1


def _mix(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser: a bijection on uint64 with full avalanche (updates `x` in place)."""
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def _mix_int(value: int) -> int:
    return int(_mix(np.array([value & _MASK64], dtype=np.uint64))[0])


class KeyedRandom:
    """Random draws that are pure functions of (seed, stream name, integer key, draw index)."""

    def __init__(self, seed: int) -> None:
        self._seed = _mix_int(seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019)
        self._streams: dict[tuple[str, int], np.uint64] = {}

    def _salt(self, stream: str, draw: int) -> np.uint64:
        key = (stream, draw)
        if key not in self._streams:
            name = zlib.crc32(stream.encode()) << 20 | (draw & 0xFFFFF)
            self._streams[key] = np.uint64(_mix_int(self._seed ^ _mix_int(name)))
        return self._streams[key]

    def bits(self, stream: str, keys: np.ndarray, draw: int = 0) -> np.ndarray:
        x = np.asarray(keys).astype(np.uint64)  # a copy: _mix works in place
        x *= _GOLDEN
        x += self._salt(stream, draw)
        x = _mix(x)
        x ^= self._salt(stream, ~draw)
        return _mix(x)

    def uniform(self, stream: str, keys: np.ndarray, draw: int = 0) -> np.ndarray:
        """Uniform on the open interval (0, 1)."""
        h = self.bits(stream, keys, draw) >> np.uint64(11)
        return (h.astype(np.float64) + 0.5) * 2.0**-53

    def normal(self, stream: str, keys: np.ndarray, draw: int = 0) -> np.ndarray:
        return ndtri(self.uniform(stream, keys, draw))

    def bernoulli(
        self, stream: str, keys: np.ndarray, p: np.ndarray | float, draw: int = 0
    ) -> np.ndarray:
        return self.uniform(stream, keys, draw) < p

    def integers(
        self,
        stream: str,
        keys: np.ndarray,
        low: np.ndarray | int,
        high: np.ndarray | int,
        draw: int = 0,
    ) -> np.ndarray:
        """Integers uniform on [low, high] (both ends included)."""
        span = np.asarray(high) - np.asarray(low) + 1
        return np.asarray(low) + np.floor(self.uniform(stream, keys, draw) * span).astype(np.int64)

    def choice(
        self,
        stream: str,
        keys: np.ndarray,
        n_options: int,
        p: Sequence[float] | np.ndarray,
        draw: int = 0,
    ) -> np.ndarray:
        """Index into options; `p` is one probability vector or one row per key."""
        u = self.uniform(stream, keys, draw)
        p = np.asarray(p, dtype=np.float64)
        if p.ndim == 1:
            cdf = np.cumsum(p / p.sum())
            return np.minimum(np.searchsorted(cdf, u, side="right"), n_options - 1)
        cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
        return np.minimum((u[:, None] >= cdf).sum(axis=1), n_options - 1)

    def poisson(
        self, stream: str, keys: np.ndarray, lam: np.ndarray | float, draw: int = 0
    ) -> np.ndarray:
        """Poisson counts by inverting the CDF (rates here are small, so few terms are needed)."""
        u = self.uniform(stream, keys, draw)
        lam = np.broadcast_to(np.asarray(lam, dtype=np.float64), u.shape)
        pmf = np.exp(-lam)
        cdf = pmf.copy()
        count = np.zeros(u.shape, dtype=np.int64)
        k = 0
        while True:
            above = u > cdf
            if not above.any() or k > 200:
                return count
            count += above
            k += 1
            pmf = pmf * lam / k
            cdf = cdf + pmf


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For per-parent counts, the parent position and the 0-based index of each child row."""
    counts = np.asarray(counts, dtype=np.int64)
    parent = np.repeat(np.arange(counts.size), counts)
    starts = np.cumsum(counts) - counts
    return parent, np.arange(parent.size) - starts[parent]
