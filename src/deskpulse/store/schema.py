"""Names and column lists of the stored tables, shared by migrations, the store and exports.

The DDL itself lives in the Alembic migrations (``store/migrations/versions``); this module
only names things so that no caller spells a table or column list twice.
"""

from __future__ import annotations

from typing import Final

from deskpulse.model import EVENT_COLUMNS, TICKET_COLUMNS

#: Tables whose rows belong to one tenant: every query on them is scoped by construction.
TENANT_TABLES: Final = (
    "tickets",
    "ticket_events",
    "ticket_metrics",
    "ticket_sla",
    "ticket_segments",
    "backlog_daily",
    "build_state",
    "import_log",
    # agents and routing (migration 0006)
    "agent_availability",
    "agent_availability_history",
    "agent_skills",
    "routing_settings",
    "routing_decisions",
    "ticket_history",
    # dashboard logins (migration 0007)
    "users",
    # analytics marts (migration 0008)
    "ticket_facts",
    "ticket_stage_facts",
)

#: Stored ticket columns: the canonical ones plus bookkeeping.
TICKET_STORED: Final = ("tenant_id", *TICKET_COLUMNS, "row_hash", "loaded_at")
#: Stored event columns: the canonical ones plus input order. ``extra`` keeps the source
#: columns no canonical column took, as JSON text (migration 0002). Events are deduplicated on
#: the canonical columns themselves (their natural key); no key column is stored (migration 0010).
EVENT_STORED: Final = ("tenant_id", *EVENT_COLUMNS, "extra", "seq", "loaded_at")

TICKET_METRICS_COLUMNS: Final = (
    "ticket_id",
    "policy",
    "calendar",
    "first_reply_at",
    "first_reply_calendar_minutes",
    "first_reply_business_minutes",
    "solved_at",
    "full_resolution_calendar_minutes",
    "full_resolution_business_minutes",
    "requester_wait_calendar_minutes",
    "requester_wait_business_minutes",
    "agent_wait_calendar_minutes",
    "agent_wait_business_minutes",
    "on_hold_calendar_minutes",
    "on_hold_business_minutes",
    "agent_work_calendar_minutes",
    "agent_work_business_minutes",
    "reopens",
    "replies",
    "assignee_stations",
    "group_stations",
)

TICKET_SLA_COLUMNS: Final = (
    "ticket_id",
    "metric",
    "instance",
    "policy",
    "calendar",
    "target_minutes",
    "started_at",
    "due_at",
    "stopped_at",
    "elapsed_business_minutes",
    "paused_business_minutes",
    "status",
    "breached_at",
    "margin_minutes",
    "root_cause_kind",
    "root_cause_value",
    "root_cause_share",
)

TICKET_SEGMENTS_COLUMNS: Final = (
    "ticket_id",
    "segment",
    "started_at",
    "ended_at",
    "status",
    "group",
    "assignee_id",
    "calendar_minutes",
    "business_minutes",
)

BACKLOG_DAILY_COLUMNS: Final = (
    "date",
    "dimension",
    "value",
    "open_count",
    "arrivals",
    "completions",
    "wip",
    "lt_1d",
    "d1_3",
    "d3_7",
    "d7_30",
    "gt_30d",
    "sla_debt_minutes",
    "at_risk_count",
)

#: Tables `deskpulse export` knows, with their column order.
EXPORTABLE: Final[dict[str, tuple[str, ...]]] = {
    "tickets": TICKET_COLUMNS,
    "ticket_events": (*EVENT_COLUMNS, "extra"),
    "ticket_metrics": TICKET_METRICS_COLUMNS,
    "ticket_sla": TICKET_SLA_COLUMNS,
    "ticket_segments": TICKET_SEGMENTS_COLUMNS,
    "backlog_daily": BACKLOG_DAILY_COLUMNS,
}
