"""Initial schema: canonical tickets and events, build outputs, bookkeeping.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from deskpulse.store.migrations.columns import MIN, TS, is_postgres, text_column

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _derived_key(*columns: str, name: str) -> list[sa.PrimaryKeyConstraint]:
    """Keys of derived tables exist on PostgreSQL (lookups); on DuckDB an ART index would
    only slow the bulk replace of a build, and the engine guarantees uniqueness."""
    return [sa.PrimaryKeyConstraint(*columns, name=name)] if is_postgres() else []


def upgrade() -> None:
    op.create_table(
        "tickets",
        text_column("tenant_id", False),
        text_column("ticket_id", False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        text_column("status", False),
        *[
            text_column(c)
            for c in (
                "priority", "channel", "category", "group", "brand", "region", "organization",
                "tier", "requester_id", "assignee_id", "subject", "description", "tags",
            )
        ],
        sa.Column("deleted_at", TS),
        text_column("satisfaction"),
        sa.Column("first_reply_at", TS),
        sa.Column("solved_at", TS),
        text_column("extra"),
        text_column("row_hash", False),
        sa.Column("loaded_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "ticket_id", name="pk_tickets"),
    )
    if is_postgres():  # DuckDB scans with zone maps; ART indexes would only slow bulk loads
        op.create_index("ix_tickets_tenant_created", "tickets", ["tenant_id", "created_at"])
        op.create_index("ix_tickets_tenant_loaded", "tickets", ["tenant_id", "loaded_at"])

    op.create_table(
        "ticket_events",
        text_column("tenant_id", False),
        text_column("ticket_id", False),
        sa.Column("event_at", TS, nullable=False),
        text_column("kind", False),
        text_column("actor", False),
        text_column("actor_id"),
        sa.Column("public", sa.Boolean, nullable=False),
        text_column("from_value"),
        text_column("to_value"),
        text_column("field"),
        sa.Column("seq", sa.BigInteger, nullable=False),
        text_column("event_key", False),
        sa.Column("loaded_at", TS, nullable=False),
    )
    if is_postgres():  # dedup is an anti-join on event_key; DuckDB needs no index for it
        op.create_index("ix_events_tenant_key", "ticket_events", ["tenant_id", "event_key"])
        op.create_index("ix_events_tenant_ticket", "ticket_events", ["tenant_id", "ticket_id"])

    op.create_table(
        "ticket_metrics",
        text_column("tenant_id", False),
        text_column("ticket_id", False),
        text_column("policy"),
        text_column("calendar"),
        sa.Column("first_reply_at", TS),
        sa.Column("first_reply_calendar_minutes", MIN),
        sa.Column("first_reply_business_minutes", MIN),
        sa.Column("solved_at", TS),
        *[
            sa.Column(f"{m}_{clock}_minutes", MIN)
            for m in ("full_resolution", "requester_wait", "agent_wait", "on_hold", "agent_work")
            for clock in ("calendar", "business")
        ],
        sa.Column("reopens", sa.Integer, nullable=False),
        sa.Column("replies", sa.Integer, nullable=False),
        sa.Column("assignee_stations", sa.Integer, nullable=False),
        sa.Column("group_stations", sa.Integer, nullable=False),
        *_derived_key("tenant_id", "ticket_id", name="pk_ticket_metrics"),
    )

    op.create_table(
        "ticket_sla",
        text_column("tenant_id", False),
        text_column("ticket_id", False),
        text_column("metric", False),
        sa.Column("instance", sa.Integer, nullable=False),
        text_column("policy", False),
        text_column("calendar", False),
        sa.Column("target_minutes", MIN),
        sa.Column("started_at", TS),
        sa.Column("due_at", TS),
        sa.Column("stopped_at", TS),
        sa.Column("elapsed_business_minutes", MIN),
        sa.Column("paused_business_minutes", MIN),
        text_column("status", False),
        sa.Column("breached_at", TS),
        sa.Column("margin_minutes", MIN),
        text_column("root_cause_kind"),
        text_column("root_cause_value"),
        sa.Column("root_cause_share", MIN),
        *_derived_key("tenant_id", "ticket_id", "metric", "instance", name="pk_ticket_sla"),
    )
    if is_postgres():
        op.create_index("ix_sla_tenant_status", "ticket_sla", ["tenant_id", "status"])

    op.create_table(
        "ticket_segments",
        text_column("tenant_id", False),
        text_column("ticket_id", False),
        sa.Column("segment", sa.Integer, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("ended_at", TS),
        text_column("status", False),
        text_column("group"),
        text_column("assignee_id"),
        sa.Column("calendar_minutes", MIN, nullable=False),
        sa.Column("business_minutes", MIN, nullable=False),
        *_derived_key("tenant_id", "ticket_id", "segment", name="pk_ticket_segments"),
    )

    op.create_table(
        "backlog_daily",
        text_column("tenant_id", False),
        sa.Column("date", sa.Date, nullable=False),
        text_column("dimension", False),
        text_column("value", False),
        *[
            sa.Column(c, sa.Integer, nullable=False)
            for c in (
                "open_count", "arrivals", "completions", "wip",
                "lt_1d", "d1_3", "d3_7", "d7_30", "gt_30d",
            )
        ],
        sa.Column("sla_debt_minutes", MIN, nullable=False),
        sa.Column("at_risk_count", sa.Integer, nullable=False),
        *_derived_key("tenant_id", "date", "dimension", "value", name="pk_backlog_daily"),
    )

    op.create_table(
        "build_state",
        text_column("tenant_id", False),
        sa.Column("built_at", TS, nullable=False),
        sa.Column("as_of", TS, nullable=False),
        text_column("config_hash", False),
        sa.Column("loaded_through", TS),
        sa.Column("tickets", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_build_state"),
    )

    op.create_table(
        "import_log",
        text_column("tenant_id", False),
        text_column("import_id", False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        text_column("source", False),
        text_column("status", False),
        text_column("summary"),
        sa.PrimaryKeyConstraint("tenant_id", "import_id", name="pk_import_log"),
    )


def downgrade() -> None:
    for table in (
        "import_log", "build_state", "backlog_daily", "ticket_segments",
        "ticket_sla", "ticket_metrics", "ticket_events", "tickets",
    ):
        op.drop_table(table)
