"""Decision-log write path: lz4 for the large text columns, and no redundant index.

- PostgreSQL compresses text over ~2 kB with pglz unless told otherwise. Every decision
  row carries two such values (the model inputs as JSON and the response), and under
  load `pglz_compress` was a quarter of the database server's CPU (perf, 3 800 decisions
  a second). lz4 compresses several times faster at a similar ratio. The online store's
  feature JSON is read on every request, so it gets lz4 too (cheaper to decompress).
  Only values written from now on use it; rows already stored stay readable as they are.
  A PostgreSQL built without lz4 keeps pglz (nothing else changes). SQLite: nothing to do.
- `ix_decision_log_lender` goes: the unique constraint on (lender, idempotency_key)
  starts with `lender`, so it already serves look-ups by lender, and each decision paid
  for one more index entry.

Downgrading restores pglz and the index.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# (table, column) pairs whose values are large JSON text.
LARGE_TEXT = (
    ("decision_log", "features"),
    ("decision_log", "response"),
    ("decision_log", "reasons"),
    ("online_features", "features"),
)


def _has_lz4(bind: sa.Connection) -> bool:
    """PostgreSQL 14+ built with lz4 (Debian's and the official images are)."""
    version = bind.dialect.server_version_info or (0,)
    if bind.dialect.name != "postgresql" or version < (14,):
        return False
    options = bind.execute(
        sa.text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
    ).scalar()
    return "lz4" in (options or [])


def _set_compression(method: str) -> None:
    bind = op.get_bind()
    if not _has_lz4(bind):
        return
    for table, column in LARGE_TEXT:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method}")


def upgrade() -> None:
    _set_compression("lz4")
    op.drop_index("ix_decision_log_lender", table_name="decision_log")


def downgrade() -> None:
    op.create_index("ix_decision_log_lender", "decision_log", ["lender"])
    _set_compression("pglz")
