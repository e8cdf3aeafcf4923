"""The image, read from its Dockerfile: two stages, a non-root runtime, the ports and the
entry points of every platform process, nothing secret baked in."""

from __future__ import annotations

import json
import re
import tomllib

from tests.support.production import REPO_ROOT, VENV_BIN, Dockerfile

DOCKERFILE = Dockerfile.parse()


def exposed_ports() -> set[int]:
    return {
        int(p.split("/")[0]) for value in DOCKERFILE.runtime_values("EXPOSE") for p in value.split()
    }


def command_port(command: str) -> int | None:
    match = re.search(r"(?:-p|--port)\s+(\d+)", command)
    return int(match.group(1)) if match else None


def test_the_image_is_built_in_a_build_stage_and_runs_from_a_slim_runtime_stage():
    assert len(DOCKERFILE.stages) >= 2
    assert any(re.search(r"\bAS\s+build\b", s, re.IGNORECASE) for s in DOCKERFILE.stages)
    runtime = " ".join(DOCKERFILE.runtime)
    assert "COPY --from=build" in runtime
    assert "build-essential" not in runtime  # compilers stay in the build stage


def test_the_runtime_stage_runs_as_a_non_root_user():
    users = DOCKERFILE.runtime_values("USER")
    assert users, "the runtime stage sets no USER"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_every_documented_process_listens_on_an_exposed_port():
    ports = {command_port(c) for c in DOCKERFILE.header_commands} - {None}
    assert ports == {3000, 4000, 8000}
    assert exposed_ports() == ports


def test_the_default_command_serves_the_api_on_all_interfaces_and_an_exposed_port():
    command = json.loads(DOCKERFILE.runtime_values("CMD")[-1])
    assert command[:2] == ["credit-platform", "serve"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert int(command[command.index("--port") + 1]) in exposed_ports()


def test_every_documented_entry_point_is_an_installed_command():
    for command in DOCKERFILE.header_commands:
        executable = command.split()[0]
        assert (VENV_BIN / executable).exists(), f"{executable} ({command}) is not installed"


def test_the_image_installs_the_production_dependencies():
    """`pip install -e .` (no extras) must bring PostgreSQL, S3 and Celery support."""
    dependencies = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
    names = {re.split(r"[\[=<>! ]", d, maxsplit=1)[0].lower() for d in dependencies}
    assert {
        "dagster-postgres",
        "dagster-aws",
        "dagster-celery",
        "psycopg2-binary",
        "boto3",
    } <= names
    assert "pip install -e ." in (REPO_ROOT / "Dockerfile").read_text()


def test_no_secret_is_baked_into_the_image():
    text = (REPO_ROOT / "Dockerfile").read_text()
    for name in DOCKERFILE.runtime_env():
        assert not re.search(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY", name), name
    assert not re.search(r"^\s*(COPY|ADD)\s+.*\.env\b", text, re.MULTILINE)
    assert "CREDIT_DATABASE_URL" not in text
