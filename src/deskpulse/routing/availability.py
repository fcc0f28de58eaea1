"""Agent availability: the current status of each agent and the history of every change.

Statuses are seed 002's: available, busy, away, offline. A change sets ``since`` (when the
status began: kept when only the note or ``until`` changes), an optional ``until`` (when
the status ends: afterwards — or at once, for an ``until`` already past — the agent counts as
offline, ``effective_status``, until it sets a status again) and an optional note. Every change appends a row to
``agent_availability_history`` in the same transaction (occupancy and coverage read it), under
the tenant's routing lock so an assignment never sees half a change.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from deskpulse.errors import BadInputError, NotFoundError
from deskpulse.routing.locks import tenant_lock
from deskpulse.routing.model import (
    MAX_NOTE_LENGTH,
    AgentStatus,
    Availability,
    AvailabilityChange,
    check_user_id,
    naive_utc,
    utcnow,
)
from deskpulse.store import TenantStore

_COLUMNS = 'user_id, status, since, "until", note, last_activity_at, updated_at, updated_by'
_HISTORY = 'change_id, user_id, status, previous_status, since, "until", note, changed_at, changed_by'


def _availability(row: tuple[Any, ...], now: datetime) -> Availability:
    user_id, status, since, until, note, last_activity_at, updated_at, updated_by = row
    st = AgentStatus(status)
    effective = AgentStatus.offline if until is not None and until <= now else st
    return Availability(user_id, st, since, until, note, last_activity_at, updated_at, updated_by, effective)


def get_availability(repo: TenantStore, user_id: str, *, now: datetime | None = None) -> Availability | None:
    """The agent's current availability, or None when it never set one."""
    rows = repo.rows(f"SELECT {_COLUMNS} FROM agent_availability WHERE user_id = $u", u=user_id)  # noqa: S608
    return _availability(rows[0], now or utcnow()) if rows else None


def require_availability(repo: TenantStore, user_id: str, *, now: datetime | None = None) -> Availability:
    found = get_availability(repo, user_id, now=now)
    if found is None:
        raise NotFoundError(f"agent {user_id!r} has no availability in this tenant", user_id=user_id)
    return found


def list_availability(
    repo: TenantStore, *, status: AgentStatus | None = None, now: datetime | None = None
) -> list[Availability]:
    """Every agent of the tenant with an availability, by user id; ``status`` filters on the
    effective status (an expired ``until`` counts as offline)."""
    now = now or utcnow()
    rows = repo.rows(f"SELECT {_COLUMNS} FROM agent_availability ORDER BY user_id")  # noqa: S608
    out = [_availability(r, now) for r in rows]
    return [a for a in out if status is None or a.effective_status == status]


def status_counts(repo: TenantStore, *, now: datetime | None = None) -> dict[str, int]:
    """Agents per effective status (every status present, zeros included)."""
    counts = {s.value: 0 for s in AgentStatus}
    for a in list_availability(repo, now=now):
        counts[a.effective_status.value] += 1
    return counts


def set_availability(
    repo: TenantStore,
    user_id: str,
    status: AgentStatus,
    *,
    until: datetime | None = None,
    note: str | None = None,
    changed_by: str | None = None,
    now: datetime | None = None,
) -> Availability:
    """Set an agent's status (creating the agent's row on first use); records the change."""
    user_id = check_user_id(user_id)
    status = AgentStatus(status)
    now = now or utcnow()
    until = naive_utc(until)
    if note is not None:
        note = note.strip() or None
        if note is not None and len(note) > MAX_NOTE_LENGTH:
            raise BadInputError(f"a note has at most {MAX_NOTE_LENGTH} characters")
    store = repo.store
    with tenant_lock(repo):
        before = get_availability(repo, user_id, now=now)
        since = before.since if before is not None and before.status == status else now
        p = {"tenant": repo.tenant_id, "user": user_id, "status": status.value, "since": since,
             "until": until, "note": note, "now": now, "by": changed_by}
        store.execute(
            'INSERT INTO agent_availability (tenant_id, user_id, status, since, "until", note, '
            "last_activity_at, updated_at, updated_by) "
            "VALUES ($tenant, $user, $status, $since, $until, $note, NULL, $now, $by) "
            "ON CONFLICT (tenant_id, user_id) DO UPDATE SET status = excluded.status, "
            'since = excluded.since, "until" = excluded."until", note = excluded.note, '
            "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            p,
        )
        store.execute(
            f"INSERT INTO agent_availability_history (tenant_id, {_HISTORY}) "  # noqa: S608 - fixed names
            "VALUES ($tenant, $id, $user, $status, $previous, $since, $until, $note, $now, $by)",
            {**p, "id": uuid.uuid4().hex,
             "previous": before.effective_status.value if before is not None else None},
        )
        return require_availability(repo, user_id, now=now)


def availability_history(
    repo: TenantStore,
    *,
    user_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 1000,
) -> list[AvailabilityChange]:
    """Changes, newest first, optionally of one agent and within [start, end)."""
    where = ["1 = 1"]
    params: dict[str, Any] = {"limit": int(limit)}
    if user_id is not None:
        where.append("user_id = $u")
        params["u"] = user_id
    if start is not None:
        where.append("changed_at >= $start")
        params["start"] = naive_utc(start)
    if end is not None:
        where.append("changed_at < $end")
        params["end"] = naive_utc(end)
    rows = repo.rows(
        f"SELECT {_HISTORY} FROM agent_availability_history WHERE {' AND '.join(where)} "  # noqa: S608
        "ORDER BY changed_at DESC, change_id LIMIT $limit",
        **params,
    )
    return [
        AvailabilityChange(r[0], r[1], AgentStatus(r[2]), AgentStatus(r[3]) if r[3] else None, *r[4:])
        for r in rows
    ]
