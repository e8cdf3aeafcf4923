"""The platform database schema comes from versioned migrations, on SQLite and PostgreSQL."""

import secrets
import subprocess
import sys
import time
from datetime import datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from credit_assets.core.platform.apikeys import (
    DEFAULT_SCOPES,
    _hash_secret,
    create_api_key,
    verify_api_key,
)
from credit_assets.core.platform.db import (
    VERSION_TABLE,
    alembic_config,
    current_revision,
    engine_for,
    metadata,
    migrate,
)
from tests.support.production import MIGRATION_HEAD as HEAD

EXPECTED_TABLES = {
    "ingested_files",
    "online_feature_snapshots",
    "online_features",
    "online_feature_current",
    "model_registry",
    "decision_log",
    "shadow_decisions",
    "api_keys",
    "alerts",
}


def _assert_schema_matches_models(url: str) -> None:
    with engine_for(url).connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        diff = compare_metadata(context, metadata)
    assert tables >= EXPECTED_TABLES
    # Only index-name differences are tolerated between backends; no missing table or column.
    assert [d for d in diff if d[0] not in ("add_index", "remove_index")] == []


def _migrations_build_the_schema(url: str) -> None:
    migrate(url)
    migrate(url)  # idempotent
    assert current_revision(url) == HEAD
    _assert_schema_matches_models(url)


def test_migrations_build_the_schema_on_sqlite(tmp_path):
    _migrations_build_the_schema(f"sqlite:///{tmp_path / 'p.db'}")


@pytest.mark.postgres
def test_migrations_build_the_schema_on_postgres(postgres_url):
    _migrations_build_the_schema(postgres_url)


def _key_made_at_0001(engine: sa.Engine, lender: str) -> str:
    """A key inserted as revision 0001 stored it: no scopes column yet."""
    key_id, secret, salt = secrets.token_hex(8), secrets.token_urlsafe(32), secrets.token_bytes(16)
    digest = _hash_secret(secret, salt)
    columns = ("key_id", "lender", "key_hash", "created_at")
    keys_at_0001 = sa.table("api_keys", *(sa.column(name) for name in columns))
    with engine.begin() as conn:
        conn.execute(
            keys_at_0001.insert().values(
                key_id=key_id,
                lender=lender,
                key_hash=f"{salt.hex()}${digest.hex()}",
                created_at=datetime(2026, 1, 5, 9, 30),
            )
        )
    return f"ck_{key_id}_{secret}"


def _keys_made_before_scopes_get_every_scope(url: str) -> None:
    migrate(url, "0001")
    engine = engine_for(url)
    assert "scopes" not in {c["name"] for c in sa.inspect(engine).get_columns("api_keys")}
    old_key = _key_made_at_0001(engine, "acme-bank")

    migrate(url)
    assert current_revision(url) == HEAD
    verified = verify_api_key(engine, old_key)
    assert verified is not None
    assert (verified.lender, verified.scopes) == ("acme-bank", frozenset(DEFAULT_SCOPES))
    _assert_schema_matches_models(url)

    # Down to 0001 and back: the column goes and comes back, the key still verifies.
    narrow_key = create_api_key(engine, "acme-bank", ["models:read"])
    command.downgrade(alembic_config(engine), "0001")
    assert current_revision(url) == "0001"
    assert "scopes" not in {c["name"] for c in sa.inspect(engine).get_columns("api_keys")}
    migrate(url)
    for key in (old_key, narrow_key):
        verified = verify_api_key(engine, key)
        assert verified is not None and verified.lender == "acme-bank"
    _assert_schema_matches_models(url)


def test_keys_made_before_scopes_get_every_scope_on_sqlite(tmp_path):
    _keys_made_before_scopes_get_every_scope(f"sqlite:///{tmp_path / 'p.db'}")


@pytest.mark.postgres
def test_keys_made_before_scopes_get_every_scope_on_postgres(postgres_url):
    _keys_made_before_scopes_get_every_scope(postgres_url)


def test_a_key_row_without_scopes_is_refused_by_the_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    migrate(url)
    with pytest.raises(sa.exc.IntegrityError), engine_for(url).begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO api_keys (key_id, lender, key_hash, created_at) "
                "VALUES (:key_id, :lender, :key_hash, :created_at)"
            ),
            {
                "key_id": "0" * 16,
                "lender": "acme-bank",
                "key_hash": "00$00",
                "created_at": datetime(2026, 1, 5),
            },
        )


def _compression(engine: sa.Engine, table: str, column: str) -> str:
    """pg_attribute.attcompression: 'l' lz4, 'p' pglz, '' the server default (pglz)."""
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT attcompression FROM pg_attribute "
                "WHERE attrelid = CAST(:table AS regclass) AND attname = :column"
            ),
            {"table": table, "column": column},
        ).scalar()


@pytest.mark.postgres
def test_the_decision_log_writes_large_text_with_lz4_and_one_index_fewer(postgres_url):
    migrate(postgres_url)
    engine = engine_for(postgres_url)
    for table, column in (
        ("decision_log", "features"),
        ("decision_log", "response"),
        ("online_features", "features"),
    ):
        assert _compression(engine, table, column) == "l", (table, column)
    indexes = {i["name"] for i in sa.inspect(engine).get_indexes("decision_log")}
    assert "ix_decision_log_lender" not in indexes
    # A value over the TOAST threshold is stored lz4-compressed.
    large = "[" + ",".join(f'{{"feature_{i}": {i * 0.37:.6f}}}' for i in range(400)) + "]"
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO decision_log (decision_id, lender, created_at, inputs_digest, "
                "scorable, reasons, features) VALUES ('d-lz4', 'acme-bank', now(), 'x', true, "
                "'[]', :features)"
            ),
            {"features": large},
        )
        stored = conn.execute(
            sa.text(
                "SELECT pg_column_compression(features), features FROM decision_log "
                "WHERE decision_id = 'd-lz4'"
            )
        ).one()
    assert stored == ("lz4", large)

    command.downgrade(alembic_config(engine), "0002")
    assert _compression(engine, "decision_log", "features") == "p"
    assert "ix_decision_log_lender" in {
        i["name"] for i in sa.inspect(engine).get_indexes("decision_log")
    }
    migrate(postgres_url)
    assert _compression(engine, "decision_log", "features") == "l"


_MIGRATE_AT = """
import sys, time
from credit_assets.core.platform.db import migrate
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # all start together
try:
    migrate(sys.argv[1])
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}"[:300])
"""


def test_processes_starting_together_on_an_empty_sqlite_file_all_migrate_it(tmp_path):
    # Two API workers, or the webserver and the daemon, on an empty CREDIT_HOME: without the
    # file lock one of 4 processes failed with "table ... already exists" in 3 trials of 5.
    for trial in range(3):
        url = f"sqlite:///{tmp_path}/trial{trial}/platform.db"
        start = f"{time.time() + 2:.3f}"  # after every interpreter has imported
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", _MIGRATE_AT, url, start],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(4)
        ]
        outputs = [process.communicate(timeout=120)[0].strip() for process in processes]
        assert outputs == [""] * 4
        assert current_revision(url) == HEAD
