"""Open-banking transactions: a current account per consenting borrower, with a running balance.

Consent covers 6-12 months before the application and 1-6 months after it.
Each month brings income (payroll for the employed, several smaller payouts for
gig workers, benefits or a pension otherwise), fixed bills (rent, utilities, a
mortgage as a transfer), card spending and, for weaker borrowers, gambling.
Spending is sized against income by a spend ratio that rises as the
borrower's trait falls, so weak borrowers drift into overdraft, pay fees and
have direct debits returned. Amounts are kept in integer cents so the running
balance is exact: balance[i] = balance[i-1] + amount[i].
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from credit_assets.core.synthetic._calendar import DAY, add_months, day_of_month, month_index, on_day, to_day
from credit_assets.core.synthetic._random import KeyedRandom, expand, sigmoid
from credit_assets.core.synthetic.payments import BILL_SOURCES, typical_bill
from credit_assets.core.synthetic.population import Population, borrower_ids

CATEGORIES = (
    "payroll", "other_income", "rent", "utilities", "groceries", "gambling",
    "overdraft_fee", "returned_payment", "cash_withdrawal", "transfer_out", "shopping",
)  # fmt: skip
PAYROLL, OTHER_INCOME, RENT, UTILITIES, GROCERIES, GAMBLING = range(6)
OVERDRAFT_FEE, RETURNED_PAYMENT, CASH, TRANSFER_OUT, SHOPPING = range(6, 11)
# Debits a bank returns when the account cannot cover them; card spending is declined instead.
DIRECT_DEBITS = (RENT, UTILITIES, TRANSFER_OUT)
COUNTERPARTIES = {
    PAYROLL: ("Acme Logistics Ltd", "Northwind Retail", "City Council", "Brightside Health", "Orbit Tech", "Harbor Foods"),
    OTHER_INCOME: ("DWP", "Pension Service", "Student Finance", "Family transfer", "Marketplace sale"),
    RENT: ("Landlord", "Keystone Lettings", "City Housing Association"),
    UTILITIES: ("Northern Power", "CityGas", "AquaServe", "GreenGrid Energy"),
    GROCERIES: ("FreshMart", "Greenleaf Grocers", "SaveMore", "Corner Shop"),
    GAMBLING: ("LuckyBet", "SpinPalace", "BetNow", "Royal Lottery"),
    OVERDRAFT_FEE: ("Bank fee",),
    RETURNED_PAYMENT: ("Returned direct debit",),
    CASH: ("ATM",),
    TRANSFER_OUT: ("Own savings", "Mortgage lender", "Friend", "Credit card repayment"),
    SHOPPING: ("ShopOnline", "HighStreet Fashion", "TechHub", "HomeStore", "Streamly"),
}  # fmt: skip
GIG_PAYOUTS_PER_MONTH = 3.0
OVERDRAFT_FEE_AMOUNT = 25.0
# Share of the discretionary budget and events per month for card-like spending.
SPEND_MIX = {GROCERIES: (0.42, 1.6), SHOPPING: (0.28, 0.7), CASH: (0.14, 0.45), TRANSFER_OUT: (0.16, 0.25)}


class _Events:
    """Columns of generated transactions, appended category by category."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(
        self, borrower: np.ndarray, day: np.ndarray, cents: np.ndarray, category: int, order: np.ndarray, key: np.ndarray
    ) -> None:
        cat = np.full(borrower.size, category, dtype=np.int64)
        self.parts.append((borrower, day, cents, cat, order, key))

    def columns(self) -> tuple[np.ndarray, ...]:
        return tuple(np.concatenate(col) for col in zip(*self.parts, strict=True))


