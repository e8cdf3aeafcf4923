"""`credit-platform serve --workers N`: a listening socket per worker (SO_REUSEPORT), workers
restarted when they die, a clean stop on SIGTERM, clear errors for a taken port or an app
that cannot start. Real processes on 127.0.0.1."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.production import VENV_BIN, free_port

pytestmark = pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="Linux/BSD only")


def serve(port: int, home: Path, workers: int = 2, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            str(VENV_BIN / "credit-platform"),
            "serve",
            "--workers",
            str(workers),
            "--port",
            str(port),
        ],
        env={**os.environ, "CREDIT_HOME": str(home), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def healthy(port: int, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def children(pid: int) -> set[int]:
    """The worker processes of supervisor `pid` (not multiprocessing's resource tracker)."""
    listing = subprocess.run(
        ["ps", "-ww", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True, text=True
    ).stdout
    return {int(line.split()[0]) for line in listing.splitlines() if "spawn_main" in line}


def connections_per_process(port: int) -> Counter[int]:
    listing = subprocess.run(
        ["ss", "-Htnp", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return Counter(int(pid) for pid in re.findall(r"pid=(\d+)", listing))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, int]]:
    port = free_port()
    process = serve(port, tmp_path)
    try:
        assert healthy(port), process.stdout.read() if process.poll() is not None else "no answer"
        yield process, port
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2) to see sockets")
def test_each_worker_takes_connections_a_dead_one_is_replaced_and_sigterm_stops_all(
    server: tuple[subprocess.Popen, int],
) -> None:
    process, port = server
    workers = children(process.pid)
    assert len(workers) == 2
    # Two listening sockets on the port, one per worker (uvicorn's own --workers shares one).
    listening = subprocess.run(
        ["ss", "-Hltnp", f"( sport = :{port} )"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert len(listening) == 2
    assert {int(re.findall(r"pid=(\d+)", line)[0]) for line in listening} == workers
    # 24 connections from one client: the kernel spreads them over both workers' sockets
    # (with one shared socket, a burst like this often lands almost all on one worker).
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(24)]
    # A connection shows with its process once accepted; a worker still starting (the
    # supervisor is healthy when one answers) accepts its share late, not never.
    deadline = time.monotonic() + 30
    while sum((spread := connections_per_process(port)).values()) < 24:
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for client in clients:
        client.close()
    assert set(spread) == workers and min(spread.values()) >= 2, spread

    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (
        victim in children(process.pid) or len(children(process.pid)) < 2
    ):
        time.sleep(0.2)
    replaced = children(process.pid)
    assert len(replaced) == 2 and victim not in replaced
    assert healthy(port)

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=40) == 0
    assert not children(process.pid)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def test_a_port_another_program_holds_is_refused_naming_it(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        process = serve(port, tmp_path)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in output


def test_a_worker_that_cannot_start_stops_the_server_with_its_code(tmp_path: Path) -> None:
    process = serve(free_port(), tmp_path, CREDIT_DATABASE_URL="not a database url")
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 3  # uvicorn's "application startup failed"
    assert "while starting; stopping" in output
    assert "Could not parse SQLAlchemy URL" in output


def test_an_api_process_does_not_import_the_training_stack() -> None:
    # credit_assets.core.modeling resolves its names on first use: the API needs the
    # artifacts and CatBoost helpers, not the scorecard (optbinning, cvxpy) or the metrics
    # (scikit-learn), which doubled a worker's start-up time and memory.
    code = (
        "import sys, scoring_api.main, credit_assets.core.scoring\n"
        "from credit_assets.core.modeling import ScoreScale, load_model_artifact\n"
        "print(sorted({'sklearn', 'optbinning', 'cvxpy'} & set(sys.modules)))"
    )
    run = subprocess.run(
        [str(VENV_BIN / "python"), "-c", code], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
    # ...and a training name still resolves (then loads its module).
    code = "from credit_assets.core.modeling import train_scorecard, auc; print(auc.__module__)"
    run = subprocess.run(
        [str(VENV_BIN / "python"), "-c", code], capture_output=True, text=True, timeout=120
    )
    assert run.stdout.strip() == "credit_assets.core.modeling.metrics", run.stderr
