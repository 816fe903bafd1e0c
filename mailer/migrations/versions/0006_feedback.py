"""What comes back from the world: bounces, delays, complaints, unsubscribe mail.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mailer.models import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("address", sa.String(254), nullable=False),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("hard", sa.Boolean(), nullable=False),
        sa.Column("diagnostic", sa.String(500), nullable=False),
        sa.Column("token", sa.String(16), nullable=False),
        sa.Column("message_id", sa.String(32), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("action", sa.String(24), nullable=False),
        sa.Column("kept_as", sa.String(80), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
    )
    op.create_index("ix_feedback_received_at", "feedback", ["received_at"])
    op.create_index("ix_feedback_address", "feedback", ["address"])
    op.create_index("ix_feedback_message_id", "feedback", ["message_id"])
    op.create_index("ix_feedback_run_id", "feedback", ["run_id"])
    op.create_index("ix_feedback_source", "feedback", ["source"])


def downgrade() -> None:
    op.drop_table("feedback")