def bank_frame(pop: Population, seed: int, end_date: date) -> pl.DataFrame:
    rng = KeyedRandom(seed)
    holders = np.flatnonzero(pop.coverage["bank"])
    b = pop.index[holders]
    end = to_day(end_date)
    app = pop.application_date[holders]
    start = add_months(app, -pop.history_months["bank"][holders])
    stop = np.minimum(add_months(app, rng.integers("bank_consent_after", b, 1, 6)), end)

    t = pop.trait["bank"][holders]
    employment = pop.employment[holders]
    net_income = 0.78 * pop.true_income[holders]
    renter = pop.housing[holders] == 0
    owner = pop.housing[holders] == 1
    rent = typical_bill(rng, BILL_SOURCES[2], b, pop.true_income[holders])
    utility = typical_bill(rng, BILL_SOURCES[0], b, pop.true_income[holders])
    mortgage = np.round(0.22 * pop.true_income[holders] * np.exp(0.2 * rng.normal("bank_mortgage", b)), 2)
    spend_ratio = 0.96 - 0.10 * t + 0.03 * rng.normal("bank_spend_ratio", b)
    fixed = renter * rent + owner * mortgage + 0.9 * utility
    budget = np.maximum(spend_ratio * net_income - fixed, 0.15 * net_income)
    gambling_rate = 2.5 * sigmoid(-3.2 - 1.6 * t + 0.8 * rng.normal("bank_gambler", b))
    default_date = pop.default_date[holders]

    # One row per borrower-month of consent.
    first_month = month_index(start)
    bm, m_off = expand(month_index(stop) - first_month + 1)
    bm_key = (b[bm] << 6) | m_off
    month = first_month[bm] + m_off
    ev = _Events()

    def add(category: int, counts: np.ndarray, day: np.ndarray | None, amount_fn) -> None:
        parent, slot = expand(counts)
        key = (bm_key[parent] << 9) | (category << 5) | np.minimum(slot, 31)
        name = CATEGORIES[category]
        if day is None:
            d = rng.integers(f"bank_{name}_day", key, 1, 28)
        else:
            d = day[parent]
        amount = amount_fn(parent, key)
        order = (category << 5) | np.minimum(slot, 31)
        cents = np.round(amount * 100).astype(np.int64)
        ev.add(bm[parent], on_day(month[parent], d), cents, category, order << 2, key)

    def lognormal(stream: str, key: np.ndarray, sigma: float) -> np.ndarray:
        return np.exp(sigma * rng.normal(stream, key) - sigma**2 / 2)

    # Income. Weak borrowers miss pay months (spells out of work) and get paid less regularly.
    pay_day = rng.integers("bank_pay_day", b, 1, 28)
    regular = np.isin(employment, (0, 1))
    paid = rng.bernoulli("bank_paid_month", bm_key, sigmoid(3.0 + 1.2 * t[bm]))
    jitter = np.round(rng.normal("bank_pay_jitter", bm_key) * (0.5 + 3.0 * sigmoid(-t[bm])))
    day = np.clip(pay_day[bm] + jitter, 1, 28).astype(np.int64)
    pay_sigma = np.where(employment == 1, 0.35, 0.03 + 0.12 * sigmoid(-t))
    add(PAYROLL, (regular[bm] & paid).astype(np.int64), day,
        lambda p, k: net_income[bm[p]] * np.exp(pay_sigma[bm[p]] * rng.normal("bank_payroll", k)))
    gig = employment == 2
    gig_counts = np.where(gig[bm] & paid, rng.poisson("bank_gig", bm_key, GIG_PAYOUTS_PER_MONTH), 0)
    add(PAYROLL, gig_counts, None,
        lambda p, k: net_income[bm[p]] / GIG_PAYOUTS_PER_MONTH * lognormal("bank_gig_amount", k, 0.5))
    benefit = np.isin(employment, (3, 4, 5))
    add(OTHER_INCOME, benefit[bm].astype(np.int64), np.clip(pay_day[bm], 1, 28),
        lambda p, k: net_income[bm[p]] * lognormal("bank_benefit", k, 0.03))
    add(OTHER_INCOME, rng.bernoulli("bank_other_income", bm_key, 0.12).astype(np.int64), None,
        lambda p, k: 150.0 * lognormal("bank_other_amount", k, 0.8))

    # Fixed bills.
    bill_day = rng.integers("bank_bill_day", b, 1, 28)
    add(RENT, renter[bm].astype(np.int64), bill_day[bm], lambda p, k: -rent[bm[p]])
    add(TRANSFER_OUT, owner[bm].astype(np.int64), bill_day[bm], lambda p, k: -mortgage[bm[p]])
    has_utility = rng.bernoulli("bank_utility", bm_key, np.where(pop.coverage["utility"][holders][bm], 0.9, 0.3))
    season = 1.0 + 0.25 * np.cos(2.0 * np.pi * np.mod(month, 12) / 12.0)
    add(UTILITIES, has_utility.astype(np.int64), None,
        lambda p, k: -utility[bm[p]] * season[p] * lognormal("bank_utility_amount", k, 0.1))

    # Card spending and transfers, sized against the monthly budget; gambling on top.
    for category, (share, per_month) in SPEND_MIX.items():
        rate = per_month * (1.0 + 1.2 * sigmoid(-t[bm])) if category == CASH else np.full(bm.size, per_month)
        counts = rng.poisson(f"bank_{CATEGORIES[category]}_count", bm_key, rate)
        add(category, counts, None,
            lambda p, k, share=share, rate=rate: -budget[bm[p]] * share / rate[p]
            * lognormal(f"bank_{CATEGORIES[category]}_amount", k, 0.6))
    add(GAMBLING, rng.poisson("bank_gambling_count", bm_key, gambling_rate[bm]), None,
        lambda p, k: -25.0 * lognormal("bank_gambling_amount", k, 1.0))

    rows = ev.columns()
    pos, day_ = rows[0], rows[1]
    # After a default the account deteriorates: half the income stops, so fees and returns pile up.
    after_default = ~np.isnat(default_date[pos]) & (day_ > default_date[pos])
    lost_income = after_default & (rows[3] == PAYROLL) & rng.bernoulli("bank_post_default", rows[5], 0.5)
    keep = (day_ >= start[pos]) & (day_ <= stop[pos]) & ~lost_income
    pos, day_, cents, cat, order, key = (c[keep] for c in rows)
    cents = np.clip(cents, -9_500_000, 9_500_000)

    opening = net_income * (1.2 * np.exp(1.0 * t + 0.4 * rng.normal("bank_opening", b)) - 0.3)
    opening_cents = np.round(np.clip(opening, -500.0, 300_000.0) * 100).astype(np.int64)
    limit_cents = (np.minimum(1500.0, np.round(0.25 * net_income, -2)) * 100).astype(np.int64)
    pos, day_, cents, cat, key = _settle(pos, day_, cents, cat, order, key, opening_cents, limit_cents)

    balance = _running_balance(pos, cents, opening_cents)
    seq = expand(np.bincount(pos, minlength=holders.size))[1]
    counterparty = _counterparties(rng, b, pos, cat, key)
    return pl.DataFrame(
        {
            "transaction_id": pl.select(
                pl.concat_str(
                    pl.lit("TX"),
                    pl.Series(b[pos]).cast(pl.String).str.zfill(8),
                    pl.Series(seq).cast(pl.String).str.zfill(4),
                )
            ).to_series(),
            "borrower_id": borrower_ids(b[pos]),
            "booked_date": pl.Series(day_, dtype=pl.Date),
            "amount": cents / 100.0,
            "category": pl.Series(np.asarray(CATEGORIES, dtype=object)[cat], dtype=pl.String),
            "balance": balance / 100.0,
            "counterparty": pl.Series(counterparty, dtype=pl.String),
        }
    )


