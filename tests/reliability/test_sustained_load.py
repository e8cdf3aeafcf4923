"""Sustained load: a minute at half the measured maximum throughput, on PostgreSQL, through a
real uvicorn process: zero errors, p99 recorded, worker memory flat, every 2xx logged once.

Bounded and loopback only: the load lasts LOAD_SECONDS, every request has a 5 s timeout, and
the API process is stopped when the test ends.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import sqlalchemy as sa

from tests.support.production import (
    free_port,
    http_status,
    process_env,
    running,
    scoring_api_command,
)
from tests.support.scoring import built_model, publish_borrowers, save_and_register

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PROBE_SECONDS = 6.0
LOAD_SECONDS = 60.0
THREADS = 4
MEMORY_GROWTH_LIMIT_MB = 40.0
BORROWERS = ("b-good", "b-late", "b-bureau")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _drive(port: int, key: str, until: float, interval: float, out: list, offset: int) -> None:
    """One client thread: a request every `interval` seconds (open loop) until `until`."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5.0) as client:
        next_at = time.monotonic() + offset * interval / THREADS
        i = offset
        while (now := time.monotonic()) < until:
            if interval and now < next_at:
                time.sleep(next_at - now)
            started = time.monotonic()
            try:
                response = client.post(
                    "/v1/scores", json={"borrower_id": BORROWERS[i % 3]}, headers=headers
                )
                out.append(
                    (
                        response.status_code,
                        time.monotonic() - started,
                        response.json().get("decision_id") if response.status_code == 200 else None,
                    )
                )
            except httpx.HTTPError as exc:
                out.append((None, time.monotonic() - started, repr(exc)))
            next_at += interval
            i += 1


def _run(port: int, key: str, seconds: float, interval: float) -> list:
    out: list = []
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(target=_drive, args=(port, key, until, interval, out, n), daemon=True)
        for n in range(THREADS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 10)
    assert not any(t.is_alive() for t in threads), "a client thread did not stop"
    return out


@pytest.mark.timeout(300)
def test_a_minute_at_half_the_maximum_throughput(postgres_url, monkeypatch, tmp_path) -> None:
    from credit_assets.core.platform.apikeys import create_api_key
    from credit_assets.core.platform.db import decision_log, migrated_engine
    from credit_assets.core.platform.settings import Settings

    for name, value in {
        "CREDIT_DATABASE_URL": postgres_url,
        "CREDIT_API_SHADOW": "false",
        "CREDIT_API_RATE_LIMIT_PER_SECOND": "100000",
        "CREDIT_API_RATE_LIMIT_BURST": "100000",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    save_and_register(settings, built_model())
    publish_borrowers(settings)
    engine = migrated_engine(postgres_url)
    key = create_api_key(engine, "load-lender")

    port = free_port()
    command = scoring_api_command(port)
    with running("scoring-api", command, tmp_path / "logs", env=process_env()) as api:
        api.wait_until(
            lambda: http_status(f"http://127.0.0.1:{port}/readyz") == 200,
            timeout=90,
            what="/readyz 200",
        )
        probe = _run(port, key, PROBE_SECONDS, interval=0.0)  # closed loop: the maximum
        max_rps = sum(1 for s, _, _ in probe if s == 200) / PROBE_SECONDS
        rate = max_rps / 2
        pid = api.process.pid
        memory: list[float] = []
        sampler_stop = threading.Event()

        def sample() -> None:
            while not sampler_stop.wait(5.0):
                memory.append(_rss_mb(pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        load = _run(port, key, LOAD_SECONDS, interval=THREADS / rate)
        sampler_stop.set()
        sampler.join(timeout=10)
        api_log = api.log(100)

    statuses = [s for s, _, _ in load]
    errors = [(s, detail) for s, _, detail in load if s != 200]
    latencies_ms = np.array([lat for s, lat, _ in load if s == 200]) * 1000
    p50, p99 = np.percentile(latencies_ms, [50, 99])
    achieved = len(statuses) / LOAD_SECONDS
    growth = memory[-1] - memory[1] if len(memory) > 2 else 0.0
    figures = {
        "max_rps": round(max_rps, 1),
        "target_rps": round(rate, 1),
        "achieved_rps": round(achieved, 1),
        "requests": len(statuses),
        "p50_ms": round(float(p50), 2),
        "p99_ms": round(float(p99), 2),
        "rss_mb": [round(m, 1) for m in memory],
        "rss_growth_mb": round(growth, 1),
    }
    print(json.dumps(figures))

    assert errors == [], f"{len(errors)} errors, e.g. {errors[:3]}\n{api_log}"
    assert achieved >= 0.8 * rate, figures
    assert growth <= MEMORY_GROWTH_LIMIT_MB, figures
    returned = {detail for s, _, detail in load if s == 200} | {d for s, _, d in probe if s == 200}
    with engine.connect() as conn:
        logged = set(conn.execute(sa.select(decision_log.c.decision_id)).scalars())
    assert returned <= logged and len(logged) == len(returned), "one log row per 2xx"
