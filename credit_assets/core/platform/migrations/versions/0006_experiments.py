"""Champion/challenger experiments: the `experiments` table and the arm of each decision.

An experiment sends a share of borrowers (by a keyed hash, so a borrower always gets the same
arm) to a registered challenger whose compliance gates passed. The decision log records
which experiment and arm decided each decision; both are null outside an experiment.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("experiment_id", sa.String(32), primary_key=True),
        sa.Column("challenger_version", sa.String(64), nullable=False),
        sa.Column("champion_version", sa.String(64), nullable=False),
        sa.Column("share", sa.Float, nullable=False),
        sa.Column("assignment_key", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("started_by", sa.String(100), nullable=False),
        sa.Column("max_days", sa.Float),
        sa.Column("max_decisions", sa.Integer),
        sa.Column("stopped_at", sa.DateTime),
        sa.Column("stopped_by", sa.String(100)),
        sa.Column("stop_reason", sa.Text),
        sa.Column("fallback_reason", sa.Text),
    )
    op.create_index("ix_experiments_status", "experiments", ["status"])
    op.add_column("decision_log", sa.Column("experiment_id", sa.String(32)))
    op.add_column("decision_log", sa.Column("arm", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("decision_log") as batch:
        batch.drop_column("arm")
        batch.drop_column("experiment_id")
    op.drop_index("ix_experiments_status", table_name="experiments")
    op.drop_table("experiments")
