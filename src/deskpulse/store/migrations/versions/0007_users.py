"""Dashboard users (issue 6): username/password logins bound to one tenant and role.

- ``users``: one row per login. ``username`` is unique across the server (a login form asks
  for a username and a password, not a tenant: the user's row names the tenant); the
  password is stored only as a salted scrypt hash (``deskpulse.serve.users``); ``role`` is
  admin, agent or viewer; ``disabled`` users cannot log in; ``failed_logins`` and
  ``locked_until`` let every server process see the same lockout after repeated failures.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from deskpulse.store.migrations.columns import TS

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("username", sa.Text, nullable=False),  # stored lower-case
        sa.Column("password_hash", sa.Text, nullable=False),  # scrypt$n$r$p$salt$hash
        sa.Column("role", sa.Text, nullable=False),  # admin | agent | viewer
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("locked_until", TS),
        sa.Column("last_login_at", TS),
        sa.Column("created_by", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "username", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )


def downgrade() -> None:
    op.drop_table("users")
