"""Automatic assignment of one ticket (``POST /api/v1/tickets/{ticket_id}/assign/auto``).

Seed 002's algorithm, atomic under concurrency: inside the tenant's routing lock and one
transaction (:func:`deskpulse.routing.locks.tenant_lock`)

1. read the ticket (404 when the tenant has no such ticket; 409 when it is solved, closed or
   deleted, or already assigned and ``reassign`` is not set);
2. read the candidates: the tenant's agents whose effective status is ``available``, each with
   its workload — its unsolved tickets (:data:`~deskpulse.routing.model.WORKLOAD_STATUSES`),
   this one excluded — its ``last_activity_at`` and its skill in the ticket's category;
3. choose (:func:`deskpulse.routing.choose.choose`, by the tenant's routing mode; 503 when
   nobody can take it);
4. write: the ticket's ``assignee_id`` (``updated_at`` and ``loaded_at`` = now, so the next
   incremental build picks it up), an ``assignee`` event (actor system), the agent's
   ``last_activity_at`` = now (the rotation), the decision in ``routing_decisions`` and two
   ``ticket_history`` rows: the ``assignee_id`` change and the ``routing`` reason.

The lock makes every decision see the previous one committed: no two concurrent requests
choose from the same snapshot (no lost update), and a ticket is assigned once.
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime
from typing import Any

import pyarrow as pa

from deskpulse.errors import ConflictError, NotFoundError
from deskpulse.model import EVENT_SCHEMA
from deskpulse.routing.choose import Candidate, choose
from deskpulse.routing.locks import tenant_lock
from deskpulse.routing.mode import get_routing_settings
from deskpulse.routing.model import (
    ESCALATION_TAG,
    FINISHED_STATUSES,
    WORKLOAD_STATUSES,
    Decision,
    RoutingMode,
    normalise_category,
    utcnow,
)
from deskpulse.store import TenantStore

log = logging.getLogger(__name__)

_WORKLOAD_IN = ", ".join(f"'{s}'" for s in WORKLOAD_STATUSES)  # constants, not input

# The workload is a correlated count per candidate: on PostgreSQL an index(-only) scan per
# available agent on the partial index of migration 0006, whatever the size of the tenant;
# DuckDB decorrelates it into one join. The ticket being routed is taken out in Python (it
# counts only for its current assignee, on a reassignment).
_CANDIDATES_SQL = f"""
SELECT a.user_id, a.last_activity_at,
       (SELECT count(*) FROM tickets t
        WHERE t.assignee_id = a.user_id AND t.status IN ({_WORKLOAD_IN}) AND t.deleted_at IS NULL) AS workload,
       s.level, coalesce(s.esc, false) AS esc
