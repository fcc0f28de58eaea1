"""Canonical tables and enumerations of CONTRACT §1: the one place their shape is written down.

Timestamps are naive ``datetime`` values in UTC everywhere inside deskpulse (Arrow
``timestamp('us')``, SQL ``TIMESTAMP``); names ending in ``_at`` are UTC instants.
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa

# --- enumerations -----------------------------------------------------------------------------

STATUSES: Final = ("new", "open", "pending", "hold", "solved", "closed")
SOLVED_STATUSES: Final = ("solved", "closed")
PRIORITIES: Final = ("urgent", "high", "normal", "low")
EVENT_KINDS: Final = ("status", "comment", "assignee", "group", "priority", "field")
ACTORS: Final = ("agent", "end_user", "system")
SATISFACTION: Final = ("good", "bad", "offered", "unoffered")

#: Aliases mapped onto canonical statuses on import (lower-cased, whitespace/underscores folded).
STATUS_ALIASES: Final[dict[str, str]] = {
    "new": "new",
    "open": "open",
    "active": "open",
    "in progress": "open",
    "in-progress": "open",
    "in_progress": "open",
    "assigned": "open",
    "waiting": "pending",
    "pending": "pending",
    "waiting on customer": "pending",
    "waiting on requester": "pending",
    "awaiting customer": "pending",
    "awaiting user info": "pending",
    "hold": "hold",
    "on hold": "hold",
    "on-hold": "hold",
    "waiting on third party": "hold",
    "awaiting vendor": "hold",
    "solved": "solved",
    "resolved": "solved",
    "done": "solved",
    "closed": "closed",
}

PRIORITY_ALIASES: Final[dict[str, str]] = {
    "urgent": "urgent",
    "critical": "urgent",
    "p1": "urgent",
    "1": "urgent",
    "high": "high",
    "p2": "high",
    "2": "high",
    "normal": "normal",
    "medium": "normal",
    "moderate": "normal",
    "p3": "normal",
    "3": "normal",
    "low": "low",
    "p4": "low",
    "4": "low",
}

ACTOR_ALIASES: Final[dict[str, str]] = {
    "agent": "agent",
    "end_user": "end_user",
    "end-user": "end_user",
    "enduser": "end_user",
    "requester": "end_user",
    "customer": "end_user",
    "user": "end_user",
    "system": "system",
    "automation": "system",
    "trigger": "system",
}

# --- canonical columns ------------------------------------------------------------------------

TS = pa.timestamp("us")

#: tickets: one row per ticket, the latest known state (CONTRACT §1). Order is the export order.
TICKET_SCHEMA: Final = pa.schema(
    [
        pa.field("ticket_id", pa.string(), nullable=False),
        pa.field("created_at", TS, nullable=False),
        pa.field("updated_at", TS, nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("priority", pa.string()),
        pa.field("channel", pa.string()),
        pa.field("category", pa.string()),
        pa.field("group", pa.string()),
        pa.field("brand", pa.string()),
        pa.field("region", pa.string()),
        pa.field("organization", pa.string()),
        pa.field("tier", pa.string()),
        pa.field("requester_id", pa.string()),
        pa.field("assignee_id", pa.string()),
        pa.field("subject", pa.string()),
        pa.field("description", pa.string()),
        pa.field("tags", pa.string()),
        pa.field("deleted_at", TS),
        pa.field("satisfaction", pa.string()),
        pa.field("first_reply_at", TS),
        pa.field("solved_at", TS),
        pa.field("extra", pa.string()),  # JSON object of unknown columns
    ]
)
TICKET_COLUMNS: Final = tuple(TICKET_SCHEMA.names)
TICKET_REQUIRED: Final = ("ticket_id", "created_at", "status")
TICKET_TIMESTAMPS: Final = ("created_at", "updated_at", "deleted_at", "first_reply_at", "solved_at")

#: ticket_events: the audit stream (CONTRACT §1). ``seq`` keeps input order among equal event_at.
EVENT_SCHEMA: Final = pa.schema(
    [
        pa.field("ticket_id", pa.string(), nullable=False),
        pa.field("event_at", TS, nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("actor", pa.string(), nullable=False),
        pa.field("actor_id", pa.string()),
        pa.field("public", pa.bool_(), nullable=False),
        pa.field("from_value", pa.string()),
        pa.field("to_value", pa.string()),
        pa.field("field", pa.string()),
    ]
)
EVENT_COLUMNS: Final = tuple(EVENT_SCHEMA.names)
EVENT_REQUIRED: Final = ("ticket_id", "event_at", "kind")
#: The natural key events are deduplicated on (CONTRACT §5): the whole canonical row.
EVENT_KEY: Final = EVENT_COLUMNS

#: The rejects file of an import (CONTRACT §5).
REJECT_SCHEMA: Final = pa.schema(
    [
        pa.field("file", pa.string()),
        pa.field("row", pa.int64()),  # 1-based data row number (header not counted)
        pa.field("column", pa.string()),
        pa.field("value", pa.string()),
        pa.field("reason", pa.string()),
    ]
)

#: The dimensions a policy or a report may filter on.
TICKET_DIMENSIONS: Final = (
    "priority",
    "channel",
    "category",
    "group",
    "brand",
    "region",
    "organization",
    "tier",
    "tags",
    "status",
    "assignee_id",
    "requester_id",
)
