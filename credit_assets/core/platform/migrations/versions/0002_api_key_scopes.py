"""API key scopes: what each key may do (`scores:write`, `decisions:read`, `models:read`).

Keys created before this revision could do everything, so they get every scope
that exists at this revision; new keys name theirs when created. The column has no
server default on purpose: a key written without scopes is an error, not a key
that may do everything.

Downgrading drops the column, and upgrading again gives every key all scopes.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Frozen here, not imported: a scope added later must not be granted by this migration.
ALL_SCOPES_AT_0002 = "scores:write decisions:read models:read"


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("scopes", sa.String(200), nullable=True))
    keys = sa.table("api_keys", sa.column("scopes", sa.String))
    op.execute(keys.update().where(keys.c.scopes.is_(None)).values(scopes=ALL_SCOPES_AT_0002))
    with op.batch_alter_table("api_keys") as batch:
        batch.alter_column("scopes", existing_type=sa.String(200), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("scopes")
