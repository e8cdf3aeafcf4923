"""Ingesting a large bank-transactions CSV in bounded memory, against DuckDB.

    .venv/bin/python bench/bench_ingest.py                     # 50 M rows (~5 GB), 3 runs
    .venv/bin/python bench/bench_ingest.py --rows 2000000 --runs 1

The file is written once (seeded) in the platform's bank_transactions shape. Each run
then measures, each in a fresh process and interleaved (DuckDB, platform, DuckDB, ...):

- baseline: DuckDB converting the same file to Parquet (`COPY (SELECT * FROM
  read_csv(...)) TO ... (FORMAT parquet)`, types sniffed, no validation);
- platform: `stream.ingest_to_files` as the `raw_<source>` asset runs it (sha256, UTF-8
  check, every value typed and checked against contracts/bank_transactions.yaml, accepted
  and quarantined rows to Parquet, duplicate keys looked for).

Reported: rows per second and peak RSS of both, per run; the target is the platform's
throughput at least half of DuckDB's in the same run (median of the per-run ratios) and
its peak RSS under 2 GB. Prints one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RATIO_MIN = 0.5
PEAK_GB_MAX = 2.0
CATEGORIES = [
    "payroll",
    "other_income",
    "rent",
    "utilities",
    "groceries",
    "gambling",
    "overdraft_fee",
    "returned_payment",
    "cash_withdrawal",
    "transfer_out",
    "shopping",
]

# Each measurement runs in its own interpreter, which prints {"seconds", "rows", "peak_rss_gb"};
# the peak is VmHWM, the process's own high-water mark (ru_maxrss would carry the parent's
# across fork and exec).
PLATFORM = """
import json, re, sys, tempfile, time
from pathlib import Path
from credit_assets.core.contracts import load_contract
from credit_assets.core.ingestion.stream import ingest_to_files
contract = load_contract(Path(sys.argv[2]) / "contracts" / "bank_transactions.yaml")
with tempfile.TemporaryDirectory(dir=sys.argv[3]) as workdir:
    started = time.perf_counter()
    result = ingest_to_files(Path(sys.argv[1]), contract, Path(workdir))
    seconds = time.perf_counter() - started
peak = int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) / 1024**2
print(json.dumps({"seconds": seconds, "rows": result.rows_read,
                  "accepted": result.rows_accepted, "peak_rss_gb": peak}))
"""
DUCKDB = """
import json, re, sys, tempfile, time
from pathlib import Path
import duckdb
with tempfile.TemporaryDirectory(dir=sys.argv[3]) as workdir:
    target = Path(workdir) / "out.parquet"
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM read_csv('{sys.argv[1]}')) TO '{target}' (FORMAT parquet)")
    seconds = time.perf_counter() - started
    rows = con.execute(f"SELECT count(*) FROM read_parquet('{target}')").fetchone()[0]
peak = int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) / 1024**2
print(json.dumps({"seconds": seconds, "rows": rows, "peak_rss_gb": peak}))
"""


def write_transactions(path: Path, rows: int, seed: int = 0) -> None:
    """`rows` bank transactions as CSV, two million at a time (bounded memory)."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    days = pl.date_range(pl.date(2024, 1, 1), pl.date(2025, 12, 31), eager=True)
    borrowers = max(1, rows // 300)
    with path.open("wb") as handle:
        for start in range(0, rows, 2_000_000):
            n = min(2_000_000, rows - start)
            ids = pl.Series(np.arange(start, start + n)).cast(pl.String).str.zfill(10)
            owners = pl.Series(rng.integers(0, borrowers, n)).cast(pl.String).str.zfill(8)
            frame = pl.DataFrame(
                {
                    "transaction_id": "t" + ids,
                    "borrower_id": "B" + owners,
                    "booked_date": days.gather(rng.integers(0, days.len(), n)),
                    "amount": np.round(rng.normal(0, 300, n), 2),
                    "category": np.array(CATEGORIES)[rng.integers(0, len(CATEGORIES), n)],
                    "balance": np.round(rng.normal(1500, 2000, n), 2),
                    "counterparty": np.array(["ACME Ltd", "Corner shop", "Landlord", ""])[
                        rng.integers(0, 4, n)
                    ],
                }
            )
            frame.write_csv(handle, include_header=start == 0)


def measure(code: str, csv_path: Path, workdir: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", code, str(csv_path), str(REPO), str(workdir)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args(argv)
    folder = args.workdir / "credit-bench-ingest"
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / f"transactions_{args.rows}.csv"
    if not csv_path.exists():
        print(f"writing {args.rows:,} transactions to {csv_path}", file=sys.stderr)
        partial = csv_path.with_suffix(".partial")
        write_transactions(partial, args.rows)
        partial.replace(csv_path)
    runs = []
    for run in range(args.runs):
        duck = measure(DUCKDB, csv_path, folder)
        ours = measure(PLATFORM, csv_path, folder)
        ratio = duck["seconds"] / ours["seconds"]
        runs.append({"duckdb": duck, "platform": ours, "throughput_ratio": ratio})
        print(
            f"run {run + 1}: duckdb {duck['seconds']:.1f} s {duck['peak_rss_gb']:.2f} GB, "
            f"platform {ours['seconds']:.1f} s {ours['peak_rss_gb']:.2f} GB, ratio {ratio:.2f}",
            file=sys.stderr,
        )
    ratios = [r["throughput_ratio"] for r in runs]
    peaks = [r["platform"]["peak_rss_gb"] for r in runs]
    ratio = statistics.median(ratios)
    result = {
        "rows": args.rows,
        "file_bytes": csv_path.stat().st_size,
        "runs": runs,
        "median_throughput_ratio": ratio,
        "ratio_range": [min(ratios), max(ratios)],
        "platform_rows_per_second": statistics.median(
            r["platform"]["rows"] / r["platform"]["seconds"] for r in runs
        ),
        "duckdb_rows_per_second": statistics.median(
            r["duckdb"]["rows"] / r["duckdb"]["seconds"] for r in runs
        ),
        "platform_peak_rss_gb": max(peaks),
        "duckdb_peak_rss_gb": max(r["duckdb"]["peak_rss_gb"] for r in runs),
        "all_rows_accepted": all(r["platform"]["accepted"] == args.rows for r in runs),
        "targets": {"throughput_ratio_min": RATIO_MIN, "peak_rss_gb_max": PEAK_GB_MAX},
    }
    result["pass"] = bool(
        ratio >= RATIO_MIN and max(peaks) < PEAK_GB_MAX and result["all_rows_accepted"]
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
