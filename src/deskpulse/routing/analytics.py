"""Routing analytics: occupancy per agent, assignment fairness, skill coverage gaps.

All three read a window [start, end) (naive UTC) and the routing tables:

- **occupancy** (from ``agent_availability_history``): for each agent, minutes in each status
  within the window. A status lasts from its change until the next change, or until its
  ``until`` (afterwards the agent is offline), or the window's end; before an agent's first
  change it is offline. ``logged_in`` = available + busy + away; **occupancy** = busy /
  (available + busy) — the share of staffed, workable time spent busy (contact-centre
  occupancy), empty when the agent was neither.
- **fairness** (from ``routing_decisions``): automatic assignments per agent. The population
  is every agent that received one or was available at some moment of the window (an agent
  left out with 0 counts). **Gini** of the counts: 0 = perfectly even, → 1 = one agent got
  everything; also min, max and the coefficient of variation.
- **coverage gaps** (tickets, skills, availability history): per UTC hour and ticket category
  with arrivals, how many arrivals found no agent skilled in the category available at their
  ``created_at`` (``uncovered``), and the skilled agents' available minutes in that hour.
  A gap is an hour × category with ``uncovered > 0``. Skills are read as they are now (the
  matrix keeps no history).

Computed in SQL on either store (the figures are the same on DuckDB and PostgreSQL); only the
per-agent rows (small) are shaped in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from deskpulse.errors import UsageError
from deskpulse.routing.model import AgentStatus, naive_utc, utcnow
from deskpulse.store import TenantStore

MINUTE_DIGITS = 6

_INTERVALS = """
h AS (
  SELECT user_id, status, changed_at AS s, "until" AS u,
         lead(changed_at) OVER (PARTITION BY user_id ORDER BY changed_at, change_id) AS nxt
  FROM agent_availability_history WHERE changed_at < $end
), iv AS (
  SELECT user_id, status, s AS a,
         least(coalesce(nxt, $end), coalesce(u, $end), $end) AS b
  FROM h
)"""


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def minutes(self) -> float:
        return (self.end - self.start).total_seconds() / 60.0

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "minutes": round(self.minutes, MINUTE_DIGITS)}


def window(start: datetime | None = None, end: datetime | None = None, *, days: int | None = None,
           now: datetime | None = None) -> Window:
    """[start, end): explicit bounds, or the last ``days`` (default 7) up to now."""
    end = naive_utc(end) or now or utcnow()
    if start is None:
        span = 7 if days is None else days
        if span <= 0:
            raise UsageError("days must be positive")
        start = end - timedelta(days=span)
    start = naive_utc(start)
    assert start is not None
    if start >= end:
        raise UsageError("the window is empty: the end must be after the start")
    return Window(start, end)


def _minutes(seconds: Any) -> float:
    return round(float(seconds or 0.0) / 60.0, MINUTE_DIGITS)


# --- occupancy -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OccupancyRow:
    user_id: str
    available_minutes: float
    busy_minutes: float
    away_minutes: float
    offline_minutes: float
    logged_in_minutes: float
    occupancy: float | None
    assignments: int


@dataclass(frozen=True)
class OccupancyReport:
    window: Window
    agents: list[OccupancyRow]

    @property
    def is_empty(self) -> bool:
        return not self.agents

    def rows(self) -> list[dict[str, Any]]:
        return [asdict(a) for a in self.agents]

    def as_dict(self) -> dict[str, Any]:
        return {"window": self.window.as_dict(), "agents": self.rows()}


def occupancy(repo: TenantStore, w: Window) -> OccupancyReport:
    """Minutes per status and occupancy of every agent with availability history."""
    p = {"start": w.start, "end": w.end}
    rows = repo.rows(
        f"""WITH {_INTERVALS}
        SELECT user_id, status,
               sum(epoch(least(b, $end)) - epoch(greatest(a, $start))) AS secs
        FROM iv WHERE least(b, $end) > greatest(a, $start)
        GROUP BY user_id, status""",  # noqa: S608 - fixed SQL
        **p,
    )
    agents = {str(r[0]) for r in repo.rows(
        "SELECT DISTINCT user_id FROM agent_availability_history WHERE changed_at < $end", end=w.end)}
    agents |= {str(r[0]) for r in repo.rows("SELECT user_id FROM agent_availability")}
    per: dict[str, dict[str, float]] = {u: {} for u in agents}
    for user, status, secs in rows:
        per.setdefault(str(user), {})[str(status)] = float(secs or 0.0)
    counts = dict(repo.rows(
        "SELECT user_id, count(*) FROM routing_decisions WHERE decided_at >= $start AND decided_at < $end "
        "GROUP BY user_id", **p))
    total = (w.end - w.start).total_seconds()
    out = []
    for user in sorted(per):
        s = per[user]
        avail, busy, away = (s.get(k.value, 0.0) for k in (AgentStatus.available, AgentStatus.busy, AgentStatus.away))
        logged = avail + busy + away
        out.append(OccupancyRow(
            user_id=user, available_minutes=_minutes(avail), busy_minutes=_minutes(busy),
            away_minutes=_minutes(away), offline_minutes=_minutes(max(total - logged, 0.0)),
            logged_in_minutes=_minutes(logged),
            occupancy=round(busy / (avail + busy), MINUTE_DIGITS) if avail + busy > 0 else None,
            assignments=int(counts.get(user, 0)),
        ))
    return OccupancyReport(w, out)


# --- fairness --------------------------------------------------------------------------------------


def gini(values: Sequence[float] | np.ndarray[Any, Any]) -> float:
    """Gini coefficient of non-negative values: 0 for an even split (or nothing to split)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = len(x)
    total = float(x.sum())
    if n == 0 or total <= 0.0:
        return 0.0
    if (x < 0).any():
        raise UsageError("the Gini coefficient needs non-negative values")
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return float(max(0.0, (2.0 * float((ranks * x).sum())) / (n * total) - (n + 1.0) / n))


