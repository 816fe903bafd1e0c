"""Digest runs; deliveries learn dedupe keys, subscribers, runs and expiry.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mailer.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("dedupe_key", sa.String(120), nullable=True))
        batch.add_column(sa.Column("subscriber_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("run_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("expires_at", UTCDateTime(), nullable=True))
        batch.create_unique_constraint("uq_deliveries_dedupe_key", ["dedupe_key"])
        batch.create_index("ix_deliveries_run_id", ["run_id"])
    op.create_table(
        "digest_runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("edition", sa.String(10), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_digest_runs_edition", "digest_runs", ["edition"])


def downgrade() -> None:
    op.drop_table("digest_runs")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index("ix_deliveries_run_id")
        batch.drop_constraint("uq_deliveries_dedupe_key", type_="unique")
        for column in ("expires_at", "run_id", "subscriber_id", "dedupe_key"):
            batch.drop_column(column)
