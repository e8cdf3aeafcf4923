"""Scale-out with Celery: `CREDIT_EXECUTOR=celery` sends every step to Celery workers.

Two real workers (`dagster-celery worker start`, Redis as broker and result backend) compute
the bucket partitions of `borrower_features`, launched as two concurrent runs the way a
backfill fans out, and the Parquet they write equals the in-process run's. The test starts
and stops the workers itself; every wait is bounded.
"""

from __future__ import annotations

import os
import subprocess
import time
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from credit_assets.core.platform.settings import get_settings
from credit_assets.core.platform.storage.keys import bucket_key
from credit_assets.core.tools.synthetic import generate
from credit_assets.defs.common.production import executor_from_env
from credit_assets.defs.common.resources import PlatformResource
from credit_assets.orchestration import QUIET_RUN_CONFIG, load_definitions, materialize_all
from tests.support.production import (
    REPO_ROOT,
    VENV_BIN,
    Service,
    process_env,
    require_redis,
    start_service,
)

BORROWERS = 800
BUCKETS = ["00", "01"]
BROKER = os.environ.get("CREDIT_TEST_CELERY_BROKER", "redis://127.0.0.1:6379/0")
RUN_TIMEOUT = 240


@pytest.fixture
def ingested(credit_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CREDIT_SNAPSHOT_DATE", "2026-10-01")
    monkeypatch.setenv("CREDIT_FEATURE_BUCKETS", str(len(BUCKETS)))
    settings = get_settings()
    generate(
        BORROWERS,
        settings.landing_dir,
        settings.ground_truth_dir,
        seed=11,
        end_date=date(2026, 9, 30),
    )
    log: list[str] = []
    assert materialize_all(groups=["ingestion"], log=log.append).success, "\n".join(log)
    return credit_home


def in_process_buckets(home: Path) -> dict[str, pl.DataFrame]:
    """borrower_features per bucket with the in-process executor (the reference)."""
    definitions = load_definitions()
    with dg.DagsterInstance.get() as instance:
        for bucket in BUCKETS:
            result = dg.materialize(
                list(definitions.assets or []),
                selection=["borrower_features"],
                instance=instance,
                partition_key=bucket,
                run_config=QUIET_RUN_CONFIG,
                resources={"platform": PlatformResource()},
            )
            assert result.success
    return {b: pl.read_parquet(home / "data" / bucket_key(b)) for b in BUCKETS}


def celery_env() -> dict[str, str]:
    return process_env(
        {
            "CREDIT_EXECUTOR": "celery",
            "CREDIT_CELERY_BROKER": BROKER,
            "CREDIT_CELERY_BACKEND": BROKER,
        }
    )


def start_worker(name: str, log_dir: Path) -> Service:
    return start_service(
        name,
        [
            str(VENV_BIN / "dagster-celery"),
            "worker",
            "start",
            "-A",
            "dagster_celery.app",
            "-y",
            str(REPO_ROOT / "deploy" / "celery.yaml"),
            "-n",
            name,
            "-l",
            "INFO",
            "--",
            "--concurrency=1",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        log_dir,
        env=celery_env(),
    )


def test_the_executor_follows_credit_executor(monkeypatch):
    monkeypatch.delenv("CREDIT_EXECUTOR", raising=False)
    assert executor_from_env().name == "multiprocess"
    monkeypatch.setenv("CREDIT_EXECUTOR", "celery")
    monkeypatch.setenv("CREDIT_CELERY_BROKER", "redis://broker.internal:6379/0")
    executor = executor_from_env()
    assert executor.name == "celery"
    monkeypatch.setenv("CREDIT_EXECUTOR", "spark")
    with pytest.raises(ValueError, match="CREDIT_EXECUTOR"):
        executor_from_env()


@pytest.mark.slow
def test_two_celery_workers_compute_the_bucket_partitions_exactly_as_in_process(ingested, tmp_path):
    require_redis(BROKER)
    expected = in_process_buckets(ingested)
    for bucket in BUCKETS:
        (ingested / "data" / bucket_key(bucket)).unlink()

    logs = tmp_path / "logs"
    workers = [start_worker(f"credit-worker-{i}-{os.getpid()}", logs) for i in (1, 2)]
    runs: list[subprocess.Popen[bytes]] = []
    try:
        for worker in workers:
            worker.wait_for_log(" ready.", timeout=90)
        # One run per bucket, launched together as a backfill would; each run's single step
        # goes through the broker to whichever worker is free.
        for bucket in BUCKETS:
            log = open(logs / f"run-{bucket}.log", "wb")  # noqa: SIM115 (closed with the process)
            runs.append(
                subprocess.Popen(
                    [
                        str(VENV_BIN / "dagster"),
                        "asset",
                        "materialize",
                        "-m",
                        "credit_assets.definitions",
                        "--select",
                        "borrower_features",
                        "--partition",
                        bucket,
                    ],
                    cwd=REPO_ROOT,
                    env=celery_env(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        deadline = time.monotonic() + RUN_TIMEOUT
        for bucket, run in zip(BUCKETS, runs, strict=True):
            try:
                code = run.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                code = None
            output = (logs / f"run-{bucket}.log").read_text(errors="replace")[-4000:]
            worker_logs = "\n".join(w.log(20) for w in workers)
            assert code == 0, f"bucket {bucket}: exit {code}\n{output}\n{worker_logs}"
    finally:
        for run in runs:
            if run.poll() is None:
                os.killpg(run.pid, 9)
                run.wait(timeout=10)
        for worker in workers:
            worker.stop(timeout=30)

    for bucket in BUCKETS:
        assert_frame_equal(
            pl.read_parquet(ingested / "data" / bucket_key(bucket)), expected[bucket]
        )

    # The steps really ran in our workers, one engine event per bucket step.
    with dg.DagsterInstance.get() as instance:
        hosts = [
            str(entry.dagster_event.engine_event_data.metadata["Celery worker"].value)
            for run in instance.get_runs()
            for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
            if entry.dagster_event and "in celery worker" in (entry.dagster_event.message or "")
        ]
    assert len(hosts) == len(BUCKETS)
    assert all(h.startswith("credit-worker-") for h in hosts), hosts
