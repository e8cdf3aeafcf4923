"""Benchmarks before and after a change, in interleaved runs on the same machine.

A refactor must not move a benchmark's ratio. This runs a benchmark script from two
checkouts (a git ref, checked out as a worktree, and this working tree) one after the
other, alternating which goes first, `--runs` times, and prints the median and spread
of each figure for both, as a Markdown section (and the raw JSON with `--json`).

    .venv/bin/python bench/before_after.py --baseline pre-issue-16 --runs 3 \
        --bench api --bench reasons --bench features --output docs/BENCHMARKS_BEFORE_AFTER.md

The baseline's code is imported from its worktree (PYTHONPATH comes before the editable
install), with this checkout's virtual environment: the packages are the same, the code
differs. Figures are only comparable within one invocation.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from run_all import machine

REPO = Path(__file__).resolve().parents[1]

# Per benchmark: the script's arguments and the figures read from its JSON (name, how, unit).
Figure = tuple[str, Callable[[dict[str, Any]], float | None], str]
BENCHES: dict[str, tuple[list[str], list[Figure]]] = {
    "api": (
        ["bench/bench_api.py"],
        [
            ("throughput: scoring path / bare FastAPI", lambda r: 100 * r["ratio"], "%"),
            ("scoring path req/s", lambda r: r["scoring"]["req_per_s"], "req/s"),
            ("bare FastAPI req/s", lambda r: r["bare"]["req_per_s"], "req/s"),
            ("p99 at half throughput", lambda r: r["at_half_throughput"].get("p99_ms"), "ms"),
        ],
    ),
    "reasons": (
        ["bench/bench_reasons.py"],
        [
            (
                "single row: ShapValues / leaf tables",
                lambda r: (
                    r["single_row_ms"]["catboost_from_pool"] / r["single_row_ms"]["leaf_from_pool"]
                ),
                "x",
            ),
            ("batch: ShapValues / leaf tables", lambda r: r["batch"]["speedup"], "x"),
            ("single row leaf reasons", lambda r: r["single_row_ms"]["leaf_from_pool"], "ms"),
        ],
    ),
    "features": (
        ["bench/bench_features.py", "--borrowers", "100000"],
        [
            (
                "time: platform_bank / hand_written_bank",
                lambda r: r["ratio_platform_to_hand_written"],
                "x",
            ),
            ("platform_bank seconds", lambda r: r["seconds"]["platform_bank"], "s"),
            ("platform values identical", lambda r: float(r["same_values"]), "bool"),
        ],
    ),
}


def worktree(ref: str) -> Path:
    """A detached worktree of `ref` in a temporary folder (removed by `remove_worktree`)."""
    path = Path(tempfile.mkdtemp(prefix="bench-baseline-"))
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(path), ref],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    return path


def remove_worktree(path: Path) -> None:
    subprocess.run(
        ["git", "worktree", "remove", "--force", str(path)], cwd=REPO, capture_output=True
    )


def imported_from(root: Path) -> str:
    """Where `credit_assets` is imported from when run as a benchmark from `root` is."""
    done = subprocess.run(
        [sys.executable, "-c", "import credit_assets; print(credit_assets.__file__)"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def run_once(root: Path, arguments: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *arguments],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(arguments)} in {root} failed:\n{done.stderr[-3000:]}")
    output = done.stdout
    result = json.loads(output[output.index("{") :])
    result["_seconds"] = round(time.perf_counter() - started, 1)
    return result


def spread(values: list[float]) -> str:
    if not values:
        return "—"
    return f"{statistics.median(values):.3g} ({min(values):.3g}–{max(values):.3g})"


def section(bench: str, results: dict[str, list[dict[str, Any]]], labels: dict[str, str]) -> str:
    arguments, figures = BENCHES[bench]
    lines = [
        f"### {bench}",
        "",
        f"`{' '.join(arguments)}`, {len(results['after'])} interleaved runs each; "
        "median (min–max).",
        "",
        f"| figure | before ({labels['before']}) | after ({labels['after']}) | after / before |",
        "|---|---|---|---|",
    ]
    for name, read, unit in figures:
        before = [v for v in (read(r) for r in results["before"]) if v is not None]
        after = [v for v in (read(r) for r in results["after"]) if v is not None]
        change = (
            f"{statistics.median(after) / statistics.median(before):.3f}"
            if before and after and statistics.median(before)
            else "—"
        )
        lines.append(f"| {name} ({unit}) | {spread(before)} | {spread(after)} | {change} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", required=True, help="git ref of the 'before' code")
    parser.add_argument("--bench", action="append", choices=sorted(BENCHES), required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", type=Path, help="write the Markdown here (else stdout)")
    parser.add_argument("--json", type=Path, help="write every run's JSON here")
    args = parser.parse_args(argv)

    baseline = worktree(args.baseline)
    try:
        roots = {"before": baseline, "after": REPO}
        for side, root in roots.items():
            where = imported_from(root)
            if not where.startswith(str(root)):
                raise SystemExit(f"{side}: credit_assets imported from {where}, not {root}")
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        labels = {"before": args.baseline, "after": commit}
        started = datetime.now(UTC)
        raw: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for bench in args.bench:
            arguments = BENCHES[bench][0]
            raw[bench] = {"before": [], "after": []}
            for run in range(args.runs):
                order = ("before", "after") if run % 2 == 0 else ("after", "before")
                for side in order:
                    print(f"{bench} run {run + 1}/{args.runs}: {side}", file=sys.stderr)
                    raw[bench][side].append(run_once(roots[side], arguments))
        load = os.getloadavg()
        host = machine()
        header = [
            f"## Before and after: {args.baseline} vs {commit}",
            "",
            "Command (from the repository root):",
            "",
            "```bash",
            f".venv/bin/python bench/before_after.py --baseline {args.baseline} "
            f"--runs {args.runs} " + " ".join(f"--bench {b}" for b in args.bench),
            "```",
            "",
            f"Started {started:%Y-%m-%d %H:%M} UTC, took "
            f"{(datetime.now(UTC) - started).total_seconds() / 60:.1f} min; load average at the "
            f"end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}. Runs alternate which side "
            "goes first.",
            "",
            f"Machine: {host['cores']} cores, {host['memory_gb']} GB RAM, {host['cpu_model']}; "
            f"Python {host['versions']['python']}; the after side is commit {host['git']}.",
        ]
        text = "\n\n".join(["\n".join(header), *(section(b, raw[b], labels) for b in args.bench)])
        if args.output:
            args.output.write_text(text + "\n", encoding="utf-8")
        else:
            print(text)
        if args.json:
            args.json.write_text(json.dumps(raw, indent=2), encoding="utf-8")
    finally:
        remove_worktree(baseline)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
