"""Agents and routing (issue 8): availability, its history, skills and routing settings.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Filled in by the agents and routing work."""


def downgrade() -> None:
    """Nothing to undo yet."""
