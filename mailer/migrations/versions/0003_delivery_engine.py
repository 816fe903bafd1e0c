"""Suppression list; resendable payloads; why a digest run paused.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mailer.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("payload", sa.Text(), nullable=True))
    with op.batch_alter_table("digest_runs") as batch:
        batch.add_column(sa.Column("reason", sa.String(300), nullable=False,
                                   server_default=""))
    op.create_table(
        "suppressions",
        sa.Column("email_key", sa.String(254), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_suppressions_created_at", "suppressions", ["created_at"])


def downgrade() -> None:
    op.drop_table("suppressions")
    with op.batch_alter_table("digest_runs") as batch:
        batch.drop_column("reason")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("payload")
