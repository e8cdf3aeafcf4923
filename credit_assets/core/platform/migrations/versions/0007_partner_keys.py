"""Data partners' keys: a key is a lender's or a data partner's, and a partner's names the
sources it may write.

A deployment serves one lender (docs/DEPLOY.md); data partners (a utility, a telecom, a
rent-reporting service) furnish records for it. A partner key holds only `data:write`, on
the sources granted to it, and what it furnishes is namespaced by the partner.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="lender"))
        batch.add_column(sa.Column("sources", sa.String(500)))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("sources")
        batch.drop_column("kind")
