"""Run every benchmark and write docs/BENCHMARKS.md (what `make bench` runs).

    .venv/bin/python bench/run_all.py                          # the reference run: make bench
    .venv/bin/python bench/run_all.py --quick                  # smoke test: small sizes, 1 run each
    .venv/bin/python bench/run_all.py --only api --only demo   # some of them, into $TMPDIR
    .venv/bin/python bench/run_all.py --features-borrowers 200000 --with-install
    .venv/bin/python bench/run_all.py --render-from docs/BENCHMARKS.md   # re-render, no run

Benchmarks run one after another, never together. A script that does not repeat
itself (reasons, api, demo) is run `--repeats` times and the median of each figure
is reported; bench_features.py interleaves its own repeats. The machine may be
shared, so every target is a ratio against a baseline measured in the same run:
each run's ratio is computed first, then the median of the ratios is taken.

docs/BENCHMARKS.md holds one whole run and nothing else: a plain run rewrites it entirely,
and `--only` and `--quick` write elsewhere (a temporary file unless `--output` names one;
never docs/BENCHMARKS.md). The report ends with that run's raw JSON (what each script
printed, the commands, the machine); every table, figure and note above it is computed from
that JSON by bench/report.py, so `--render-from` rebuilds the report from it exactly.
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
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from report import (
    FEATURES_BORROWERS,
    INGEST_ROWS,
    LDA_ROWS,
    NAMES,
    SUMMARIES,
    Entry,
    load_results,
    partial_run,
    render,
)

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
DEFAULT_OUTPUT = REPO / "docs" / "BENCHMARKS.md"
FEATURES_DISK_BYTES_PER_BORROWER = 12_000  # ~10 GB per 1 M borrowers, with a margin
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
    # The report itself is rewritten after every benchmark: it is not a change to the code run.
    dirty = subprocess.run(
        [
            "git",
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            ".",
            f":(exclude){DEFAULT_OUTPUT.relative_to(REPO)}",
        ],
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


# -- benchmarks: each runner runs its script(s) and returns what they printed ----------------


def bench_features(args: argparse.Namespace, py: str) -> Entry:
    borrowers = args.features_borrowers or (20_000 if args.quick else FEATURES_BORROWERS)
    command = [py, str(BENCH / "bench_features.py"), "--borrowers", str(borrowers)]
    if args.quick:
        command += ["--repeats", "1"]
    need = borrowers * FEATURES_DISK_BYTES_PER_BORROWER
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if free < need:
        raise RuntimeError(
            f"skipped: {free / 1e9:.0f} GB free under {tempfile.gettempdir()}, "
            f"~{need / 1e9:.0f} GB needed for {borrowers:,} borrowers"
        )
    started = time.monotonic()
    result = run_json(command, args.features_timeout)
    return {
        "commands": [display(command)],
        "runs": [result],
        "wall_seconds": round(time.monotonic() - started, 1),
        "context": {"borrowers": borrowers},
    }


def bench_ingest(args: argparse.Namespace, py: str) -> Entry:
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
    return {
        "commands": [display(command)],
        "runs": [result],
        "wall_seconds": round(time.monotonic() - started, 1),
        "context": {"rows": rows},
    }


def bench_lda(args: argparse.Namespace, py: str) -> Entry:
    rows = args.lda_rows or (4_000 if args.quick else LDA_ROWS)
    runs = 1 if args.quick else max(3, args.repeats)
    command = [py, str(BENCH / "bench_lda.py"), "--rows", str(rows), "--runs", str(runs)]
    started = time.monotonic()
    result = run_json(command, args.lda_timeout)
    return {
        "commands": [display(command)],
        "runs": [result],
        "wall_seconds": round(time.monotonic() - started, 1),
        "context": {"rows": rows},
    }


def bench_reasons(args: argparse.Namespace, py: str) -> Entry:
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
    return {
        "commands": [display(command) + f"   # × {len(runs)}, medians"],
        "runs": runs,
        "wall_seconds": round(time.monotonic() - started, 1),
        "context": {},
    }


def bench_api(
    args: argparse.Namespace, py: str, family: str = "catboost", experiment: bool = False
) -> Entry:
    command = (
        [py, str(BENCH / "bench_api.py")]
        + (["--quick"] if args.quick else [])
        + (["--family", family] if family != "catboost" else [])
        + (["--experiment"] if experiment else [])
    )
    runs, started = repeat(command, args.repeats, 1800)
    return {
        "commands": [display(command) + f"   # × {len(runs)}, medians"],
        "runs": runs,
        "wall_seconds": round(time.monotonic() - started, 1),
        "context": {},
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


def bench_demo(args: argparse.Namespace, py: str) -> Entry:
    borrowers = args.demo_borrowers or (5_000 if args.quick else 50_000)
    started = time.monotonic()
    commands: list[str] = []
    context: dict[str, Any] = {"borrowers": borrowers, "install_seconds": None}
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
        context |= {
            "install_seconds": round(install_s, 1),
            "pip_cache": cache,
            "pip_sources": pip_sources(),
        }
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
    return {
        "versions": versions,
        "commands": commands,
        "runs": runs,
        "wall_seconds": round(time.monotonic() - started, 1),
        "context": context,
    }


RUNNERS: dict[str, Callable[[argparse.Namespace, str], Entry]] = {
    "features": bench_features,
    "reasons": bench_reasons,
    "api": bench_api,
    "api_scorecard": lambda args, py: bench_api(args, py, family="scorecard"),
    "api_experiment": lambda args, py: bench_api(args, py, experiment=True),
    "demo": bench_demo,
    "ingest": bench_ingest,
    "lda": bench_lda,
}


# -- command line ---------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="small sizes, one run each; writes to a temporary file unless --output is given",
    )
    p.add_argument(
        "--only",
        action="append",
        choices=NAMES,
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(NAMES)}; writes to a temporary "
        "file unless --output is given, never to docs/BENCHMARKS.md",
    )
    p.add_argument(
        "--features-borrowers",
        type=int,
        help="borrowers for bench_features.py (default 1 000 000; 20 000 quick)",
    )
    p.add_argument("--features-timeout", type=float, default=1800.0, help="seconds")
    p.add_argument("--demo-borrowers", type=int, help="default 50 000 (5 000 with --quick)")
    p.add_argument(
        "--ingest-rows", type=int, help="rows for bench_ingest.py (default 50 M; 1 M quick)"
    )
    p.add_argument("--ingest-timeout", type=float, default=3600.0, help="seconds")
    p.add_argument(
        "--lda-rows", type=int, help="rows for bench_lda.py (default 40 000; 4 000 quick)"
    )
    p.add_argument("--lda-timeout", type=float, default=3600.0, help="seconds")
    p.add_argument("--demo-timeout", type=float, default=1800.0, help="seconds per demo run")
    p.add_argument(
        "--with-install",
        action="store_true",
        help="also time `pip install -e .[dev]` into a fresh venv, and run the demo from it",
    )
    p.add_argument(
        "--repeats",
        type=int,
        help="runs of scripts that do not repeat themselves (default 3; 1 with --quick)",
    )
    p.add_argument(
        "--output",
        type=Path,
        help=f"default {DEFAULT_OUTPUT.relative_to(REPO)} for a full run, else a temporary file",
    )
    p.add_argument(
        "--render-from",
        type=Path,
        metavar="REPORT",
        help="run nothing: rebuild a report from the raw results at its end (into --output, "
        "default REPORT itself)",
    )
    return p


def output_path(requested: Path | None, run: dict[str, Any]) -> Path:
    """Where a run's report goes: docs/BENCHMARKS.md for a full run (only), else a temporary
    file unless one is named."""
    if requested is None:
        if not partial_run(run):
            return DEFAULT_OUTPUT
        return Path(tempfile.gettempdir()) / f"BENCHMARKS.{'quick' if run['quick'] else 'only'}.md"
    if requested.resolve() == DEFAULT_OUTPUT and partial_run(run):
        raise ValueError(
            f"{DEFAULT_OUTPUT.relative_to(REPO)} holds one full run only (`make bench`): "
            "give --quick and --only another --output"
        )
    return requested


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    cli = parser()
    args = cli.parse_args(argv)
    if args.render_from:
        try:
            results = load_results(args.render_from.read_text())
        except ValueError as exc:
            cli.error(f"{args.render_from}: {exc}")
        try:
            output = output_path(args.output or args.render_from, results["run"])
        except ValueError as exc:
            cli.error(str(exc))
        output.write_text(render(results))
        print(f"wrote {output}", file=sys.stderr)
        return 0
    args.repeats = args.repeats or (1 if args.quick else 3)
    names = list(dict.fromkeys(args.only)) if args.only else list(NAMES)
    py = sys.executable
    run: dict[str, Any] = {
        "command": display([py, str(Path(__file__).resolve()), *argv]),
        "benchmarks": names,
        "quick": args.quick,
    }
    try:
        output = output_path(args.output, run)
    except ValueError as exc:
        cli.error(str(exc))
    run |= {"machine": machine(py), "wall_seconds": None}
    started = time.monotonic()
    entries: dict[str, Entry] = {}
    failed = False
    for name in names:
        print(f"\n=== {name} ===", file=sys.stderr, flush=True)
        entry: Entry = {"machine": machine(py)}
        try:
            entry |= RUNNERS[name](args, py)
            SUMMARIES[name](entry["runs"], entry["context"])  # a report that cannot be written
        except Exception as exc:  # a failed benchmark is reported, the others still run
            failed = True
            entry["error"] = f"{type(exc).__name__}: {exc}"
            print(f"!! {name}: {entry['error']}", file=sys.stderr)
        if "versions" in entry:  # the demo may run from a fresh venv: its versions
            entry["machine"]["versions"] = entry.pop("versions")
        entries[name] = entry
        run["wall_seconds"] = round(time.monotonic() - started, 1)
        output.parent.mkdir(parents=True, exist_ok=True)
        # After each benchmark, so partial results survive; the rest show as not reached.
        output.write_text(render({"run": run, "benchmarks": entries}))
    print(f"\nwrote {output}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
