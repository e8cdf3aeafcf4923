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

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from credit_assets.core.tools.synthetic._calendar import (
    add_months,
    month_index,
    on_day,
    to_day,
)
from credit_assets.core.tools.synthetic._random import KeyedRandom, expand, sigmoid
from credit_assets.core.tools.synthetic.payments import BILL_SOURCES, typical_bill
from credit_assets.core.tools.synthetic.population import (
    Population,
    borrower_ids,
    labels_of,
    prefixed_ids,
)

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
    RETURNED_PAYMENT: ("Unpaid item charge",),
    CASH: ("ATM",),
    TRANSFER_OUT: ("Own savings", "Mortgage lender", "Friend", "Credit card repayment"),
    SHOPPING: ("ShopOnline", "HighStreet Fashion", "TechHub", "HomeStore", "Streamly"),
}  # fmt: skip
GIG_PAYOUTS_PER_MONTH = 3.0
OVERDRAFT_FEE_AMOUNT = 25.0
RETURNED_PAYMENT_FEE = 15.0
# Share of the discretionary budget and events per month for card-like spending.
SPEND_MIX = {
    GROCERIES: (0.42, 1.4),
    SHOPPING: (0.28, 0.6),
    CASH: (0.14, 0.4),
    TRANSFER_OUT: (0.16, 0.25),
}


# Borrower position, date, cents, category, intra-day order, random key.
Rows = tuple[np.ndarray, ...]
FEE_TAG = 1 << 51


class _Events:
    """Columns of generated transactions, appended category by category."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(
        self,
        borrower: np.ndarray,
        day: np.ndarray,
        cents: np.ndarray,
        category: int,
        order: np.ndarray,
        key: np.ndarray,
    ) -> None:
        cat = np.full(borrower.size, category, dtype=np.int64)
        self.parts.append((borrower, day, cents, cat, order, key))

    def columns(self) -> tuple[np.ndarray, ...]:
        return tuple(np.concatenate(col) for col in zip(*self.parts, strict=True))


@dataclass(frozen=True)
class _Accounts:
    """The consenting borrowers' accounts: consent window and monthly money terms, per holder."""

    holders: np.ndarray  # positions in the population
    b: np.ndarray  # global borrower numbers, the random keys
    start: np.ndarray  # first day of consent
    stop: np.ndarray  # last day of consent (at most the end date)
    trait: np.ndarray
    employment: np.ndarray
    net_income: np.ndarray
    renter: np.ndarray
    owner: np.ndarray
    rent: np.ndarray
    utility: np.ndarray
    mortgage: np.ndarray
    has_utility_source: np.ndarray  # holds an account with a utility provider
    budget: np.ndarray  # monthly discretionary spending
    gambling_rate: np.ndarray  # gambling transactions per month
    default_date: np.ndarray


def _accounts(pop: Population, rng: KeyedRandom, end_date: date) -> _Accounts:
    """Who consents, for how long, and what each account earns and owes per month."""
    holders = np.flatnonzero(pop.coverage["bank"])
    b = pop.index[holders]
    app = pop.application_date[holders]
    stop = np.minimum(
        add_months(app, rng.integers("bank_consent_after", b, 1, 6)), to_day(end_date)
    )
    t = pop.trait["bank"][holders]
    income = pop.true_income[holders]
    net_income = 0.78 * income
    renter = pop.housing[holders] == 0
    owner = pop.housing[holders] == 1
    rent = typical_bill(rng, BILL_SOURCES[2], b, income)
    utility = typical_bill(rng, BILL_SOURCES[0], b, income)
    mortgage = np.round(0.22 * income * np.exp(0.2 * rng.normal("bank_mortgage", b)), 2)
    spend_ratio = 0.96 - 0.10 * t + 0.03 * rng.normal("bank_spend_ratio", b)
    fixed = renter * rent + owner * mortgage + 0.9 * utility
    return _Accounts(
        holders=holders,
        b=b,
        start=add_months(app, -pop.history_months["bank"][holders]),
        stop=stop,
        trait=t,
        employment=pop.employment[holders],
        net_income=net_income,
        renter=renter,
        owner=owner,
        rent=rent,
        utility=utility,
        mortgage=mortgage,
        has_utility_source=pop.coverage["utility"][holders],
        budget=np.maximum(spend_ratio * net_income - fixed, 0.15 * net_income),
        gambling_rate=2.5 * sigmoid(-3.2 - 1.6 * t + 0.8 * rng.normal("bank_gambler", b)),
        default_date=pop.default_date[holders],
    )


AmountFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


class _Ledger:
    """Transactions drawn on a grid of one row per borrower-month of consent.

    `bm` is each month's position among the account holders, `key` its random key
    and `month` its month index.
    """

    def __init__(self, rng: KeyedRandom, accounts: _Accounts) -> None:
        self.rng = rng
        first_month = month_index(accounts.start)
        self.bm, m_off = expand(month_index(accounts.stop) - first_month + 1)
        self.key = (accounts.b[self.bm] << 6) | m_off
        self.month = first_month[self.bm] + m_off
        self.events = _Events()

    def add(
        self, category: int, counts: np.ndarray, day: np.ndarray | None, amount_fn: AmountFn
    ) -> None:
        """`counts[i]` transactions of `category` in month i, on `day[i]` or a random day."""
        parent, slot = expand(counts)
        key = (self.key[parent] << 9) | (category << 5) | np.minimum(slot, 31)
        name = CATEGORIES[category]
        d = self.rng.integers(f"bank_{name}_day", key, 1, 28) if day is None else day[parent]
        amount = amount_fn(parent, key)
        order = (category << 5) | np.minimum(slot, 31)
        cents = np.round(amount * 100).astype(np.int64)
        self.events.add(
            self.bm[parent], on_day(self.month[parent], d), cents, category, order << 2, key
        )

    def lognormal(self, stream: str, key: np.ndarray, sigma: float) -> np.ndarray:
        """Mean-one lognormal factors."""
        return np.exp(sigma * self.rng.normal(stream, key) - sigma**2 / 2)


def _add_income(ledger: _Ledger, acc: _Accounts) -> None:
    """Pay, gig payouts, benefits and occasional other income.

    Weak borrowers miss pay months (spells out of work) and get paid less regularly.
    """
    rng, bm, bm_key, lognormal = ledger.rng, ledger.bm, ledger.key, ledger.lognormal
    t, employment, net_income = acc.trait, acc.employment, acc.net_income
    pay_day = rng.integers("bank_pay_day", acc.b, 1, 28)
    regular = np.isin(employment, (0, 1))
    paid = rng.bernoulli("bank_paid_month", bm_key, sigmoid(3.0 + 1.2 * t[bm]))
    jitter = np.round(rng.normal("bank_pay_jitter", bm_key) * (0.5 + 3.0 * sigmoid(-t[bm])))
    day = np.clip(pay_day[bm] + jitter, 1, 28).astype(np.int64)
    pay_sigma = np.where(employment == 1, 0.35, 0.03 + 0.12 * sigmoid(-t))
    ledger.add(
        PAYROLL,
        (regular[bm] & paid).astype(np.int64),
        day,
        lambda p, k: net_income[bm[p]] * np.exp(pay_sigma[bm[p]] * rng.normal("bank_payroll", k)),
    )
    gig = employment == 2
    gig_counts = np.where(gig[bm] & paid, rng.poisson("bank_gig", bm_key, GIG_PAYOUTS_PER_MONTH), 0)
    ledger.add(
        PAYROLL,
        gig_counts,
        None,
        lambda p, k: (
            net_income[bm[p]] / GIG_PAYOUTS_PER_MONTH * lognormal("bank_gig_amount", k, 0.5)
        ),
    )
    benefit = np.isin(employment, (3, 4, 5))
    ledger.add(
        OTHER_INCOME,
        benefit[bm].astype(np.int64),
        np.clip(pay_day[bm], 1, 28),
        lambda p, k: net_income[bm[p]] * lognormal("bank_benefit", k, 0.03),
    )
    ledger.add(
        OTHER_INCOME,
        rng.bernoulli("bank_other_income", bm_key, 0.12).astype(np.int64),
        None,
        lambda p, k: 150.0 * lognormal("bank_other_amount", k, 0.8),
    )


