"""Initial schema: canonical tickets and events, build outputs, bookkeeping.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=False)  # naive UTC everywhere
MIN = sa.Float(precision=53)


def _is_postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def _derived_key(*columns: str, name: str) -> list[sa.PrimaryKeyConstraint]:
    """Keys of derived tables exist on PostgreSQL (lookups); on DuckDB an ART index would
    only slow the bulk replace of a build, and the engine guarantees uniqueness."""
    return [sa.PrimaryKeyConstraint(*columns, name=name)] if _is_postgres() else []


def _text(name: str, nullable: bool = True) -> sa.Column[str]:
    return sa.Column(name, sa.Text, nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "tickets",
        _text("tenant_id", False),
        _text("ticket_id", False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        _text("status", False),
        *[
            _text(c)
            for c in (
                "priority", "channel", "category", "group", "brand", "region", "organization",
                "tier", "requester_id", "assignee_id", "subject", "description", "tags",
            )
        ],
        sa.Column("deleted_at", TS),
        _text("satisfaction"),
        sa.Column("first_reply_at", TS),
        sa.Column("solved_at", TS),
        _text("extra"),
        _text("row_hash", False),
        sa.Column("loaded_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "ticket_id", name="pk_tickets"),
    )
    if _is_postgres():  # DuckDB scans with zone maps; ART indexes would only slow bulk loads
        op.create_index("ix_tickets_tenant_created", "tickets", ["tenant_id", "created_at"])
        op.create_index("ix_tickets_tenant_loaded", "tickets", ["tenant_id", "loaded_at"])

    op.create_table(
        "ticket_events",
        _text("tenant_id", False),
        _text("ticket_id", False),
        sa.Column("event_at", TS, nullable=False),
        _text("kind", False),
        _text("actor", False),
        _text("actor_id"),
        sa.Column("public", sa.Boolean, nullable=False),
        _text("from_value"),
        _text("to_value"),
        _text("field"),
        sa.Column("seq", sa.BigInteger, nullable=False),
        _text("event_key", False),
        sa.Column("loaded_at", TS, nullable=False),
    )
    if _is_postgres():  # dedup is an anti-join on event_key; DuckDB needs no index for it
        op.create_index("ix_events_tenant_key", "ticket_events", ["tenant_id", "event_key"])
        op.create_index("ix_events_tenant_ticket", "ticket_events", ["tenant_id", "ticket_id"])

    op.create_table(
        "ticket_metrics",
        _text("tenant_id", False),
        _text("ticket_id", False),
        _text("policy"),
        _text("calendar"),
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
        _text("tenant_id", False),
        _text("ticket_id", False),
        _text("metric", False),
        sa.Column("instance", sa.Integer, nullable=False),
        _text("policy", False),
        _text("calendar", False),
        sa.Column("target_minutes", MIN),
        sa.Column("started_at", TS),
        sa.Column("due_at", TS),
        sa.Column("stopped_at", TS),
        sa.Column("elapsed_business_minutes", MIN),
        sa.Column("paused_business_minutes", MIN),
        _text("status", False),
        sa.Column("breached_at", TS),
        sa.Column("margin_minutes", MIN),
        _text("root_cause_kind"),
        _text("root_cause_value"),
        sa.Column("root_cause_share", MIN),
        *_derived_key("tenant_id", "ticket_id", "metric", "instance", name="pk_ticket_sla"),
    )
    if _is_postgres():
        op.create_index("ix_sla_tenant_status", "ticket_sla", ["tenant_id", "status"])

    op.create_table(
        "ticket_segments",
        _text("tenant_id", False),
        _text("ticket_id", False),
        sa.Column("segment", sa.Integer, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("ended_at", TS),
        _text("status", False),
        _text("group"),
        _text("assignee_id"),
        sa.Column("calendar_minutes", MIN, nullable=False),
        sa.Column("business_minutes", MIN, nullable=False),
        *_derived_key("tenant_id", "ticket_id", "segment", name="pk_ticket_segments"),
    )

    op.create_table(
        "backlog_daily",
        _text("tenant_id", False),
        sa.Column("date", sa.Date, nullable=False),
        _text("dimension", False),
        _text("value", False),
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
        _text("tenant_id", False),
        sa.Column("built_at", TS, nullable=False),
        sa.Column("as_of", TS, nullable=False),
        _text("config_hash", False),
        sa.Column("loaded_through", TS),
        sa.Column("tickets", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_build_state"),
    )

    op.create_table(
        "import_log",
        _text("tenant_id", False),
        _text("import_id", False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        _text("source", False),
        _text("status", False),
        _text("summary"),
        sa.PrimaryKeyConstraint("tenant_id", "import_id", name="pk_import_log"),
    )


def downgrade() -> None:
    for table in (
        "import_log", "build_state", "backlog_daily", "ticket_segments",
        "ticket_sla", "ticket_metrics", "ticket_events", "tickets",
    ):
        op.drop_table(table)
