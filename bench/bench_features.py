"""Benchmark: platform feature path against a hand-written Polars query.

    python bench/bench_features.py --borrowers 1000000            # generates data first
    python bench/bench_features.py --data /path/to/parquet_dir    # reuses <dir>/<source>/*.parquet

Times, as the median of --repeats runs on the same spine (one row per application,
as of its application date):
  * platform_bank_seconds:  `compute_features` with the bank contract only;
  * hand_written_bank_seconds: one Polars query written directly for the same
    bank-transaction aggregates (checked to give the same values);
  * platform_all_features_seconds: `compute_features` with every contract.
Prints one JSON object with the ratio (target <= 1.5) and the peak RSS of this
process (target <= 8 GB). Synthetic data is generated in a child process so the
peak RSS reported is the feature computation's, not the generator's.
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
    from credit_assets.core.synthetic import generate_frames

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
    """The bank aggregates written directly as one query, without the platform's layers."""
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
        )
        .group_by("borrower_id", "booked_date")
        .agg(
            pl.col("inflow", "outflow", "gambling", "fees", "returned").sum(),
            pl.col("payroll").max(),
            pl.col("low").min(),
            pl.col("eod").last(),
        )
        .with_columns(
            pl.col("booked_date").shift(-1).over("borrower_id", order_by="booked_date")
            .alias("next_date")
        )
    )
    keys = spine.select("borrower_id", "as_of_date").unique()
    d, a = pl.col("booked_date"), pl.col("as_of_date")
    k = (a.dt.year() * 12 + a.dt.month()) - (d.dt.year() * 12 + d.dt.month()) - (
        d.dt.day() >= pl.min_horizontal(a.dt.day(), d.dt.days_in_month())
    ).cast(pl.Int32)
    end = pl.min_horizontal(pl.col("next_date").fill_null(a), a)

    def overdraft(months: int) -> pl.Expr:
        start = pl.max_horizontal(d, a.dt.offset_by(f"-{months}mo"))
        days = (end - start).dt.total_days().clip(0)
        return pl.when(pl.col("eod") < 0).then(days).otherwise(0).cast(pl.Int64)

    eod128 = pl.col("eod").cast(pl.Int128)
    monthly = (
        daily.join(keys, on="borrower_id")
        .filter(d < a)
        .with_columns(
            k.cast(pl.Int32).alias("k"),
            (eod128 * eod128).alias("eod_sq"),
            pl.lit(1, dtype=pl.Int64).alias("days"),
            overdraft(3).alias("od3"),
            overdraft(12).alias("od12"),
        )
        .group_by("borrower_id", "as_of_date", "k")
        .agg(
            pl.col("inflow", "outflow", "gambling", "fees", "returned", "eod", "eod_sq", "days",
                   "od3", "od12").sum(),
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
            last(12, pl.col("days"), "n"),
            last(12, pl.col("eod").cast(pl.Int128), "s"),
            last(12, pl.col("eod_sq"), "q"),
            last(12, net, "net"),
            last(12, m.cast(pl.Int64) * net, "netk"),
        )
        .group_by("borrower_id", "as_of_date")
        .agg(
            pl.col("in3", "in6", "in12", "out3", "out12", "insq", "pay6", "pay12",
                   "bank_overdraft_fee_count_12m", "bank_returned_payment_count_12m", "gam",
                   "n", "s", "q", "net", "netk").sum(),
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
            "borrower_id", "as_of_date",
            *(div(pl.col(f"in{w}"), n_in(w) * 100).alias(f"bank_inflow_mean_{w}m") for w in (3, 6, 12)),
            pl.when((n12 >= 3) & (in12 > 0))
            .then((n12.cast(pl.Int128) * pl.col("insq") - in12 * in12).cast(pl.Float64).sqrt()
                  / in12.cast(pl.Float64)).alias("bank_inflow_cv_12m"),
            *(div(pl.col(f"pay{w}"), n_in(w)).alias(f"bank_payroll_month_share_{w}m") for w in (6, 12)),
            *(div(pl.col(f"out{w}").clip(0), pl.col(f"in{w}")).alias(f"bank_expense_to_income_ratio_{w}m")
              for w in (3, 12)),
            "bank_overdraft_days_3m", "bank_overdraft_days_12m",
            "bank_overdraft_fee_count_12m", "bank_returned_payment_count_12m",
            div(pl.col("gam"), pl.col("out12")).clip(upper_bound=1.0).alias("bank_gambling_outflow_share_12m"),
            "bank_balance_min_12m",
            pl.when(n >= 2)
            .then((n * pl.col("q") - pl.col("s") ** 2).cast(pl.Float64).sqrt()
                  / (n * 100).cast(pl.Float64)).alias("bank_balance_volatility_12m"),
            pl.when(n12 >= 3)
            .then((6 * (n12 - 1) * pl.col("net") - 12 * pl.col("netk")).cast(pl.Float64)
                  / (n12 * (n12 * n12 - 1) * 100).cast(pl.Float64)).alias("bank_net_flow_trend_12m"),
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


def timed(queries: dict[str, pl.LazyFrame], engine: str, repeats: int) -> dict[str, tuple[float, pl.DataFrame]]:
    """Median seconds and the result of each query; runs interleave so load noise hits all alike."""
    seconds: dict[str, list[float]] = {name: [] for name in queries}
    results: dict[str, pl.DataFrame] = {}
    for _ in range(repeats):
        for name, query in queries.items():
            start = time.perf_counter()
            results[name] = query.collect(engine=engine)  # type: ignore[arg-type]
            seconds[name].append(time.perf_counter() - start)
    return {name: (statistics.median(seconds[name]), results[name]) for name in queries}


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--borrowers", type=int, default=20_000)
    parser.add_argument("--data", type=Path, help="existing <dir>/<source>/*.parquet (skips generation)")
    parser.add_argument("--chunk", type=int, default=50_000, help="borrowers generated per chunk")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--engine", default="streaming", choices=["streaming", "in-memory", "auto"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.generate_only:
        generate(args.data, args.borrowers, args.chunk, args.seed)
        return
    with tempfile.TemporaryDirectory(prefix="bench_features_") as tmp:
        data = args.data
        if data is None:
            data = Path(tmp)
            command = [sys.executable, __file__, "--generate-only", "--data", str(data),
                       "--borrowers", str(args.borrowers), "--chunk", str(args.chunk),
                       "--seed", str(args.seed)]
            started = time.perf_counter()
            subprocess.run(command, check=True)
            print(f"data generated in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        print(json.dumps(run(data, args.repeats, args.engine), indent=2))


def run(data: Path, repeats: int, engine: str) -> dict[str, object]:
    contracts = load_contracts(REPO / "contracts")
    bank = contract_of_kind(contracts, SourceKind.BANK_TRANSACTIONS)
    assert bank is not None
    sources = scan(data)
    spine = spine_of(sources)

    runs = timed(
        {
            "hand": hand_written_bank(spine, sources[bank.name]),
            "platform": compute_features(spine, sources, {bank.name: bank}),
            "all": compute_features(spine, sources, contracts),
        },
        engine,
        repeats,
    )
    (hand_seconds, hand_result), (platform_seconds, platform_result), (all_seconds, all_result) = (
        runs["hand"], runs["platform"], runs["all"]
    )

    same = platform_result.equals(hand_result.select(platform_result.columns))
    ratio = platform_seconds / hand_seconds
    rss = peak_rss_gb()
    return {
        "applications": platform_result.height,
        "transactions": sources[bank.name].select(pl.len()).collect().item(),
        "engine": engine,
        "repeats": repeats,
        "hand_written_bank_seconds": round(hand_seconds, 3),
        "platform_bank_seconds": round(platform_seconds, 3),
        "ratio": round(ratio, 3),
        "platform_all_features_seconds": round(all_seconds, 3),
        "all_features_columns": all_result.width,
        "same_values": same,
        "peak_rss_gb": round(rss, 3),
        "targets": {"ratio": 1.5, "peak_rss_gb": 8.0},
        "pass": bool(same and ratio <= 1.5 and rss <= 8.0),
    }


if __name__ == "__main__":
    main()
