"""Run every benchmark and write docs/BENCHMARKS.md (what `make bench` runs).

    .venv/bin/python bench/run_all.py                          # reference run (~1 h on 2 cores)
    .venv/bin/python bench/run_all.py --quick                  # smoke test: small sizes, 1 run each
    .venv/bin/python bench/run_all.py --only api --only demo   # re-run some; keeps the others
    .venv/bin/python bench/run_all.py --features-borrowers 200000 --with-install

Benchmarks run one after another, never together. A script that does not repeat
itself (reasons, api, demo) is run `--repeats` times and the median of each figure
is reported; bench_features.py interleaves its own repeats. The machine may be
shared, so every target is a ratio against a baseline measured in the same run:
each run's ratio is computed first, then the median of the ratios is taken.

The report keeps every benchmark's raw JSON in a block at its end, so `--only`
re-renders the other sections from the previous run instead of dropping them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
DEFAULT_OUTPUT = REPO / "docs" / "BENCHMARKS.md"
BEGIN, END = "<!-- bench-results-json", "bench-results-json -->"
NAMES = ("features", "reasons", "api", "api_scorecard", "demo", "ingest")

# Targets. features and api restate their scripts' targets; reasons has none in its script,
# so these follow DESIGN.md ("Measured facts"): exact SHAP must give the same values and the
# same top-4 reasons as CatBoost, and be an order of magnitude cheaper per request.
FEATURES_RATIO_MAX = 1.5  # platform path / hand-written query, at 1 M borrowers
FEATURES_PEAK_GB_MAX = 8.0
REASONS_SINGLE_SPEEDUP_MIN = 10.0  # CatBoost ShapValues ms / leaf-table ms, one row
REASONS_BATCH_SPEEDUP_MIN = 10.0  # issue 6: batch reasons ≥ 10× the rows/s of ShapValues
REASONS_MAX_ABS_DIFF = 1e-9  # tests/core/explain/test_leaf_shap.py tolerance
API_RATIO_MIN = 0.25  # scoring req/s / bare FastAPI req/s
API_P99_MS_MAX = 10.0  # at half the scoring path's own saturated throughput
DEMO_BUDGET_S = 600.0  # `make demo` to a materialized graph, install included when measured
FEATURES_DISK_BYTES_PER_BORROWER = 12_000  # ~10 GB per 1 M borrowers, with a margin
INGEST_ROWS = 50_000_000  # issue 30: a 5 GB transactions CSV
INGEST_RATIO_MIN = 0.5  # platform rows/s / DuckDB's CSV -> Parquet rows/s, same run
INGEST_PEAK_GB_MAX = 2.0
INGEST_DISK_BYTES_PER_ROW = 250  # the CSV (~105 B/row) and both Parquet outputs, with a margin


# -- machine ------------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine(python: str = sys.executable) -> dict[str, Any]:
    cpu = re.search(r"^model name\s*:\s*(.+)$", _read("/proc/cpuinfo"), re.M)
    mem = re.search(r"^MemTotal:\s*(\d+) kB", _read("/proc/meminfo"), re.M)
    versions = subprocess.run(
        [
            python,
            "-c",
            "import json, platform, importlib.metadata as m\n"
            "v = {'python': platform.python_version()}\n"
            "for p in ('polars', 'catboost', 'fastapi', 'uvicorn', 'dagster'):\n"
            "    try: v[p] = m.version(p)\n"
            "    except m.PackageNotFoundError: v[p] = None\n"
            "print(json.dumps(v))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(int(mem.group(1)) / 1024**2, 1) if mem else None,
        "cpu_model": cpu.group(1).strip() if cpu else platform.processor(),
        "load_average_at_start": load_average(),
        "kernel": platform.release(),
        "versions": json.loads(versions.stdout),
        "git": f"{commit}{' + uncommitted changes' if dirty else ''}",
        "started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


# -- running ------------------------------------------------------------------------------


def display(command: list[str]) -> str:
    """The command as a person would type it from the repository root."""
    parts = []
    for part in command:
        path = Path(part)
        if path.is_absolute() and path.is_relative_to(REPO):
            part = str(path.relative_to(REPO))
        parts.append(part)
    return shlex.join(parts)


def last_json(stdout: str) -> dict[str, Any]:
    """The JSON document a benchmark prints last (it may print other lines before)."""
    starts = [m.start() for m in re.finditer(r"^\{", stdout, re.M)]
    for start in reversed(starts):
        try:
            return json.JSONDecoder().raw_decode(stdout[start:])[0]
        except json.JSONDecodeError:
            continue
    raise ValueError("no JSON document in the benchmark's output")


def run_json(command: list[str], timeout: float) -> dict[str, Any]:
    """Run a benchmark script (stderr shown live), return its JSON; interrupt it on timeout."""
    print(f"\n$ {display(command)}", file=sys.stderr, flush=True)
    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(process)
        raise TimeoutError(f"no result after {timeout:.0f} s") from None
    if process.returncode:
        raise RuntimeError(f"exit code {process.returncode}")
    return last_json(stdout)


def stop(process: subprocess.Popen) -> None:
    """SIGINT first so the script's own clean-up runs (it stops its servers), then SIGKILL."""
    for sig, wait in ((signal.SIGINT, 30), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        if process.poll() is not None:
            return
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def figure(
    name: str,
    value: float | None,
    shown: str,
    target: str,
    met: bool | None,
    baseline: str = "—",
) -> dict[str, Any]:
    """One reported figure: `shown` is its text, `baseline` what it is a ratio against."""
    return {
        "name": name,
        "value": value,
        "shown": shown,
        "baseline": baseline,
        "target": target,
        "met": met,
    }


# -- benchmarks ---------------------------------------------------------------------------


def bench_features(args: argparse.Namespace, py: str) -> dict[str, Any]:
    borrowers = args.features_borrowers or (20_000 if args.quick else 1_000_000)
    command = [py, str(BENCH / "bench_features.py"), "--borrowers", str(borrowers)]
    if args.quick:
        command += ["--repeats", "1"]
    notes = []
    if borrowers < 1_000_000:
        notes.append(f"Run at {borrowers:,} borrowers; the targets are stated for 1 000 000.")
    need = borrowers * FEATURES_DISK_BYTES_PER_BORROWER
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if free < need:
        raise RuntimeError(
            f"skipped: {free / 1e9:.0f} GB free under {tempfile.gettempdir()}, "
            f"~{need / 1e9:.0f} GB needed for {borrowers:,} borrowers"
        )
    started = time.monotonic()
    result = run_json(command, args.features_timeout)
    seconds, peak = result["seconds"], result["peak_rss_gb"]
    hand = seconds["hand_written_bank"]
    ratio = seconds["platform_bank"] / hand
    # The memory target is the platform's; the hand-written baseline's peak is shown beside it.
    platform_peak = max(peak["platform_bank"], peak["platform_all"])
    if not result["pass"] and result["same_values"] and ratio <= FEATURES_RATIO_MAX:
        notes.append(
            "The script's own `pass` is false only because it applies the 8 GB bound to every "
            "path, the hand-written baseline included; the target is the platform path's."
        )
    return {
        "commands": [display(command)],
        "runs": [result],
        "wall_seconds": round(time.monotonic() - started, 1),
        "notes": notes,
        "table": [
            ("applications (rows of the spine)", f"{result['applications']:,}"),
            ("bank transactions", f"{result['transactions']:,}"),
            (
                "engine / repeats",
                f"{result['engine']} / {result['repeats']} (interleaved, each in a fresh process)",
            ),
            *((f"median seconds: {p}", f"{s:.3f}") for p, s in seconds.items()),
            *((f"peak RSS GB: {p}", f"{g:.2f}") for p, g in peak.items()),
            ("feature columns (all contracts)", str(result["feature_columns"])),
        ],
        "figures": [
            figure(
                "time: platform_bank / hand_written_bank",
                ratio,
                f"{ratio:.2f}×",
                f"≤ {FEATURES_RATIO_MAX}×",
                ratio <= FEATURES_RATIO_MAX,
                f"hand-written query {hand:.2f} s",
            ),
            figure(
                "time: platform_all / hand_written_bank (every contract)",
                seconds["platform_all"] / hand,
                f"{seconds['platform_all'] / hand:.2f}×",
                "— (information)",
                None,
                f"hand-written query {hand:.2f} s",
            ),
            figure(
                "peak RSS of the platform path (worst of bank-only and every contract)",
                platform_peak,
                f"{platform_peak:.2f} GB ({platform_peak / peak['hand_written_bank']:.2f}×)",
                f"≤ {FEATURES_PEAK_GB_MAX:g} GB",
                platform_peak <= FEATURES_PEAK_GB_MAX,
                f"hand-written query {peak['hand_written_bank']:.2f} GB",
            ),
            figure(
                "platform values identical to the hand-written query",
                float(result["same_values"]),
                "yes" if result["same_values"] else "no",
                "identical",
                bool(result["same_values"]),
            ),
        ],
    }


def bench_ingest(args: argparse.Namespace, py: str) -> dict[str, Any]:
    rows = args.ingest_rows or (1_000_000 if args.quick else INGEST_ROWS)
    runs = 1 if args.quick else max(3, args.repeats)
    command = [py, str(BENCH / "bench_ingest.py"), "--rows", str(rows), "--runs", str(runs)]
    need = rows * INGEST_DISK_BYTES_PER_ROW
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if free < need:
        raise RuntimeError(
            f"skipped: {free / 1e9:.0f} GB free under {tempfile.gettempdir()}, "
            f"~{need / 1e9:.0f} GB needed for {rows:,} rows"
        )
    started = time.monotonic()
    result = run_json(command, args.ingest_timeout)
    ratio = result["median_throughput_ratio"]
    low, high = result["ratio_range"]
    peak = result["platform_peak_rss_gb"]
    per_run = ", ".join(f"{r['throughput_ratio']:.2f}" for r in result["runs"])
    notes = [
        f"{len(result['runs'])} runs, DuckDB and the platform interleaved, each in a fresh "
        f"process; per-run throughput ratios {per_run} "
        f"(median {ratio:.2f}, range {low:.2f}–{high:.2f})."
    ]
    if rows < INGEST_ROWS:
        notes.append(f"Run at {rows:,} rows; the targets are stated for {INGEST_ROWS:,}.")
    return {
        "commands": [display(command)],
        "runs": [result],
        "wall_seconds": round(time.monotonic() - started, 1),
        "notes": notes,
        "table": [
            ("rows / file size", f"{rows:,} / {result['file_bytes'] / 1e9:.2f} GB"),
            ("platform rows/s (median)", f"{result['platform_rows_per_second']:,.0f}"),
            ("DuckDB rows/s (median)", f"{result['duckdb_rows_per_second']:,.0f}"),
            ("platform peak RSS (worst run)", f"{peak:.2f} GB"),
            ("DuckDB peak RSS (worst run)", f"{result['duckdb_peak_rss_gb']:.2f} GB"),
        ],
        "figures": [
            figure(
                "throughput: platform / DuckDB CSV→Parquet",
                ratio,
                f"{ratio:.2f}× (range {low:.2f}–{high:.2f})",
                f"≥ {INGEST_RATIO_MIN}×",
                ratio >= INGEST_RATIO_MIN,
                f"DuckDB {result['duckdb_rows_per_second'] / 1e6:.2f} M rows/s",
            ),
            figure(
                "peak RSS of the platform's ingestion",
                peak,
                f"{peak:.2f} GB",
                f"< {INGEST_PEAK_GB_MAX:g} GB",
                peak < INGEST_PEAK_GB_MAX,
                f"DuckDB {result['duckdb_peak_rss_gb']:.2f} GB",
            ),
            figure(
                "every generated row accepted",
                float(result["all_rows_accepted"]),
                "yes" if result["all_rows_accepted"] else "no",
                "all",
                bool(result["all_rows_accepted"]),
            ),
        ],
    }


def bench_reasons(args: argparse.Namespace, py: str) -> dict[str, Any]:
    command = [py, str(BENCH / "bench_reasons.py")]
    if args.quick:
        command += [
            "--trees",
            "50",
            "--train-rows",
            "3000",
            "--rows",
            "500",
            "--single-repeats",
            "10",
        ]
    runs, started = repeat(command, args.repeats, 1800)
    single = [r["single_row_ms"] for r in runs]
    batch = [r["batch"] for r in runs]
    parity = [r["parity"] for r in runs]
    leaf_ms = median([s["leaf_from_pool"] for s in single])
    catboost_ms = median([s["catboost_from_pool"] for s in single])
    speedup = median([s["catboost_from_pool"] / s["leaf_from_pool"] for s in single])
    batch_speedup = median([b["speedup"] for b in batch])
    predict_ms = median([s["predict_only_from_pool"] for s in single])
    worst_diff = max(p["max_abs_shap_difference"] for p in parity)
    worst_share = min(p["identical_top4_codes_share"] for p in parity)
    model = runs[0]["model"]
    return {
        "commands": [display(command) + f"   # × {len(runs)}, medians"],
        "runs": runs,
        "wall_seconds": round(time.monotonic() - started, 1),
        "notes": [],
        "table": [
            (
                "model",
                f"{model['trees']} trees, depth {model['depth']}, {model['features']} "
                f"features ({model['categorical']} categorical), monotone constraints: "
                f"{model['monotone_constraints']}",
            ),
            ("batch rows", str(batch[0]["rows"])),
            (
                "batch rows/s: leaf path",
                f"{median([b['leaf_rows_per_second'] for b in batch]):,.0f}",
            ),
            (
                "batch rows/s: CatBoost ShapValues",
                f"{median([b['catboost_rows_per_second'] for b in batch]):,.0f}",
            ),
            *((f"single row ms: {k}", f"{median([s[k] for s in single]):.3f}") for k in single[0]),
            ("max |SHAP difference| (worst run)", f"{worst_diff:.2e}"),
            ("identical top-4 codes (worst run)", f"{worst_share:.1%}"),
            (
                "leaf-table build s",
                f"{median([r['model']['leaf_table_build_seconds'] for r in runs]):.3f}",
            ),
        ],
        "figures": [
            figure(
                "single row: speed-up of leaf tables over CatBoost ShapValues",
                speedup,
                f"{speedup:.0f}× ({leaf_ms:.3f} ms)",
                f"≥ {REASONS_SINGLE_SPEEDUP_MIN:g}×",
                speedup >= REASONS_SINGLE_SPEEDUP_MIN,
                f"ShapValues {catboost_ms:.2f} ms/row",
            ),
            figure(
                "batch: speed-up of leaf tables over CatBoost ShapValues",
                batch_speedup,
                f"{batch_speedup:.1f}×",
                f"≥ {REASONS_BATCH_SPEEDUP_MIN:g}×",
                batch_speedup >= REASONS_BATCH_SPEEDUP_MIN,
                "ShapValues on the same rows",
            ),
            figure(
                "single row: leaf reasons / prediction alone",
                leaf_ms / predict_ms,
                f"{leaf_ms / predict_ms:.2f}×",
                "— (information)",
                None,
                f"predict {predict_ms:.3f} ms/row",
            ),
            figure(
                "max |SHAP difference| vs CatBoost (worst run)",
                worst_diff,
                f"{worst_diff:.1e}",
                f"≤ {REASONS_MAX_ABS_DIFF:g}",
                worst_diff <= REASONS_MAX_ABS_DIFF,
                "CatBoost ShapValues",
            ),
            figure(
                "identical top-4 reason codes (worst run)",
                worst_share,
                f"{worst_share:.1%}",
                "100 %",
                worst_share == 1.0,
                "CatBoost ShapValues",
            ),
        ],
    }


API_HISTORY = (
    "History on this machine: the first scoring path (sync routes in the thread pool, one "
    "feature read and one scoring call per request, a group-commit thread) reached 412 req/s, "
    "5.0 % of the bare endpoint, p99 21 ms at half load. The event-loop path (micro-batches: "
    "one feature read, one CatBoost + SHAP pass, one group commit per batch; asyncpg; the "
    "start-up heap frozen out of the garbage collector's reach; the by-id fast path) reached "
    "23 % and p99 83 ms at half load. Profiling that (2026-11-27) found: at half load batches "
    "were of one or two and a batch's fixed costs (round trips, a CatBoost call, ~0.6 ms CPU) "
    "made the machine nearly as busy as at saturation (fixed by a 2 ms linger while requests "
    "come faster than one per 2 ms); pglz compression of the log's JSON was a quarter of "
    "PostgreSQL's CPU (lz4 now); asyncpg's pool cost two tasks per statement (a free list now); "
    "an expired API-key cache entry re-ran scrypt, stalling a worker 100-150 ms a minute; "
    "SHAP gathered in 8 MB chunks cost 5x per row above 64 rows. The bare endpoint's figure "
    "moves from run to run, so it is measured just before and just after the scoring path "
    "and averaged; the medians of per-run ratios are reported. With uvicorn's own --workers "
    "(one shared listening socket) wrk's 32 connections split 28/4 as often as 16/16 and the "
    "busier worker capped the run (3 864 req/s at 27/5, 5 143 at 18/14); both apps now run "
    "as `credit-platform serve --workers 2` does, a socket per worker (SO_REUSEPORT), and the "
    "kernel's hash split is reported per phase. The half-load client spreads its "
    "connections evenly over the workers, as a load balancer in front of them would. Later "
    "the same day: the half-load phase moved from the asyncio client (20-25 % of a core, "
    "send lateness 2-3 ms at p99) to bench/openloop.c (11 %); decision ids became UUIDv7, so the log's "
    "primary key grows at its right edge (PostgreSQL CPU per group insert -15-20 %); the "
    "linger counts the time an item already queued; with 32 connections at half load the "
    "client's own connection queue added ~2 ms at p99 (64: 8.8-9.3 ms against 9.4-11.4 at "
    "3 600 req/s), so the paced phase uses 64 and reports the client's wait."
)


def _model_text(model: dict[str, Any]) -> str:
    if model.get("family") == "scorecard":
        return f"WoE scorecard, {model.get('characteristics')} characteristics"
    return f"{model['trees']} trees, {model['features']} features"


def bench_api(args: argparse.Namespace, py: str, family: str = "catboost") -> dict[str, Any]:
    command = (
        [py, str(BENCH / "bench_api.py")]
        + (["--quick"] if args.quick else [])
        + (["--family", family] if family != "catboost" else [])
    )
    runs, started = repeat(command, args.repeats, 1800)
    ratios = [r["ratio"] for r in runs if r["ratio"] is not None]
    p99s = [r["at_half_throughput"].get("p99_ms") for r in runs]
    p99 = median([p for p in p99s if p is not None]) if all(p is not None for p in p99s) else None
    errors = sum(
        int(r[k].get("errors") or 0)
        for r in runs
        for k in ("bare", "scoring", "at_half_throughput")
    )
    first = runs[0]
    notes = [n for n in {r.get("note") for r in runs} if n]
    if errors:
        notes.append(f"{errors} non-200 responses or socket errors over all runs.")
    notes.append(API_HISTORY)

    def med(phase: str, key: str) -> float:
        return median([r[phase][key] for r in runs if r[phase].get(key) is not None])

    ratio = median(ratios)
    return {
        "commands": [display(command) + f"   # × {len(runs)}, medians"],
        "runs": runs,
        "wall_seconds": round(time.monotonic() - started, 1),
        "notes": notes,
        "table": [
            ("load client (saturation)", first["client"]),
            (
                "load client (half throughput, open loop)",
                first.get("paced_client", first["client"]),
            ),
            (
                "workers / connections (saturation, half throughput) / database",
                f"{first['workers']} / {first['connections']}, "
                f"{first.get('paced_connections', first['connections'])} / {first['database']}",
            ),
            ("model", _model_text(first["model"])),
            (
                "bare FastAPI req/s (mean of before and after the scoring phase)",
                f"{med('bare', 'req_per_s'):,.0f}",
            ),
            ("scoring path req/s", f"{med('scoring', 'req_per_s'):,.0f}"),
            (
                "scoring p50 / p99 ms at saturation",
                f"{med('scoring', 'p50_ms'):.2f} / {med('scoring', 'p99_ms'):.2f}",
            ),
            ("half-throughput rate req/s", f"{med('at_half_throughput', 'target_req_per_s'):,.0f}"),
            ("achieved req/s at half throughput", f"{med('at_half_throughput', 'req_per_s'):,.0f}"),
            (
                "p50 / p99 ms at half throughput",
                f"{med('at_half_throughput', 'p50_ms'):.2f} / {p99 if p99 is None else round(p99, 2)}",
            ),
            (
                "p99 ms a request waited in the client for a free connection (half throughput)",
                "—"
                if any(r["at_half_throughput"].get("client_wait_p99_ms") is None for r in runs)
                else f"{med('at_half_throughput', 'client_wait_p99_ms'):.2f}",
            ),
            ("errors (all runs)", str(errors)),
        ],
        "figures": [
            figure(
                "throughput: scoring path / bare FastAPI",
                ratio,
                f"{ratio:.1%} ({med('scoring', 'req_per_s'):,.0f} req/s)",
                f"≥ {API_RATIO_MIN:.0%}",
                ratio >= API_RATIO_MIN,
                f"bare {med('bare', 'req_per_s'):,.0f} req/s",
            ),
            figure(
                "p99 latency at half the scoring path's own throughput",
                p99,
                "—" if p99 is None else f"{p99:.2f} ms",
                f"≤ {API_P99_MS_MAX:g} ms",
                p99 is not None and p99 <= API_P99_MS_MAX,
                f"open loop at {med('at_half_throughput', 'target_req_per_s'):,.0f} req/s",
            ),
        ],
    }


def repeat(command: list[str], times: int, timeout: float) -> tuple[list[dict], float]:
    started = time.monotonic()
    runs = []
    for i in range(times):
        load = load_average()
        result = run_json(command, timeout)
        result["_run"] = {"index": i + 1, "load_average_at_start": load}
        runs.append(result)
    return runs, started


def install_venv(directory: Path) -> tuple[str, float]:
    """A fresh venv with `pip install -e .[dev]`, as `make install` does; returns its python."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(directory)], check=True)
    py = str(directory / "bin" / "python")
    subprocess.run([py, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([py, "-m", "pip", "install", "--quiet", "-e", ".[dev]"], cwd=REPO, check=True)
    return py, time.monotonic() - started


def pip_sources() -> str:
    """Where pip takes packages from here (index and find-links settings, credentials removed)."""
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True
    ).stdout
    keys = ("index-url", "extra-index-url", "find-links")
    found = sorted(
        {
            line.split(".", 1)[-1]
            for line in listing.splitlines()
            if line.split("=")[0].endswith(keys)
        }
    )
    return "; ".join(re.sub(r"//[^/@\s]+@", "//", line) for line in found)


def demo_once(py: str, borrowers: int, timeout: float) -> dict[str, Any]:
    """`credit-platform demo --no-serve` in a fresh CREDIT_HOME; times its phases from its output."""
    home = Path(tempfile.mkdtemp(prefix="bench_demo_home_"))
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CREDIT_DATABASE_URL", "DAGSTER_HOME") and not k.startswith("CREDIT_")
    }
    env["CREDIT_HOME"] = str(home)
    command = [
        str(Path(py).parent / "credit-platform"),
        "demo",
        "--no-serve",
        "--borrowers",
        str(borrowers),
    ]
    print(f"\n$ CREDIT_HOME=$(mktemp -d) {display(command)}", file=sys.stderr, flush=True)
    marks: dict[str, float] = {}
    tail: list[str] = []
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    watchdog = threading.Timer(timeout, stop, (process,))  # a silent hang ends too
    watchdog.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            now = time.monotonic() - started
            if line.startswith("==> generating"):
                marks.setdefault("generate", now)
            elif line.startswith("==> materializing"):
                marks.setdefault("materialize", now)
            tail = (tail + [line.rstrip()])[-30:]
        process.wait()
        total = time.monotonic() - started
    finally:
        watchdog.cancel()
        stop(process)
        shutil.rmtree(home, ignore_errors=True)
    if total >= timeout:
        raise TimeoutError(f"demo stopped after {timeout:.0f} s (--demo-timeout)")
    if process.returncode:
        raise RuntimeError(f"demo exit code {process.returncode}: " + " | ".join(tail[-8:]))
    generate_s = marks.get("materialize", total) - marks.get("generate", 0.0)
    return {
        "total_seconds": round(total, 1),
        "generate_seconds": round(generate_s, 1) if "generate" in marks else None,
        "materialize_seconds": round(total - marks["materialize"], 1)
        if "materialize" in marks
        else None,
    }


def bench_demo(args: argparse.Namespace, py: str) -> dict[str, Any]:
    borrowers = args.demo_borrowers or (5_000 if args.quick else 50_000)
    started = time.monotonic()
    commands, notes, table = [], [], []
    install_s = None
    venv_dir = None
    if args.with_install:
        venv_dir = Path(tempfile.mkdtemp(prefix="bench_demo_venv_"))
        cache = "warm" if Path.home().joinpath(".cache", "pip").exists() else "cold"
        print(
            f"\n$ python -m venv $TMP && pip install -e .[dev]   (pip cache {cache})",
            file=sys.stderr,
            flush=True,
        )
        py, install_s = install_venv(venv_dir)
        commands.append(
            "python3 -m venv $VENV && $VENV/bin/python -m pip install --quiet "
            "--upgrade pip && $VENV/bin/python -m pip install --quiet -e '.[dev]'"
        )
        sources = pip_sources()
        notes.append(
            f"Install timed into a fresh temporary venv; pip's download cache was {cache}; pip "
            f"configuration on this machine: {sources or 'none (PyPI)'}. An install that has to "
            "download every wheel from PyPI takes longer."
        )
        table.append(("fresh install s", f"{install_s:.1f}"))
    try:
        runs = []
        for i in range(args.repeats):
            load = load_average()
            run = demo_once(py, borrowers, args.demo_timeout)
            run["_run"] = {"index": i + 1, "load_average_at_start": load}
            runs.append(run)
        versions = machine(py)["versions"]
    finally:
        if venv_dir is not None:
            shutil.rmtree(venv_dir, ignore_errors=True)
    commands.append(
        f"CREDIT_HOME=$(mktemp -d) {display([str(Path(py).parent / 'credit-platform')])}"
        f" demo --no-serve --borrowers {borrowers}"
        + (f"   # × {len(runs)}, medians" if len(runs) > 1 else "")
    )
    if args.with_install:
        commands[-1] = commands[-1].replace(display([str(Path(py).parent)]), "$VENV/bin")
    total = median([r["total_seconds"] for r in runs])
    materialize = median([r["materialize_seconds"] for r in runs if r["materialize_seconds"]])
    generate = [r["generate_seconds"] for r in runs if r["generate_seconds"] is not None]
    table += [
        ("borrowers", f"{borrowers:,}"),
        (
            "generate s (synthetic data into the landing zone)",
            f"{median(generate):.1f}" if generate else "—",
        ),
        ("materialize s (whole asset graph)", f"{materialize:.1f}"),
        ("demo total s (process start to exit)", f"{total:.1f}"),
    ]
    end_to_end = total + (install_s or 0.0)
    label = "install + demo" if install_s is not None else "demo (install not timed)"
    return {
        "versions": versions,
        "commands": commands,
        "runs": runs,
        "install_seconds": round(install_s, 1) if install_s is not None else None,
        "wall_seconds": round(time.monotonic() - started, 1),
        "notes": notes,
        "table": table,
        "figures": [
            figure(
                f"{label}: time / 10-minute budget",
                end_to_end / DEMO_BUDGET_S,
                f"{end_to_end / DEMO_BUDGET_S:.0%} ({end_to_end / 60:.1f} min)",
                "≤ 100 %",
                end_to_end <= DEMO_BUDGET_S,
                f"budget {DEMO_BUDGET_S / 60:.0f} min",
            ),
        ],
    }


TITLES = {
    "features": ("Feature path vs a hand-written Polars query", "bench/bench_features.py"),
    "reasons": ("Reasons: leaf-table SHAP vs CatBoost ShapValues", "bench/bench_reasons.py"),
    "api": ("Scoring API vs a bare FastAPI endpoint", "bench/bench_api.py"),
    "api_scorecard": (
        "Scoring API with a scorecard champion vs a bare FastAPI endpoint",
        "bench/bench_api.py --family scorecard",
    ),
    "demo": ("`make demo` end to end", "credit-platform demo --no-serve"),
    "ingest": ("Ingesting a 5 GB transactions CSV vs DuckDB", "bench/bench_ingest.py"),
}
RUNNERS: dict[str, Callable[[argparse.Namespace, str], dict[str, Any]]] = {
    "features": bench_features,
    "reasons": bench_reasons,
    "api": bench_api,
    "api_scorecard": lambda args, py: bench_api(args, py, "scorecard"),
    "demo": bench_demo,
    "ingest": bench_ingest,
}


# -- report -------------------------------------------------------------------------------


def row(*cells: object) -> str:
    """A markdown table row; a `|` inside a cell is escaped."""
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def verdict(met: bool | None) -> str:
    return "—" if met is None else ("**met**" if met else "**not met**")


def render(entries: dict[str, dict[str, Any]], quick: bool) -> str:
    out = [
        "# Benchmarks",
        "",
        "Written by `bench/run_all.py` (`make bench`); see `bench/README.md` for what each "
        "benchmark measures. Every figure comes from the run whose command is shown. The machine "
        "was shared with other work, so absolute figures are noisy: each target is a ratio "
        "against a baseline measured in the same run (per-run ratio, then the median over runs).",
        "",
    ]
    if quick:
        out += [
            "> **Smoke run (`--quick`): small sizes, one run each — not reference figures.**",
            "",
        ]
    out += [
        "## Summary",
        "",
        "| benchmark | figure | value | baseline (same run) | target | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for name in NAMES:
        entry = entries.get(name)
        if entry is None:
            continue
        if entry.get("error"):
            out.append(row(name, entry["error"][:160], "—", "—", "—", "**not run**"))
            continue
        for f in entry["figures"]:
            out.append(
                row(name, f["name"], f["shown"], f["baseline"], f["target"], verdict(f["met"]))
            )
    for name in NAMES:
        entry = entries.get(name)
        if entry is None:
            continue
        title, script = TITLES[name]
        m = entry["machine"]
        v = m["versions"]
        out += [
            "",
            f"## {title}",
            "",
            f"Source: `{script}`" + (" — **smoke run**" if entry.get("quick") else ""),
            "",
        ]
        out += [
            "Command (from the repository root):",
            "",
            "```bash",
            *entry.get("commands", []),
            "```",
            "",
        ]
        out.append(
            f"Machine: {m['cores']} cores, {m['memory_gb']} GB RAM, {m['cpu_model']}; load average "
            f"at start {' / '.join(str(x) for x in m['load_average_at_start'])} (1/5/15 min); "
            f"Python {v['python']}, Polars {v['polars']}, CatBoost {v['catboost']}, FastAPI "
            f"{v['fastapi']}, uvicorn {v['uvicorn']}, Dagster {v['dagster']}; commit {m['git']}; "
            f"started {m['started']}"
            + (f", took {entry['wall_seconds'] / 60:.1f} min." if "wall_seconds" in entry else ".")
        )
        if entry.get("error"):
            out += ["", f"**Not run / failed:** {entry['error']}"]
            continue
        out += ["", "| measurement (median) | value |", "|---|---|"]
        out += [row(k, value) for k, value in entry["table"]]
        out += [
            "",
            "| figure | value | baseline (same run) | target | verdict |",
            "|---|---|---|---|---|",
        ]
        for f in entry["figures"]:
            out.append(row(f["name"], f["shown"], f["baseline"], f["target"], verdict(f["met"])))
        notes = list(entry["notes"])
        loads = [r["_run"]["load_average_at_start"][0] for r in entry["runs"] if "_run" in r]
        if loads:
            notes.append(
                "1-minute load average at the start of each run: "
                + ", ".join(f"{x:g}" for x in loads)
                + "."
            )
        if notes:
            out += ["", *(f"- {n}" for n in notes)]
    out += [
        "",
        "## Raw results",
        "",
        "Every run's JSON as printed by the benchmark (read back by `--only`).",
        "",
        BEGIN,
        json.dumps(entries, indent=1, default=str),
        END,
        "",
    ]
    return "\n".join(out)


def previous(output: Path) -> dict[str, dict[str, Any]]:
    if not output.exists():
        return {}
    text = output.read_text()
    if BEGIN not in text:
        return {}
    try:
        return json.loads(text.split(BEGIN, 1)[1].split(END, 1)[0])
    except json.JSONDecodeError:
        return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes, one run each; writes to a temporary file unless --output is given",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=NAMES,
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(NAMES)}",
    )
    parser.add_argument(
        "--features-borrowers",
        type=int,
        help="borrowers for bench_features.py (default 1 000 000; 20 000 quick)",
    )
    parser.add_argument("--features-timeout", type=float, default=1800.0, help="seconds")
    parser.add_argument("--demo-borrowers", type=int, help="default 50 000 (5 000 with --quick)")
    parser.add_argument(
        "--ingest-rows", type=int, help="rows for bench_ingest.py (default 50 M; 1 M quick)"
    )
    parser.add_argument("--ingest-timeout", type=float, default=3600.0, help="seconds")
    parser.add_argument("--demo-timeout", type=float, default=1800.0, help="seconds per demo run")
    parser.add_argument(
        "--with-install",
        action="store_true",
        help="also time `pip install -e .[dev]` into a fresh venv, and run the demo from it",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        help="runs of scripts that do not repeat themselves (default 3; 1 with --quick)",
    )
    parser.add_argument("--output", type=Path, help=f"default {DEFAULT_OUTPUT.relative_to(REPO)}")
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (1 if args.quick else 3)
    output = args.output or (
        Path(tempfile.gettempdir()) / "BENCHMARKS.quick.md" if args.quick else DEFAULT_OUTPUT
    )
    py = sys.executable
    entries = previous(output) if args.only else {}
    failed = False
    for name in args.only or NAMES:
        print(f"\n=== {name} ===", file=sys.stderr, flush=True)
        entry: dict[str, Any] = {"machine": machine(py), "quick": args.quick}
        try:
            entry |= RUNNERS[name](args, py)
        except Exception as exc:  # a failed benchmark is reported, the others still run
            failed = True
            entry["error"] = f"{type(exc).__name__}: {exc}"
            print(f"!! {name}: {entry['error']}", file=sys.stderr)
        if "versions" in entry:  # the demo may run from a fresh venv: its versions
            entry["machine"]["versions"] = entry.pop("versions")
        entries[name] = entry
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(render(entries, args.quick))  # after each one: partial results survive
    print(f"\nwrote {output}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
