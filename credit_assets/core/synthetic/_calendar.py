"""Vectorised calendar arithmetic on numpy `datetime64[D]` arrays."""

from __future__ import annotations

from datetime import date

import numpy as np

DAY = np.timedelta64(1, "D")


def to_day(d: date) -> np.datetime64:
    return np.datetime64(d, "D")


def month_index(days: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of each date."""
    return days.astype("datetime64[M]").astype(np.int64)


def month_start(months: np.ndarray) -> np.ndarray:
    return np.asarray(months, dtype=np.int64).astype("datetime64[M]").astype("datetime64[D]")


def days_in_month(months: np.ndarray) -> np.ndarray:
    return (month_start(np.asarray(months) + 1) - month_start(months)).astype(np.int64)


def day_of_month(days: np.ndarray) -> np.ndarray:
    """1-based day of the month."""
    return (days - days.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1


def on_day(months: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Date with the given 1-based day in each month, clamped to the month's last day."""
    months = np.asarray(months, dtype=np.int64)
    day = np.minimum(np.asarray(day, dtype=np.int64), days_in_month(months))
    return month_start(months) + (day - 1) * DAY


def add_months(days: np.ndarray, k: int | np.ndarray) -> np.ndarray:
    """Calendar month shift (31 January + 1 month = 28 or 29 February)."""
    return on_day(month_index(days) + k, day_of_month(days))
