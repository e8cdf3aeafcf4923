"""Benchmark: the platform feature path against a hand-written Polars query.

    python bench/bench_features.py --borrowers 1000000            # generates data first
    python bench/bench_features.py --data /path/to/parquet_dir    # reuses <dir>/<source>/*.parquet

On one spine (one row per application, as of its application date) it times:
  * platform_bank: `compute_features` with the bank contract only;
  * hand_written_bank: one Polars query written directly for the same
    bank-transaction aggregates (checked to give identical values);
  * platform_all: `compute_features` with every contract.
Each run is a fresh child process, so every path reports its own peak RSS; runs
are interleaved (hand, platform, all, hand, ...) so machine load hits all alike.
Prints one JSON object: median seconds per path, the ratio platform/hand
(target <= 1.5) and peak RSS per path (target <= 8 GB). Synthetic data comes
from `credit_assets.core.tools.synthetic.generate_frames`, chunk by chunk, as parquet.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from credit_assets.core.contracts import SourceKind, contract_of_kind, load_contracts  # noqa: E402
from credit_assets.core.features import compute_features  # noqa: E402

SOURCES = (
    "applications", "outcomes", "utility_payments", "telecom_payments", "rent_payments",
    "bank_transactions", "bureau", "demographics",
)  # fmt: skip


def generate(directory: Path, borrowers: int, chunk: int, seed: int) -> None:
    """Synthetic frames for `borrowers`, chunk by chunk, as parquet under <directory>/<source>/."""
    from credit_assets.core.tools.synthetic import generate_frames

    for first in range(0, borrowers, chunk):
        frames = generate_frames(min(chunk, borrowers - first), seed=seed, first_borrower=first)
        for name in SOURCES:
            folder = directory / name
            folder.mkdir(parents=True, exist_ok=True)
            frames[name].write_parquet(folder / f"part-{first // chunk:05d}.parquet")
        print(f"generated {min(first + chunk, borrowers)}/{borrowers} borrowers", file=sys.stderr)


def scan(directory: Path) -> dict[str, pl.LazyFrame]:
    return {
        p.name: pl.scan_parquet(p / "*.parquet")
        for p in sorted(directory.iterdir())
        if p.is_dir() and any(p.glob("*.parquet"))
    }


def spine_of(sources: dict[str, pl.LazyFrame]) -> pl.LazyFrame:
    return sources["applications"].select(
        pl.col("borrower_id"),
        pl.col("application_date").alias("as_of_date"),
        pl.col("application_id"),
    )


def hand_written_bank(spine: pl.LazyFrame, transactions: pl.LazyFrame) -> pl.LazyFrame:
    """The bank aggregates written directly as one query, without the platform's layers.

    Overdraft days are computed the obvious way (end-of-day balance per day, the
    next day with a transaction, days between), which cross-checks the platform's
    single-pass formula on running-balance data.
    """
    cents = (pl.col("amount") * 100).round().cast(pl.Int64)
    category = pl.col("category")
    income = (cents > 0) & (category != "returned_payment")
    daily = (
        transactions.select(
            "borrower_id",
            "booked_date",
            pl.when(income).then(cents).otherwise(0).alias("inflow"),
            pl.when(income).then(0).otherwise(-cents).alias("outflow"),
            ((category == "payroll") & (cents > 0)).alias("payroll"),
            pl.when(category == "gambling").then((-cents).clip(0)).otherwise(0).alias("gambling"),
            (category == "overdraft_fee").cast(pl.Int64).alias("fees"),
            (category == "returned_payment").cast(pl.Int64).alias("returned"),
            pl.col("balance").alias("low"),
            (pl.col("balance") * 100).round().cast(pl.Int64).alias("eod"),
            (pl.col("balance") * 100).round().cast(pl.Int64).alias("bal"),
            ((pl.col("balance") * 100).round().cast(pl.Int128) ** 2).alias("bal_sq"),
            pl.lit(1, dtype=pl.Int64).alias("n_tx"),
        )
        .group_by("borrower_id", "booked_date")
        .agg(
            pl.col(
                "inflow", "outflow", "gambling", "fees", "returned", "bal", "bal_sq", "n_tx"
            ).sum(),
            pl.col("payroll").max(),
            pl.col("low").min(),
            pl.col("eod").last(),
        )
        .with_columns(
            pl.col("booked_date")
            .shift(-1)
            .over("borrower_id", order_by="booked_date")
            .alias("next_date")
        )
    )
    keys = spine.select("borrower_id", "as_of_date").unique()
    d, a = pl.col("booked_date"), pl.col("as_of_date")
    k = (
        (a.dt.year() * 12 + a.dt.month())
        - (d.dt.year() * 12 + d.dt.month())
        - (d.dt.day() >= pl.min_horizontal(a.dt.day(), d.dt.days_in_month())).cast(pl.Int32)
    )
    end = pl.min_horizontal(pl.col("next_date").fill_null(a), a)

    def overdraft(months: int) -> pl.Expr:
        start = pl.max_horizontal(d, a.dt.offset_by(f"-{months}mo"))
        days = (end - start).dt.total_days().clip(0)
        return pl.when(pl.col("eod") < 0).then(days).otherwise(0).cast(pl.Int64)

    monthly = (
        daily.join(keys, on="borrower_id")
        .filter(d < a)
        .with_columns(
            k.cast(pl.Int32).alias("k"),
            overdraft(3).alias("od3"),
            overdraft(12).alias("od12"),
        )
        .group_by("borrower_id", "as_of_date", "k")
        .agg(
            pl.col(
                "inflow",
                "outflow",
                "gambling",
                "fees",
                "returned",
                "bal",
                "bal_sq",
                "n_tx",
                "od3",
                "od12",
            ).sum(),
            pl.col("payroll").max(),
            pl.col("low").min(),
        )
    )
    m = pl.col("k")
    net = pl.col("inflow") - pl.col("outflow")

    def last(w: int, value: pl.Expr, name: str) -> pl.Expr:
        return pl.when(m < w).then(value).alias(name)

    sums = (
        monthly.with_columns(
            *(last(w, pl.col("inflow"), f"in{w}") for w in (3, 6, 12)),
            *(last(w, pl.col("outflow"), f"out{w}") for w in (3, 12)),
            last(12, pl.col("inflow").cast(pl.Int128) ** 2, "insq"),
            *(last(w, pl.col("payroll").cast(pl.Int64), f"pay{w}") for w in (6, 12)),
            last(12, pl.col("fees"), "bank_overdraft_fee_count_12m"),
            last(12, pl.col("returned"), "bank_returned_payment_count_12m"),
            last(12, pl.col("gambling"), "gam"),
            last(12, pl.col("low"), "bank_balance_min_12m"),
            last(12, pl.col("n_tx"), "n"),
            last(12, pl.col("bal").cast(pl.Int128), "s"),
            last(12, pl.col("bal_sq"), "q"),
            last(12, net, "net"),
            last(12, m.cast(pl.Int64) * net, "netk"),
        )
        .group_by("borrower_id", "as_of_date")
        .agg(
            pl.col(
                "in3",
                "in6",
                "in12",
                "out3",
                "out12",
                "insq",
                "pay6",
                "pay12",
                "bank_overdraft_fee_count_12m",
                "bank_returned_payment_count_12m",
                "gam",
                "n",
                "s",
                "q",
                "net",
                "netk",
            ).sum(),
            pl.col("od3").sum().alias("bank_overdraft_days_3m"),
            pl.col("od12").sum().alias("bank_overdraft_days_12m"),
            pl.col("bank_balance_min_12m").min(),
            (m.max().cast(pl.Int64) + 1).alias("history"),
            pl.len().cast(pl.Int64).alias("months_of_data_bank"),
        )
    )

    def n_in(w: int) -> pl.Expr:
        return pl.min_horizontal(pl.col("history"), pl.lit(w, dtype=pl.Int64))

    def div(x: pl.Expr, y: pl.Expr) -> pl.Expr:
        return pl.when(y > 0).then(x.cast(pl.Float64) / y.cast(pl.Float64))

    n12, in12, n = n_in(12), pl.col("in12").cast(pl.Int128), pl.col("n").cast(pl.Int128)
    return spine.join(
        sums.select(
            "borrower_id",
            "as_of_date",
            *(
                div(pl.col(f"in{w}"), n_in(w) * 100).alias(f"bank_inflow_mean_{w}m")
                for w in (3, 6, 12)
            ),
            pl.when((n12 >= 3) & (in12 > 0))
            .then(
                (n12.cast(pl.Int128) * pl.col("insq") - in12 * in12).cast(pl.Float64).sqrt()
                / in12.cast(pl.Float64)
            )
            .alias("bank_inflow_cv_12m"),
            *(
                div(pl.col(f"pay{w}"), n_in(w)).alias(f"bank_payroll_month_share_{w}m")
                for w in (6, 12)
            ),
            *(
                div(pl.col(f"out{w}").clip(0), pl.col(f"in{w}")).alias(
                    f"bank_expense_to_income_ratio_{w}m"
                )
                for w in (3, 12)
            ),
            "bank_overdraft_days_3m",
            "bank_overdraft_days_12m",
            "bank_overdraft_fee_count_12m",
            "bank_returned_payment_count_12m",
            div(pl.col("gam"), pl.col("out12"))
            .clip(upper_bound=1.0)
            .alias("bank_gambling_outflow_share_12m"),
            "bank_balance_min_12m",
            pl.when(n >= 2)
            .then(
                (n * pl.col("q") - pl.col("s") ** 2).cast(pl.Float64).sqrt()
                / (n * 100).cast(pl.Float64)
            )
            .alias("bank_balance_volatility_12m"),
            pl.when(n12 >= 3)
            .then(
                (6 * (n12 - 1) * pl.col("net") - 12 * pl.col("netk")).cast(pl.Float64)
                / (n12 * (n12 * n12 - 1) * 100).cast(pl.Float64)
            )
            .alias("bank_net_flow_trend_12m"),
            "months_of_data_bank",
            pl.lit(1, dtype=pl.Int8).alias("has_bank"),
        ),
        on=["borrower_id", "as_of_date"],
        how="left",
        maintain_order="left",
    ).with_columns(
        pl.col("months_of_data_bank").fill_null(0),
        pl.col("has_bank").fill_null(0),
        pl.col("has_bank").fill_null(0).alias("n_alternative_sources"),
    )


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


def query_for(path: str, data: Path) -> pl.LazyFrame:
    contracts = load_contracts(REPO / "contracts")
    bank = contract_of_kind(contracts, SourceKind.BANK_TRANSACTIONS)
    assert bank is not None
    sources = scan(data)
    spine = spine_of(sources)
    if path == "hand_written_bank":
        return hand_written_bank(spine, sources[bank.name])
    if path == "platform_bank":
        return compute_features(spine, sources, {bank.name: bank})
    return compute_features(spine, sources, contracts)


def measure(path: str, data: Path, engine: str, out: Path) -> None:
    """One timed run in this (fresh) process; the result goes to `out` for the value check."""
    query = query_for(path, data)
    start = time.perf_counter()
    result = query.collect(engine=engine)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    result.write_parquet(out)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_rss_gb": peak_rss_gb(),
                "rows": result.height,
                "columns": result.width,
            }
        )
    )


PATHS = ("hand_written_bank", "platform_bank", "platform_all")


def run(data: Path, repeats: int, engine: str, workdir: Path) -> dict[str, object]:
    runs: dict[str, list[dict]] = {p: [] for p in PATHS}
    for _ in range(repeats):
        for path in PATHS:
            command = [
                sys.executable,
                __file__,
                "--measure",
                path,
                "--data",
                str(data),
                "--engine",
                engine,
                "--out",
                str(workdir / f"{path}.parquet"),
            ]
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            runs[path].append(json.loads(done.stdout.strip().splitlines()[-1]))
    seconds = {p: statistics.median(r["seconds"] for r in runs[p]) for p in PATHS}
    peak = {p: max(r["peak_rss_gb"] for r in runs[p]) for p in PATHS}
    platform = pl.read_parquet(workdir / "platform_bank.parquet")
    hand = pl.read_parquet(workdir / "hand_written_bank.parquet").select(platform.columns)
    same = platform.equals(hand)
    ratio = seconds["platform_bank"] / seconds["hand_written_bank"]
    return {
        "applications": platform.height,
        "transactions": scan(data)["bank_transactions"].select(pl.len()).collect().item(),
        "engine": engine,
        "repeats": repeats,
        "seconds": {p: round(v, 3) for p, v in seconds.items()},
        "ratio_platform_to_hand_written": round(ratio, 3),
        "peak_rss_gb": {p: round(v, 3) for p, v in peak.items()},
        "feature_columns": runs["platform_all"][0]["columns"],
        "same_values": same,
        "targets": {"ratio": 1.5, "peak_rss_gb": 8.0},
        "pass": bool(same and ratio <= 1.5 and max(peak.values()) <= 8.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--borrowers", type=int, default=20_000)
    parser.add_argument(
        "--data", type=Path, help="existing <dir>/<source>/*.parquet (skips generation)"
    )
    parser.add_argument("--chunk", type=int, default=50_000, help="borrowers generated per chunk")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--engine", default="streaming", choices=["streaming", "in-memory", "auto"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure", choices=PATHS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.generate_only:
        generate(args.data, args.borrowers, args.chunk, args.seed)
        return
    if args.measure:
        measure(args.measure, args.data, args.engine, args.out)
        return
    with tempfile.TemporaryDirectory(prefix="bench_features_") as tmp:
        workdir = Path(tmp)
        data = args.data
        if data is None:
            data = workdir / "data"
            command = [
                sys.executable,
                __file__,
                "--generate-only",
                "--data",
                str(data),
                "--borrowers",
                str(args.borrowers),
                "--chunk",
                str(args.chunk),
                "--seed",
                str(args.seed),
            ]
            started = time.perf_counter()
            subprocess.run(command, check=True)
            print(f"data generated in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        print(json.dumps(run(data, args.repeats, args.engine, workdir), indent=2))


if __name__ == "__main__":
    main()
