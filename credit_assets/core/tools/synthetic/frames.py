"""Clean in-memory frames of every source for a slice of borrowers."""

from __future__ import annotations

from datetime import date

import polars as pl

from credit_assets.core.tools.synthetic.bank import bank_frame
from credit_assets.core.tools.synthetic.bureau import bureau_frame
from credit_assets.core.tools.synthetic.payments import BILL_SOURCES, bills_frame
from credit_assets.core.tools.synthetic.population import (
    PlantedDisparity,
    applications_frame,
    demographics_frame,
    draw_population,
    ground_truth_frame,
    outcomes_frame,
)

MAX_BORROWERS = 10**8  # identifiers carry 8 digits

DEFAULT_END_DATE = date(2026, 9, 30)


def generate_frames(
    n_borrowers: int,
    *,
    seed: int = 42,
    end_date: date = DEFAULT_END_DATE,
    first_borrower: int = 0,
    planted_disparity: PlantedDisparity | None = None,
) -> dict[str, pl.DataFrame]:
    """Clean frames of every source for borrowers [first_borrower, first_borrower + n_borrowers).

    Keys are the eight source names of contracts/*.yaml plus "ground_truth".
    The result depends only on (seed, end_date) and the borrower numbers, so
    frames generated in chunks concatenate to the frames generated at once.
    """
    if n_borrowers < 0 or first_borrower < 0:
        raise ValueError("n_borrowers and first_borrower must be non-negative")
    if first_borrower + n_borrowers > MAX_BORROWERS:
        raise ValueError("borrower numbers must fit the 8-digit identifiers (at most 100 000 000)")
    pop = draw_population(first_borrower, n_borrowers, seed, end_date, planted_disparity)
    frames = {
        "applications": applications_frame(pop, seed),
        "outcomes": outcomes_frame(pop),
        **{source.name: bills_frame(pop, source, seed, end_date) for source in BILL_SOURCES},
        "bank_transactions": bank_frame(pop, seed, end_date),
        "bureau": bureau_frame(pop, seed, end_date),
        "demographics": demographics_frame(pop),
        "ground_truth": ground_truth_frame(pop),
    }
    return frames