def _add_fixed_bills(ledger: _Ledger, acc: _Accounts) -> None:
    """Rent or a mortgage on the bill day, and a seasonal utility bill."""
    rng, bm = ledger.rng, ledger.bm
    bill_day = rng.integers("bank_bill_day", acc.b, 1, 28)
    ledger.add(RENT, acc.renter[bm].astype(np.int64), bill_day[bm], lambda p, k: -acc.rent[bm[p]])
    ledger.add(
        TRANSFER_OUT,
        acc.owner[bm].astype(np.int64),
        bill_day[bm],
        lambda p, k: -acc.mortgage[bm[p]],
    )
    has_utility = rng.bernoulli(
        "bank_utility", ledger.key, np.where(acc.has_utility_source[bm], 0.9, 0.3)
    )
    season = 1.0 + 0.25 * np.cos(2.0 * np.pi * np.mod(ledger.month, 12) / 12.0)
    ledger.add(
        UTILITIES,
        has_utility.astype(np.int64),
        None,
        lambda p, k: (
            -acc.utility[bm[p]] * season[p] * ledger.lognormal("bank_utility_amount", k, 0.1)
        ),
    )


def _add_spending(ledger: _Ledger, acc: _Accounts) -> None:
    """Card spending and transfers, sized against the monthly budget; gambling on top."""
    rng, bm, bm_key = ledger.rng, ledger.bm, ledger.key
    for category, (share, per_month) in SPEND_MIX.items():
        rate = (
            per_month * (1.0 + 1.2 * sigmoid(-acc.trait[bm]))
            if category == CASH
            else np.full(bm.size, per_month)
        )
        counts = rng.poisson(f"bank_{CATEGORIES[category]}_count", bm_key, rate)
        ledger.add(category, counts, None, _purchases(ledger, acc.budget, category, share, rate))
    ledger.add(
        GAMBLING,
        rng.poisson("bank_gambling_count", bm_key, acc.gambling_rate[bm]),
        None,
        lambda p, k: -25.0 * ledger.lognormal("bank_gambling_amount", k, 1.0),
    )


def _purchases(
    ledger: _Ledger, budget: np.ndarray, category: int, share: float, rate: np.ndarray
) -> AmountFn:
    """Amounts of one card-like category: its share of the month's budget over its rate."""
    bm, name = ledger.bm, CATEGORIES[category]

    def amounts(p: np.ndarray, k: np.ndarray) -> np.ndarray:
        # One purchase never exceeds half the monthly budget.
        return -np.minimum(
            budget[bm[p]] * share / rate[p] * ledger.lognormal(f"bank_{name}_amount", k, 0.6),
            0.5 * budget[bm[p]],
        )

    return amounts


def _within_consent(rng: KeyedRandom, rows: Rows, acc: _Accounts) -> Rows:
    """The rows dated inside consent, less the pay lost after a default, amounts capped.

    After a default the account deteriorates: half the income stops, so fees and returns pile up.
    """
    pos, day_, cat, key = rows[0], rows[1], rows[3], rows[5]
    default_date = acc.default_date[pos]
    after_default = ~np.isnat(default_date) & (day_ > default_date)
    lost_income = after_default & (cat == PAYROLL) & rng.bernoulli("bank_post_default", key, 0.5)
    keep = (day_ >= acc.start[pos]) & (day_ <= acc.stop[pos]) & ~lost_income
    pos, day_, cents, cat, order, key = (c[keep] for c in rows)
    return pos, day_, np.clip(cents, -9_500_000, 9_500_000), cat, order, key


def _opening_and_limit(rng: KeyedRandom, acc: _Accounts) -> tuple[np.ndarray, np.ndarray]:
    """Each account's opening balance and overdraft limit, in cents."""
    net_income = acc.net_income
    opening = net_income * (
        1.2 * np.exp(1.0 * acc.trait + 0.4 * rng.normal("bank_opening", acc.b)) - 0.3
    )
    limit_cents = (np.clip(np.round(0.25 * net_income, -2), 100.0, 1500.0) * 100).astype(np.int64)
    opening_cents = np.round(np.clip(opening, -500.0, 300_000.0) * 100).astype(np.int64)
    return np.maximum(opening_cents, -limit_cents), limit_cents


