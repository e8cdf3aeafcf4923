"""The platform database schema comes from versioned migrations, on SQLite and PostgreSQL."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from credit_assets.core.db import VERSION_TABLE, current_revision, engine_for, metadata, migrate

EXPECTED_TABLES = {
    "ingested_files", "online_feature_snapshots", "online_features", "online_feature_current",
    "model_registry", "decision_log", "shadow_decisions", "api_keys", "alerts",
}


def _assert_schema_matches_models(url: str) -> None:
    migrate(url)
    migrate(url)  # idempotent
    assert current_revision(url) == "0001"
    with engine_for(url).connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        diff = compare_metadata(context, metadata)
    assert tables >= EXPECTED_TABLES
    # Only index-name differences are tolerated between backends; no missing table or column.
    assert [d for d in diff if d[0] not in ("add_index", "remove_index")] == []


def test_migrations_build_the_schema_on_sqlite(tmp_path):
    _assert_schema_matches_models(f"sqlite:///{tmp_path / 'p.db'}")


@pytest.mark.postgres
def test_migrations_build_the_schema_on_postgres(postgres_url):
    _assert_schema_matches_models(postgres_url)