FROM agent_availability a
LEFT JOIN (
  SELECT user_id, max(level) AS level, bool_or(can_handle_escalations) AS esc FROM agent_skills
  WHERE category = $category GROUP BY user_id
) s ON s.user_id = a.user_id
WHERE a.status = 'available' AND (a."until" IS NULL OR a."until" > $now)
ORDER BY a.user_id
"""  # noqa: S608 - the IN list is a constant

#: Without a category: no level; "takes escalations" in any category.
_CANDIDATES_NO_CATEGORY_SQL = _CANDIDATES_SQL.replace(
    "SELECT user_id, max(level) AS level, bool_or(can_handle_escalations) AS esc FROM agent_skills\n"
    "  WHERE category = $category GROUP BY user_id",
    "SELECT user_id, CAST(NULL AS INTEGER) AS level, bool_or(can_handle_escalations) AS esc "
    "FROM agent_skills GROUP BY user_id",
)
assert _CANDIDATES_NO_CATEGORY_SQL != _CANDIDATES_SQL


def is_escalation(tags: str | None, group: str | None) -> bool:
    """A ticket is an escalation when it carries the tag ``escalated`` or sits in a group whose
    name says escalation (as agent analytics counts escalations)."""
    tag_set = {t.lower() for t in re.split(r"[,\s]+", tags or "") if t}
    return ESCALATION_TAG in tag_set or "escalat" in (group or "").lower()


def candidates(
    repo: TenantStore, category: str | None, now: datetime, *, current_assignee: str | None = None
) -> list[Candidate]:
    """The tenant's available agents with workload, rotation key and skill in ``category``.

    ``current_assignee``: the routed (unsolved) ticket's assignee, whose workload it leaves.
    """
    if category is None:
        rows = repo.rows(_CANDIDATES_NO_CATEGORY_SQL, now=now)
    else:
        rows = repo.rows(_CANDIDATES_SQL, category=category, now=now)
    return [Candidate(str(u), int(w) - (1 if u == current_assignee and w else 0), last,
                      None if lvl is None else int(lvl), bool(esc))
            for u, last, w, lvl, esc in rows]


def _ticket(repo: TenantStore, ticket_id: str) -> dict[str, Any]:
    rows = repo.rows(
        'SELECT status, assignee_id, category, tags, "group", deleted_at FROM tickets WHERE ticket_id = $id',
        id=ticket_id,
    )
    if not rows:
        raise NotFoundError("ticket not found", ticket_id=ticket_id)
    status, assignee, category, tags, group, deleted_at = rows[0]
    return {"status": status, "assignee_id": assignee, "category": category, "tags": tags,
            "group": group, "deleted_at": deleted_at}


def auto_assign(
    repo: TenantStore,
    ticket_id: str,
    *,
    reassign: bool = False,
    escalation: bool | None = None,
    decided_by: str | None = None,
    now: datetime | None = None,
) -> Decision:
    """Assign ``ticket_id`` to the agent the tenant's routing chooses; returns the decision.

    ``escalation`` overrides the ticket's own escalation marker (tag/group) when given.
    Raises NotFoundError (no such ticket in this tenant), ConflictError (solved, closed,
    deleted, or already assigned without ``reassign``) or NoAgentAvailableError.
    """
    with tenant_lock(repo):
        now = now or utcnow()
        t = _ticket(repo, ticket_id)
        if t["deleted_at"] is not None:
            raise ConflictError("the ticket is deleted: it cannot be assigned", ticket_id=ticket_id)
        if t["status"] in FINISHED_STATUSES:
            raise ConflictError(f"the ticket is {t['status']}: only unsolved tickets are assigned",
                                ticket_id=ticket_id, status=t["status"])
        previous = t["assignee_id"] or None
        if previous is not None and not reassign:
            raise ConflictError(f"the ticket is already assigned to {previous!r} (pass reassign=true to "
                                "route it again)", ticket_id=ticket_id, assignee_id=previous)
        settings = get_routing_settings(repo)
        category = normalise_category(t["category"])
        esc = is_escalation(t["tags"], t["group"]) if escalation is None else bool(escalation)
        pool = candidates(repo, category, now, current_assignee=previous)
        choice = choose(pool, mode=settings.mode, category=category, is_escalation=esc,
                        fallback_to_any=settings.fallback_to_any)
        chosen = choice.candidate
        level = chosen.skill_level if settings.mode is RoutingMode.skills else None
        decision = Decision(
            decision_id=uuid.uuid4().hex, ticket_id=ticket_id, user_id=chosen.user_id,
            previous_user_id=previous, decided_at=now, mode=settings.mode, rule=choice.rule,
            category=category, is_escalation=esc, workload=chosen.workload, skill_level=level,
            candidates=choice.pool, reason=choice.reason, decided_by=decided_by,
        )
        _write(repo, decision)
    log.info("tenant %s: ticket %s -> %s (%s)", repo.tenant_id, ticket_id, chosen.user_id, choice.rule)
    return decision


def _write(repo: TenantStore, d: Decision) -> None:
    store = repo.store
    tenant, now = repo.tenant_id, d.decided_at
    store.execute(
        "UPDATE tickets SET assignee_id = $user, updated_at = $updated, loaded_at = $now "
        "WHERE tenant_id = $tenant AND ticket_id = $id",
        {"tenant": tenant, "id": d.ticket_id, "user": d.user_id, "now": now,
         "updated": now.replace(microsecond=0)},
    )
    store.execute(
        "UPDATE agent_availability SET last_activity_at = $now WHERE tenant_id = $tenant AND user_id = $user",
        {"tenant": tenant, "user": d.user_id, "now": now},
    )
    store.execute(
        "INSERT INTO routing_decisions (tenant_id, decision_id, ticket_id, user_id, previous_user_id, "
        "decided_at, mode, rule, category, is_escalation, workload, skill_level, candidates, reason, "
        "decided_by) VALUES ($tenant, $did, $id, $user, $prev, $now, $mode, $rule, $cat, $esc, $workload, "
        "$level, $cands, $reason, $by)",
        {"tenant": tenant, "did": d.decision_id, "id": d.ticket_id, "user": d.user_id,
         "prev": d.previous_user_id, "now": now, "mode": d.mode.value, "rule": d.rule,
         "cat": d.category, "esc": d.is_escalation, "workload": d.workload, "level": d.skill_level,
         "cands": d.candidates, "reason": d.reason, "by": d.decided_by},
    )
    job = f"routing:{d.decision_id}"
    for field, old, new in (("assignee_id", d.previous_user_id, d.user_id),
                            ("routing", None, d.reason)):
        store.execute(
            'INSERT INTO ticket_history (tenant_id, ticket_id, "field", "old", "new", changed_at, job_id, '
            "recorded_at) VALUES ($tenant, $id, $field, $old, $new, $now, $job, $now)",
            {"tenant": tenant, "id": d.ticket_id, "field": field, "old": old, "new": new, "now": now,
             "job": job},
        )
    event = {
        "ticket_id": d.ticket_id, "event_at": now.replace(microsecond=0), "kind": "assignee",
        "actor": "system", "actor_id": None, "public": True, "from_value": d.previous_user_id,
        "to_value": d.user_id, "field": None,
    }
    repo.insert_events(pa.Table.from_pylist([event], schema=EVENT_SCHEMA), now)
