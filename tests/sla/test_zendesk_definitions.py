"""Zendesk's documented ticket-metric definitions, reproduced on one hand-checked ticket.

Zendesk (Ticket Metrics API): reply_time = created → first public agent reply; full
resolution = created → the latest solve; requester wait = time in new/open/on-hold; agent
wait = time in pending; on_hold = time on hold; reopens = solved → reopened; replies =
public agent replies; assignee/group stations = assignees/groups the ticket had. Intended
differences are listed in docs/metrics.md.
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from deskpulse.config import parse_config
from deskpulse.model import EVENT_SCHEMA, TICKET_SCHEMA
from deskpulse.sla.build import run_engine
from deskpulse.sla.policies import load_sla_config


def t(h: int, m: int = 0, day: int = 2) -> datetime:
    return datetime(2026, 3, day, h, m)


EVENTS = [  # (at, kind, actor, public, from, to)
    (t(9), "comment", "end_user", True, None, None),
    (t(9), "group", "system", True, None, "Tier 1"),
    (t(9, 30), "assignee", "system", True, None, "ann"),
    (t(10), "comment", "agent", False, None, None),  # private note: not a reply
    (t(10, 30), "comment", "agent", True, None, None),  # first reply: 90 min
    (t(10, 30), "status", "agent", True, "new", "pending"),
    (t(12), "comment", "end_user", True, None, None),
    (t(12), "status", "system", True, "pending", "open"),
    (t(13), "group", "agent", True, "Tier 1", "Tier 2"),
    (t(13), "assignee", "agent", True, "ann", "bob"),
    (t(13), "status", "agent", True, "open", "hold"),
    (t(15), "status", "agent", True, "hold", "open"),
    (t(16), "comment", "agent", True, None, None),
    (t(16), "status", "agent", True, "open", "solved"),  # first resolution: 7 h
    (t(9, day=3), "comment", "end_user", True, None, None),
    (t(9, day=3), "status", "system", True, "solved", "open"),  # reopen
    (t(10, day=3), "comment", "agent", True, None, None),
    (t(10, day=3), "status", "agent", True, "open", "solved"),  # full resolution: 25 h
    (t(10, day=7), "status", "system", True, "solved", "closed"),
]


def test_zendesk_native_metrics() -> None:
    tickets = pa.Table.from_pylist(
        [{"ticket_id": "Z1", "created_at": t(9), "updated_at": t(10, day=7), "status": "closed"}],
        schema=TICKET_SCHEMA,
    )
    events = pa.Table.from_pylist(
        [
            {"ticket_id": "Z1", "event_at": at, "kind": k, "actor": a, "public": p, "from_value": f, "to_value": v}
            for at, k, a, p, f, v in EVENTS
        ],
        schema=EVENT_SCHEMA,
    ).append_column("seq", pa.array(range(len(EVENTS)), pa.int64()))
    sla = load_sla_config(parse_config({}, "defaults"))
    m = run_engine(tickets, events, sla, t(12, day=8)).ticket_metrics.to_pylist()[0]
    assert m["first_reply_at"] == t(10, 30) and m["first_reply_calendar_minutes"] == 90
    assert m["solved_at"] == t(10, day=3) and m["full_resolution_calendar_minutes"] == 25 * 60
    # new 09:00-10:30 (90) + open 12:00-13:00 (60) + hold 13-15 (120) + open 15-16 (60)
    # + open day 3 09-10 (60) = 390
    assert m["requester_wait_calendar_minutes"] == 390
    assert m["agent_wait_calendar_minutes"] == 90  # pending 10:30-12:00
    assert m["on_hold_calendar_minutes"] == 120
    assert m["agent_work_calendar_minutes"] == 270  # new + open
    assert (m["reopens"], m["replies"]) == (1, 3)
    assert (m["assignee_stations"], m["group_stations"]) == (2, 2)
    assert m["policy"] == "default"  # derived from seed-000 thresholds on 24x7
