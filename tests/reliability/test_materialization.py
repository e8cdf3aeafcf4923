"""A materialization killed mid-run and run again ends exactly where an uninterrupted one does.

Two workspaces get the same generated population (same seed). In the first,
`credit-platform materialize --select ingestion features` runs as a subprocess and its
whole process group is SIGKILLed as soon as its first ingestion run has logged; then the
same command runs to completion. In the second, it runs once, uninterrupted. Every
Parquet file under data/raw and data/features, and the quarantine, must hold the same
rows (sorted by their key columns; ingestion timestamps left out), no ingested file may
be left in landing, and no partial `.tmp` file may be left in data/.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from credit_assets.core.tools.synthetic import generate
from tests.support.production import REPO_ROOT, VENV_BIN

pytestmark = pytest.mark.slow

BORROWERS = 1500
CHUNK = 500  # 3 files per source: many ingestion runs, so the kill lands mid-way
COMMAND = [str(VENV_BIN / "credit-platform"), "materialize", "--select", "ingestion", "features"]
# Set per run, never part of the data: when a row was ingested or quarantined.
VOLATILE = {"_ingested_at", "quarantined_at"}


def workspace(root: Path) -> dict[str, str]:
    """A fresh CREDIT_HOME with the generated landing zone; the environment to run in."""
    root.mkdir(parents=True)
    generate(BORROWERS, root / "landing", root / "ground_truth", seed=11,
             end_date=date(2026, 9, 30), dirty_rate=0.003, bad_files=True,
             chunk_borrowers=CHUNK)  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREDIT_", "DAGSTER_"))}
    env.update({
        "CREDIT_HOME": str(root),
        "DAGSTER_HOME": str(root / "dagster"),
        "CREDIT_FEATURE_BUCKETS": "2",
        "CREDIT_SNAPSHOT_DATE": "2026-10-01",
        "CREDIT_THREADS": "1",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
    })  # fmt: skip
    return env


def materialize(env: dict[str, str], log: Path, timeout: float = 600) -> str:
    with open(log, "wb") as out:
        process = subprocess.Popen(COMMAND, cwd=REPO_ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)  # fmt: skip
        try:
            code = process.wait(timeout=timeout)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
    text = log.read_text(errors="replace")
    assert code == 0, text[-4000:]
    return text


# `ingest <source>/<file>: ok: 1 000 rows read, ... (run 1a2b3c4d)`: a file ingested.
INGESTED = re.compile(r": ok(: [^\n]*)? \(run [0-9a-f]{8}\)")


def materialize_and_kill(env: dict[str, str], log: Path, timeout: float = 300) -> str:
    """Start the command, SIGKILL its process group once an ingestion run has logged."""
    with open(log, "wb") as out:
        process = subprocess.Popen(COMMAND, cwd=REPO_ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)  # fmt: skip
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and process.poll() is None:
                if INGESTED.search(log.read_text(errors="replace")):
                    break
                time.sleep(0.05)
            assert process.poll() is None, "the run ended before it could be killed"
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
    text = log.read_text(errors="replace")
    assert process.returncode == -signal.SIGKILL
    return text


def parquet_files(home: Path, folder: str) -> dict[str, Path]:
    base = home / "data" / folder
    return {str(p.relative_to(base)): p for p in sorted(base.rglob("*.parquet"))
            if not p.name.startswith(".")}  # fmt: skip


def canonical(path: Path) -> pl.DataFrame:
    frame = pl.read_parquet(path)
    frame = frame.drop([c for c in frame.columns if c in VOLATILE])
    keys = [c for c, dtype in frame.schema.items() if not dtype.is_nested()]
    return frame.sort(keys, nulls_last=True) if frame.height else frame


def compare_trees(killed: Path, clean: Path, folder: str) -> int:
    """Same files, same rows; the number of rows compared."""
    left, right = parquet_files(killed, folder), parquet_files(clean, folder)
    assert sorted(left) == sorted(right), f"data/{folder} differs in its files"
    rows = 0
    for name in left:
        a, b = canonical(left[name]), canonical(right[name])
        try:
            assert_frame_equal(a, b, check_exact=True)
        except AssertionError as exc:
            raise AssertionError(f"data/{folder}/{name} differs: {exc}") from None
        rows += a.height
    return rows


@pytest.mark.timeout(1500)
def test_a_killed_and_rerun_materialization_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    killed_env = workspace(tmp_path / "killed")
    clean_env = workspace(tmp_path / "clean")
    killed, clean = Path(killed_env["CREDIT_HOME"]), Path(clean_env["CREDIT_HOME"])
    landed = sorted(p.name for p in (killed / "landing").rglob("*") if p.is_file())

    started = time.monotonic()
    first = materialize_and_kill(killed_env, tmp_path / "killed-1.log")
    killed_at = time.monotonic() - started
    assert INGESTED.search(first)
    # The kill came mid-way: files were left in landing for the re-run.
    left_behind = [p for p in (killed / "landing").rglob("*") if p.is_file()]
    assert left_behind, "the first run had already ingested everything"
    rerun = materialize(killed_env, tmp_path / "killed-2.log")
    materialize(clean_env, tmp_path / "clean.log")
    elapsed = time.monotonic() - started

    # Outputs identical, file by file and row by row.
    rows = {folder: compare_trees(killed, clean, folder)
            for folder in ("raw", "features", "quarantine")}  # fmt: skip
    assert rows["raw"] > 0 and rows["features"] > 0 and rows["quarantine"] > 0
    for report in ("quarantine_report/quarantine.parquet",):
        a, b = killed / "data" / report, clean / "data" / report
        if a.exists() or b.exists():
            assert_frame_equal(canonical(a), canonical(b), check_exact=True)

    # Nothing ingested is left in landing; unreadable files were set aside alike.
    assert not [p for p in (killed / "landing").rglob("*") if p.is_file()]
    assert sorted(p.name for p in (killed / "archive").rglob("*") if p.is_file()) == sorted(
        p.name for p in (clean / "archive").rglob("*") if p.is_file()
    )
    assert sorted(p.name for p in (killed / "rejected").rglob("*.reason.json")) == sorted(
        p.name for p in (clean / "rejected").rglob("*.reason.json")
    )
    # No partial write visible or left behind.
    for home in (killed, clean):
        assert not [p for p in (home / "data").rglob("*") if p.name.endswith(".tmp")]

    print(
        f"\nmaterialization: {len(landed)} landing files; killed after {killed_at:.1f} s "
        f"with {len(left_behind)} files still in landing; re-run ingested "
        f"{rerun.count('ingest ')} files; rows compared raw {rows['raw']}, features "
        f"{rows['features']}, quarantine {rows['quarantine']}; total {elapsed:.0f} s"
    )
