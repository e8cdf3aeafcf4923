"""Vectorised calendar arithmetic on numpy `datetime64[D]` arrays.

Month starts and lengths come from a lookup table (1900-2199): indexing it is
much cheaper than converting between datetime64 units row by row.
"""

from __future__ import annotations

from datetime import date

import numpy as np

DAY = np.timedelta64(1, "D")
_FIRST_MONTH = (1900 - 1970) * 12  # months since 1970-01 of the table's first entry
_STARTS = (
    np.arange(_FIRST_MONTH, _FIRST_MONTH + 300 * 12 + 1)
    .astype("datetime64[M]")
    .astype("datetime64[D]")
    .astype(np.int64)
)
_LENGTHS = np.diff(_STARTS)


def to_day(d: date) -> np.datetime64:
    return np.datetime64(d, "D")


def month_index(days: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of each date."""
    return days.astype("datetime64[M]").astype(np.int64)


def month_start(months: np.ndarray) -> np.ndarray:
    return _STARTS[np.asarray(months, dtype=np.int64) - _FIRST_MONTH].view("datetime64[D]")


def days_in_month(months: np.ndarray) -> np.ndarray:
    return _LENGTHS[np.asarray(months, dtype=np.int64) - _FIRST_MONTH]


def day_of_month(days: np.ndarray) -> np.ndarray:
    """1-based day of the month."""
    return (days - days.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1


def on_day(months: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Date with the given 1-based day in each month, clamped to the month's last day."""
    i = np.asarray(months, dtype=np.int64) - _FIRST_MONTH
    day = np.minimum(np.asarray(day, dtype=np.int64), _LENGTHS[i])
    return (_STARTS[i] + day - 1).view("datetime64[D]")


def add_months(days: np.ndarray, k: int | np.ndarray) -> np.ndarray:
    """Calendar month shift (31 January + 1 month = 28 or 29 February)."""
    return on_day(month_index(days) + k, day_of_month(days))
