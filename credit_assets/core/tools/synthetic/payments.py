"""Utility, telecom and rent bills: one row per monthly bill, paid on time, late or missed.

A borrower's account with a source opens 6-24 months before the application
and keeps billing until the end of the data. Whether a bill is paid, and how
late, follows the borrower's trait for that source (correlated with the latent
creditworthiness `z`); after a (latent) default the trait drops, so records
dated after the application carry the outcome: they must never feed a feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from credit_assets.core.tools.synthetic._calendar import DAY, month_index, on_day, to_day
from credit_assets.core.tools.synthetic._random import KeyedRandom, expand, sigmoid
from credit_assets.core.tools.synthetic.population import (
    Population,
    borrower_ids,
    labels_of,
    prefixed_ids,
)

# How much worse a borrower pays once they have defaulted on the loan.
POST_DEFAULT_TRAIT_DROP = 2.5


@dataclass(frozen=True)
class BillSource:
    name: str  # the source (contract) name
    trait: str  # key into Population.coverage / history_months / trait
    id_prefix: str
    providers: tuple[str, ...]
    base_amount: float
    income_elasticity: float
    amount_sigma: float  # spread of the typical bill between borrowers
    bill_noise: float  # month-to-month variation of one borrower's bill
    seasonality: float  # winter peak (January) relative amplitude
    rounding: float


BILL_SOURCES = (
    BillSource(
        "utility_payments", "utility", "UB",
        ("Northern Power", "CityGas", "AquaServe", "GreenGrid Energy", "Metro Water", "Volta Utilities"),
        base_amount=75.0, income_elasticity=0.3, amount_sigma=0.30, bill_noise=0.10,
        seasonality=0.25, rounding=0.01,
    ),
    BillSource(
        "telecom_payments", "telecom", "TB",
        ("Telco One", "SkyMobile", "FiberNet", "Connectly", "Vox Broadband"),
        base_amount=42.0, income_elasticity=0.2, amount_sigma=0.35, bill_noise=0.04,
        seasonality=0.0, rounding=0.01,
    ),
    BillSource(
        "rent_payments", "rent", "RB",
        ("RentTrack", "HomeLet Reporting", "City Housing Association", "Private landlord", "Keystone Lettings"),
        base_amount=950.0, income_elasticity=0.7, amount_sigma=0.20, bill_noise=0.0,
        seasonality=0.0, rounding=5.0,
    ),
)  # fmt: skip


@dataclass(frozen=True)
class _Bills:
    """One row per monthly bill of a source due by the end date."""

    b: np.ndarray  # the account holders' borrower numbers
    parent: np.ndarray  # each bill's account holder, a position in `b`
    pos: np.ndarray  # each bill's borrower, a position in the population
    k: np.ndarray  # months since the account opened
    key: np.ndarray  # the bill's random key
    month: np.ndarray  # month index
    due: np.ndarray  # due date

    @classmethod
    def due_by(
        cls, pop: Population, s: str, holders: np.ndarray, due_day: np.ndarray, end: np.datetime64
    ) -> _Bills:
        """Every month from the account's opening to `end`, billed on the holder's due day."""
        b = pop.index[holders]
        first_month = month_index(pop.application_date[holders]) - pop.history_months[s][holders]
        n_bills = month_index(np.array([end]))[0] - first_month + 1
        parent, k = expand(n_bills)
        key = (b[parent] << 8) | k
        month = first_month[parent] + k
        due = on_day(month, due_day[parent])
        keep = due <= end
        parent, k, key, month, due = parent[keep], k[keep], key[keep], month[keep], due[keep]
        return cls(b=b, parent=parent, pos=holders[parent], k=k, key=key, month=month, due=due)


@dataclass(frozen=True)
class _Payments:
    """How each bill was paid; `paid` is False for a missed bill or one paid after the end."""

    paid: np.ndarray
    paid_date: np.ndarray
    amount_paid: np.ndarray
    offset: np.ndarray  # days after the due date (negative: paid early)


def bills_frame(pop: Population, source: BillSource, seed: int, end_date: date) -> pl.DataFrame:
    """All bills of one source for the borrowers who hold an account with it."""
    rng = KeyedRandom(seed)
    s = source.trait
    holders = np.flatnonzero(pop.coverage[s])
    b = pop.index[holders]
    end = to_day(end_date)

    # Borrower-level terms of the account.
    due_day = rng.integers(f"{s}_due_day", b, 1, 28)
    typical = typical_bill(rng, source, b, pop.true_income[holders])
    provider_code = rng.integers(f"{s}_provider", b, 0, len(source.providers) - 1)

    bills = _Bills.due_by(pop, s, holders, due_day, end)
    amount_due = _amounts_due(rng, source, bills, typical)
    payments = _payments(rng, s, bills, _payer_trait(pop, s, bills), amount_due, end)
    provider = labels_of(
        provider_code[bills.parent],
        source.providers,
        rng.bernoulli(f"{s}_provider_missing", bills.key, 0.02),
    )
    return _bills_table(source, bills, provider, amount_due, payments)


def _amounts_due(
    rng: KeyedRandom, source: BillSource, bills: _Bills, typical: np.ndarray
) -> np.ndarray:
    """Each bill's amount: the typical bill with a winter peak and month-to-month noise, rounded."""
    calendar_month = np.mod(bills.month, 12)  # 0 = January
    amount = (
        typical[bills.parent]
        * (1.0 + source.seasonality * np.cos(2.0 * np.pi * calendar_month / 12.0))
        * np.exp(source.bill_noise * rng.normal(f"{source.trait}_bill_noise", bills.key))
    )
    if source.trait == "rent":  # rent rises 3 % on each tenancy anniversary
        amount = amount * 1.03 ** (bills.k // 12)
    amount_due = np.round(amount / source.rounding) * source.rounding
    return np.clip(amount_due, source.rounding, 50000.0)


def _payer_trait(pop: Population, s: str, bills: _Bills) -> np.ndarray:
    """The borrower's trait for this source at each bill, dropped once they have defaulted."""
    default_date = pop.default_date[bills.pos]
    after_default = ~np.isnat(default_date) & (bills.due > default_date)
    return pop.trait[s][bills.pos] - POST_DEFAULT_TRAIT_DROP * after_default


def _payments(
    rng: KeyedRandom,
    s: str,
    bills: _Bills,
    t: np.ndarray,
    amount_due: np.ndarray,
    end: np.datetime64,
) -> _Payments:
    """Missed, late, early and partial payments, each likelier or longer for weaker payers."""
    key = bills.key
    missed = rng.bernoulli(f"{s}_missed", key, sigmoid(-4.3 - 1.4 * t))
    offset = _days_late(rng, s, key, t)
    paid_date = bills.due + offset * DAY
    # A payment after the extract date is not known yet: the bill shows as unpaid.
    paid = ~missed & (paid_date <= end)

    partial = rng.bernoulli(f"{s}_partial", key, sigmoid(-3.8 - 1.0 * t))
    amount_paid = amount_due.copy()
    share = 0.3 + 0.65 * rng.uniform(f"{s}_partial_share", key[partial])
    amount_paid[partial] = np.round(amount_due[partial] * share, 2)
    return _Payments(paid=paid, paid_date=paid_date, amount_paid=amount_paid, offset=offset)


def _days_late(rng: KeyedRandom, s: str, key: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Days between the due date and the payment, negative when paid early.

    Days late: heavy-tailed, longer for weaker payers. On-time payers keep a habit of paying
    some days early, the stronger the earlier. (Each drawn only where it applies.)
    """
    late = rng.bernoulli(f"{s}_late", key, sigmoid(-2.25 - 1.8 * t))
    offset = np.zeros(key.size, dtype=np.int64)
    lk, lt = key[late], t[late]
    late_days = 1 + np.floor(
        np.exp(np.log(3.0) - 0.6 * lt + 0.9 * rng.normal(f"{s}_late_days", lk))
    )
    offset[late] = np.minimum(late_days, 365)
    ek, et = key[~late], t[~late]
    early_days = np.round(np.exp(1.2 + 0.6 * et + 0.35 * rng.normal(f"{s}_early_days", ek))) - 1
    offset[~late] = -np.clip(early_days, 0, 25)
    return offset


def _bills_table(
    source: BillSource,
    bills: _Bills,
    provider: pl.Series,
    amount_due: np.ndarray,
    payments: _Payments,
) -> pl.DataFrame:
    """The source's contract columns; what was not paid (yet) is null."""
    paid, b, parent = payments.paid, bills.b, bills.parent
    return pl.DataFrame(
        {
            "bill_id": prefixed_ids(source.id_prefix, b[parent] * 1000 + bills.k, 11),
            "borrower_id": borrower_ids(b).gather(parent),
            "provider": provider,
            "due_date": pl.Series(bills.due, dtype=pl.Date),
            "paid_date": pl.Series(
                np.where(paid, payments.paid_date, np.datetime64("NaT")), dtype=pl.Date
            ),
            "amount_due": amount_due,
            "amount_paid": np.where(paid, payments.amount_paid, np.nan),
            "days_late": pl.Series(np.maximum(payments.offset, 0), dtype=pl.Int64),
        }
    ).with_columns(
        pl.col("amount_paid").fill_nan(None),
        pl.when(pl.Series(paid)).then(pl.col("days_late")).otherwise(None).alias("days_late"),
    )


def typical_bill(
    rng: KeyedRandom, source: BillSource, borrowers: np.ndarray, income: np.ndarray
) -> np.ndarray:
    """A borrower's usual monthly amount with this source (the bank reuses it for the debit)."""
    return (
        source.base_amount
        * (income / 3000.0) ** source.income_elasticity
        * np.exp(source.amount_sigma * rng.normal(f"{source.trait}_typical", borrowers))
    )