Rows = tuple[np.ndarray, ...]  # borrower position, date, cents, category, intra-day order, random key
RETURNED_TAG = 1 << 50
FEE_TAG = 1 << 51


def _sorted(rows: Rows) -> Rows:
    pos, day_, _, _, order, _ = rows
    ix = np.lexsort((order, day_, pos))
    return tuple(c[ix] for c in rows)


def _running_balance(pos: np.ndarray, cents: np.ndarray, opening_cents: np.ndarray) -> np.ndarray:
    """Balance after each transaction; rows sorted by borrower. Integer cents keep it exact."""
    cs = np.cumsum(cents)
    first = np.flatnonzero(np.r_[True, pos[1:] != pos[:-1]])
    before = np.repeat(cs[first] - cents[first], np.diff(np.r_[first, pos.size]))
    return opening_cents[pos] + cs - before


def _settle(pos, day_, cents, cat, order, key, opening_cents, limit_cents) -> Rows:
    """The bank's response to a short account: returned debits, declined cards, overdraft fees.

    Decided on the balance before the bank acts (its end-of-day batch), then the
    balance is recomputed with the reversals and fees in place. Returns the rows
    sorted, without the intra-day order column.
    """
    rows = _sorted((pos, day_, cents, cat, order, key))
    pos, day_, cents, cat, order, key = rows
    balance = _running_balance(pos, cents, opening_cents)
    beyond_limit = (cents < 0) & (balance < -limit_cents[pos])
    returned = beyond_limit & np.isin(cat, DIRECT_DEBITS)
    declined = beyond_limit & ~returned
    n = int(returned.sum())
    reversal = (pos[returned], day_[returned], -cents[returned], np.full(n, RETURNED_PAYMENT),
                order[returned] | 1, key[returned] | RETURNED_TAG)  # fmt: skip
    rows = _sorted(tuple(np.concatenate([c[~declined], r]) for c, r in zip(rows, reversal, strict=True)))

    pos, day_, cents, cat, order, key = rows
    balance = _running_balance(pos, cents, opening_cents)
    overdrawn = (cents < 0) & (balance < 0)
    # At most one fee per borrower-month: on the first debit that leaves the account overdrawn.
    charged = _first_flag(pos, month_index(day_), overdrawn)
    n = int(charged.sum())
    fee = (pos[charged], day_[charged], np.full(n, -round(OVERDRAFT_FEE_AMOUNT * 100)),
           np.full(n, OVERDRAFT_FEE), order[charged] | 2, key[charged] | FEE_TAG)  # fmt: skip
    pos, day_, cents, cat, _, key = _sorted(tuple(np.concatenate([c, f]) for c, f in zip(rows, fee, strict=True)))
    return pos, day_, cents, cat, key


