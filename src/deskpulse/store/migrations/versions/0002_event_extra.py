"""Events keep their unknown columns: a nullable ``extra`` (JSON object text) on ticket_events.

CONTRACT §1/§5: unknown input columns are kept in an ``extra`` JSON column, not dropped.
Tickets have had one since 0001; events get theirs here. It is not part of the events'
natural key (``event_key``), so re-importing an event with other extra values changes nothing.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ticket_events", sa.Column("extra", sa.Text, nullable=True))


def downgrade() -> None:
    op.drop_column("ticket_events", "extra")
