"""Borrower rights: consents to consent-based sources, erased borrowers (keyed pseudonyms
that ingestion honours, never the identifier) and the audit of every access, explanation,
consent and erasure request.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "borrower_consents",
        sa.Column("consent_id", sa.String(32), primary_key=True),
        sa.Column("lender", sa.String(100), nullable=False),
        sa.Column("borrower_id", sa.String(100), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("granted_at", sa.DateTime, nullable=False),
        sa.Column("granted_by", sa.String(100), nullable=False),
        sa.Column("revoked_at", sa.DateTime),
        sa.Column("revoked_by", sa.String(100)),
        sa.Column("records_erased_at", sa.DateTime),
    )
    op.create_index(
        "ix_borrower_consents_borrower", "borrower_consents", ["lender", "borrower_id", "source"]
    )
    op.create_table(
        "erased_borrowers",
        sa.Column("lender", sa.String(100), primary_key=True),
        sa.Column("pseudonym", sa.String(64), primary_key=True),
        sa.Column("erased_at", sa.DateTime, nullable=False),
        sa.Column("request_id", sa.String(32), nullable=False),
    )
    op.create_table(
        "privacy_requests",
        sa.Column("request_id", sa.String(32), primary_key=True),
        sa.Column("lender", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("pseudonym", sa.String(64), nullable=False),
        sa.Column("requested_by", sa.String(100), nullable=False),
        sa.Column("requested_at", sa.DateTime, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("touched", sa.Text, nullable=False, server_default="{}"),
    )
    op.create_index("ix_privacy_requests_pseudonym", "privacy_requests", ["pseudonym"])


def downgrade() -> None:
    op.drop_index("ix_privacy_requests_pseudonym", "privacy_requests")
    op.drop_table("privacy_requests")
    op.drop_table("erased_borrowers")
    op.drop_index("ix_borrower_consents_borrower", "borrower_consents")
    op.drop_table("borrower_consents")
