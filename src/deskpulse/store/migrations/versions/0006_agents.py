"""Agents and routing (issue 8): availability, its history, skills, routing settings, decisions.

- ``agent_availability``: one row per tenant and agent (user id = the token's subject, the
  value tickets carry in ``assignee_id``): status (available, busy, away, offline), since,
  optional until and note, and ``last_activity_at`` (bumped by every assignment: the
  round-robin rotation key of seed 002);
- ``agent_availability_history``: every change, appended (occupancy and coverage read it);
- ``agent_skills``: the skills matrix, one row per agent and category (level 1-4, whether
  the agent takes escalations);
- ``routing_settings``: the tenant's routing mode (round_robin | skills) and whether skills
  routing falls back to any available agent;
- ``routing_decisions``: one row per automatic assignment, with its reason (fairness reads it).

Every table carries ``tenant_id``; all are tenant tables of the scoping layer.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from deskpulse.store.migrations.columns import TS, is_postgres, text_column

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_availability",
        text_column("tenant_id", False),
        text_column("user_id", False),
        text_column("status", False),
        sa.Column("since", TS, nullable=False),
        sa.Column("until", TS),
        text_column("note"),
        sa.Column("last_activity_at", TS),
        sa.Column("updated_at", TS, nullable=False),
        text_column("updated_by"),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", name="pk_agent_availability"),
        sa.CheckConstraint("status IN ('available', 'busy', 'away', 'offline')",
                           name="ck_agent_availability_status"),
    )
    op.create_table(
        "agent_availability_history",
        text_column("tenant_id", False),
        text_column("change_id", False),
        text_column("user_id", False),
        text_column("status", False),
        text_column("previous_status"),
        sa.Column("since", TS, nullable=False),
        sa.Column("until", TS),
        text_column("note"),
        sa.Column("changed_at", TS, nullable=False),
        text_column("changed_by"),
        sa.PrimaryKeyConstraint("tenant_id", "change_id", name="pk_agent_availability_history"),
    )
    op.create_table(
        "agent_skills",
        text_column("tenant_id", False),
        text_column("user_id", False),
        text_column("category", False),  # normalised: trimmed, lower case
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("can_handle_escalations", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        text_column("updated_by"),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", "category", name="pk_agent_skills"),
        sa.CheckConstraint("level BETWEEN 1 AND 4", name="ck_agent_skills_level"),
    )
    op.create_table(
        "routing_settings",
        text_column("tenant_id", False),
        text_column("mode", False),
        sa.Column("fallback_to_any", sa.Boolean, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        text_column("updated_by"),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_routing_settings"),
        sa.CheckConstraint("mode IN ('round_robin', 'skills')", name="ck_routing_settings_mode"),
    )
    op.create_table(
        "routing_decisions",
        text_column("tenant_id", False),
        text_column("decision_id", False),
        text_column("ticket_id", False),
        text_column("user_id", False),
        text_column("previous_user_id"),
        sa.Column("decided_at", TS, nullable=False),
        text_column("mode", False),
        text_column("rule", False),  # skills, fallback, round_robin, no_category
        text_column("category"),
        sa.Column("is_escalation", sa.Boolean, nullable=False),
        sa.Column("workload", sa.Integer, nullable=False),
        sa.Column("skill_level", sa.Integer),
        sa.Column("candidates", sa.Integer, nullable=False),
        text_column("reason", False),
        text_column("decided_by"),
        sa.PrimaryKeyConstraint("tenant_id", "decision_id", name="pk_routing_decisions"),
    )
    if is_postgres():  # DuckDB scans with zone maps (as in 0001)
        op.create_index("ix_agent_availability_history_user", "agent_availability_history",
                        ["tenant_id", "user_id", "changed_at"])
        op.create_index("ix_routing_decisions_time", "routing_decisions", ["tenant_id", "decided_at"])
        # the workload of an agent: their unsolved tickets (an index-only count per candidate)
        op.execute(
            "CREATE INDEX IF NOT EXISTS ix_tickets_tenant_assignee_unsolved ON tickets "
            "(tenant_id, assignee_id) WHERE deleted_at IS NULL "
            "AND status IN ('new', 'open', 'pending', 'hold')"
        )


def downgrade() -> None:
    if is_postgres():
        op.execute("DROP INDEX IF EXISTS ix_tickets_tenant_assignee_unsolved")
    for table in ("routing_decisions", "routing_settings", "agent_skills",
                  "agent_availability_history", "agent_availability"):
        op.drop_table(table)
