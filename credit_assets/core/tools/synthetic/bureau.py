"""Credit bureau summaries for the minority of borrowers the bureau knows.

A covered borrower has one report pulled 1-90 days before the application and a
refresh every six months after it until the end of the data; a feature must
use the latest report dated before the application.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from credit_assets.core.tools.synthetic._calendar import DAY, to_day
from credit_assets.core.tools.synthetic._random import KeyedRandom, expand, sigmoid
from credit_assets.core.tools.synthetic.population import Population, borrower_ids

REFRESH_DAYS = 182


def bureau_frame(pop: Population, seed: int, end_date: date) -> pl.DataFrame:
    rng = KeyedRandom(seed)
    covered = np.flatnonzero(pop.coverage["bureau"])
    b = pop.index[covered]
    end = to_day(end_date)
    app = pop.application_date[covered]
    first_report = app - rng.integers("bureau_lead", b, 1, 90) * DAY
    n_reports = 1 + (end - app).astype(np.int64) // REFRESH_DAYS

    parent, k = expand(n_reports)
    key = (b[parent] << 6) | k
    pos = covered[parent]
    report_date = np.where(k == 0, first_report[parent], app[parent] + (k * REFRESH_DAYS) * DAY)

    default_date = pop.default_date[pos]
    after_default = ~np.isnat(default_date) & (report_date > default_date)
    t = pop.trait["bureau"][pos] - 2.0 * after_default

    score = np.round(640 + 70 * t + 25 * rng.normal("bureau_score", key))
    score_missing = rng.bernoulli("bureau_score_missing", b, 0.04)[parent]
    age = pop.age_years[pos] + k * REFRESH_DAYS / 365.25
    open_accounts = np.minimum(rng.poisson("bureau_accounts", key, 0.5 + 0.07 * (age - 18)), 100)
    delinquencies = np.minimum(rng.poisson("bureau_delinquencies", key, np.exp(-1.3 - 1.0 * t)), 50)
    utilization = np.round(
        1.1 * sigmoid(-0.4 - 0.9 * t + 0.6 * rng.normal("bureau_utilization", key)), 3
    )
    history_share = 0.2 + 0.8 * rng.uniform("bureau_history", b)[parent]
    oldest = np.floor(np.maximum(age - 18, 0.0) * 12 * history_share) + k * 6
    oldest_missing = rng.bernoulli("bureau_oldest_missing", b, 0.05)[parent]

    return pl.DataFrame(
        {
            "borrower_id": borrower_ids(b).gather(parent),
            "report_date": pl.Series(report_date, dtype=pl.Date),
            "bureau_score": np.where(score_missing, np.nan, np.clip(score, 300, 850)),
            "open_accounts": open_accounts.astype(np.int64),
            "delinquencies_24m": delinquencies.astype(np.int64),
            "credit_utilization": np.where(open_accounts == 0, np.nan, utilization),
            "months_since_oldest_account": np.where(
                oldest_missing, np.nan, np.minimum(oldest, 720)
            ),
        }
    ).with_columns(
        pl.col("credit_utilization").fill_nan(None),
        pl.col("bureau_score", "months_since_oldest_account").fill_nan(None).cast(pl.Int64),
    )
