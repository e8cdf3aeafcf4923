"""Model registry: the promotion decision of every challenger, promoted or held back.

A challenger that a gate holds back is an outcome, not an error: its row gets the
status `held_back` and, like a promoted one, the decision (every gate with its
figure, threshold and verdict) as JSON in `decision`. Rows written before this
revision have an empty decision.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "model_registry", sa.Column("decision", sa.Text, nullable=False, server_default="{}")
    )


def downgrade() -> None:
    with op.batch_alter_table("model_registry") as batch:
        batch.drop_column("decision")
