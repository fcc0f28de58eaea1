"""Agent performance (seed 002): per-agent workload, speed, quality and escalations.

:func:`agent_performance` reports, for every known agent, the tickets created in the range
(``today``, ``7d``, ``30d``, ``90d``, ``all``, counted back from the build's ``as_of``) and
assigned to them (the ticket's current assignee), in one grouped query. Definitions:

- *assigned*: tickets in range assigned to the agent; *resolved*: solved or closed at
  ``as_of``; *open*: not resolved (new + open + pending + hold), split into *new*,
  *in_progress* (status open) and *pending* (pending or hold).
- resolution and first-response times: mean and median of ticket_metrics' full resolution
  (resolved tickets) and first reply, in calendar and business minutes.
- *SLA compliance*: met / (met + breached + active_breached) over all SLA instances of the
  agent's tickets.
- *escalated*: the ticket moved to a group of a higher tier (a group event at or before
  ``as_of``; the tier of a group is N when its name contains "Tier N", 2 when it contains
  "Escalation" without a tier number, else 1), or carries the tag ``escalated``;
  *escalation rate* = escalated / assigned.
- *reopen rate*: tickets reopened at least once / tickets solved at least once.
- *CSAT*: good / (good + bad) satisfaction ratings, None when no ticket was rated.

Every agent known for the tenant appears, with zeros when they have no ticket in range:
current assignees of any ticket, assignees in assignee events and authors of agent events
(restricted to tickets matching the dimension filters, if any; ``--agent`` shows that agent).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from deskpulse.analytics.facts import MAX_TIER, facts_cte, tier_sql  # noqa: F401 - re-exported
from deskpulse.analytics.filters import Filters
from deskpulse.analytics.results import (
    NO_TICKETS_MESSAGE,
    Window,
    mean_minutes,
    mean_sql,
    minutes,
    pct,
    plain,
    ratio,
    require_as_of,
    row_dict,
)
from deskpulse.errors import UsageError
from deskpulse.store import TenantStore

#: ``--range`` values: name -> days back from "now" (None: all time; "today" is special).
RANGES: Final[dict[str, int | None]] = {"today": 0, "7d": 7, "30d": 30, "90d": 90, "all": None}


def range_filters(name: str, now: datetime, **values: str | None) -> Filters:
    """The window of a ``--range`` value, counted back from ``now`` (the build's as_of).

    ``today`` is the UTC day of ``now`` up to ``now``; ``Nd`` the N days before ``now``.
    """
    if name not in RANGES:
        raise UsageError(f"unknown range {name!r}; use {', '.join(RANGES)}")
    days = RANGES[name]
    vals = {k: v for k, v in values.items() if v}
    base = Filters.build(days=None, from_at=None, to_at=None, now=now, **vals)  # checks names
    if days is None:
        return base
    start = datetime.combine(now.date(), datetime.min.time()) if days == 0 else now - timedelta(days=days)
    return Filters(start_at=start, end_at=now + timedelta(seconds=1), values=base.values)


@dataclass(frozen=True)
class AgentRow:
    """One agent's figures for the range (``agent_id`` ``(all)`` = the whole team)."""

    agent_id: str
    assigned: int
    resolved: int
    open: int
    new: int
    in_progress: int
    pending: int
    resolution_rate: float | None
    resolution_mean_calendar_minutes: float | None
    resolution_median_calendar_minutes: float | None
    resolution_mean_business_minutes: float | None
    resolution_median_business_minutes: float | None
    first_reply_mean_calendar_minutes: float | None
    first_reply_median_calendar_minutes: float | None
    first_reply_mean_business_minutes: float | None
    first_reply_median_business_minutes: float | None
    sla_met: int
    sla_missed: int
    sla_compliance_pct: float | None
    escalated: int
    escalation_rate: float | None
    reopened: int
    solved_ever: int
    reopen_rate: float | None
    csat_good: int
    csat_bad: int
    csat_pct: float | None

    def as_dict(self) -> dict[str, Any]:
        return row_dict(self)


@dataclass(frozen=True)
class AgentPerformanceReport:
    """:func:`agent_performance`'s result: one row per known agent plus team totals."""

    window: Window
    range: str
    team: AgentRow
    agents: list[AgentRow]
    unassigned_tickets: int

    @property
    def tickets(self) -> int:
        return self.team.assigned + self.unassigned_tickets

    @property
    def is_empty(self) -> bool:
        return self.tickets == 0

    @property
    def message(self) -> str | None:
        return NO_TICKETS_MESSAGE if self.is_empty else None

    @property
    def active_agents(self) -> int:
        return sum(1 for a in self.agents if a.assigned)

    def rows(self) -> list[dict[str, Any]]:
        return [a.as_dict() for a in self.agents]

    def as_dict(self) -> dict[str, Any]:
        return dict(
            plain(
                {
                    "window": self.window,
                    "range": self.range,
                    "tickets": self.tickets,
                    "message": self.message,
                    "active_agents": self.active_agents,
                    "unassigned_tickets": self.unassigned_tickets,
                    "team": self.team,
                    "agents": self.agents,
                }
            )
        )


_AGGREGATES = f"""
    count(*) AS assigned,
    count(*) FILTER (WHERE is_resolved) AS resolved,
    count(*) FILTER (WHERE status_now = 'new') AS new_count,
    count(*) FILTER (WHERE status_now = 'open') AS in_progress,
    count(*) FILTER (WHERE status_now IN ('pending', 'hold')) AS pending,
    {mean_sql("res_cal", "res_cal", "is_resolved")},
    median(res_cal) FILTER (WHERE is_resolved) AS res_cal_median,
    {mean_sql("res_bus", "res_bus", "is_resolved")},
    median(res_bus) FILTER (WHERE is_resolved) AS res_bus_median,
    {mean_sql("fr_cal", "fr_cal")}, median(fr_cal) AS fr_cal_median,
    {mean_sql("fr_bus", "fr_bus")}, median(fr_bus) AS fr_bus_median,
    sum(sla_met) AS sla_met, sum(sla_missed) AS sla_missed,
    count(*) FILTER (WHERE is_escalated) AS escalated,
    count(*) FILTER (WHERE reopens > 0) AS reopened,
    count(*) FILTER (WHERE solved_at IS NOT NULL) AS solved_ever,
    count(*) FILTER (WHERE satisfaction = 'good') AS csat_good,
    count(*) FILTER (WHERE satisfaction = 'bad') AS csat_bad
"""


def _performance_sql(pred: str) -> str:
    """Per agent and for the team, over :func:`facts_cte`'s ``f`` (one scan)."""
    return f"""
    , b AS (
      SELECT coalesce(f.assignee_id, '') AS agent_id, f.assignee_id IS NOT NULL AS is_assigned,
             f.status_now, f.is_resolved,
             f.full_resolution_calendar_minutes AS res_cal,
             f.full_resolution_business_minutes AS res_bus,
             f.first_reply_calendar_minutes AS fr_cal, f.first_reply_business_minutes AS fr_bus,
             f.reopens, f.solved_at, f.satisfaction,
             f.fr_met + f.nr_met + f.res_met AS sla_met,
             f.fr_missed + f.nr_missed + f.res_missed AS sla_missed,
             f.is_escalated
      FROM f
      WHERE {pred}
    )
    SELECT CASE WHEN GROUPING(agent_id) = 0 THEN agent_id
                WHEN is_assigned THEN '(all)' ELSE '(unassigned)' END AS agent_id,
           {_AGGREGATES}
    FROM b GROUP BY GROUPING SETS ((agent_id), (is_assigned))
    """  # noqa: S608 - fixed SQL text, values are parameters


def _known_agents_sql(pred: str, scoped: bool) -> str:
    """Every agent id the tenant's data knows (on tickets matching ``pred`` when scoped)."""
    tickets = f"SELECT t.ticket_id FROM tickets t WHERE {pred}"  # noqa: S608 - fixed SQL text, values are parameters
    on = f" AND e.ticket_id IN ({tickets})" if scoped else ""
    return f"""
    SELECT DISTINCT agent_id FROM (
      SELECT DISTINCT t.assignee_id AS agent_id FROM tickets t WHERE {pred}
      UNION ALL
      SELECT DISTINCT e.actor_id FROM ticket_events e WHERE e.actor = 'agent'{on}
      UNION ALL
      SELECT DISTINCT e.to_value FROM ticket_events e WHERE e.kind = 'assignee'{on}
      UNION ALL
      SELECT DISTINCT e.from_value FROM ticket_events e WHERE e.kind = 'assignee'{on}
    ) a WHERE coalesce(agent_id, '') <> ''
    """  # noqa: S608 - fixed SQL text, values are parameters


def _row(agent_id: str, r: dict[str, Any]) -> AgentRow:
    def n(key: str) -> int:
        v = r.get(key)
        return int(v) if v is not None else 0

    assigned, resolved = n("assigned"), n("resolved")
    met, missed = n("sla_met"), n("sla_missed")
    good, bad = n("csat_good"), n("csat_bad")
    new, in_progress, pending = n("new_count"), n("in_progress"), n("pending")
    return AgentRow(
        agent_id=agent_id,
        assigned=assigned,
        resolved=resolved,
        open=assigned - resolved,
        new=new,
        in_progress=in_progress,
        pending=pending,
        resolution_rate=ratio(resolved, assigned),
        resolution_mean_calendar_minutes=mean_minutes(r, "res_cal"),
        resolution_median_calendar_minutes=minutes(r.get("res_cal_median")),
        resolution_mean_business_minutes=mean_minutes(r, "res_bus"),
        resolution_median_business_minutes=minutes(r.get("res_bus_median")),
        first_reply_mean_calendar_minutes=mean_minutes(r, "fr_cal"),
        first_reply_median_calendar_minutes=minutes(r.get("fr_cal_median")),
        first_reply_mean_business_minutes=mean_minutes(r, "fr_bus"),
        first_reply_median_business_minutes=minutes(r.get("fr_bus_median")),
        sla_met=met,
        sla_missed=missed,
        sla_compliance_pct=pct(met, met + missed),
        escalated=n("escalated"),
        escalation_rate=ratio(n("escalated"), assigned),
        reopened=n("reopened"),
        solved_ever=n("solved_ever"),
        reopen_rate=ratio(n("reopened"), n("solved_ever")),
        csat_good=good,
        csat_bad=bad,
        csat_pct=pct(good, good + bad),
    )


def agent_performance(
    repo: TenantStore, filters: Filters, *, range_name: str = "all"
) -> AgentPerformanceReport:
    """Per-agent performance over the tickets the window selects (see the module doc).

    ``filters`` carries the window (use :func:`range_filters` for ``--range``) and the
    dimension filters; ``range_name`` only labels the result.
    """
    as_of = require_as_of(repo)
    window = Window.of(filters, as_of)
    zero = _row("(all)", {})
    if as_of is None:
        return AgentPerformanceReport(window, range_name, zero, [], 0)
    pred, params = filters.ticket_predicate("f")
    cte, cparams = facts_cte(repo)
    raw = repo.query(cte + _performance_sql(pred), **{**cparams, **params}).to_pylist()
    by_agent = {r["agent_id"]: r for r in raw}
    team_raw = by_agent.pop("(all)", {})
    by_agent.pop("", None)
    unassigned = int(by_agent.pop("(unassigned)", {}).get("assigned") or 0)
    team = _row("(all)", team_raw)
    if "agent" in filters.values:
        known = [filters.values["agent"]]
    else:
        dims = Filters(values=dict(filters.values))
        dpred, dparams = dims.ticket_predicate("t")
        known = [
            r[0] for r in repo.rows(_known_agents_sql(dpred, bool(filters.values)), **dparams)
        ]
    ids = sorted(set(known) | set(by_agent))
    agents = [_row(a, by_agent.get(a, {})) for a in ids]
    agents.sort(key=lambda a: (-a.assigned, a.agent_id))
    return AgentPerformanceReport(window, range_name, team, agents, unassigned)
