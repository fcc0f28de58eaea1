"""Analytics marts (issue 5): ``ticket_facts`` (one wide row per built ticket) and
``ticket_stage_facts`` (one row per ticket and lifecycle stage: unsolved status or group).

Written after each build by ``deskpulse.analytics.facts.build_ticket_facts`` (dimensions,
metric minutes, status at as_of, decided SLA instance counts, escalation; time per stage and
breaches in it); read by the response/resolution, agent and bottleneck analytics instead of
joining four tables per query. Derived tables like ``backlog_daily``: keys on PostgreSQL only.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from deskpulse.store.migrations.columns import MIN, TS

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    is_pg = op.get_bind().dialect.name == "postgresql"
    key = [sa.PrimaryKeyConstraint("tenant_id", "ticket_id", name="pk_ticket_facts")] if is_pg else []
    op.create_table(
        "ticket_facts",
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("ticket_id", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("deleted_at", TS),
        *[
            sa.Column(c, sa.Text)
            for c in ("group", "category", "priority", "channel", "brand", "region", "tier",
                      "organization", "assignee_id", "satisfaction", "policy")
        ],
        *[
            sa.Column(c, MIN)
            for c in ("first_reply_calendar_minutes", "first_reply_business_minutes",
                      "full_resolution_calendar_minutes", "full_resolution_business_minutes")
        ],
        sa.Column("solved_at", TS),
        *[sa.Column(c, sa.Integer) for c in ("reopens", "assignee_stations", "group_stations")],
        sa.Column("status_now", sa.Text, nullable=False),
        sa.Column("is_resolved", sa.Boolean, nullable=False),
        sa.Column("is_escalated", sa.Boolean, nullable=False),
        *[
            sa.Column(c, sa.Integer, nullable=False)
            for c in ("fr_met", "fr_missed", "nr_met", "nr_missed", "res_met", "res_missed")
        ],
        sa.Column("built_at", TS, nullable=False),
        *key,
    )
    stage_key = (
        [sa.PrimaryKeyConstraint("tenant_id", "ticket_id", "kind", "value", name="pk_ticket_stage_facts")]
        if is_pg else []
    )
    op.create_table(
        "ticket_stage_facts",
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("ticket_id", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("deleted_at", TS),
        *[
            sa.Column(c, sa.Text)
            for c in ("group", "category", "priority", "channel", "brand", "region", "tier",
                      "organization", "assignee_id")
        ],
        sa.Column("kind", sa.Text, nullable=False),  # status | group
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("business_minutes", MIN, nullable=False),
        sa.Column("calendar_minutes", MIN, nullable=False),
        sa.Column("is_breached", sa.Boolean, nullable=False),
        sa.Column("built_at", TS, nullable=False),
        *stage_key,
    )


def downgrade() -> None:
    op.drop_table("ticket_stage_facts")
    op.drop_table("ticket_facts")
