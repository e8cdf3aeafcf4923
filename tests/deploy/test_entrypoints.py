"""Every process the image documents starts and answers, without Docker.

The commands come from the Dockerfile's header (plus the Celery worker of docs/DEPLOY.md if
the header does not list it) and run with the environment the runtime stage sets, its
paths moved under this test's workspace; only the address becomes 127.0.0.1 and the port a
free one. Each process must answer within 90 s and is stopped afterwards.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.production import (
    REPO_ROOT,
    VENV_BIN,
    Dockerfile,
    free_port,
    http_status,
    port_open,
    process_env,
    require_redis,
    running,
)

DOCKERFILE = Dockerfile.parse()
CELERY_WORKER = "dagster-celery worker start -A dagster_celery.app -y deploy/celery.yaml"
BROKER = os.environ.get("CREDIT_TEST_CELERY_BROKER", "redis://127.0.0.1:6379/0")
READY_TIMEOUT = 90.0
IMAGE_ROOT = "/var/lib/credit"


def documented_commands() -> list[str]:
    commands = list(DOCKERFILE.header_commands)
    if not any(c.startswith("dagster-celery") for c in commands):
        commands.append(CELERY_WORKER)
    return commands


def process_name(command: str) -> str:
    """`dagster code-server start ...` → dagster-code-server, `dagster-daemon run` → dagster-daemon."""
    first, second = (command.split() + [""])[:2]
    return f"{first}-{second}" if first == "dagster" else first


def local_command(command: str) -> tuple[list[str], int | None]:
    """The documented command on loopback with a free port (if it takes one)."""
    tokens = command.split()
    port = None
    for i, token in enumerate(tokens):
        if token == "0.0.0.0":
            tokens[i] = "127.0.0.1"
        if token in ("-p", "--port") and i + 1 < len(tokens):
            port = free_port()
            tokens[i + 1] = str(port)
    tokens[0] = str(VENV_BIN / tokens[0])
    return tokens, port


def image_env(home: Path) -> dict[str, str]:
    """The runtime stage's ENV with /var/lib/credit moved to `home`, as the image prepares it
    (the repository's dagster.yaml copied into DAGSTER_HOME)."""
    env = process_env()
    for key, value in DOCKERFILE.runtime_env().items():
        if key == "PATH":
            continue  # /opt/venv/bin:$PATH; process_env() already puts the venv first
        env[key] = value.replace(IMAGE_ROOT, str(home))
    dagster_home = Path(env["DAGSTER_HOME"])
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    env["CREDIT_CELERY_BROKER"] = env["CREDIT_CELERY_BACKEND"] = BROKER
    return env


def readiness(command: str, port: int | None) -> tuple[str, Callable[..., object]]:
    """What 'answers' means for each process: (description, check taking the service)."""
    if command.startswith("dagster-webserver"):
        return "/server_info 200", lambda s: s.wait_until(
            lambda: http_status(f"http://127.0.0.1:{port}/server_info") == 200,
            READY_TIMEOUT,
            "HTTP 200 on /server_info",
        )
    if command.startswith("dagster code-server"):
        # The proxy opens its port at once; the log says when our definitions have loaded.
        return "gRPC port open, code loaded", lambda s: (
            s.wait_until(
                lambda: port is not None and port_open(port), READY_TIMEOUT, "open gRPC port"
            ),
            s.wait_for_log(
                "Started Dagster code proxy server for module credit_assets.definitions",
                READY_TIMEOUT,
            ),
        )
    if command.startswith("credit-platform serve"):
        return "/healthz 200", lambda s: s.wait_until(
            lambda: http_status(f"http://127.0.0.1:{port}/healthz") == 200,
            READY_TIMEOUT,
            "HTTP 200 on /healthz",
        )
    if command.startswith("dagster-daemon"):
        # Started, then the sensor daemon has loaded our code location and ticked.
        return "daemon log lines", lambda s: (
            s.wait_for_log("Instance is configured with the following daemons", READY_TIMEOUT),
            s.wait_for_log("landing_zone_sensor", READY_TIMEOUT),
        )
    if command.startswith("dagster-celery"):
        return "worker ready", lambda s: s.wait_for_log(" ready.", READY_TIMEOUT)
    raise AssertionError(f"no readiness probe for documented command {command!r}")


def test_the_dockerfile_documents_the_four_platform_processes():
    executables = {" ".join(c.split()[:2]) for c in DOCKERFILE.header_commands}
    assert {
        "dagster-webserver -h",
        "dagster-daemon run",
        "dagster code-server",
        "credit-platform serve",
    } <= executables


@pytest.mark.slow
@pytest.mark.parametrize("command", documented_commands(), ids=process_name)
def test_each_documented_process_starts_and_answers(command, credit_home, tmp_path):
    if command.startswith("dagster-celery"):
        require_redis(BROKER)
    argv, port = local_command(command)
    what, wait = readiness(command, port)
    with running(
        process_name(command), argv, tmp_path / "logs", env=image_env(credit_home)
    ) as service:
        wait(service)
        assert service.alive(), f"{command} stopped after answering ({what}):\n{service.log()}"
