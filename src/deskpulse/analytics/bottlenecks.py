"""Bottlenecks (seed 000): slices of the work whose breach or delay rate reaches the threshold.

:func:`bottlenecks` scores every slice of the tickets created in the window, in two queries
(counts, then example tickets), and returns a :class:`Finding` for each slice whose rate is
at or above ``bottleneck_threshold_percentage`` (default 20 %). Slices (``kind``):

- ``category``, ``agent`` (current assignee), ``period`` (UTC weekday × hour of creation) and
  ``handoffs`` (0, 1, 2, 3+: distinct assignees plus distinct groups held, each beyond the
  first — from ticket_metrics' stations). For these, *breach rate* = missed SLA instances
  (breached, active_breached) ÷ decided instances (met, breached, active_breached), i.e.
  100 % − SLA compliance; *delay rate* = tickets still unresolved at ``as_of`` although older
  than ``resolution_hours`` ÷ tickets older than ``resolution_hours`` (seed 000's "open
  tickets", counting only tickets old enough to be overdue).
- lifecycle stages ``status`` (new, open, pending, hold) and ``group`` (time in the group
  while unsolved): the population is the tickets that spent time in the stage; *breach rate*
  = those that breached while in it (the stage held the ticket at ``breached_at``) ÷ the
  population; *delay rate* = those whose business time in the stage exceeded its allowance
  (``first_response_minutes`` for new, ``resolution_hours`` for the others and for groups)
  ÷ the population.

A slice's rate is the larger of the two; it is a bottleneck when the rate is ≥ the threshold
(so that flagging agrees with the severity bands: exactly 20 % is a medium bottleneck).
Severity: critical ≥ 50 %, high ≥ 30 %, medium ≥ 20 %, low below (only with a threshold set
below 20 %). Slices with fewer than ``min_tickets`` decided tickets are not scored. Rates
are computed in Python from integer counts, so both stores agree to the last digit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from deskpulse.analytics.facts import facts_cte, is_fresh
from deskpulse.analytics.filters import Filters
from deskpulse.analytics.results import (
    NO_TICKETS_MESSAGE,
    NONE_VALUE,
    Window,
    plain,
    require_as_of,
    row_dict,
)
from deskpulse.config import Thresholds
from deskpulse.store import TenantStore

KINDS: Final = ("category", "agent", "period", "status", "group", "handoffs")
STAGE_STATUSES: Final = ("new", "open", "pending", "hold")
SEVERITIES: Final = (("critical", 50.0), ("high", 30.0), ("medium", 20.0))
EXAMPLES: Final = 5
DEFAULT_MIN_TICKETS: Final = 10
WEEKDAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
UNASSIGNED: Final = "(unassigned)"


def severity(rate_pct: float) -> str:
    """critical ≥ 50 %, high ≥ 30 %, medium ≥ 20 %, low below (bands from seed 000)."""
    for name, floor in SEVERITIES:
        if rate_pct >= floor:
            return name
    return "low"


def is_bottleneck(rate_pct: float, threshold_pct: float) -> bool:
    """A slice is a bottleneck when its rate reaches the threshold (≥, see the module doc)."""
    return rate_pct >= threshold_pct


def period_label(code: str) -> str:
    """``'109'`` (ISO weekday 1, hour 9) → ``'Mon 09:00-10:00 UTC'``."""
    n = int(code)
    day, hour = divmod(n, 100)
    return f"{WEEKDAYS[day - 1]} {hour:02d}:00-{(hour + 1) % 24:02d}:00 UTC"




def _base_sql(pred: str, stage_pred: str) -> str:
    """Per ticket of the window (``b``, over :func:`facts_cte`'s ``f``) and per lifecycle stage
    it went through (``stages``)."""
    handoffs = "greatest(f.assignee_stations - 1, 0) + greatest(f.group_stations - 1, 0)"
    return f"""
    , b AS (
      SELECT f.ticket_id, f.created_at,
             coalesce(f.category, '{NONE_VALUE}') AS category,
             coalesce(f.assignee_id, '{UNASSIGNED}') AS agent,
             CAST(CAST(EXTRACT(isodow FROM f.created_at) AS INTEGER) * 100
                  + CAST(EXTRACT(hour FROM f.created_at) AS INTEGER) AS VARCHAR) AS period,
             CASE WHEN {handoffs} >= 3 THEN '3+' ELSE CAST({handoffs} AS VARCHAR) END AS handoffs,
             f.fr_missed + f.nr_missed + f.res_missed AS is_breached,
             f.fr_met + f.nr_met + f.res_met + f.fr_missed + f.nr_missed + f.res_missed
               AS is_sla_decided,
             CASE WHEN date_diff('second', f.created_at, $as_of) > $resolution_minutes * 60
                       AND f.status_now NOT IN ('solved', 'closed') THEN 1 ELSE 0 END AS is_delayed,
             CASE WHEN date_diff('second', f.created_at, $as_of) > $resolution_minutes * 60
                  THEN 1 ELSE 0 END AS is_delay_decided
      FROM f
      WHERE {pred}
    ), stages AS (
      SELECT sf.ticket_id, sf.created_at, sf.kind, sf.value,
             CASE WHEN sf.is_breached THEN 1 ELSE 0 END AS is_breached, 1 AS is_sla_decided,
             CASE WHEN sf.business_minutes > CASE WHEN sf.kind = 'status' AND sf.value = 'new'
                                                  THEN $first_response_minutes
                                                  ELSE $resolution_minutes END
                  THEN 1 ELSE 0 END AS is_delayed,
             1 AS is_delay_decided
      FROM sf
      WHERE {stage_pred}
    )
    """  # noqa: S608 - fixed SQL text, values are parameters


_COUNTS = """
    count(*) AS tickets, sum(is_sla_decided) AS sla_decided, sum(is_breached) AS breached,
    sum(is_delay_decided) AS delay_decided, sum(is_delayed) AS delayed
"""


def _scores_sql(pred: str, stage_pred: str) -> str:
    """One statement, one pass: per-slice counts (``row_type`` = count) and up to
    :data:`EXAMPLES` failing tickets per slice, most recent first (``row_type`` = example)."""
    failing = "is_breached > 0 OR is_delayed > 0"
    parts = [
        f"SELECT '{k}' AS kind, {k} AS value, ticket_id, created_at FROM b WHERE {failing}"  # noqa: S608 - fixed SQL text, values are parameters
        for k in ("category", "agent", "period", "handoffs")
    ]
    parts.append(f"SELECT kind, value, ticket_id, created_at FROM stages WHERE {failing}")  # noqa: S608 - fixed SQL text, values are parameters
    return (
        _base_sql(pred, stage_pred)  # noqa: S608 - fixed SQL text, values are parameters
        + f"""
    , counts AS (
      SELECT CASE WHEN GROUPING(category) = 0 THEN 'category'
                  WHEN GROUPING(agent) = 0 THEN 'agent'
                  WHEN GROUPING(period) = 0 THEN 'period' ELSE 'handoffs' END AS kind,
             coalesce(category, agent, period, handoffs) AS value, {_COUNTS}
      FROM b GROUP BY GROUPING SETS ((category), (agent), (period), (handoffs))
      UNION ALL
      SELECT kind, value, {_COUNTS} FROM stages GROUP BY kind, value
    ), failing AS ({" UNION ALL ".join(parts)}
    ), per_day AS (  -- failing tickets per slice and day, to rank only the most recent days
      SELECT kind, value, CAST(created_at AS DATE) AS day, count(*) AS n
      FROM failing GROUP BY kind, value, CAST(created_at AS DATE)
    ), cutoff AS (
      SELECT kind, value, max(day) AS day FROM (
        SELECT kind, value, day,
               sum(n) OVER (PARTITION BY kind, value ORDER BY day DESC
                            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - n AS newer
        FROM per_day) d
      WHERE newer < {EXAMPLES} GROUP BY kind, value
    ), examples AS (
      SELECT kind, value, ticket_id, rn FROM (
        SELECT f.kind, f.value, f.ticket_id,
               row_number() OVER (PARTITION BY f.kind, f.value
                                  ORDER BY f.created_at DESC, md5(f.ticket_id)) AS rn
        FROM failing f JOIN cutoff c ON c.kind = f.kind AND c.value = f.value
        WHERE CAST(f.created_at AS DATE) >= c.day) r
      WHERE rn <= {EXAMPLES}
    )
    SELECT 'count' AS row_type, kind, value, tickets, sla_decided, breached, delay_decided,
           delayed, CAST(NULL AS VARCHAR) AS ticket_id, CAST(NULL AS BIGINT) AS rn
    FROM counts
    UNION ALL
    SELECT 'example', kind, value, NULL, NULL, NULL, NULL, NULL, ticket_id, rn FROM examples
    """  # noqa: S608 - fixed SQL text, values are parameters
    )


@dataclass(frozen=True)
class Finding:
    """One bottleneck: a slice, its evidence, severity and a one-line recommendation."""

    kind: str
    value: str
    label: str
    severity: str
    rate_pct: float
    driver: str  # "breach" or "delay": which rate is the larger
    tickets: int
    sla_decided: int
    breached: int
    breach_rate_pct: float | None
    delay_decided: int
    delayed: int
    delay_rate_pct: float | None
    example_ticket_ids: list[str] = field(default_factory=list)
    recommendation: str = ""

    def as_dict(self) -> dict[str, Any]:
        return row_dict(self)

    def row(self) -> dict[str, Any]:
        """Flat row for tables and CSV (examples joined by spaces)."""
        d = self.as_dict()
        d["example_ticket_ids"] = " ".join(self.example_ticket_ids)
        return d


@dataclass(frozen=True)
class BottleneckReport:
    """:func:`bottlenecks`' result: findings, most severe first."""

    window: Window
    threshold_pct: float
    min_tickets: int
    tickets: int
    segments_scored: int
    findings: list[Finding]

    @property
    def is_empty(self) -> bool:
        return self.tickets == 0

    @property
    def message(self) -> str | None:
        if self.is_empty:
            return NO_TICKETS_MESSAGE
        return None if self.findings else "no bottlenecks at or above the threshold"

    def rows(self) -> list[dict[str, Any]]:
        return [f.row() for f in self.findings]

    def as_dict(self) -> dict[str, Any]:
        return dict(
            plain(
                {
                    "window": self.window,
                    "threshold_pct": self.threshold_pct,
                    "min_tickets": self.min_tickets,
                    "tickets": self.tickets,
                    "segments_scored": self.segments_scored,
                    "message": self.message,
                    "findings": self.findings,
                }
            )
        )


def _label(kind: str, value: str) -> str:
    if kind == "period":
        return period_label(value)
    if kind == "handoffs":
        return f"{value} hand-off{'s' if value != '1' else ''}"
    return f"{kind} {value}"


def recommend(kind: str, value: str, driver: str) -> str:
    """A one-line, actionable recommendation for a finding."""
    late = "breach their SLA" if driver == "breach" else "stay open past the resolution threshold"
    if kind == "category":
        return (f"Tickets in category '{value}' {late} too often: review routing and macros for "
                "it, and add a specialist or knowledge-base article.")
    if kind == "agent":
        if value == UNASSIGNED:
            return "Unassigned tickets wait too long: auto-assign on creation or triage the queue hourly."
        return (f"Agent {value}'s tickets {late} too often: rebalance the workload and review the "
                "queue together (coaching if handle times are high).")
    if kind == "period":
        return (f"Tickets created {period_label(value)} {late} too often: add coverage in that "
                "hour or hand over to another region.")
    if kind == "handoffs":
        return (f"Tickets with {value} hand-offs {late} too often: route right first time "
                "(skills-based routing) and hand over with context.")
    if kind == "status":
        return {
            "new": "Tickets wait too long in 'new': triage and assign faster (auto-assignment, "
                   "a triage rota).",
            "open": "Tickets stay 'open' too long: swarm on old tickets or escalate earlier.",
            "pending": "Tickets sit in 'pending' too long: send reminders and auto-solve after a "
                       "set wait.",
            "hold": "Tickets sit on 'hold' too long: chase the third party and set hold limits.",
        }.get(value, f"Tickets stay in '{value}' too long: review this step of the workflow.")
    if driver == "breach":
        return (f"Tickets breach their SLA while in group '{value}' too often: add capacity there "
                "at the hours it breaches, or route urgent work around it.")
    return (f"Group '{value}' holds tickets past their allowance too often: add capacity there "
            "or review its escalation path.")


def _rate(n: int, d: int) -> float | None:
    return 100.0 * n / d if d else None


def bottlenecks(
    repo: TenantStore,
    filters: Filters,
    thresholds: Thresholds,
    *,
    min_tickets: int = DEFAULT_MIN_TICKETS,
    kinds: tuple[str, ...] = KINDS,
) -> BottleneckReport:
    """Find bottleneck slices among the tickets created in the window (see the module doc)."""
    as_of = require_as_of(repo)
    window = Window.of(filters, as_of)
    threshold = thresholds.bottleneck_threshold_percentage
    if as_of is None:
        return BottleneckReport(window, threshold, min_tickets, 0, 0, [])
    pred, fparams = filters.ticket_predicate("f")
    fresh = is_fresh(repo)
    cte, cparams = facts_cte(repo, fresh=fresh)
    tickets = int(repo.scalar(f"{cte} SELECT count(*) FROM f WHERE {pred}",  # noqa: S608 - fixed SQL text, values are parameters
                              **{**cparams, **fparams}))
    if tickets == 0:
        return BottleneckReport(window, threshold, min_tickets, 0, 0, [])
    params = {
        **cparams,
        "as_of": as_of,
        "resolution_minutes": thresholds.resolution_hours * 60,
        "first_response_minutes": thresholds.first_response_minutes,
        **fparams,
    }
    stage_pred, _ = filters.ticket_predicate("sf")
    rows = repo.query(cte + _scores_sql(pred, stage_pred), **params).to_pylist()
    counts = [r for r in rows if r["row_type"] == "count"]
    examples: dict[tuple[str, str], list[str]] = {}
    for e in sorted((r for r in rows if r["row_type"] == "example"), key=lambda e: int(e["rn"])):
        examples.setdefault((e["kind"], e["value"]), []).append(e["ticket_id"])
    scored: list[tuple[dict[str, Any], float, str]] = []
    for r in counts:
        if r["kind"] not in kinds:
            continue
        sd, br = int(r["sla_decided"] or 0), int(r["breached"] or 0)
        dd, dl = int(r["delay_decided"] or 0), int(r["delayed"] or 0)
        least = max(min_tickets, 1)
        candidates: list[tuple[float, str]] = []
        if sd >= least:
            candidates.append((100.0 * br / sd, "breach"))
        if dd >= least:
            candidates.append((100.0 * dl / dd, "delay"))
        if not candidates:
            continue
        rate, driver = max(candidates, key=lambda c: (c[0], c[1] == "breach"))
        scored.append((r, rate, driver))
    flagged = [(r, rate, drv) for r, rate, drv in scored if is_bottleneck(rate, threshold)]
    findings = []
    for r, rate, driver in flagged:
        kind, value = r["kind"], r["value"]
        sd, dd = int(r["sla_decided"] or 0), int(r["delay_decided"] or 0)
        findings.append(
            Finding(
                kind=kind,
                value=value,
                label=_label(kind, value),
                severity=severity(rate),
                rate_pct=rate,
                driver=driver,
                tickets=int(r["tickets"]),
                sla_decided=sd,
                breached=int(r["breached"] or 0),
                breach_rate_pct=_rate(int(r["breached"] or 0), sd),
                delay_decided=dd,
                delayed=int(r["delayed"] or 0),
                delay_rate_pct=_rate(int(r["delayed"] or 0), dd),
                example_ticket_ids=examples.get((kind, value), []),
                recommendation=recommend(kind, value, driver),
            )
        )
    order = {name: i for i, (name, _) in enumerate(SEVERITIES)}
    findings.sort(key=lambda f: (order.get(f.severity, 9), -f.rate_pct * f.tickets, f.kind, f.value))
    return BottleneckReport(window, threshold, min_tickets, tickets, len(scored), findings)
