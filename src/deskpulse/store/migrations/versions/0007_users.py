"""Dashboard users (issue 6): username/password logins bound to one tenant and role.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Filled in by the dashboard login work."""


def downgrade() -> None:
    """Nothing to undo yet."""