def bank_frame(pop: Population, seed: int, end_date: date) -> pl.DataFrame:
    """Every consenting borrower's current-account transactions, with the running balance."""
    rng = KeyedRandom(seed)
    acc = _accounts(pop, rng, end_date)
    ledger = _Ledger(rng, acc)
    _add_income(ledger, acc)
    _add_fixed_bills(ledger, acc)
    _add_spending(ledger, acc)
    pos, day_, cents, cat, order, key = _within_consent(rng, ledger.events.columns(), acc)
    opening_cents, limit_cents = _opening_and_limit(rng, acc)
    pos, day_, cents, cat, key = _settle(
        pos, day_, cents, cat, order, key, opening_cents, limit_cents
    )

    b = acc.b
    balance = _running_balance(pos, cents, opening_cents)
    seq = expand(np.bincount(pos, minlength=acc.holders.size))[1]
    counterparty = _counterparties(rng, b, pos, cat, key)
    return pl.DataFrame(
        {
            "transaction_id": prefixed_ids("TX", b[pos] * 10_000 + seq, 12),
            "borrower_id": borrower_ids(b).gather(pos),
            "booked_date": pl.Series(day_, dtype=pl.Date),
            "amount": cents / 100.0,
            "category": labels_of(cat, CATEGORIES),
            "balance": balance / 100.0,
            "counterparty": counterparty,
        }
    )


def _sorted(rows: Rows) -> Rows:
    """Rows ordered by borrower, date and intra-day order (one int64 key sorts fastest)."""
    pos, day_, _, _, order, _ = rows
    days = (day_ - np.datetime64("1970-01-01", "D")).astype(np.int64)
    ix = np.argsort((pos << 27) | (days << 11) | order, kind="stable")
    return tuple(c[ix] for c in rows)


def _running_balance(pos: np.ndarray, cents: np.ndarray, opening_cents: np.ndarray) -> np.ndarray:
    """Balance after each transaction; rows sorted by borrower. Integer cents keep it exact."""
    if pos.size == 0:
        return np.zeros(0, dtype=np.int64)
    cs = np.cumsum(cents)
    first = np.flatnonzero(np.r_[True, pos[1:] != pos[:-1]])
    before = np.repeat(cs[first] - cents[first], np.diff(np.r_[first, pos.size]))
    return opening_cents[pos] + cs - before


