"""Helpers shared by the production and deployment tests (this module holds no tests).

They start the platform's real processes (Dagster webserver, daemon, code server, Celery
workers, the scoring API, moto's S3 server) on 127.0.0.1, wait until each answers, and stop
them. Every process runs in its own session so stopping it also stops its children (a
`dagster-celery worker start` forks `celery`, uvicorn forks workers), and every wait is
bounded: a process that does not come up fails the test with the tail of its log. The
session-wide `moto_endpoint` fixture (conftest.py) starts moto with them; `new_bucket`
gives each test its own bucket there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.paths import REPO_ROOT

POSTGRES_SERVER_URL = os.environ.get(
    "CREDIT_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
# In CI a missing PostgreSQL is a failure, never a skip (see tests/conftest.py).
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# The newest platform migration (credit_assets/core/platform/migrations).
MIGRATION_HEAD = "0008"

VENV_BIN = Path(sys.executable).parent


def scoring_api_command(port: int, log_level: str = "warning") -> list[str]:
    """`uvicorn` serving the scoring API's app factory on 127.0.0.1:`port` (one worker)."""
    return [
        str(VENV_BIN / "uvicorn"),
        "scoring_api.main:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        log_level,
    ]


def free_port() -> int:
    """A TCP port nobody listens on right now (loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def http_status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=2.0).status_code
    except httpx.HTTPError:
        return None


def redis_answers(url: str) -> bool:
    """Whether a Redis server answers PING at `url` (the Celery broker)."""
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_timeout=2).ping())
    except Exception:
        return False


def require_redis(url: str) -> None:
    """Skip without a Redis broker on a laptop; in CI (CI=true, .ci/run starts Redis) fail."""
    import pytest

    if redis_answers(url):
        return
    message = f"no Redis broker at {url}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message + " (CI must run the Celery tests)")
    pytest.skip(message)


FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def s3_test_client(endpoint: str):  # a boto3 S3 client (untyped, as boto3 is)
    """A boto3 client for moto's server with the fake credentials."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
    )


def new_bucket(endpoint: str) -> str:
    """A fresh, empty bucket on moto's server; its name."""
    import uuid

    bucket = f"credit-test-{uuid.uuid4().hex[:10]}"
    s3_test_client(endpoint).create_bucket(Bucket=bucket)
    return bucket


def spy_on_dagster_aws_clients(monkeypatch) -> list[object]:  # monkeypatch: pytest.MonkeyPatch
    """Every client dagster-aws's `S3Resource.get_client` hands out from now on, in order."""
    from dagster_aws.s3 import S3Resource

    clients: list[object] = []
    real_get_client = S3Resource.get_client

    def spy(self: S3Resource) -> object:
        clients.append(client := real_get_client(self))
        return client

    monkeypatch.setattr(S3Resource, "get_client", spy)
    return clients


def process_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current environment (CREDIT_*, DAGSTER_HOME set by the fixtures) with the venv first
    on PATH, as the image sets it (`ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1`)."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


@dataclass
class Service:
    """A started process, its log file and how to stop it."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self, last: int = 60) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(lines[-last:])

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> float:
        """Poll `ready` until it holds; seconds it took. Fails early if the process exits."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if ready():
                return time.monotonic() - started
            if not self.alive():
                raise AssertionError(
                    f"{self.name} exited with {self.process.returncode} before {what}:\n{self.log()}"
                )
            time.sleep(0.5)
        raise AssertionError(f"{self.name}: no {what} within {timeout:.0f} s:\n{self.log()}")

    def wait_for_log(self, text: str, timeout: float) -> float:
        return self.wait_until(lambda: text in self.log(last=10_000), timeout, f"log line {text!r}")

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM to the whole process group, SIGKILL if it lingers; the exit code."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # Children (celery's pool, uvicorn workers) share the group; make sure none survive.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.returncode


def start_service(
    name: str,
    command: Sequence[str],
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path = REPO_ROOT,
) -> Service:
    """Start `command` in its own session with stdout and stderr in `<log_dir>/<name>.log`."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env) if env is not None else process_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Service(name, process, log_path)


@contextlib.contextmanager
def running(
    name: str,
    command: Sequence[str],
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path = REPO_ROOT,
) -> Iterator[Service]:
    """A service for the duration of the block, stopped (with its children) afterwards."""
    service = start_service(name, command, log_dir, env, cwd)
    try:
        yield service
    finally:
        service.stop()


@dataclass
class Dockerfile:
    """The parts of the Dockerfile the deployment tests read."""

    stages: list[str]  # the `FROM` line of every stage
    runtime: list[str]  # instructions of the last stage, continuation lines joined
    header_commands: list[str]  # the process commands documented in the leading comment

    @classmethod
    def parse(cls, path: Path = REPO_ROOT / "Dockerfile") -> Dockerfile:
        text = path.read_text()
        header = []
        for line in text.splitlines():
            if not line.startswith("#"):
                break
            body = line.lstrip("#").strip()
            # "dagster-webserver -h 0.0.0.0 -p 3000 -w workspace.yaml     Dagster UI"
            command = body.split("   ")[0].strip()
            if line.startswith("#   ") and command:
                header.append(command)
        instructions: list[str] = []
        pending = ""
        for line in text.splitlines():
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            pending = f"{pending} {stripped.rstrip(chr(92)).strip()}".strip()
            if not stripped.endswith("\\"):
                instructions.append(pending)
                pending = ""
        stages = [i for i in instructions if i.upper().startswith("FROM ")]
        last_from = max(n for n, i in enumerate(instructions) if i.upper().startswith("FROM "))
        return cls(stages, instructions[last_from:], header)

    def runtime_values(self, keyword: str) -> list[str]:
        prefix = keyword.upper() + " "
        return [i[len(prefix) :].strip() for i in self.runtime if i.upper().startswith(prefix)]

    def runtime_env(self) -> dict[str, str]:
        """`ENV` of the runtime stage (`KEY=value` pairs, `$PATH` left to the caller)."""
        import shlex

        env: dict[str, str] = {}
        for value in self.runtime_values("ENV"):
            for pair in shlex.split(value):
                key, _, val = pair.partition("=")
                env[key] = val
        return env
