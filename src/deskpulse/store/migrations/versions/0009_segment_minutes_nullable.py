"""ticket_segments: a finished ticket's open last segment carries no minutes (NULL).

Time spent "in solved/closed" up to ``as_of`` is not a duration deskpulse measures, and leaving
it empty keeps incremental builds equal to full builds (finished tickets are not recomputed
when ``as_of`` moves). Only the NOT NULL constraints go.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

from deskpulse.store.migrations.columns import MIN

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

COLUMNS = ("calendar_minutes", "business_minutes")


def upgrade() -> None:
    for column in COLUMNS:
        op.alter_column("ticket_segments", column, existing_type=MIN, nullable=True)


def downgrade() -> None:
    op.execute("UPDATE ticket_segments SET calendar_minutes = 0 WHERE calendar_minutes IS NULL")
    op.execute("UPDATE ticket_segments SET business_minutes = 0 WHERE business_minutes IS NULL")
    for column in COLUMNS:
        op.alter_column("ticket_segments", column, existing_type=MIN, nullable=False)