def _grouped_cummax(pos: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Running maximum of int64 `values` restarting at each borrower (rows sorted by borrower).

    Lifting each borrower's values above everything before them lets one global
    `maximum.accumulate` do the work of a per-borrower loop.
    """
    if values.size == 0:
        return values
    lo = int(values.min())
    span = int(values.max()) - lo + 1
    lifted = (values - lo) + pos.astype(np.int64) * span
    return np.maximum.accumulate(lifted) - pos.astype(np.int64) * span + lo


def _shortfall_cuts(pos: np.ndarray, balance: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """Per row, the part of a debit that does not fit above the overdraft limit.

    Holding the balance at the limit is a reflection of the running balance
    there (Skorokhod's construction): the running maximum of how far below the
    limit it would be. Vectorised, with no loop over transactions.
    """
    shortfall = np.maximum(_grouped_cummax(pos, -limit - balance), 0)
    first = np.r_[True, pos[1:] != pos[:-1]] if pos.size else np.zeros(0, dtype=bool)
    return shortfall - np.where(first, 0, np.r_[0, shortfall[:-1]])


def _returned_debits(pos, cents, cat, opening_cents, limit_cents) -> np.ndarray:
    """Direct debits the bank returns: each one that does not fit when it is presented.

    Returning a debit raises every later balance, so they are found in time
    order: each round settles the first return of every borrower still
    affected. Borrowers drop out as soon as nothing more bounces, so the work
    shrinks fast (a handful of rounds, most borrowers in none).
    """
    returned = np.zeros(pos.size, dtype=bool)
    direct = np.isin(cat, DIRECT_DEBITS)
    working = cents.copy()
    rows = np.arange(pos.size)
    while rows.size:
        p = pos[rows]
        balance = _running_balance(p, working[rows], opening_cents)
        bounced = (_shortfall_cuts(p, balance, limit_cents[p]) > 0) & direct[rows]
        first = _first_flag(p, np.zeros(p.size, dtype=np.int64), bounced)
        returned[rows[first]] = True
        working[rows[first]] = 0
        # Only borrowers whose rows bounced need another round.
        rows = rows[np.isin(p, p[first])]
    return returned


def _settle(pos, day_, cents, cat, order, key, opening_cents, limit_cents) -> Rows:
    """The bank's response to a short account: returned direct debits, trimmed or declined
    card spending and overdraft fees. Returns the rows sorted, without the order column.

    A direct debit that would take the balance beyond the overdraft limit is
    returned: it is not paid and a `returned_payment` charge replaces it. Card
    spending that would cross the limit shrinks to what fits - the shopper
    buys less - or disappears when nothing fits. The first debit of a month
    that leaves the balance negative draws an overdraft fee.
    """
    rows = _sorted((pos, day_, cents, cat, order, key))
    pos, day_, cents, cat, order, key = rows
    returned = _returned_debits(pos, cents, cat, opening_cents, limit_cents)
    paid = np.where(returned, 0, cents)
    cents = paid + _shortfall_cuts(
        pos, _running_balance(pos, paid, opening_cents), limit_cents[pos]
    )
    # A returned debit leaves no payment, only the bank's unpaid-item charge in its place.
    cents = np.where(returned, -round(RETURNED_PAYMENT_FEE * 100), cents)
    cat = np.where(returned, RETURNED_PAYMENT, cat)
    keep = cents != 0
    rows = _sorted(tuple(c[keep] for c in (pos, day_, cents, cat, order, key)))

    pos, day_, cents, cat, order, key = rows
    balance = _running_balance(pos, cents, opening_cents)
    overdrawn = (cents < 0) & (balance < 0)
    # At most one fee per borrower-month: on the first debit that leaves the account overdrawn.
    charged = _first_flag(pos, month_index(day_), overdrawn)
    n = int(charged.sum())
    fee = (pos[charged], day_[charged], np.full(n, -round(OVERDRAFT_FEE_AMOUNT * 100)),
           np.full(n, OVERDRAFT_FEE), order[charged] | 2, key[charged] | FEE_TAG)  # fmt: skip
    pos, day_, cents, cat, _, key = _sorted(
        tuple(np.concatenate([c, f]) for c, f in zip(rows, fee, strict=True))
    )
    return pos, day_, cents, cat, key


def _first_flag(pos: np.ndarray, month: np.ndarray, flag: np.ndarray) -> np.ndarray:
    """True on the first flagged row of each (borrower, month) group (rows sorted by borrower, date)."""
    idx = np.flatnonzero(flag)
    first = np.zeros(flag.size, dtype=bool)
    if idx.size:
        new = np.r_[True, (pos[idx][1:] != pos[idx][:-1]) | (month[idx][1:] != month[idx][:-1])]
        first[idx[new]] = True
    return first


def _counterparties(
    rng: KeyedRandom, b: np.ndarray, pos: np.ndarray, cat: np.ndarray, key: np.ndarray
) -> pl.Series:
    names = [COUNTERPARTIES[c] for c in range(len(CATEGORIES))]
    flat = tuple(n for group in names for n in group)
    sizes = np.asarray([len(g) for g in names])
    offsets = np.cumsum(sizes) - sizes
    u = rng.uniform("bank_counterparty", key)
    # The employer is the same every month.
    employer = rng.uniform("bank_employer", b)[pos]
    u = np.where(cat == PAYROLL, employer, u)
    code = offsets[cat] + np.minimum((u * sizes[cat]).astype(np.int64), sizes[cat] - 1)
    return labels_of(code, flat, rng.bernoulli("bank_counterparty_missing", key, 0.05))
