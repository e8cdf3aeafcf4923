"""The deployment files say what production needs, and never a secret value.

deploy/helm/values.yaml (official Dagster chart: our image as the user-code deployment),
deploy/k8s/scoring-api.yaml (the API: Deployment, Service, autoscaler),
deploy/k8s/celery-worker.yaml, deploy/celery.yaml and deploy/dagster.postgres.yaml.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from credit_assets.core.platform.settings import Settings
from scoring_api.settings import ApiSettings
from tests.support.production import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
IMAGE_REPOSITORY = "ghcr.io/credit-platform/credit-platform"
PLATFORM_SECRET = "credit-platform-secrets"
# Read with os.environ by credit_assets/defs/common/production.py rather than by Settings.
EXECUTOR_ENV = {
    "CREDIT_EXECUTOR",
    "CREDIT_CELERY_BROKER",
    "CREDIT_CELERY_BACKEND",
    "CREDIT_MAX_CONCURRENT_STEPS",
}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|DATABASE_URL|BROKER|BACKEND", re.I)


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in docs}


def known_env_names() -> set[str]:
    settings = {f"CREDIT_{name.upper()}" for name in Settings.model_fields}
    api = {f"CREDIT_API_{name.upper()}" for name in ApiSettings.model_fields}
    return settings | api | EXECUTOR_ENV


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}[{i}]")
    else:
        yield path, node


@pytest.fixture(scope="module")
def helm() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())


@pytest.fixture(scope="module")
def api() -> dict[str, dict[str, Any]]:
    return by_kind(load_all(DEPLOY / "k8s" / "scoring-api.yaml"))


@pytest.fixture(scope="module")
def user_code(helm) -> dict[str, Any]:
    deployments = helm["dagster-user-deployments"]["deployments"]
    assert len(deployments) == 1
    return deployments[0]


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


# --- Helm: the Dagster chart with our image as the user-code deployment ---------------------


def test_helm_runs_our_image_as_a_code_server_for_the_definitions_module(helm, user_code):
    assert helm["dagster-user-deployments"]["enabled"] is True
    assert user_code["image"]["repository"] == IMAGE_REPOSITORY
    assert user_code["image"]["tag"] not in (None, "", "latest")
    assert user_code["codeServerArgs"] == ["-m", "credit_assets.definitions"]
    assert "dagsterApiGrpcArgs" not in user_code
    assert user_code["port"] == 4000  # the code-server port the Dockerfile exposes


def test_helm_takes_the_instance_database_password_from_an_existing_secret(helm):
    postgres = helm["postgresql"]
    assert postgres["enabled"] is False  # external, managed PostgreSQL
    assert helm["generatePostgresqlPasswordSecret"] is False
    assert helm["global"]["postgresqlSecretName"]
    assert "postgresqlPassword" not in postgres
    assert postgres["postgresqlScheme"] == "postgresql+psycopg2"
    assert postgres["postgresqlHost"] and postgres["postgresqlDatabase"]


def test_helm_env_is_platform_settings_and_secrets_come_from_a_secret(helm, user_code):
    names = {item["name"] for item in user_code["env"]}
    assert names <= known_env_names(), names - known_env_names()
    assert {"CREDIT_STORAGE", "CREDIT_S3_BUCKET", "CREDIT_EXECUTOR"} <= names
    assert not {n for n in names if SECRET_NAME.search(n)}
    assert {"name": PLATFORM_SECRET} in user_code["envSecrets"]
    assert user_code["includeConfigInLaunchedRuns"]["enabled"] is True
    launcher = helm["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    assert {"name": PLATFORM_SECRET} in launcher["config"]["k8sRunLauncher"]["envSecrets"]


# --- The scoring API: Deployment, Service, HorizontalPodAutoscaler -------------------------


def test_the_api_runs_at_least_two_replicas_of_our_image_serving_on_port_8000(api):
    deployment = api["Deployment"]
    assert deployment["spec"]["replicas"] >= 2
    api_container = container(deployment)
    assert api_container["image"].rsplit(":", 1)[0] == IMAGE_REPOSITORY
    command = api_container["command"]
    assert command[:2] == ["credit-platform", "serve"]
    assert command[command.index("--port") + 1] == "8000"
    assert [p["containerPort"] for p in api_container["ports"]] == [8000]


def test_the_api_is_ready_on_readyz_and_alive_on_healthz(api):
    from scoring_api.main import create_app

    api_container = container(api["Deployment"])
    assert api_container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api_container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"/readyz", "/healthz"} <= set(create_app().openapi()["paths"])


def test_the_api_declares_cpu_and_memory_requests_and_a_memory_limit(api):
    resources = container(api["Deployment"])["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert "memory" in resources["limits"]


def test_the_api_runs_as_a_non_root_user(api):
    pod = api["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container(api["Deployment"])["securityContext"]["allowPrivilegeEscalation"] is False


def test_the_service_routes_to_the_api_pods_http_port(api):
    service, deployment = api["Service"], api["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    ports = {p["name"]: p["containerPort"] for p in container(deployment)["ports"]}
    assert service["spec"]["ports"][0]["targetPort"] in ports


def test_the_autoscaler_scales_the_api_deployment_on_cpu_from_two_replicas(api):
    hpa = api["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", api["Deployment"]["metadata"]["name"])
    assert hpa["spec"]["minReplicas"] >= 2
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    cpu = [m for m in hpa["spec"]["metrics"] if m["resource"]["name"] == "cpu"]
    assert cpu and 0 < cpu[0]["resource"]["target"]["averageUtilization"] <= 90


def test_the_api_env_is_platform_settings_with_secrets_by_reference(api):
    config = api["ConfigMap"]["data"]
    assert set(config) <= known_env_names(), set(config) - known_env_names()
    assert not {n for n in config if SECRET_NAME.search(n)}
    env = container(api["Deployment"])["env"]
    for item in env:
        assert "value" not in item, f"{item['name']} is a literal; reference a Secret"
        assert item["valueFrom"]["secretKeyRef"]["name"] == PLATFORM_SECRET
    assert "CREDIT_DATABASE_URL" in {item["name"] for item in env}


# --- Celery workers and the instance configs -----------------------------------------------


def test_celery_workers_run_the_documented_worker_command_with_the_broker_from_a_secret():
    worker = by_kind(load_all(DEPLOY / "k8s" / "celery-worker.yaml"))["Deployment"]
    worker_container = container(worker)
    assert worker_container["command"][:5] == [
        "dagster-celery",
        "worker",
        "start",
        "-A",
        "dagster_celery.app",
    ]
    config = worker_container["command"][worker_container["command"].index("-y") + 1]
    assert (REPO_ROOT / config).is_file()
    assert {"secretRef": {"name": PLATFORM_SECRET}} in worker_container["envFrom"]
    celery = yaml.safe_load((REPO_ROOT / config).read_text())["execution"]["config"]
    assert celery == {
        "broker": {"env": "CREDIT_CELERY_BROKER"},
        "backend": {"env": "CREDIT_CELERY_BACKEND"},
    }


def test_the_production_instance_reads_every_connection_value_from_the_environment():
    config = yaml.safe_load((DEPLOY / "dagster.postgres.yaml").read_text())
    postgres = config["storage"]["postgres"]["postgres_db"]
    for key in ("username", "password", "hostname", "db_name", "port"):
        assert set(postgres[key]) == {"env"}, key
    assert postgres["scheme"] == "postgresql+psycopg2"


@pytest.mark.parametrize(
    "path", sorted(p.relative_to(REPO_ROOT).as_posix() for p in DEPLOY.rglob("*.yaml"))
)
def test_no_deployment_file_holds_a_literal_secret(path):
    for doc in load_all(REPO_ROOT / path):
        for where, value in walk(doc):
            if not isinstance(value, str):
                continue
            assert not re.search(r"://[^/\s:@]+:[^/\s@]+@", value), (
                f"{path}{where}: credentials in a URL"
            )
            key = where.rsplit(".", 1)[-1]
            if SECRET_NAME.search(key) and not key.lower().endswith(("secretname", "envsecrets")):
                pytest.fail(f"{path}{where}: a secret-looking key holds a literal value")
        for item in _env_items(doc):
            if SECRET_NAME.search(item.get("name", "")):
                assert "value" not in item, f"{path}: {item['name']} is a literal; use secretKeyRef"


def _env_items(doc: Any) -> Iterator[dict[str, Any]]:
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key == "env" and isinstance(value, list):
                yield from (v for v in value if isinstance(v, dict))
            else:
                yield from _env_items(value)
    elif isinstance(doc, list):
        for value in doc:
            yield from _env_items(value)


def test_the_deploy_guide_names_every_secret_key_the_manifests_reference():
    guide = (REPO_ROOT / "docs" / "DEPLOY.md").read_text()
    referenced = set()
    for path in (DEPLOY / "k8s").glob("*.yaml"):
        for doc in load_all(path):
            for where, value in walk(doc):
                if where.endswith("secretKeyRef.key"):
                    referenced.add(value)
    assert referenced
    for key in referenced:
        assert key in guide, f"docs/DEPLOY.md does not say how to create the secret key {key}"