@dataclass(frozen=True)
class FairnessReport:
    window: Window
    assignments: int
    agents: int
    counts: dict[str, int] = field(default_factory=dict)
    gini: float = 0.0
    min_assignments: int = 0
    max_assignments: int = 0
    mean_assignments: float | None = None
    cv: float | None = None  # coefficient of variation (std / mean)

    @property
    def is_empty(self) -> bool:
        return self.agents == 0

    def rows(self) -> list[dict[str, Any]]:
        return [{"user_id": u, "assignments": n,
                 "share": round(n / self.assignments, MINUTE_DIGITS) if self.assignments else None}
                for u, n in sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))]

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["window"] = self.window.as_dict()
        d["per_agent"] = self.rows()
        del d["counts"]
        return d


def fairness_of(counts: dict[str, int], w: Window) -> FairnessReport:
    """Fairness figures of assignment counts per agent (zeros included)."""
    values = np.array(list(counts.values()), dtype=np.float64)
    if not len(values):
        return FairnessReport(w, 0, 0)
    mean = float(values.mean())
    return FairnessReport(
        window=w, assignments=int(values.sum()), agents=len(values), counts=dict(counts),
        gini=round(gini(values), MINUTE_DIGITS), min_assignments=int(values.min()),
        max_assignments=int(values.max()), mean_assignments=round(mean, MINUTE_DIGITS),
        cv=round(float(values.std()) / mean, MINUTE_DIGITS) if mean > 0 else None,
    )


def fairness(repo: TenantStore, w: Window) -> FairnessReport:
    """Gini and spread of automatic assignments per agent in the window."""
    p = {"start": w.start, "end": w.end}
    counts = {str(u): int(n) for u, n in repo.rows(
        "SELECT user_id, count(*) FROM routing_decisions WHERE decided_at >= $start AND decided_at < $end "
        "GROUP BY user_id", **p)}
    available = repo.rows(
        f"""WITH {_INTERVALS}
        SELECT DISTINCT user_id FROM iv
        WHERE status = 'available' AND least(b, $end) > greatest(a, $start)""",  # noqa: S608 - fixed SQL
        **p,
    )
    for (user,) in available:
        counts.setdefault(str(user), 0)
    return fairness_of(counts, w)


