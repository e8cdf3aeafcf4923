"""A hash of strings that we define, so partitions and seeded splits never move.

Polars' own `Expr.hash` may change between releases and Python's `hash()`
between processes; a borrower's bucket must not. The value's UTF-8 bytes,
padded with NUL to 64 bytes, are read as 16 little-endian 32-bit words and
folded with a polynomial modulo the Mersenne prime 2**31 - 1, then mixed
multiplicatively. The integer arithmetic stays below 2**63, so the result is
the same on every platform, process and Polars release.
"""

from __future__ import annotations

import polars as pl

HASHED_BYTES = 64  # identifiers longer than this are hashed on their first 64 bytes
_WORD = 4
_BASE = 1_000_003
_PRIME = 2**31 - 1
_GOLDEN = 2_654_435_761  # Knuth's multiplicative constant, < 2**32


def stable_hash(expr: pl.Expr) -> pl.Expr:
    """Int64 in [0, 2**32) from the string value of `expr`; null stays null."""
    data = expr.cast(pl.String).str.pad_end(HASHED_BYTES, "\x00").cast(pl.Binary)
    words = [
        data.bin.slice(offset, _WORD)
        .bin.reinterpret(dtype=pl.UInt32, endianness="little")
        .cast(pl.Int64)
        for offset in range(0, HASHED_BYTES, _WORD)
    ]
    value = words[0] % _PRIME  # starting from the value keeps the input's column name
    for word in words[1:]:
        value = (value * _BASE + word) % _PRIME
    mixed = (value * _GOLDEN) % 2**32
    return mixed.xor(mixed // 2**16)


def borrower_bucket(expr: pl.Expr, n_buckets: int) -> pl.Expr:
    """Stable partition bucket in [0, n_buckets) of a borrower identifier."""
    if n_buckets < 1:
        raise ValueError(f"n_buckets must be at least 1, got {n_buckets}")
    return (stable_hash(expr) % n_buckets).cast(pl.Int32)
