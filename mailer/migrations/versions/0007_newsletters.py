"""Newsletters as data, and readers' choices in those other than the daily digest.

Today's subscribers are carried over unchanged: their sections stay the daily digest's,
in their own row. The two default newsletters are written here as literal rows (as
mailer.newsletters.model.default_newsletters describes them), so this migration does not
change when the code does.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from mailer.models import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    newsletters = op.create_table(
        "newsletters",
        sa.Column("slug", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("cadence", sa.String(16), nullable=False),
        sa.Column("sections", sa.String(500), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=True),
        sa.Column("sender_name", sa.String(80), nullable=False),
        sa.Column("template", sa.String(40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "subscriptions",
        sa.Column("subscriber_id", sa.String(32),
                  sa.ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("newsletter", sa.String(40),
                  sa.ForeignKey("newsletters.slug", ondelete="CASCADE"), primary_key=True),
        sa.Column("sections", sa.String(500), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_subscriptions_newsletter", "subscriptions", ["newsletter"])
    now = datetime.now(UTC)
    op.bulk_insert(newsletters, [
        {"slug": "daily", "name": "Daily digest", "cadence": "daily", "sections": "",
         "weekday": None, "sender_name": "", "template": "digest", "position": 0,
         "updated_at": now},
        {"slug": "weekly", "name": "The week in review", "cadence": "weekly", "sections": "",
         "weekday": 6, "sender_name": "", "template": "digest", "position": 1,
         "updated_at": now},
    ])


def downgrade() -> None:
    op.drop_table("subscriptions")
    op.drop_table("newsletters")
