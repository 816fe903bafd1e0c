"""An index for planning: each due (zone, hour, sections) group's active subscribers
in address order, read as a range instead of a scan of the whole table per page. It
leads with status, so the index on status alone goes: one index fewer to keep up on
every import.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_subscribers_planning", "subscribers",
                    ["status", "timezone", "hour", "sections", "email_key"])
    op.drop_index("ix_subscribers_status", table_name="subscribers")


def downgrade() -> None:
    op.create_index("ix_subscribers_status", "subscribers", ["status"])
    op.drop_index("ix_subscribers_planning", table_name="subscribers")
