"""Breaking news: the `breaking` newsletter (as it happens, every section), what a
reader of it wants at night, and alert runs beside digest runs.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from mailer.models import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as table:
        table.add_column(sa.Column("at_night", sa.String(16), nullable=False,
                                   server_default="morning"))
    with op.batch_alter_table("digest_runs") as table:
        table.add_column(sa.Column("kind", sa.String(16), nullable=False,
                                   server_default="digest"))
        table.add_column(sa.Column("article_id", sa.String(120), nullable=True))
        table.create_index("ix_digest_runs_article_id", ["article_id"], unique=True)
    newsletters = sa.table(
        "newsletters", sa.column("slug", sa.String), sa.column("name", sa.String),
        sa.column("cadence", sa.String), sa.column("sections", sa.String),
        sa.column("weekday", sa.Integer), sa.column("sender_name", sa.String),
        sa.column("template", sa.String), sa.column("position", sa.Integer),
        sa.column("updated_at", UTCDateTime()))
    op.bulk_insert(newsletters, [
        {"slug": "breaking", "name": "Breaking news", "cadence": "immediate", "sections": "",
         "weekday": None, "sender_name": "", "template": "alert", "position": 2,
         "updated_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.execute("DELETE FROM newsletters WHERE slug = 'breaking'")
    with op.batch_alter_table("digest_runs") as table:
        table.drop_index("ix_digest_runs_article_id")
        table.drop_column("article_id")
        table.drop_column("kind")
    with op.batch_alter_table("subscriptions") as table:
        table.drop_column("at_night")
