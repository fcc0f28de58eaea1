"""Ending a user's sessions: ``users.sessions_valid_after``.

A login token (``POST /api/v1/auth/token``) carries the instant it was issued, to the
millisecond. The API accepts it only while its user exists, is not disabled and the token
was issued after ``sessions_valid_after`` (``deskpulse.serve.auth``). Disabling a user,
enabling it again, changing its password and creating it set the column to that instant
(naive UTC with microseconds, like every stored timestamp), so the sessions issued before
end on every server process; NULL (the rows before this migration) ends none.

Downgrade drops the column: the store goes back to tokens that live until they expire.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from deskpulse.store.migrations.columns import TS

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("sessions_valid_after", TS, nullable=True))


def downgrade() -> None:
    op.drop_column("users", "sessions_valid_after")