def _first_flag(pos: np.ndarray, month: np.ndarray, flag: np.ndarray) -> np.ndarray:
    """True on the first flagged row of each (borrower, month) group (rows sorted by borrower, date)."""
    idx = np.flatnonzero(flag)
    first = np.zeros(flag.size, dtype=bool)
    if idx.size:
        new = np.r_[True, (pos[idx][1:] != pos[idx][:-1]) | (month[idx][1:] != month[idx][:-1])]
        first[idx[new]] = True
    return first


def _counterparties(rng: KeyedRandom, b: np.ndarray, pos: np.ndarray, cat: np.ndarray, key: np.ndarray) -> np.ndarray:
    names = [COUNTERPARTIES[c] for c in range(len(CATEGORIES))]
    flat = np.asarray([n for group in names for n in group], dtype=object)
    sizes = np.asarray([len(g) for g in names])
    offsets = np.cumsum(sizes) - sizes
    u = rng.uniform("bank_counterparty", key)
    # The employer is the same every month.
    employer = rng.uniform("bank_employer", b)[pos]
    u = np.where(cat == PAYROLL, employer, u)
    out = flat[offsets[cat] + np.minimum((u * sizes[cat]).astype(np.int64), sizes[cat] - 1)]
    out[rng.bernoulli("bank_counterparty_missing", key, 0.05)] = None
    return out