# --- coverage gaps ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoverageRow:
    hour: datetime
    category: str
    arrivals: int
    uncovered: int
    skilled_available_minutes: float

    @property
    def is_gap(self) -> bool:
        return self.uncovered > 0


@dataclass(frozen=True)
class CoverageReport:
    window: Window
    hours: list[CoverageRow]

    @property
    def gaps(self) -> list[CoverageRow]:
        return [h for h in self.hours if h.is_gap]

    @property
    def is_empty(self) -> bool:
        return not self.hours

    def by_category(self) -> list[dict[str, Any]]:
        acc: dict[str, dict[str, Any]] = {}
        for h in self.hours:
            a = acc.setdefault(h.category, {"category": h.category, "arrivals": 0, "uncovered": 0, "gap_hours": 0})
            a["arrivals"] += h.arrivals
            a["uncovered"] += h.uncovered
            a["gap_hours"] += int(h.is_gap)
        return sorted(acc.values(), key=lambda a: (-a["uncovered"], a["category"]))

    def rows(self, gaps_only: bool = True) -> list[dict[str, Any]]:
        return [{**asdict(h), "is_gap": h.is_gap} for h in (self.gaps if gaps_only else self.hours)]

    def as_dict(self) -> dict[str, Any]:
        return {"window": self.window.as_dict(), "arrivals": sum(h.arrivals for h in self.hours),
                "uncovered": sum(h.uncovered for h in self.hours), "gap_hours": len(self.gaps),
                "categories": self.by_category(), "gaps": self.rows(True)}


def coverage_gaps(repo: TenantStore, w: Window) -> CoverageReport:
    """Per hour and category with arrivals: arrivals no skilled available agent could take."""
    rows = repo.rows(
        f"""WITH {_INTERVALS},
        avail AS (SELECT user_id, a, b FROM iv WHERE status = 'available' AND b > a),
        arr AS (
          SELECT ticket_id, created_at, date_trunc('hour', created_at) AS hr, lower(trim(category)) AS cat
          FROM tickets
          WHERE created_at >= $start AND created_at < $end AND deleted_at IS NULL
            AND category IS NOT NULL AND trim(category) <> ''
        ),
        covered AS (
          SELECT DISTINCT arr.ticket_id FROM arr
          JOIN agent_skills k ON k.category = arr.cat
          JOIN avail v ON v.user_id = k.user_id AND v.a <= arr.created_at AND arr.created_at < v.b
        ),
        cells AS (
          SELECT arr.hr, arr.cat, count(*) AS arrivals,
                 count(*) FILTER (WHERE c.ticket_id IS NULL) AS uncovered
          FROM arr LEFT JOIN covered c ON c.ticket_id = arr.ticket_id
          GROUP BY arr.hr, arr.cat
        ),
        skilled AS (
          SELECT cells.hr, cells.cat,
                 sum(epoch(least(v.b, cells.hr + INTERVAL 1 HOUR)) - epoch(greatest(v.a, cells.hr))) AS secs
          FROM cells
          JOIN agent_skills k ON k.category = cells.cat
          JOIN avail v ON v.user_id = k.user_id AND v.a < cells.hr + INTERVAL 1 HOUR AND v.b > cells.hr
          GROUP BY cells.hr, cells.cat
        )
        SELECT cells.hr, cells.cat, cells.arrivals, cells.uncovered, coalesce(s.secs, 0)
        FROM cells LEFT JOIN skilled s ON s.hr = cells.hr AND s.cat = cells.cat
        ORDER BY cells.hr, cells.cat""",  # noqa: S608 - fixed SQL
        start=w.start, end=w.end,
    )
    return CoverageReport(w, [CoverageRow(hr, str(cat), int(n), int(u), _minutes(secs))
                              for hr, cat, n, u, secs in rows])
