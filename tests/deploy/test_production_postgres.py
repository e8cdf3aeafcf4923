"""Production mode on PostgreSQL: the Dagster instance (deploy/dagster.postgres.yaml, read
through DAGSTER_PG_* variables) and the platform database in one PostgreSQL database; the
graph is materialized on it, then the scoring API, as a real uvicorn process on the same
database, scores a borrower by id with a lender's API key."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from credit_assets.core.platform.apikeys import create_api_key
from credit_assets.core.platform.db import migrated_engine
from credit_assets.core.platform.online_store import current_snapshot
from credit_assets.core.platform.registry import current_champion
from credit_assets.core.platform.settings import get_settings
from credit_assets.core.tools.synthetic import generate
from tests.support.production import MIGRATION_HEAD as HEAD
from tests.support.production import (
    REPO_ROOT,
    free_port,
    http_status,
    process_env,
    running,
    scoring_api_command,
)

BORROWERS = 1500
GROUPS = ["ingestion", "features", "modeling", "compliance"]


def dagster_pg_env(postgres_url: str) -> dict[str, str]:
    """DAGSTER_PG_* for deploy/dagster.postgres.yaml, taken from a SQLAlchemy URL."""
    url = sa.engine.make_url(postgres_url)
    return {
        "DAGSTER_PG_USERNAME": url.username or "postgres",
        "DAGSTER_PG_PASSWORD": url.password or "",
        "DAGSTER_PG_HOST": url.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(url.port or 5432),
        "DAGSTER_PG_DB": url.database or "postgres",
    }


@pytest.fixture
def production_workspace(
    credit_home: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """DAGSTER_HOME with the production instance config; every store in one fresh database."""
    dagster_home = credit_home / "dagster"
    dagster_home.mkdir()
    shutil.copy(REPO_ROOT / "deploy" / "dagster.postgres.yaml", dagster_home / "dagster.yaml")
    for name, value in {
        **dagster_pg_env(postgres_url),
        "DAGSTER_HOME": str(dagster_home),
        "CREDIT_DATABASE_URL": postgres_url,
        "CREDIT_SNAPSHOT_DATE": "2026-10-01",
        "CREDIT_FEATURE_BUCKETS": "2",
        "CREDIT_THREADS": "2",
        # This test is about where runs and models live: 1 500 borrowers leave fewer than the
        # documented 30 bads in the test split, so the evidence minimum is lowered to give a
        # champion (thin evidence itself: tests/defs/test_thin_evidence_end_to_end.py).
        "CREDIT_EVIDENCE_MIN_BADS": "10",
    }.items():
        monkeypatch.setenv(name, value)
    settings = get_settings()
    generate(
        BORROWERS,
        settings.landing_dir,
        settings.ground_truth_dir,
        seed=7,
        end_date=date(2026, 9, 30),
    )
    return credit_home


def test_the_production_instance_config_reads_postgres_from_the_environment(monkeypatch):
    """dagster-postgres 0.29 accepts `scheme` (psycopg2: SQLAlchemy 2.1 reads plain
    postgresql:// as psycopg 3, which is not installed) and builds its URL from DAGSTER_PG_*."""
    import yaml
    from dagster._config import process_config
    from dagster._core.storage.config import pg_config
    from dagster_postgres.utils import pg_url_from_config

    for name, value in dagster_pg_env(
        "postgresql+psycopg2://credit:pw@db.internal:6432/dagster"
    ).items():
        monkeypatch.setenv(name, value)
    config = yaml.safe_load((REPO_ROOT / "deploy" / "dagster.postgres.yaml").read_text())
    processed = process_config(pg_config(), config["storage"]["postgres"])
    assert processed.success, processed.errors
    url = pg_url_from_config(processed.value)
    assert url == "postgresql+psycopg2://credit:pw@db.internal:6432/dagster"


@pytest.mark.slow
@pytest.mark.postgres
def test_runs_materializations_and_the_champion_live_in_postgres_and_the_api_scores_from_it(
    production_workspace, postgres_url, tmp_path
):
    from credit_assets.orchestration import materialize_all

    log: list[str] = []
    outcome = materialize_all(groups=GROUPS, log=log.append)
    assert outcome.success, "\n".join(log)

    # The Dagster instance is PostgreSQL: runs and events are rows there, not SQLite files.
    dagster_home = production_workspace / "dagster"
    assert not list(dagster_home.rglob("*.db"))
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            statuses = dict(
                conn.execute(
                    sa.text("SELECT run_id, status FROM runs WHERE run_id = ANY(:ids)"),
                    {"ids": outcome.runs},
                ).all()
            )
            materialized = set(
                conn.execute(
                    sa.text(
                        "SELECT DISTINCT asset_key FROM event_logs "
                        "WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
                    )
                ).scalars()
            )
    finally:
        engine.dispose()
    assert statuses == {run_id: "SUCCESS" for run_id in outcome.runs}
    for asset in (
        "borrower_features",
        "online_features",
        "challenger_model",
        "fairness_report",
        "champion_model",
    ):
        assert f'["{asset}"]' in materialized

    platform = migrated_engine(postgres_url)
    champion = current_champion(platform)
    assert champion is not None and champion.run_id in outcome.runs

    # The API on the same database serves the champion and scores a borrower by id.
    snapshot = current_snapshot(platform)
    assert snapshot is not None
    with platform.connect() as conn:
        borrower_id = conn.execute(
            sa.text("SELECT borrower_id FROM online_features WHERE snapshot_id = :s LIMIT 1"),
            {"s": snapshot["snapshot_id"]},
        ).scalar_one()
    api_key = create_api_key(platform, "production-test-lender")
    port = free_port()
    command = scoring_api_command(port, log_level="info")
    with running("scoring-api", command, tmp_path / "logs", env=process_env()) as api:
        api.wait_until(
            lambda: http_status(f"http://127.0.0.1:{port}/readyz") == 200,
            timeout=90,
            what="/readyz 200",
        )
        response = httpx.post(
            f"http://127.0.0.1:{port}/v1/scores",
            json={"borrower_id": borrower_id},
            headers={"X-API-Key": api_key},
            timeout=30,
        )
    assert response.status_code == 200, response.text
    decision = response.json()
    assert decision["model_version"] == champion.version
    if decision["scorable"]:
        assert 300 <= decision["score"] <= 850
    with platform.connect() as conn:
        logged = conn.execute(
            sa.text("SELECT lender, model_version FROM decision_log WHERE decision_id = :d"),
            {"d": decision["decision_id"]},
        ).one()
    assert tuple(logged) == ("production-test-lender", champion.version)


def test_platform_migrations_keep_their_revision_apart_from_dagsters(tmp_path):
    """dagster-postgres owns `alembic_version`; the platform records its revision in
    `credit_alembic_version`, and a database migrated before that moves its row over."""
    from credit_assets.core.platform.db import VERSION_TABLE, current_revision, engine_for, migrate

    url = f"sqlite:///{tmp_path / 'legacy.db'}"
    migrate(url, revision="0001")  # the schema an older release left
    engine = engine_for(url)
    with engine.begin() as conn:  # as an older release left it
        conn.execute(sa.text(f"DROP TABLE {VERSION_TABLE}"))
        conn.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        conn.execute(sa.text("INSERT INTO alembic_version VALUES ('0001')"))
    migrate(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar() == 0
        # ...and the migrations newer than 0001 ran on top of it.
        assert "scopes" in {c["name"] for c in sa.inspect(conn).get_columns("api_keys")}
    assert current_revision(url) == HEAD
