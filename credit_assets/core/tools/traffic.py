"""Synthetic traffic for the scoring API: score a population, optionally a shifted one.

Used by `credit-platform simulate-traffic` to fill the decision log, so the
monitoring assets have a live population to compare with the baseline. It only
ever talks to a scoring API on this machine (loopback): it is a load and drift
drill, not a client for someone else's server.

Inline requests carry one synthetic application with its alternative-data
records, `{"application": {...}, "records": {source: [rows]}}`, dates as ISO
strings. The borrowers come from `generate_frames` with numbers far above the
ones `credit-platform generate` uses, so traffic never replays a training
borrower. `shift="income_shock"` makes the population visibly worse (see
`apply_shift`), enough that the drift report turns red.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
RECORD_SOURCES = (
    "utility_payments",
    "telecom_payments",
    "rent_payments",
    "bank_transactions",
    "bureau",
)
"""Sources sent as records; outcomes, demographics and ground truth never go to the API."""
SHIFTS = ("none", "income_shock")
SCORES_PATH = "/v1/scores"
MAX_REQUESTS = 100_000
MAX_CONCURRENCY = 32
TRAFFIC_FIRST_BORROWER = 90_000_000
"""First synthetic borrower number of simulated traffic (training data starts at 0)."""
CHUNK_BORROWERS = 250
"""Borrowers generated at a time, so a long run never holds the whole population."""

INCOME_SHOCK_FACTOR = 0.6  # income falls by 40 %
INCOME_CATEGORIES = ("payroll", "other_income")
LATE_SHARE = 0.35  # share of paid bills that become late under the shock
EXTRA_DAYS_LATE = (15, 60)  # inclusive range added to those bills
MIN_BALANCE = -50_000.0  # bank_transactions contract minimum
MAX_DAYS_LATE = 365  # payment contracts maximum
_ERROR_SAMPLES = 20


def check_loopback(base_url: str) -> str:
    """`base_url` without a trailing slash, or ValueError if its host is not this machine."""
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"base_url {base_url!r} is not a URL: {exc}") from exc
    if url.scheme not in ("http", "https"):
        raise ValueError(f"base_url {base_url!r} must start with http:// or https://")
    if url.host not in LOOPBACK_HOSTS:
        raise ValueError(
            f"simulate_traffic only talks to a scoring API on this machine; host {url.host!r} "
            f"of {base_url!r} is not one of {sorted(LOOPBACK_HOSTS)}"
        )
    return base_url.rstrip("/")


def _check_shift(shift: str | None) -> str:
    shift = shift or "none"
    if shift not in SHIFTS:
        raise ValueError(f"shift must be one of {list(SHIFTS)}, got {shift!r}")
    return shift


def apply_shift(
    frames: dict[str, pl.DataFrame], shift: str | None, *, seed: int = 0
) -> dict[str, pl.DataFrame]:
    """The frames with a population shift applied (a new dict; the input is untouched).

    `income_shock`: declared income and every payroll / other_income inflow fall
    by 40 %; account balances fall by the income lost so far (floored at the
    contract minimum); and 35 % of paid utility, telecom and rent bills are paid
    15-60 days later than they were. `none` (or None) returns the frames as they are.
    """
    if _check_shift(shift) == "none":
        return dict(frames)
    rng = np.random.default_rng(seed)
    shifted = dict(frames)
    if "applications" in frames:
        shifted["applications"] = frames["applications"].with_columns(
            (pl.col("declared_monthly_income") * INCOME_SHOCK_FACTOR).round(2)
        )
    if "bank_transactions" in frames:
        shifted["bank_transactions"] = _shock_bank(frames["bank_transactions"])
    for source in ("utility_payments", "telecom_payments", "rent_payments"):
        if source in frames:
            shifted[source] = _add_late_payments(frames[source], rng)
    return shifted


def _shock_bank(transactions: pl.DataFrame) -> pl.DataFrame:
    is_income = pl.col("category").is_in(INCOME_CATEGORIES) & (pl.col("amount") > 0)
    new_amount = pl.when(is_income).then((pl.col("amount") * INCOME_SHOCK_FACTOR).round(2))
    order = [c for c in ("booked_date", "transaction_id") if c in transactions.columns]
    return (
        transactions.with_row_index("_row")
        .sort(["borrower_id", *order])
        .with_columns(new_amount.otherwise(pl.col("amount")).alias("_amount"))
        .with_columns(
            (pl.col("amount") - pl.col("_amount")).cum_sum().over("borrower_id").alias("_lost")
        )
        .with_columns(
            pl.col("_amount").alias("amount"),
            (pl.col("balance") - pl.col("_lost"))
            .clip(lower_bound=MIN_BALANCE)
            .round(2)
            .alias("balance"),
        )
        .sort("_row")
        .drop("_row", "_amount", "_lost")
    )


def _add_late_payments(bills: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    n = bills.height
    late = rng.uniform(size=n) < LATE_SHARE
    extra = np.where(late, rng.integers(EXTRA_DAYS_LATE[0], EXTRA_DAYS_LATE[1] + 1, size=n), 0)
    paid = pl.col("paid_date").is_not_null()
    days = (pl.col("days_late").fill_null(0) + pl.Series("_extra", extra)).clip(
        upper_bound=MAX_DAYS_LATE
    )
    return bills.with_columns(
        pl.when(paid).then(days).otherwise(pl.col("days_late")).alias("days_late")
    ).with_columns(
        pl.when(paid)
        .then(pl.col("due_date") + pl.duration(days=pl.col("days_late")))
        .otherwise(pl.col("paid_date"))
        .alias("paid_date")
    )


def _json_ready(frame: pl.DataFrame) -> pl.DataFrame:
    """Dates and datetimes as ISO strings, so rows serialise as JSON."""
    return frame.with_columns(
        [pl.col(c).dt.strftime("%Y-%m-%d") for c, t in frame.schema.items() if t == pl.Date]
        + [
            pl.col(c).dt.strftime("%Y-%m-%dT%H:%M:%S")
            for c, t in frame.schema.items()
            if isinstance(t, pl.Datetime)
        ]
    )


def build_payloads(frames: dict[str, pl.DataFrame]) -> list[dict[str, Any]]:
    """One inline scoring request per application: the application and its borrower's records.

    Records keep every contract column except `borrower_id` (the application
    names the borrower); a source a borrower has no rows in is left out, as it
    would be for a real thin file.
    """
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for source in RECORD_SOURCES:
        frame = frames.get(source)
        if frame is None or frame.height == 0:
            continue
        rows = _json_ready(frame)
        for (borrower,), part in rows.partition_by("borrower_id", as_dict=True).items():
            grouped.setdefault(str(borrower), {})[source] = part.drop("borrower_id").to_dicts()
    applications = _json_ready(frames["applications"])
    return [
        {"application": app, "records": grouped.get(str(app["borrower_id"]), {})}
        for app in applications.to_dicts()
    ]


def synthetic_payloads(
    requests: int,
    shift: str | None = None,
    *,
    seed: int = 7,
    first_borrower: int = TRAFFIC_FIRST_BORROWER,
    outcomes: list[pl.DataFrame] | None = None,
) -> Iterator[dict[str, Any]]:
    """`requests` inline payloads of fresh synthetic borrowers, generated chunk by chunk.
    With `outcomes`, each chunk's outcomes (drawn by the generator from the borrowers' true
    default probabilities) are appended to it."""
    from credit_assets.core.tools.synthetic import generate_frames

    shift = _check_shift(shift)
    made = 0
    while made < requests:
        # Whole chunks only: the same borrowers whatever `requests` is, and a chunk
        # too small to hold one bank customer never reaches the generator.
        frames = generate_frames(CHUNK_BORROWERS, seed=seed, first_borrower=first_borrower + made)
        if outcomes is not None:
            outcomes.append(frames["outcomes"])
        frames = {k: v for k, v in frames.items() if k == "applications" or k in RECORD_SOURCES}
        payloads = build_payloads(apply_shift(frames, shift, seed=seed + made))
        yield from payloads[: requests - made]
        made += CHUNK_BORROWERS


def simulate_traffic(
    base_url: str,
    api_key: str,
    requests: int,
    shift: str | None = None,
    *,
    borrower_ids: list[str] | None = None,
    concurrency: int = 4,
    timeout_s: float = 120,
    seed: int = 7,
    first_borrower: int = TRAFFIC_FIRST_BORROWER,
    transport: httpx.BaseTransport | None = None,
    outcomes_dir: Path | None = None,
) -> dict[str, Any]:
    """POST `requests` scoring requests to `{base_url}/v1/scores` and summarise what came back.

    Inline synthetic applications by default; `{"borrower_id": ...}` requests
    cycling through `borrower_ids` when given (features then come from the
    online store, so a shift cannot apply). Stops early once `timeout_s` has
    passed. Returns counts by status code and band, latency percentiles (ms,
    measured at the client) and the number of errors with a few samples.
    `transport` is for tests (an `httpx.MockTransport`). While an experiment runs, `arms`
    counts the decisions by arm. With `outcomes_dir` (inline traffic only), the generator's
    outcomes of the applications that were decided are written there as one CSV (for
    `landing/outcomes/`), so an experiment can be measured on outcomes whose truth is known.
    The synthetic borrowers are numbers `first_borrower` onwards under `seed`: a second
    simulation of new borrowers (a second experiment) starts where the first ended.
    """
    base, shift = _check_traffic_arguments(
        base_url,
        api_key,
        requests,
        shift,
        borrower_ids=borrower_ids,
        concurrency=concurrency,
        timeout_s=timeout_s,
        first_borrower=first_borrower,
        outcomes_dir=outcomes_dir,
    )
    generated: list[pl.DataFrame] | None = [] if outcomes_dir is not None else None
    bodies = _request_bodies(
        requests,
        shift,
        borrower_ids=borrower_ids,
        seed=seed,
        first_borrower=first_borrower,
        outcomes=generated,
    )
    started = time.perf_counter()
    tally = _Tally(bodies=bodies, deadline=started + timeout_s)
    _send_all(base, api_key, concurrency, transport, tally)
    elapsed = time.perf_counter() - started
    outcomes_file = _write_outcomes(
        outcomes_dir, generated, tally.decided, seed=seed, first_borrower=first_borrower
    )
    return _summary(
        tally,
        base_url=base,
        mode="borrower_id" if borrower_ids is not None else "inline",
        shift=shift,
        requests=requests,
        elapsed=elapsed,
        outcomes_file=outcomes_file,
    )


def _check_traffic_arguments(
    base_url: str,
    api_key: str,
    requests: int,
    shift: str | None,
    *,
    borrower_ids: list[str] | None,
    concurrency: int,
    timeout_s: float,
    first_borrower: int,
    outcomes_dir: Path | None,
) -> tuple[str, str]:
    """`(base_url, shift)` normalised, or ValueError naming the first argument out of bounds."""
    from credit_assets.core.tools.synthetic.frames import MAX_BORROWERS

    base = check_loopback(base_url)
    if not api_key:
        raise ValueError("api_key is required (create one with `credit-platform apikey create`)")
    if not 1 <= requests <= MAX_REQUESTS:
        raise ValueError(f"requests must be between 1 and {MAX_REQUESTS}, got {requests}")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be between 1 and {MAX_CONCURRENCY}, got {concurrency}")
    if timeout_s <= 0:
        raise ValueError("timeout_s must be positive")
    last = first_borrower + -(-requests // CHUNK_BORROWERS) * CHUNK_BORROWERS
    if first_borrower < 0 or last > MAX_BORROWERS:
        raise ValueError(
            f"first_borrower must be between 0 and {MAX_BORROWERS - last + first_borrower} "
            f"for {requests} requests (borrower numbers have 8 digits), got {first_borrower}"
        )
    shift = _check_shift(shift)
    if outcomes_dir is not None and borrower_ids is not None:
        raise ValueError("outcomes are written for inline synthetic traffic only")
    if borrower_ids is not None:
        if not borrower_ids:
            raise ValueError("borrower_ids is empty")
        if shift != "none":
            raise ValueError("a shift applies to inline requests only, not to borrower_id requests")
    return base, shift


def _request_bodies(
    requests: int,
    shift: str,
    *,
    borrower_ids: list[str] | None,
    seed: int,
    first_borrower: int,
    outcomes: list[pl.DataFrame] | None,
) -> Iterator[dict[str, Any]]:
    """The request bodies, lazily: `borrower_id` requests cycling through `borrower_ids`
    when given, inline synthetic applications otherwise."""
    if borrower_ids is not None:
        return ({"borrower_id": borrower_ids[i % len(borrower_ids)]} for i in range(requests))
    return synthetic_payloads(
        requests, shift, seed=seed, first_borrower=first_borrower, outcomes=outcomes
    )


@dataclass
class _Tally:
    """The bodies still to send and what came back, shared by the client threads under `lock`."""

    bodies: Iterator[dict[str, Any]]
    deadline: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter[str] = field(default_factory=Counter)
    bands: Counter[str] = field(default_factory=Counter)
    arms: Counter[str] = field(default_factory=Counter)
    decided: list[str] = field(default_factory=list)
    """Application ids answered with a decision."""
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """The first `_ERROR_SAMPLES` error messages."""
    error_count: int = 0
    timed_out: bool = False

    def next_body(self) -> dict[str, Any] | None:
        """The next body to send, or None once they are all sent or the deadline has passed."""
        with self.lock:
            if time.perf_counter() >= self.deadline:
                self.timed_out = True
                return None
            return next(self.bodies, None)

    def record_error(self, message: str) -> None:
        with self.lock:
            self.error_count += 1
            if len(self.errors) < _ERROR_SAMPLES:
                self.errors.append(message[:300])

    def record_failure(self, exc: httpx.HTTPError) -> None:
        """A request that got no response at all (counted under the exception's name)."""
        with self.lock:
            self.statuses[type(exc).__name__] += 1
        self.record_error(f"{type(exc).__name__}: {exc}")

    def record_response(
        self, body: dict[str, Any], response: httpx.Response, elapsed_ms: float
    ) -> None:
        """A response: its status, its latency, and for a decision its band, arm and application."""
        band = arm = None
        if response.is_success:
            try:
                answer = response.json()
            except ValueError:
                self.record_error(f"{response.status_code}: response is not JSON")
            else:
                if isinstance(answer, dict):
                    band = answer.get("band") or "not scorable"
                    arm = answer.get("arm")
                else:
                    self.record_error(
                        f"{response.status_code}: response is JSON but not an object "
                        f"({type(answer).__name__}), so not a decision"
                    )
        else:
            self.record_error(f"{response.status_code}: {response.text}")
        with self.lock:
            self.statuses[str(response.status_code)] += 1
            self.latencies.append(elapsed_ms)
            if band is not None:
                self.bands[band] += 1
                application = body.get("application") or {}
                if application.get("application_id"):
                    self.decided.append(str(application["application_id"]))
            if arm is not None:
                self.arms[arm] += 1


def _send_all(
    base_url: str,
    api_key: str,
    concurrency: int,
    transport: httpx.BaseTransport | None,
    tally: _Tally,
) -> None:
    """`concurrency` client threads sharing one connection pool, until `tally` runs dry."""
    headers = {"Authorization": f"Bearer {api_key}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with (
        httpx.Client(
            base_url=base_url, headers=headers, limits=limits, transport=transport
        ) as client,
        ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="traffic") as pool,
    ):
        for future in [pool.submit(_client_loop, client, tally) for _ in range(concurrency)]:
            future.result()


