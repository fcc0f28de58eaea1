"""Agent performance: workload split, escalations (tier order or tag), reopen rate, CSAT, ranges
and agents without tickets, on DuckDB and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from deskpulse.analytics.agents import agent_performance, range_filters, tier_sql
from deskpulse.analytics.filters import Filters
from deskpulse.errors import UsageError

try:
    from .analytics_helpers import EVENT_HEADER, TICKET_HEADER, Loaded, load, load_golden
except ImportError:  # pragma: no cover - rootdir-relative import
    from analytics_helpers import (  # type: ignore[no-redef]
        EVENT_HEADER,
        TICKET_HEADER,
        Loaded,
        load,
        load_golden,
    )

AS_OF = datetime(2026, 3, 5, 0, 0, 0)
TICKETS = TICKET_HEADER + """
E1,2026-03-02T10:00:00Z,,solved,normal,email,billing,Tier 2 Escalations,emea,r1,a1,Escalated,,good
E2,2026-03-02T11:00:00Z,,solved,normal,email,billing,Billing,emea,r2,a1,Routed,,bad
E3,2026-03-02T12:00:00Z,,open,high,web,technical,Technical,emea,r3,a2,Tagged,vip escalated,good
E4,2026-03-02T13:00:00Z,,pending,normal,web,technical,Technical,emea,r4,a2,Sideways,,offered
E5,2026-03-02T14:00:00Z,,new,low,chat,technical,Escalations,emea,r5,a2,Up,,
E6,2026-03-02T15:00:00Z,,hold,low,chat,technical,Tier 1 General,emea,r6,a3,Down,,
"""
EVENTS = EVENT_HEADER + """
E1,2026-03-02T10:00:00Z,comment,end_user,,true,,,
E1,2026-03-02T11:00:00Z,group,agent,a1,true,Tier 1 General,Tier 2 Escalations,
E1,2026-03-02T11:30:00Z,comment,agent,a1,true,,,
E1,2026-03-02T12:00:00Z,status,agent,a1,true,new,solved,
E2,2026-03-02T11:00:00Z,comment,end_user,,true,,,
E2,2026-03-02T11:10:00Z,group,agent,a1,true,Tier 1 General,Billing,
E2,2026-03-02T11:20:00Z,comment,agent,a1,true,,,
E2,2026-03-02T11:20:00Z,status,agent,a1,true,new,solved,
E2,2026-03-02T15:00:00Z,status,end_user,,true,solved,open,
E2,2026-03-02T16:00:00Z,status,agent,a1,true,open,solved,
E3,2026-03-02T12:00:00Z,comment,end_user,,true,,,
E3,2026-03-02T12:30:00Z,status,agent,a2,true,new,open,
E4,2026-03-02T13:00:00Z,comment,end_user,,true,,,
E4,2026-03-02T13:05:00Z,group,agent,a2,true,Billing,Technical,
E4,2026-03-02T13:10:00Z,status,agent,a2,true,new,pending,
E5,2026-03-02T14:00:00Z,comment,end_user,,true,,,
E5,2026-03-02T14:30:00Z,group,agent,a2,true,Technical,Escalations,
E6,2026-03-02T15:00:00Z,comment,end_user,,true,,,
E6,2026-03-02T15:10:00Z,group,agent,a3,true,Tier 2 Escalations,Tier 1 General,
E6,2026-03-02T15:20:00Z,assignee,agent,a3,true,a4,a3,
E6,2026-03-02T15:30:00Z,status,agent,a3,true,new,hold,
"""


@pytest.fixture
def team(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    loaded = load(db_url, tmp_path, tickets=TICKETS, events=EVENTS, config="{}\n", as_of=AS_OF)
    yield loaded
    loaded.close()


def test_agent_rows(team: Loaded) -> None:
    report = agent_performance(team.repo, range_filters("all", AS_OF), range_name="all")
    rows = {a.agent_id: a for a in report.agents}
    assert [a.agent_id for a in report.agents] == ["a2", "a1", "a3", "a4"]
    a1, a2, a3, a4 = rows["a1"], rows["a2"], rows["a3"], rows["a4"]
    assert (a1.assigned, a1.resolved, a1.open, a1.resolution_rate) == (2, 2, 0, 1.0)
    assert (a1.escalated, a1.escalation_rate) == (1, 0.5)  # E1 Tier 1 -> Tier 2; E2 is routing
    assert (a1.reopened, a1.solved_ever, a1.reopen_rate) == (1, 2, 0.5)
    assert (a1.csat_good, a1.csat_bad, a1.csat_pct) == (1, 1, 50.0)
    # E1 resolved after 120 min, E2 (last solve) after 300 min: mean 210, median 210
    assert (a1.resolution_mean_calendar_minutes, a1.resolution_median_calendar_minutes) == (210, 210)
    # first replies after 90 (E1) and 20 (E2) min
    assert (a1.first_reply_mean_calendar_minutes, a1.first_reply_median_calendar_minutes) == (55, 55)
    assert (a2.assigned, a2.resolved, a2.open, a2.new, a2.in_progress, a2.pending) == (3, 0, 3, 1, 1, 1)
    assert a2.escalated == 2  # E3 by tag, E5 Technical (tier 1) -> Escalations (tier 2)
    assert (a2.csat_pct, a2.reopen_rate, a2.resolution_mean_calendar_minutes) == (100.0, None, None)
    assert (a3.assigned, a3.pending, a3.escalated) == (1, 1, 0)  # Tier 2 -> Tier 1 is no escalation
    assert a4.assigned == 0 and a4.sla_compliance_pct is None and a4.csat_pct is None
    t = report.team
    assert (t.assigned, t.resolved, t.escalated, t.csat_good, t.csat_bad) == (6, 2, 3, 2, 1)
    assert (report.active_agents, report.unassigned_tickets, report.tickets) == (3, 0, 6)
    # SLA: default policy (first response 60 min, resolution 24 h on 24x7)
    assert (a1.sla_met, a1.sla_missed, a1.sla_compliance_pct) == (3, 1, 75.0)  # E1 replied late
    assert report.as_dict()["agents"][0]["agent_id"] == "a2"


def test_ranges_filters_and_empty(team: Loaded) -> None:
    today = agent_performance(team.repo, range_filters("today", AS_OF), range_name="today")
    assert today.is_empty and today.message == "no tickets in range"
    assert {a.agent_id for a in today.agents} == {"a1", "a2", "a3", "a4"}  # known, with zeros
    assert all(a.assigned == 0 for a in today.agents)
    week = agent_performance(team.repo, range_filters("7d", AS_OF))
    assert week.team.assigned == 6
    w = range_filters("30d", AS_OF)
    assert (w.start_at, w.end_at) == (datetime(2026, 2, 3), datetime(2026, 3, 5, 0, 0, 1))
    t = range_filters("today", datetime(2026, 3, 4, 15, 30))
    assert (t.start_at, t.end_at) == (datetime(2026, 3, 4), datetime(2026, 3, 4, 15, 30, 1))
    only = agent_performance(team.repo, range_filters("all", AS_OF, agent="a2"))
    assert [a.agent_id for a in only.agents] == ["a2"] and only.team.assigned == 3
    billing = agent_performance(team.repo, range_filters("all", AS_OF, group="Billing"))
    assert [(a.agent_id, a.assigned) for a in billing.agents] == [("a1", 1)]
    with pytest.raises(UsageError, match="unknown range"):
        range_filters("1y", AS_OF)


def test_agent_without_tickets_golden(db_url: str, tmp_path: Path) -> None:
    """agent2 only wrote a private note on B (unassigned): known, listed with zeros."""
    g = load_golden(db_url, tmp_path)
    try:
        report = agent_performance(g.repo, Filters())
    finally:
        g.close()
    rows = {a.agent_id: a for a in report.agents}
    assert set(rows) == {"agent1", "agent2"}
    assert (rows["agent2"].assigned, rows["agent2"].resolved, rows["agent2"].escalation_rate) == (0, 0, None)
    assert (rows["agent1"].assigned, rows["agent1"].resolved) == (1, 1)
    assert (report.unassigned_tickets, report.team.assigned, report.tickets) == (2, 1, 3)


def test_tier_sql_is_fixed_text() -> None:
    sql = tier_sql('e."to_value"')
    assert "'%tier_2%'" in sql and "'%escalat%'" in sql and "$" not in sql
