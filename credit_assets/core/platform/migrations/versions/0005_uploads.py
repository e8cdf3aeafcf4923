"""Uploads: files and record batches lenders push over HTTP (POST /v1/sources/{source}/...).

One row per distinct content a lender sent to a source (`uq_upload_content`: the same bytes
again return the same upload). Ingestion moves the status along: `received` when landed,
`ingesting` with the Dagster run id, `ingested` with the valid and quarantined row counts,
or `rejected` (set aside, with the reason) / `failed` (the run failed; a retry resumes).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uploads",
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
    )
    op.create_index("ix_uploads_source_file", "uploads", ["source", "file_name"])


def downgrade() -> None:
    op.drop_index("ix_uploads_source_file", table_name="uploads")
    op.drop_table("uploads")