def _client_loop(client: httpx.Client, tally: _Tally) -> None:
    """One client thread: send the next body, record what came back, until there is none."""
    while (body := tally.next_body()) is not None:
        remaining = max(tally.deadline - time.perf_counter(), 0.001)
        sent = time.perf_counter()
        try:
            response = client.post(SCORES_PATH, json=body, timeout=min(30.0, remaining))
        except httpx.HTTPError as exc:
            tally.record_failure(exc)
            continue
        tally.record_response(body, response, (time.perf_counter() - sent) * 1000)


def _write_outcomes(
    outcomes_dir: Path | None,
    generated: list[pl.DataFrame] | None,
    decided: list[str],
    *,
    seed: int,
    first_borrower: int,
) -> Path | None:
    """The CSV of the generator's outcomes of the decided applications, written in
    `outcomes_dir`; None without `outcomes_dir` or when no borrower was generated."""
    if outcomes_dir is None or not generated:
        return None
    outcomes = pl.concat(generated).filter(pl.col("application_id").is_in(decided))
    outcomes_dir.mkdir(parents=True, exist_ok=True)
    outcomes_file = outcomes_dir / f"traffic-outcomes-{seed}-{first_borrower}-{len(decided)}.csv"
    outcomes.write_csv(outcomes_file)
    return outcomes_file


def _summary(
    tally: _Tally,
    *,
    base_url: str,
    mode: str,
    shift: str,
    requests: int,
    elapsed: float,
    outcomes_file: Path | None,
) -> dict[str, Any]:
    """The run's summary as `simulate_traffic` returns it."""
    sent = sum(tally.statuses.values())
    lat = np.asarray(tally.latencies)
    return {
        "base_url": base_url,
        "mode": mode,
        "shift": shift,
        "requested": requests,
        "sent": sent,
        "timed_out": tally.timed_out,
        "elapsed_s": round(elapsed, 3),
        "requests_per_s": round(sent / elapsed, 2) if elapsed > 0 else None,
        "status_counts": dict(sorted(tally.statuses.items())),
        "bands": dict(sorted(tally.bands.items())),
        "latency_ms": {
            "p50": float(np.percentile(lat, 50)) if lat.size else None,
            "p99": float(np.percentile(lat, 99)) if lat.size else None,
            "max": float(lat.max()) if lat.size else None,
        },
        "errors": tally.error_count,
        "error_samples": tally.errors,
        "arms": dict(sorted(tally.arms.items())),
        "outcomes_file": str(outcomes_file) if outcomes_file else None,
    }
