"""The platform database: ingestion ledger, online features, model registry, decision log.

SQLite under CREDIT_HOME when embedded, PostgreSQL in production; the same
SQLAlchemy Core tables serve both. The schema is created by the versioned
alembic migrations in `credit_assets/core/platform/migrations`, applied by `migrate()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # not POSIX: migrations are not serialised across processes
    fcntl = None  # type: ignore[assignment]

import sqlalchemy as sa
from sqlalchemy.engine import Engine

metadata = sa.MetaData()

ingested_files = sa.Table(
    "ingested_files",
    metadata,
    sa.Column("source", sa.String(100), primary_key=True),
    sa.Column("file_name", sa.String(500), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False, index=True),
    sa.Column("rows_read", sa.Integer, nullable=False),
    sa.Column("rows_accepted", sa.Integer, nullable=False),
    sa.Column("rows_rejected", sa.Integer, nullable=False),
    sa.Column("ingested_at", sa.DateTime, nullable=False),
    sa.Column("run_id", sa.String(64)),
)

online_feature_snapshots = sa.Table(
    "online_feature_snapshots",
    metadata,
    sa.Column("snapshot_id", sa.String(64), primary_key=True),
    sa.Column("as_of_date", sa.Date, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("feature_names", sa.Text, nullable=False),
    sa.Column("catalogue_version", sa.String(32), nullable=False),
    sa.Column("run_id", sa.String(64)),
)

online_features = sa.Table(
    "online_features",
    metadata,
    sa.Column("snapshot_id", sa.String(64), primary_key=True),
    sa.Column("borrower_id", sa.String(100), primary_key=True),
    sa.Column("features", sa.Text, nullable=False),
)

# One row: the snapshot readers see. Switching it is the atomic publish.
online_feature_current = sa.Table(
    "online_feature_current",
    metadata,
    sa.Column("slot", sa.Integer, primary_key=True),
    sa.Column("snapshot_id", sa.String(64), nullable=False),
    sa.Column("switched_at", sa.DateTime, nullable=False),
)

model_registry = sa.Table(
    "model_registry",
    metadata,
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("artifact_uri", sa.Text, nullable=False),
    sa.Column("manifest_sha256", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("run_id", sa.String(64)),
    sa.Column("metrics", sa.Text, nullable=False, server_default="{}"),
    sa.Column("fairness", sa.Text, nullable=False, server_default="{}"),
    sa.Column("lineage", sa.Text, nullable=False, server_default="{}"),
    sa.Column("override_reason", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("promoted_at", sa.DateTime),
    # The promotion decision with every gate (migration 0004).
    sa.Column("decision", sa.Text, nullable=False, server_default="{}"),
)

decision_log = sa.Table(
    "decision_log",
    metadata,
    sa.Column("decision_id", sa.String(64), primary_key=True),
    # No index of its own: uq_decision_idempotency (lender, idempotency_key) leads with it.
    sa.Column("lender", sa.String(100), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False, index=True),
    sa.Column("borrower_id", sa.String(100)),
    sa.Column("inputs_digest", sa.String(64), nullable=False),
    sa.Column("feature_snapshot_id", sa.String(64)),
    sa.Column("model_version", sa.String(64)),
    sa.Column("scorable", sa.Boolean, nullable=False),
    sa.Column("score", sa.Integer),
    sa.Column("pd", sa.Float),
    sa.Column("band", sa.String(4)),
    sa.Column("reasons", sa.Text, nullable=False, server_default="[]"),
    sa.Column("features", sa.Text),
    sa.Column("latency_ms", sa.Float),
    sa.Column("idempotency_key", sa.String(200)),
    sa.Column("response", sa.Text),
    # The experiment arm that decided (`champion`, `challenger`), null outside an experiment
    # (migration 0006).
    sa.Column("experiment_id", sa.String(32)),
    sa.Column("arm", sa.String(16)),
    sa.UniqueConstraint("lender", "idempotency_key", name="uq_decision_idempotency"),
)

shadow_decisions = sa.Table(
    "shadow_decisions",
    metadata,
    sa.Column("decision_id", sa.String(64), primary_key=True),
    sa.Column("model_version", sa.String(64), primary_key=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("score", sa.Integer),
    sa.Column("pd", sa.Float),
    sa.Column("band", sa.String(4)),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("lender", sa.String(100), nullable=False, index=True),
    sa.Column("key_hash", sa.String(128), nullable=False),
    # Space-separated scopes (credit_assets.core.platform.apikeys.SCOPES); migration 0002.
    sa.Column("scopes", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("revoked_at", sa.DateTime),
    # `lender` or `partner` (migration 0007); a partner's key names the sources it may write
    # (space-separated) and `lender` holds the partner's name.
    sa.Column("kind", sa.String(16), nullable=False, server_default="lender"),
    sa.Column("sources", sa.String(500)),
)

# Files and record batches pushed over HTTP (migration 0005): who sent what, and where it
# is on its way (received -> ingesting -> ingested, or rejected / failed with the reason).
uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("upload_id", sa.String(32), primary_key=True),
    sa.Column("lender", sa.String(100), nullable=False),
    sa.Column("source", sa.String(100), nullable=False),
    sa.Column("file_name", sa.String(500), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("format", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("run_id", sa.String(64)),
    sa.Column("rows_accepted", sa.Integer),
    sa.Column("rows_rejected", sa.Integer),
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("lender", "source", "sha256", name="uq_upload_content"),
    sa.Index("ix_uploads_source_file", "source", "file_name"),
)

# Champion/challenger experiments (migration 0006): at most one running; who started and
# stopped it, when, and why (a guardrail, a limit, an operator).
experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("experiment_id", sa.String(32), primary_key=True),
    sa.Column("challenger_version", sa.String(64), nullable=False),
    sa.Column("champion_version", sa.String(64), nullable=False),
    sa.Column("share", sa.Float, nullable=False),
    sa.Column("assignment_key", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("started_by", sa.String(100), nullable=False),
    sa.Column("max_days", sa.Float),
    sa.Column("max_decisions", sa.Integer),
    sa.Column("stopped_at", sa.DateTime),
    sa.Column("stopped_by", sa.String(100)),
    sa.Column("stop_reason", sa.Text),
    sa.Column("fallback_reason", sa.Text),
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("alert_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("kind", sa.String(50), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(64)),
    sa.Column("payload", sa.Text, nullable=False, server_default="{}"),
)

# Borrower rights (migration 0008, credit_assets/core/privacy): consents to consent-based
# sources, who granted or revoked them and when; erased borrowers as keyed pseudonyms (the
# tombstones ingestion honours: never the identifier itself); and the audit of every request.
borrower_consents = sa.Table(
    "borrower_consents",
    metadata,
    sa.Column("consent_id", sa.String(32), primary_key=True),
    sa.Column("lender", sa.String(100), nullable=False),
    sa.Column("borrower_id", sa.String(100), nullable=False),
    sa.Column("source", sa.String(100), nullable=False),
    sa.Column("granted_at", sa.DateTime, nullable=False),
    sa.Column("granted_by", sa.String(100), nullable=False),
    sa.Column("revoked_at", sa.DateTime),
    sa.Column("revoked_by", sa.String(100)),
    # When the revoked source's records were erased (CREDIT_CONSENT_ERASURE_DAYS after).
    sa.Column("records_erased_at", sa.DateTime),
    sa.Index("ix_borrower_consents_borrower", "lender", "borrower_id", "source"),
)

erased_borrowers = sa.Table(
    "erased_borrowers",
    metadata,
    sa.Column("lender", sa.String(100), primary_key=True),
    sa.Column("pseudonym", sa.String(64), primary_key=True),
    sa.Column("erased_at", sa.DateTime, nullable=False),
    sa.Column("request_id", sa.String(32), nullable=False),
)

privacy_requests = sa.Table(
    "privacy_requests",
    metadata,
    sa.Column("request_id", sa.String(32), primary_key=True),
    sa.Column("lender", sa.String(100), nullable=False),
    # access, explanation, consent_granted, consent_revoked, erasure, consent_records_erased
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("pseudonym", sa.String(64), nullable=False, index=True),
    sa.Column("requested_by", sa.String(100), nullable=False),
    sa.Column("requested_at", sa.DateTime, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("status", sa.String(16), nullable=False),
    # What was touched: stores, keys and row counts (JSON), never the borrower's values.
    sa.Column("touched", sa.Text, nullable=False, server_default="{}"),
)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """One pooled engine per database URL for the life of the process."""
    if url.startswith("sqlite"):
        path = url.split("sqlite:///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # WAL lets the API read while a Dagster run publishes a snapshot.
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


# Not alembic's default `alembic_version`: dagster-postgres keeps its own revision there, and
# production may put the Dagster instance and the platform tables in one database.
VERSION_TABLE = "credit_alembic_version"


def _adopt_legacy_version_table(config: Any, engine: Engine) -> None:
    """Move our revision out of `alembic_version` (databases migrated before VERSION_TABLE)."""
    from alembic.script import ScriptDirectory

    tables = set(sa.inspect(engine).get_table_names())
    if "alembic_version" not in tables or VERSION_TABLE in tables:
        return
    ours = {rev.revision for rev in ScriptDirectory.from_config(config).walk_revisions()}
    legacy = sa.table("alembic_version", sa.column("version_num", sa.String))
    with engine.begin() as conn:
        found = [v for v in conn.execute(sa.select(legacy.c.version_num)).scalars() if v in ours]
        if not found:
            return
        target = sa.Table(
            VERSION_TABLE,
            sa.MetaData(),
            sa.Column("version_num", sa.String(32), primary_key=True),
        )
        target.create(conn)
        conn.execute(sa.insert(target), [{"version_num": v} for v in found])
        conn.execute(sa.delete(legacy).where(legacy.c.version_num.in_(found)))


def alembic_config(engine: Engine) -> Any:
    """The alembic `Config` of the platform migrations, bound to `engine` (see migrations/env.py)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def migrate(url: str, revision: str = "head") -> None:
    """Bring the platform database to `revision`, by default the latest (idempotent)."""
    from alembic import command

    engine = engine_for(url)
    config = alembic_config(engine)
    if engine.dialect.name == "postgresql":
        # Several processes (webserver, daemon, API replicas) may start at once.
        with engine.connect() as lock_conn:
            lock_conn.execute(sa.text("SELECT pg_advisory_lock(727274)"))
            try:
                _adopt_legacy_version_table(config, engine)
                command.upgrade(config, revision)
            finally:
                lock_conn.execute(sa.text("SELECT pg_advisory_unlock(727274)"))
                lock_conn.commit()
    else:
        with _file_lock(engine):
            _adopt_legacy_version_table(config, engine)
            command.upgrade(config, revision)


@contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    """For a SQLite file, an exclusive lock on `<file>.migrate-lock` while migrating.

    Two API workers (or the webserver and the daemon) starting on an empty CREDIT_HOME
    migrate the same file at once; without it one of them failed with "table ... already
    exists" (3 trials in 5 with 4 processes). PostgreSQL uses an advisory lock instead."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or fcntl is None:
        yield
        return
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".migrate-lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


_migrated: set[str] = set()


def migrated_engine(url: str) -> Engine:
    """The engine for a platform database, after migrating it to head (once per process).

    The name says what it does: the first call per database URL applies the alembic
    migrations (`migrate`), so a command, a Dagster run or an API worker never works on
    an old schema. `engine_for` is the engine without that step.
    """
    if url not in _migrated:
        migrate(url)
        _migrated.add(url)
    return engine_for(url)


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine_for(url).connect() as conn:
        return MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE}
        ).get_current_revision()
