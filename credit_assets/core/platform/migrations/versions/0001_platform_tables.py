"""Platform tables: ingestion ledger, online features, registry, decision log, keys, alerts.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingested_files",
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("file_name", sa.String(500), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False, index=True),
        sa.Column("rows_read", sa.Integer, nullable=False),
        sa.Column("rows_accepted", sa.Integer, nullable=False),
        sa.Column("rows_rejected", sa.Integer, nullable=False),
        sa.Column("ingested_at", sa.DateTime, nullable=False),
        sa.Column("run_id", sa.String(64)),
    )
    op.create_table(
        "online_feature_snapshots",
        sa.Column("snapshot_id", sa.String(64), primary_key=True),
        sa.Column("as_of_date", sa.Date, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("feature_names", sa.Text, nullable=False),
        sa.Column("catalogue_version", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(64)),
    )
    op.create_table(
        "online_features",
        sa.Column("snapshot_id", sa.String(64), primary_key=True),
        sa.Column("borrower_id", sa.String(100), primary_key=True),
        sa.Column("features", sa.Text, nullable=False),
    )
    op.create_table(
        "online_feature_current",
        sa.Column("slot", sa.Integer, primary_key=True),
        sa.Column("snapshot_id", sa.String(64), nullable=False),
        sa.Column("switched_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "model_registry",
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
    )
    op.create_table(
        "decision_log",
        sa.Column("decision_id", sa.String(64), primary_key=True),
        sa.Column("lender", sa.String(100), nullable=False, index=True),
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
        sa.UniqueConstraint("lender", "idempotency_key", name="uq_decision_idempotency"),
    )
    op.create_table(
        "shadow_decisions",
        sa.Column("decision_id", sa.String(64), primary_key=True),
        sa.Column("model_version", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("score", sa.Integer),
        sa.Column("pd", sa.Float),
        sa.Column("band", sa.String(4)),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("lender", sa.String(100), nullable=False, index=True),
        sa.Column("key_hash", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime),
    )
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("payload", sa.Text, nullable=False, server_default="{}"),
    )


def downgrade() -> None:
    for table in (
        "alerts",
        "api_keys",
        "shadow_decisions",
        "decision_log",
        "model_registry",
        "online_feature_current",
        "online_features",
        "online_feature_snapshots",
        "ingested_files",
    ):
        op.drop_table(table)
