"""Ticket-level reads and manual entry: add a ticket, list tickets, one ticket in full."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from deskpulse.errors import BadInputError, NotFoundError
from deskpulse.instants import utcnow
from deskpulse.model import PRIORITY_ALIASES, STATUS_ALIASES
from deskpulse.store import TenantStore, UpsertCounts


def _canonical(value: str, aliases: dict[str, str], what: str) -> str:
    key = " ".join(value.strip().lower().replace("_", " ").split())
    if key in aliases:
        return aliases[key]
    if key.replace(" ", "_") in aliases:
        return aliases[key.replace(" ", "_")]
    allowed = ", ".join(sorted(set(aliases.values())))
    raise BadInputError(f"unknown {what} {value!r}; use one of: {allowed}", column=what, value=value)


def add_ticket(
    repo: TenantStore,
    *,
    ticket_id: str,
    subject: str,
    category: str,
    priority: str,
    requester_id: str,
    description: str | None = None,
    assignee_id: str | None = None,
    status: str = "new",
) -> UpsertCounts:
    """Create or update one ticket entered by hand (seed 000's ``--add-ticket``)."""
    for name, value in (("ticket number", ticket_id), ("title", subject), ("category", category),
                        ("customer email", requester_id)):
        if not value or not value.strip():
            raise BadInputError(f"{name} is required", column=name)
    if "@" not in requester_id:
        raise BadInputError(f"customer email {requester_id!r} is not an email address", column="customer_email")
    now = utcnow()
    row = {
        "ticket_id": ticket_id.strip(),
        "created_at": now,
        "updated_at": now,
        "status": _canonical(status, STATUS_ALIASES, "status"),
        "priority": _canonical(priority, PRIORITY_ALIASES, "priority"),
        "category": category.strip(),
        "subject": subject.strip(),
        "description": description,
        "requester_id": requester_id.strip(),
        "assignee_id": assignee_id,
        "channel": "api",
    }
    existing = repo.rows("SELECT created_at FROM tickets WHERE ticket_id = $id", id=row["ticket_id"])
    if existing:
        row["created_at"] = existing[0][0]
    return repo.add_ticket(row, now)


def list_tickets(
    repo: TenantStore,
    *,
    status: str | None = None,
    priority: str | None = None,
    group: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Newest tickets first, optionally filtered; soft-deleted tickets are excluded."""
    rows = repo.query(
        """
        SELECT ticket_id, created_at, status, priority, "group", assignee_id, subject
        FROM tickets
        WHERE deleted_at IS NULL
          AND ($status IS NULL OR status = $status)
          AND ($priority IS NULL OR priority = $priority)
          AND ($group IS NULL OR "group" = $group)
        ORDER BY created_at DESC, ticket_id
        LIMIT $limit
        """,
        status=status, priority=priority, group=group, limit=limit,
    )
    result: list[dict[str, Any]] = rows.to_pylist()
    return result


def _drop(table: pa.Table, *columns: str) -> pa.Table:
    """``table`` without ``tenant_id`` and ``columns`` (portable: no ``SELECT * EXCLUDE``)."""
    gone = {"tenant_id", *columns}
    return table.select([c for c in table.column_names if c not in gone])


def show_ticket(repo: TenantStore, ticket_id: str) -> dict[str, Any]:
    """One ticket with its events, metrics and SLA instances; NotFoundError when absent."""
    t = _drop(repo.query("SELECT * FROM tickets WHERE ticket_id = $id", id=ticket_id), "row_hash")
    if t.num_rows == 0:
        raise NotFoundError(f"ticket {ticket_id!r} not found", ticket_id=ticket_id)
    events = repo.query(
        "SELECT event_at, kind, actor, actor_id, public, from_value, to_value, field "
        "FROM ticket_events WHERE ticket_id = $id ORDER BY event_at, seq",
        id=ticket_id,
    )
    metrics = _drop(repo.query("SELECT * FROM ticket_metrics WHERE ticket_id = $id", id=ticket_id))
    sla = _drop(
        repo.query("SELECT * FROM ticket_sla WHERE ticket_id = $id ORDER BY metric, instance", id=ticket_id),
        "ticket_id",
    )
    return {
        "ticket": t.to_pylist()[0],
        "events": events.to_pylist(),
        "metrics": metrics.to_pylist()[0] if metrics.num_rows else None,
        "sla": sla.to_pylist(),
    }
