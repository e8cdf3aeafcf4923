"""The less-discriminatory-alternative search's time with one and with two worker processes,
against one challenger fit on the same data.

    .venv/bin/python bench/bench_lda.py                          # 40 000 rows, 12 candidates, 3 runs
    .venv/bin/python bench/bench_lda.py --rows 4000 --runs 1     # smoke run

The training set is tests/support/lda_data.py's planted proxy (`planted_proxy_disparity`,
seeded): a numeric proxy for sex with a small real effect on risk, so dropping it is a fix and
the search should state a discovery. Each search runs in a fresh process, so the start of its
worker processes is part of its time, as in an asset run. Per run, a search fitting one
candidate at a time (`SearchBudget.workers` 1) and one fitting two at a time (workers 2),
interleaved in alternating order. Before its search each process fits the challenger once with
`train_challenger` and the search's base configuration, timed: the baseline, measured in the
same process just before the search it is compared with.

The search is the `lda_search` asset's: its base configuration (300 trees, learning rate 0.1),
its default space (the challenger's family, CatBoost, and reductions) with one CatBoost thread
per fit, and a budget of 12 candidates (the time limit is never reached). Reported per search:
seconds, candidates tried, seconds per candidate, search / one challenger fit; per run, workers
2 / workers 1; whether both searches found the same candidates (names, AUCs and worst AIRs);
and the statement kind. Prints one JSON object last.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import polars as pl  # noqa: E402

from credit_assets.core.compliance.lda_candidates import SearchBudget, SearchSpace  # noqa: E402
from credit_assets.core.compliance.lda_discovery import (  # noqa: E402
    search_less_discriminatory_alternatives,
)
from credit_assets.core.modeling.train import TrainConfig, train_challenger  # noqa: E402
from tests.support.lda_data import PLANTED_FEATURES, planted_proxy_disparity  # noqa: E402

APPROVAL_RATE = 0.4  # the operating point lda_data.py states its disparity at
MAX_SECONDS = 7200.0  # never reached: the candidate budget ends the search
WORKERS = (1, 2)


def base_config(threads: int) -> TrainConfig:
    """The lda_search asset's base configuration (credit_assets/defs/compliance/lda.py)."""
    return TrainConfig(iterations=300, learning_rate=0.1, threads=threads, seed=42)


def fingerprint(candidates: list[dict[str, Any]]) -> str:
    """One digest of every candidate's name, AUC and worst AIR, in order."""
    figures = [[r["name"], r["auc"], r["worst_air"]] for r in candidates]
    return hashlib.sha256(json.dumps(figures).encode()).hexdigest()[:16]


def measure(rows: int, workers: int, max_candidates: int, threads: int, seed: int) -> dict:
    """One challenger fit, then one search, in this process; their seconds and what it found."""
    load = round(os.getloadavg()[0], 2)
    frame = planted_proxy_disparity(rows, seed=seed)
    test = frame.filter(pl.col("split") == "test")
    config = base_config(threads)
    started = time.perf_counter()
    challenger = train_challenger(frame, PLANTED_FEATURES, config)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result = search_less_discriminatory_alternatives(
        frame,
        PLANTED_FEATURES,
        ["sex"],
        challenger_pd=challenger.predict_pd(test, thread_count=threads),
        approval_rate=APPROVAL_RATE,
        base_config=config,
        space=SearchSpace(threads=threads),
        budget=SearchBudget(max_candidates, MAX_SECONDS, workers=workers),
    )
    seconds = time.perf_counter() - started
    tried = result.budget["candidates"]
    return {
        "workers": workers,
        "load_average_at_start": load,
        "single_fit_seconds": fit_seconds,
        "search_seconds": seconds,
        "candidates": tried,
        "failed": result.budget["failed"],
        "stop_reason": result.budget["stop_reason"],
        "seconds_per_candidate": seconds / tried if tried else None,
        "search_over_single_fit": seconds / fit_seconds,
        "kind": result.kind,
        "alternative": result.alternative,
        "generators": result.generators,
        "candidates_digest": fingerprint(result.candidates),
    }


def measure_in_fresh_process(args: argparse.Namespace, workers: int) -> dict:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--one",
        str(workers),
        *("--rows", str(args.rows), "--max-candidates", str(args.max_candidates)),
        *("--threads", str(args.threads), "--seed", str(args.seed)),
    ]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"workers {workers}: exit code {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def one_run(args: argparse.Namespace, index: int) -> dict:
    """Both searches, in alternating order from run to run."""
    order = WORKERS if index % 2 == 0 else WORKERS[::-1]
    searches = {w: measure_in_fresh_process(args, w) for w in order}
    one, two = searches[1], searches[2]
    ratio = two["search_seconds"] / one["search_seconds"]
    print(
        f"run {index + 1}: workers 1 {one['search_seconds']:.1f} s, workers 2 "
        f"{two['search_seconds']:.1f} s ({ratio:.2f}×); one challenger fit "
        f"{one['single_fit_seconds']:.2f} / {two['single_fit_seconds']:.2f} s; {one['kind']}",
        file=sys.stderr,
    )
    return {
        "order": list(order),
        "workers_1": one,
        "workers_2": two,
        "workers_2_over_1": ratio,
        "same_candidates": one["candidates_digest"] == two["candidates_digest"],
    }


def summary(args: argparse.Namespace, runs: list[dict]) -> dict:
    ratios = [r["workers_2_over_1"] for r in runs]
    searches = [r[f"workers_{w}"] for r in runs for w in WORKERS]
    kinds = sorted({s["kind"] for s in searches})

    def median_of(workers: int, key: str) -> float:
        return statistics.median(r[f"workers_{workers}"][key] for r in runs)

    return {
        "rows": args.rows,
        "max_candidates": args.max_candidates,
        "threads_per_fit": args.threads,
        "approval_rate": APPROVAL_RATE,
        "base_config": dataclasses.asdict(base_config(args.threads)),
        "runs": runs,
        "median_workers_2_over_1": statistics.median(ratios),
        "ratio_range": [min(ratios), max(ratios)],
        "median_single_fit_seconds": statistics.median(s["single_fit_seconds"] for s in searches),
        **{
            f"median_{key}_workers_{w}": median_of(w, key)
            for w in WORKERS
            for key in ("search_seconds", "seconds_per_candidate", "search_over_single_fit")
        },
        "kind": kinds[0] if len(kinds) == 1 else "mixed: " + ", ".join(kinds),
        "same_candidates": all(r["same_candidates"] for r in runs),
        "same_candidates_in_every_process": len({s["candidates_digest"] for s in searches}) == 1,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-candidates", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1, help="CatBoost threads per fit")
    parser.add_argument("--seed", type=int, default=0, help="of the generated file")
    parser.add_argument(
        "--one", type=int, metavar="WORKERS", help="measure one search here (internal)"
    )
    args = parser.parse_args(argv)
    if args.one is not None:
        print(
            json.dumps(measure(args.rows, args.one, args.max_candidates, args.threads, args.seed))
        )
        return 0
    runs = [one_run(args, i) for i in range(args.runs)]
    print(json.dumps(summary(args, runs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
