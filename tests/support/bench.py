"""bench/run_all.py and bench/report.py as modules, and a recorded run to render.

The benchmark scripts are run as scripts (`python bench/run_all.py`), so they import each
other by file name from bench/; the tests import them the same way.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

from tests.support.paths import REPO_ROOT

BENCH_DIR = REPO_ROOT / "bench"
DOCS_BENCHMARKS = REPO_ROOT / "docs" / "BENCHMARKS.md"


def bench_modules() -> tuple[ModuleType, ModuleType]:
    """(run_all, report), imported from bench/."""
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    import report
    import run_all

    return run_all, report


def _machine(started: str) -> dict[str, Any]:
    return {
        "cores": 2,
        "memory_gb": 23.5,
        "cpu_model": "AMD EPYC",
        "load_average_at_start": [0.5, 0.7, 0.9],
        "kernel": "6.1",
        "versions": {
            "python": "3.11.7",
            "polars": "2.1.0",
            "catboost": "1.2.10",
            "fastapi": "0.165.0",
            "uvicorn": "0.55.0",
            "dagster": "1.13.27",
        },
        "git": "1a2b3c4",
        "started": started,
    }


def _run_index(i: int) -> dict[str, Any]:
    return {"_run": {"index": i, "load_average_at_start": [0.5 + i, 0.7, 0.9]}}


def _api_run(i: int, note: str | None = None) -> dict[str, Any]:
    return {
        "client": "wrk",
        "paced_client": "wrk2 (-R)",
        "workers": 2,
        "database": "postgresql",
        "connections": 32,
        "paced_connections": 64,
        "model": {"trees": 500, "features": 79},
        "bare": {"req_per_s": 4000.0 + i, "errors": 0},
        "scoring": {"req_per_s": 1500.0 + i, "p50_ms": 20.0, "p99_ms": 40.0, "errors": 0},
        "ratio": (1500.0 + i) / (4000.0 + i),
        "ratio_target": 0.25,
        "at_half_throughput": {
            "target_req_per_s": 750.0,
            "req_per_s": 749.0,
            "p50_ms": 4.0,
            "p99_ms": 8.0 + i,
            "client_wait_p99_ms": 0.5,
            "errors": 0,
        },
        "p99_target_ms": 10.0,
        "note": note,
        **_run_index(i),
    }


def _experiment_run(i: int) -> dict[str, Any]:
    return {
        **_api_run(i),
        "experiment": {
            "share": 0.2,
            "without_before_req_per_s": 1500.0,
            "with_req_per_s": 1460.0 + i,
            "without_after_req_per_s": 1520.0,
            "with_p99_ms": 41.0,
            "decisions_by_arm": {"champion": 8000, "challenger": 2000},
            "errors": 0,
            "ratio": (1460.0 + i) / 1510.0,
            "ratio_target": 0.9,
        },
    }


def _reasons_run(i: int) -> dict[str, Any]:
    return {
        "model": {
            "trees": 500,
            "depth": 6,
            "features": 60,
            "categorical": 6,
            "monotone_constraints": True,
            "leaf_table_build_seconds": 1.7,
        },
        "batch": {
            "rows": 2000,
            "speedup": 24.0 + i,
            "leaf_rows_per_second": 22000.0,
            "catboost_rows_per_second": 900.0,
        },
        "single_row_ms": {
            "leaf_from_pool": 0.12,
            "leaf_from_dataframe": 0.34,
            "catboost_from_pool": 22.8,
            "predict_only_from_pool": 0.09,
        },
        "parity": {"max_abs_shap_difference": 4.4e-16, "identical_top4_codes_share": 1.0},
        **_run_index(i),
    }


def _lda_search(workers: int, seconds: float) -> dict:
    return {
        "workers": workers,
        "load_average_at_start": 0.5 + workers,
        "single_fit_seconds": 4.0,
        "search_seconds": seconds,
        "candidates": 12,
        "failed": 0,
        "stop_reason": "max_candidates",
        "seconds_per_candidate": seconds / 12,
        "search_over_single_fit": seconds / 4.0,
        "kind": "discovery",
        "alternative": "drop_shopping_index",
        "generators": ["coarsen_proxy", "drop_proxies", "hyperparameters"],
        "candidates_digest": "f775b61aaa8c2f78",
    }


LDA_RAW_RUN = {
    "rows": 40_000,
    "max_candidates": 12,
    "threads_per_fit": 1,
    "approval_rate": 0.4,
    "base_config": {
        "iterations": 300,
        "learning_rate": 0.1,
        "depth": 5,
        "l2_leaf_reg": 10.0,
        "early_stopping_rounds": 100,
        "threads": 1,
        "seed": 42,
    },
    "runs": [
        {
            "order": [1, 2] if i % 2 == 0 else [2, 1],
            "workers_1": _lda_search(1, 60.0 + i),
            "workers_2": _lda_search(2, 36.0 + i),
            "workers_2_over_1": (36.0 + i) / (60.0 + i),
            "same_candidates": True,
        }
        for i in range(3)
    ],
    "median_workers_2_over_1": 37.0 / 61.0,
    "ratio_range": [36.0 / 60.0, 38.0 / 62.0],
    "median_single_fit_seconds": 4.0,
    "median_search_seconds_workers_1": 61.0,
    "median_seconds_per_candidate_workers_1": 61.0 / 12,
    "median_search_over_single_fit_workers_1": 61.0 / 4,
    "median_search_seconds_workers_2": 37.0,
    "median_seconds_per_candidate_workers_2": 37.0 / 12,
    "median_search_over_single_fit_workers_2": 37.0 / 4,
    "kind": "discovery",
    "same_candidates": True,
    "same_candidates_in_every_process": True,
}


RAW_RUNS: dict[str, list[dict[str, Any]]] = {
    "features": [
        {
            "applications": 1_000_000,
            "transactions": 52_329_182,
            "engine": "streaming",
            "repeats": 3,
            "seconds": {"hand_written_bank": 70.3, "platform_bank": 29.3, "platform_all": 78.4},
            "peak_rss_gb": {"hand_written_bank": 12.7, "platform_bank": 2.1, "platform_all": 4.1},
            "feature_columns": 82,
            "same_values": True,
            "targets": {"ratio": 1.5, "peak_rss_gb": 8.0},
            "pass": False,
        }
    ],
    "reasons": [_reasons_run(i) for i in (1, 2, 3)],
    "api": [_api_run(i) for i in (1, 2, 3)],
    "api_scorecard": [
        {**_api_run(i), "model": {"family": "scorecard", "characteristics": 76}} for i in (1, 2, 3)
    ],
    "api_experiment": [_experiment_run(i) for i in (1, 2, 3)],
    "demo": [
        {"total_seconds": 160.0 + i, "generate_seconds": 12.5, "materialize_seconds": 146.0}
        | _run_index(i)
        for i in (1, 2, 3)
    ],
    "ingest": [
        {
            "rows": 50_000_000,
            "file_bytes": 3_370_000_000,
            "platform_rows_per_second": 1_090_000.0,
            "duckdb_rows_per_second": 2_550_000.0,
            "platform_peak_rss_gb": 0.53,
            "duckdb_peak_rss_gb": 1.89,
            "median_throughput_ratio": 0.52,
            "ratio_range": [0.42, 0.53],
            "runs": [{"throughput_ratio": r} for r in (0.52, 0.42, 0.53)],
            "all_rows_accepted": True,
            "targets": {"throughput_ratio_min": 0.5, "peak_rss_gb_max": 2.0},
            "pass": True,
        }
    ],
    "lda": [LDA_RAW_RUN],
}
CONTEXTS: dict[str, dict[str, Any]] = {
    "features": {"borrowers": 1_000_000},
    "ingest": {"rows": 50_000_000},
    "lda": {"rows": 40_000},
    "demo": {"borrowers": 50_000, "install_seconds": None},
}


def recorded_run(names: list[str] | None = None, quick: bool = False) -> dict[str, Any]:
    """The raw results of a `make bench` run (of `names` only, when given), as run_all
    records them at the end of the report."""
    _, report = bench_modules()
    names = list(report.NAMES) if names is None else names
    return {
        "run": {
            "command": ".venv/bin/python bench/run_all.py",
            "benchmarks": names,
            "quick": quick,
            "machine": _machine("2026-12-05 08:00 UTC"),
            "wall_seconds": 3000.0,
        },
        "benchmarks": {
            name: {
                "machine": _machine("2026-12-05 08:10 UTC"),
                "commands": [f".venv/bin/python bench/{name}.py   # × 3, medians"],
                "runs": RAW_RUNS[name],
                "wall_seconds": 200.0,
                "context": CONTEXTS.get(name, {}),
            }
            for name in names
        },
    }
