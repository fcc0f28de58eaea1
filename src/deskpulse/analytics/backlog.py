"""Backlog health (seeds 001, 003): ``backlog_daily`` reconstructed from the ticket history.

:func:`compute_backlog_daily` rebuilds, for every day in a range, what the backlog looked like
at the end of that day — from ``ticket_segments`` (the status × group × assignee timeline) and
``ticket_sla`` (due instants), not from today's ticket state. :func:`build_backlog_daily`
writes it into ``backlog_daily`` (CONTRACT §4); :func:`backlog_report` reads it back as a
burn-down, :func:`ticket_volume` counts arrivals per day or week and :func:`minutes_to_green`
answers seed 003's question. Definitions (also in docs/metrics.md):

- **Days are UTC days.** "End of day D" is the state just before ``D+1 00:00Z`` (everything
  that happened during D counts); the last day is the day of the build's ``as_of`` and ends
  at ``as_of`` (inclusive). Days after ``as_of`` are never produced.
- **open_count**: tickets whose status is new, open, pending or hold. **wip**: new or open
  (being worked); pending and hold wait on others and are not WIP.
- **arrivals**: tickets created during the day; **completions**: solves during the day — a
  change into solved/closed from an unsolved status (solved → closed is not a new one).
  For ``all``: open(D) = open(D-1) + arrivals(D) - completions(D) + reopens(D).
- **age buckets** of the open tickets at end of day, by age since created_at:
  lt_1d < 1 day ≤ d1_3 < 3 days ≤ d3_7 < 7 days ≤ d7_30 < 30 days ≤ gt_30d.
- **sla_debt_minutes**: over the SLA instances running (started, not stopped) on an open
  ticket at end of day and already breached (``breached_at`` passed), the sum of wall-clock
  minutes past ``due_at``. A target reached exactly at the close of business is due then but
  breached only at the next opening (CONTRACT §3): it owes no debt before that.
- **at_risk_count**: SLA instances running on an open ticket at end of day, not yet breached
  and due within the next :data:`AT_RISK_HOURS` hours (or due already, breaching at the next
  opening). due_at is as stored by the build: exact for reply clocks; a resolution clock that
  paused later is projected from its stop.
- Dimensions: ``all``; ``group`` is the group holding the ticket at that moment (from the
  timeline; arrivals use the group right after creation, completions the group at the solve);
  ``priority``, ``channel``, ``region`` (and the filters) use the ticket's current value.
  A missing value is ``(none)``.

Set-based, no per-ticket or per-day loop: every interval during which a ticket (or an SLA
instance) counts towards a measure becomes a +1 at the first day boundary it covers and a
-1 after the last one; a running sum over a dense day grid turns the changes into daily
stocks, so the cost grows with the number of segments, not with tickets × days.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from deskpulse.analytics.facts import facts_cte
from deskpulse.analytics.filters import Filters
from deskpulse.analytics.results import (
    NO_TICKETS_MESSAGE,
    NONE_VALUE,
    Window,
    plain,
    require_as_of,
)
from deskpulse.errors import UsageError
from deskpulse.store import TenantStore
from deskpulse.store.schema import BACKLOG_DAILY_COLUMNS

log = logging.getLogger(__name__)

#: Dimensions backlog_daily can be broken down by: name -> how the value is found.
BACKLOG_DIMENSIONS: Final = ("all", "group", "priority", "channel", "region")
DEFAULT_DIMENSIONS: Final = BACKLOG_DIMENSIONS
#: An instance due within this many hours (and not yet past due) is at risk.
AT_RISK_HOURS: Final = 4
#: Completions per minute are measured over this many days before as_of (minutes to green).
THROUGHPUT_DAYS: Final = 7

DAY_SECONDS: Final = 86400
_INF: Final = 10**15  # "never ends" in seconds after the origin
UNSOLVED: Final = "('new', 'open', 'pending', 'hold')"
SOLVED: Final = "('solved', 'closed')"
#: Age buckets (column, lower bound in days); each runs to the next lower bound.
AGE_BUCKETS: Final = (("lt_1d", 0), ("d1_3", 1), ("d3_7", 3), ("d7_30", 7), ("gt_30d", 30))
_STOCKS: Final = ("open", "wip", *(b for b, _ in AGE_BUCKETS), "debt_n", "at_risk")


def _secs(expr: str) -> str:
    """Whole seconds from the origin (``$origin``) to a timestamp expression."""
    return f"date_diff('second', $origin, {expr})"


def _day(expr: str) -> str:
    """Index of the first day boundary at or after ``expr`` + 1 s, i.e. how many boundaries
    lie at or before ``expr`` (seconds after the origin): boundary i is ``(i+1)`` days after
    the origin, except the last (``$n``), which is ``$last_b`` (as_of + 1 s when as_of is in
    the range). A change at second x shows in the state "just before" every boundary > x."""
    return (
        f"CAST(CASE WHEN {expr} >= $last_b THEN $n + 1 "
        f"ELSE least(greatest({expr} // {DAY_SECONDS}, 0), $n) END AS INTEGER)"
    )


def check_dimensions(dimensions: Sequence[str]) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(dimensions))
    unknown = [d for d in names if d not in BACKLOG_DIMENSIONS]
    if unknown or not names:
        bad = unknown[0] if unknown else ""
        raise UsageError(f"unknown backlog dimension {bad!r}; use {', '.join(BACKLOG_DIMENSIONS)}")
    return names


#: Measures, coded as small integers inside the query (grouping on integers is fast).
MEASURES: Final = ("open", "wip", *(b for b, _ in AGE_BUCKETS), "debt_n", "at_risk",
                   "arrivals", "completions")
_M: Final = {m: i + 1 for i, m in enumerate(MEASURES)}
_KEYS: Final = "gc, combo"


def _pieces_sql(pred: str) -> str:
    """Daily changes per measure, group and attribute combination (``agg``).

    Pieces are intervals (lo, hi] in seconds after the origin during which a measure counts
    1 (``wd`` carries the due second of SLA-debt pieces); each becomes +1 at the first day
    boundary it holds and -1 after the last. Arrivals and solves are one-off flows.
    ``combo`` numbers the distinct (priority, channel, region) of the tickets (``combos``).
    """
    ages = []
    for k, (name, lower) in enumerate(AGE_BUCKETS):
        lo = f"greatest(lo, c + {lower * DAY_SECONDS} - 1)"
        hi = (
            f"least(hi, c + {AGE_BUCKETS[k + 1][1] * DAY_SECONDS} - 1)"
            if k + 1 < len(AGE_BUCKETS)
            else "hi"
        )
        ages.append(f"SELECT {_KEYS}, {_M[name]} AS m, {lo} AS lo, {hi} AS hi, 0 AS wd FROM sg")  # noqa: S608 - fixed SQL text, values are parameters
    age_sql = " UNION ALL ".join(ages)
    risk = AT_RISK_HOURS * 3600
    return f"""
    WITH tk0 AS (
      SELECT t.ticket_id, date_trunc('second', t.created_at) AS created_at,
             {_secs("t.created_at")} AS c,
             coalesce(t.priority, '{NONE_VALUE}') AS priority,
             coalesce(t.channel, '{NONE_VALUE}') AS channel,
             coalesce(t.region, '{NONE_VALUE}') AS region
      FROM tickets t WHERE {pred}
    ), combos AS (
      SELECT priority, channel, region,
             CAST(row_number() OVER (ORDER BY priority, channel, region) AS INTEGER) AS combo
      FROM (SELECT DISTINCT priority, channel, region FROM tk0) d
    ), tk AS (
      SELECT tk0.ticket_id, tk0.created_at, tk0.c, cb.combo
      FROM tk0 JOIN combos cb ON cb.priority = tk0.priority AND cb.channel = tk0.channel
                             AND cb.region = tk0.region
    ), grps AS (
      SELECT g, CAST(row_number() OVER (ORDER BY g) AS INTEGER) AS gc
      FROM (SELECT DISTINCT coalesce("group", '{NONE_VALUE}') AS g FROM ticket_segments) d
    ), sg0 AS (
      SELECT s.ticket_id, s.status, coalesce(s."group", '{NONE_VALUE}') AS grp,
             {_secs("s.started_at")} AS lo,
             coalesce({_secs("s.ended_at")}, {_INF}) AS hi
      FROM ticket_segments s
      WHERE s.status IN {UNSOLVED} AND s.started_at < $last_at
        AND (s.ended_at IS NULL OR s.ended_at > $origin)
    ), sg AS (  -- unsolved segments that hold at least one day boundary
      SELECT sg0.ticket_id, sg0.status, gr.gc, sg0.lo, sg0.hi, tk.c, tk.combo
      FROM sg0 JOIN tk ON tk.ticket_id = sg0.ticket_id JOIN grps gr ON gr.g = sg0.grp
      WHERE {_day("sg0.lo")} < {_day("sg0.hi")}
    ), inst AS (  -- SLA instances that are breached, or due soon, at some boundary
      SELECT i.ticket_id, {_secs("i.started_at")} AS st, {_secs("i.due_at")} AS due,
             coalesce({_secs("i.stopped_at")}, {_INF}) AS sp,
             coalesce({_secs("i.breached_at")}, {_INF}) AS br
      FROM ticket_sla i
      WHERE i.due_at IS NOT NULL AND i.started_at < $last_at
        AND (i.stopped_at IS NULL OR i.stopped_at > $origin)
    ), inst2 AS (
      SELECT * FROM inst
      WHERE (br < {_INF} AND {_day("greatest(st, br)")} < {_day("sp")})
         OR {_day(f"greatest(st, due - {risk})")} < {_day("least(sp, br)")}
    ), pieces AS (
      SELECT {_KEYS}, {_M["open"]} AS m, lo, hi, 0 AS wd FROM sg
      UNION ALL
      SELECT {_KEYS}, {_M["wip"]}, lo, hi, 0 FROM sg WHERE status IN ('new', 'open')
      UNION ALL {age_sql}
      UNION ALL
      SELECT sg.gc, sg.combo, {_M["debt_n"]}, greatest(sg.lo, i.st, i.br), least(sg.hi, i.sp), i.due
      FROM inst2 i JOIN sg ON sg.ticket_id = i.ticket_id WHERE i.br < {_INF}
      UNION ALL
      SELECT sg.gc, sg.combo, {_M["at_risk"]}, greatest(sg.lo, i.st, i.due - {risk}),
             least(sg.hi, i.sp, i.br), 0
      FROM inst2 i JOIN sg ON sg.ticket_id = i.ticket_id
    ), bounded AS (
      SELECT {_KEYS}, m, wd, {_day("lo")} AS i0, {_day("hi")} AS i1 FROM pieces
    ), changes AS (
      SELECT {_KEYS}, m, i0 AS idx, 1 AS w, wd FROM bounded WHERE i0 < i1
      UNION ALL
      SELECT {_KEYS}, m, i1, -1, -wd FROM bounded WHERE i0 < i1 AND i1 <= $n
      UNION ALL
      SELECT gr.gc, tk.combo, {_M["arrivals"]}, {_day("tk.c")}, 1, 0
      FROM tk JOIN ticket_segments s ON s.ticket_id = tk.ticket_id AND s.started_at = tk.created_at
      JOIN grps gr ON gr.g = coalesce(s."group", '{NONE_VALUE}')
      WHERE tk.c >= 0 AND tk.c < $last_b AND (s.ended_at IS NULL OR s.ended_at > s.started_at)
      UNION ALL
      SELECT gr.gc, tk.combo, {_M["completions"]},
             {_day(_secs("x.started_at"))}, 1, 0
      FROM (SELECT ticket_id, segment, started_at, "group" FROM ticket_segments
            WHERE status IN {SOLVED} AND started_at >= $origin AND started_at < $last_at) x
      JOIN tk ON tk.ticket_id = x.ticket_id
      JOIN grps gr ON gr.g = coalesce(x."group", '{NONE_VALUE}')
      LEFT JOIN (SELECT ticket_id, segment + 1 AS next_segment FROM ticket_segments
                 WHERE status IN {SOLVED}) p
        ON p.ticket_id = x.ticket_id AND p.next_segment = x.segment
      WHERE p.ticket_id IS NULL
    ), by_combo AS (  -- two small aggregates instead of one by (group, combo)
      SELECT idx, m, combo, CAST(sum(w) AS BIGINT) AS w, CAST(sum(wd) AS BIGINT) AS wd
      FROM changes GROUP BY idx, m, combo
    ), by_group AS (
      SELECT idx, m, gc, CAST(sum(w) AS BIGINT) AS w, CAST(sum(wd) AS BIGINT) AS wd
      FROM changes GROUP BY idx, m, gc
    ), agg_combo AS (
      SELECT a.idx, a.m, cb.priority, cb.channel, cb.region, a.w, a.wd
      FROM by_combo a JOIN combos cb ON cb.combo = a.combo
    ), agg_group AS (
      SELECT a.idx, a.m, gr.g AS grp, a.w, a.wd FROM by_group a JOIN grps gr ON gr.gc = a.gc
    )
    """  # noqa: S608 - fixed SQL text, values are parameters


#: dimension -> (value expression, the aggregate it is read from)
_DIM_VALUE: Final = {
    "all": ("'all'", "agg_group"),
    "group": ("grp", "agg_group"),
    "priority": ("priority", "agg_combo"),
    "channel": ("channel", "agg_combo"),
    "region": ("region", "agg_combo"),
}


def _backlog_sql(pred: str, dimensions: tuple[str, ...]) -> str:
    per_dim = " UNION ALL ".join(
        f"SELECT '{d}' AS dimension, {_DIM_VALUE[d][0]} AS value, idx, m, "  # noqa: S608 - fixed SQL text, values are parameters
        f"CAST(sum(w) AS BIGINT) AS w, CAST(sum(wd) AS BIGINT) AS wd FROM {_DIM_VALUE[d][1]} "
        f"GROUP BY {_DIM_VALUE[d][0] + ', ' if d != 'all' else ''}idx, m"
        for d in dimensions
    )
    cols = ", ".join(
        f"coalesce(sum(dv.w) FILTER (WHERE dv.m = {_M[m]}), 0) AS {m}"
        for m in (*_STOCKS, "arrivals", "completions")
    )
    running = ", ".join(
        f"CAST(sum({m}) OVER (PARTITION BY dimension, value ORDER BY idx "
        f"ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS BIGINT) AS {m}"
        for m in (*_STOCKS, "debt_due")
    )
    buckets = ", ".join(f"{b}" for b, _ in AGE_BUCKETS)
    return (
        _pieces_sql(pred)  # noqa: S608 - fixed SQL text, values are parameters
        + f""", dv AS ({per_dim}
    ), vals AS (SELECT DISTINCT dimension, value FROM dv
    ), grid AS (
      SELECT v.dimension, v.value, CAST(g.idx AS INTEGER) AS idx
      FROM vals v CROSS JOIN generate_series(0, $n) AS g(idx)
    ), cells AS (
      SELECT g.dimension, g.value, g.idx, {cols},
             coalesce(sum(dv.wd) FILTER (WHERE dv.m = {_M['debt_n']}), 0) AS debt_due
      FROM grid g LEFT JOIN dv ON dv.dimension = g.dimension AND dv.value = g.value AND dv.idx = g.idx
      GROUP BY g.dimension, g.value, g.idx
    ), stocks AS (
      SELECT dimension, value, idx, CAST(arrivals AS BIGINT) AS arrivals,
             CAST(completions AS BIGINT) AS completions, {running}
      FROM cells
    )
    SELECT CAST($start_date AS DATE) + idx AS date, dimension, value,
           CAST(open AS INTEGER) AS open_count, CAST(arrivals AS INTEGER) AS arrivals,
           CAST(completions AS INTEGER) AS completions, CAST(wip AS INTEGER) AS wip, {buckets},
           debt_n * least((idx + 1) * {DAY_SECONDS}, $last_t) - debt_due AS sla_debt_seconds,
           CAST(at_risk AS INTEGER) AS at_risk_count
    FROM stocks
    """  # noqa: S608 - fixed SQL text, values are parameters
    )


def _range(
    repo: TenantStore, start_date: date | None, end_date: date | None, as_of: datetime
) -> tuple[date, date] | None:
    last = as_of.date()
    end = min(end_date, last) if end_date else last
    if start_date is None:
        first = repo.scalar("SELECT min(created_at) FROM tickets WHERE deleted_at IS NULL")
        if first is None:
            return None
        start_date = first.date()
    if start_date > end:
        return None
    return start_date, end


_SCHEMA: Final = pa.schema(
    [
        pa.field("date", pa.date32()),
        pa.field("dimension", pa.string()),
        pa.field("value", pa.string()),
        *[
            pa.field(c, pa.int32())
            for c in ("open_count", "arrivals", "completions", "wip",
                      "lt_1d", "d1_3", "d3_7", "d7_30", "gt_30d")
        ],
        pa.field("sla_debt_minutes", pa.float64()),
        pa.field("at_risk_count", pa.int32()),
    ]
)


def _empty() -> pa.Table:
    return _SCHEMA.empty_table()


def compute_backlog_daily(
    repo: TenantStore,
    start_date: date | None = None,
    end_date: date | None = None,
    dimensions: Sequence[str] = DEFAULT_DIMENSIONS,
    *,
    filters: Filters | None = None,
    as_of: datetime | None = None,
) -> pa.Table:
    """Rows of ``backlog_daily`` (CONTRACT §4 columns) for every day in [start_date, end_date].

    ``start_date`` defaults to the first ticket's day, ``end_date`` to (and is capped at) the
    day of the build's ``as_of``. ``filters`` restricts the tickets by their current
    attributes (its time window is ignored: the range is given by the dates). Rows are
    sorted by date, dimension and value (Python order, not the database collation).
    """
    names = check_dimensions(dimensions)
    as_of = as_of or require_as_of(repo)
    if as_of is None:
        return _empty()
    span = _range(repo, start_date, end_date, as_of)
    if span is None:
        return _empty()
    start, end = span
    origin = datetime.combine(start, datetime.min.time())
    n = (end - start).days
    as_of_s = int((as_of - origin).total_seconds())
    last_b = min((n + 1) * DAY_SECONDS, as_of_s + 1)
    # SLA debt of the last day is measured at as_of itself (not as_of + 1 s)
    last_t = as_of_s if last_b == as_of_s + 1 else last_b
    pred, params = Filters(values=dict(filters.values) if filters else {}).ticket_predicate("t")
    data = repo.query(
        _backlog_sql(pred, names),
        origin=origin,
        start_date=start,
        n=n,
        last_b=last_b,
        last_t=last_t,
        last_at=origin + timedelta(seconds=last_b),
        **params,
    )
    debt = pc.divide(pc.cast(data.column("sla_debt_seconds"), pa.float64()), 60.0)
    out = pa.table(
        {
            **{c: data.column(c) for c in BACKLOG_DAILY_COLUMNS[:-2]},
            "sla_debt_minutes": debt,
            "at_risk_count": data.column("at_risk_count"),
        }
    ).cast(_SCHEMA)
    # sorted in Arrow (binary string order), never by the database's collation
    rank = pc.index_in(out.column("dimension"), value_set=pa.array(names, pa.string()))
    keyed = out.append_column("_rank", rank)
    keyed = keyed.sort_by([("date", "ascending"), ("_rank", "ascending"), ("value", "ascending")])
    return keyed.drop_columns(["_rank"])


@dataclass(frozen=True)
class BacklogBuildSummary:
    """What :func:`build_backlog_daily` wrote."""

    start_date: date | None
    end_date: date | None
    dimensions: tuple[str, ...]
    rows: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return dict(plain(self))


def build_backlog_daily(
    repo: TenantStore,
    start_date: date | None = None,
    end_date: date | None = None,
    dimensions: Sequence[str] = DEFAULT_DIMENSIONS,
    *,
    as_of: datetime | None = None,
) -> BacklogBuildSummary:
    """(Re)write the tenant's ``backlog_daily`` for the range (defaults: all history up to the
    build's ``as_of``). Meant to run at the end of ``deskpulse build``; replaces every row."""
    started = time.perf_counter()
    names = check_dimensions(dimensions)
    data = compute_backlog_daily(repo, start_date, end_date, names, as_of=as_of)
    repo.replace_rows("backlog_daily", data)
    dates = data.column("date")
    summary = BacklogBuildSummary(
        start_date=pc.min(dates).as_py() if data.num_rows else None,
        end_date=pc.max(dates).as_py() if data.num_rows else None,
        dimensions=names,
        rows=data.num_rows,
        seconds=round(time.perf_counter() - started, 3),
    )
    log.info("backlog_daily: %s", summary)
    return summary


# --- reading: burn-down, volume, minutes to green ----------------------------------------------


@dataclass(frozen=True)
class BacklogDay:
    """One day of one dimension value (a ``backlog_daily`` row) with its net change."""

    date: date
    dimension: str
    value: str
    open_count: int
    arrivals: int
    completions: int
    net_change: int
    wip: int
    lt_1d: int
    d1_3: int
    d3_7: int
    d7_30: int
    gt_30d: int
    sla_debt_minutes: float
    at_risk_count: int

    def as_dict(self) -> dict[str, Any]:
        return dict(plain(self))


@dataclass(frozen=True)
class BurnDown:
    """The backlog trend over the days shown: start and end stock, flows, net burn rate."""

    days: int
    open_at_start: int
    open_at_end: int
    arrivals: int
    completions: int
    arrivals_per_day: float | None
    completions_per_day: float | None
    net_burn_per_day: float | None
    days_to_clear_at_net_burn: float | None


@dataclass(frozen=True)
class GreenEstimate:
    """Seed 003's minutes to green at the build's ``as_of``.

    Red tickets are open tickets with an SLA instance running past due (active_breached) or
    due within :data:`AT_RISK_HOURS` hours; throughput is the completions (solves) per minute
    over the :data:`THROUGHPUT_DAYS` days before ``as_of``. Minutes to green = red tickets /
    throughput: how long until no open ticket is breached or at risk if the team worked the
    red tickets first at its current pace (None without throughput; 0 when nothing is red).
    """

    as_of: datetime | None
    open_tickets: int
    breached_tickets: int
    at_risk_tickets: int
    red_tickets: int
    completions_last_days: int
    throughput_days: int
    throughput_per_hour: float | None
    minutes_to_green: float | None

    def as_dict(self) -> dict[str, Any]:
        return dict(plain(self))


@dataclass(frozen=True)
class BacklogReport:
    """Daily backlog rows of one dimension value plus burn-down and minutes to green."""

    window: Window
    dimension: str
    days: list[BacklogDay]
    burndown: BurnDown
    green: GreenEstimate
    rebuilt: bool = False
    values: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.days

    @property
    def message(self) -> str | None:
        return NO_TICKETS_MESSAGE if self.is_empty else None

    def rows(self) -> list[dict[str, Any]]:
        return [d.as_dict() for d in self.days]

    def as_dict(self) -> dict[str, Any]:
        return dict(
            plain(
                {
                    "window": self.window,
                    "dimension": self.dimension,
                    "message": self.message,
                    "rebuilt": self.rebuilt,
                    "burndown": self.burndown,
                    "green": self.green,
                    "days": self.days,
                }
            )
        )


def _stored_span(repo: TenantStore) -> tuple[date | None, date | None, int]:
    row = repo.rows(
        "SELECT min(date), max(date), count(DISTINCT dimension) FROM backlog_daily WHERE dimension = 'all'"
    )[0]
    return row[0], row[1], int(row[2] or 0)


def _first_day(repo: TenantStore) -> date | None:
    first = repo.scalar("SELECT min(created_at) FROM tickets WHERE deleted_at IS NULL")
    return first.date() if first else None


def ensure_backlog_daily(repo: TenantStore, *, rebuild: bool = False) -> bool:
    """Build ``backlog_daily`` when it is missing, or does not span the first ticket's day up
    to the build's ``as_of`` day (a newer build); returns whether it (re)built. ``rebuild``
    forces it. A build wired to :func:`build_backlog_daily` keeps it fresh anyway."""
    as_of = require_as_of(repo)
    if as_of is None:
        return False
    lo, hi, _ = _stored_span(repo)
    if rebuild or lo is None or hi != as_of.date() or lo != _first_day(repo):
        build_backlog_daily(repo, as_of=as_of)
        return True
    return False


def _read_days(
    repo: TenantStore, dimension: str, value: str | None, start: date | None, end: date | None
) -> list[BacklogDay]:
    where = ["dimension = $dimension"]
    params: dict[str, Any] = {"dimension": dimension}
    if value is not None:
        where.append("value = $value")
        params["value"] = value
    if start is not None:
        where.append("date >= $start")
        params["start"] = start
    if end is not None:
        where.append("date <= $end")
        params["end"] = end
    cols = ", ".join(f'"{c}"' for c in BACKLOG_DAILY_COLUMNS)
    rows = repo.query(
        f"SELECT {cols} FROM backlog_daily WHERE {' AND '.join(where)}",  # noqa: S608 - fixed text
        **params,
    ).to_pylist()
    return _to_days(rows)


def _to_days(rows: list[dict[str, Any]]) -> list[BacklogDay]:
    rows.sort(key=lambda r: (r["date"], r["value"]))
    return [
        BacklogDay(
            date=r["date"], dimension=r["dimension"], value=r["value"],
            open_count=int(r["open_count"]), arrivals=int(r["arrivals"]),
            completions=int(r["completions"]),
            net_change=int(r["arrivals"]) - int(r["completions"]), wip=int(r["wip"]),
            lt_1d=int(r["lt_1d"]), d1_3=int(r["d1_3"]), d3_7=int(r["d3_7"]),
            d7_30=int(r["d7_30"]), gt_30d=int(r["gt_30d"]),
            sla_debt_minutes=round(float(r["sla_debt_minutes"]), 6),
            at_risk_count=int(r["at_risk_count"]),
        )
        for r in rows
    ]


def _burndown(days: list[BacklogDay]) -> BurnDown:
    if not days:
        return BurnDown(0, 0, 0, 0, 0, None, None, None, None)
    dates = sorted({d.date for d in days})
    first = [d for d in days if d.date == dates[0]]
    last = [d for d in days if d.date == dates[-1]]
    n = len(dates)
    arrivals = sum(d.arrivals for d in days)
    completions = sum(d.completions for d in days)
    open_end = sum(d.open_count for d in last)
    burn = (completions - arrivals) / n
    return BurnDown(
        days=n,
        open_at_start=sum(d.open_count - d.net_change for d in first),
        open_at_end=open_end,
        arrivals=arrivals,
        completions=completions,
        arrivals_per_day=arrivals / n,
        completions_per_day=completions / n,
        net_burn_per_day=burn,
        days_to_clear_at_net_burn=(open_end / burn) if burn > 0 else (0.0 if open_end == 0 else None),
    )


def minutes_to_green(
    repo: TenantStore,
    filters: Filters | None = None,
    *,
    at_risk_hours: float = AT_RISK_HOURS,
    throughput_days: int = THROUGHPUT_DAYS,
) -> GreenEstimate:
    """Seed 003's "minutes to green" at the build's ``as_of`` (see :class:`GreenEstimate`)."""
    as_of = require_as_of(repo)
    if as_of is None:
        return GreenEstimate(None, 0, 0, 0, 0, 0, throughput_days, None, None)
    pred, params = Filters(values=dict(filters.values) if filters else {}).ticket_predicate("f")
    cte, cparams = facts_cte(repo)
    row = repo.query(
        f"""
        {cte}, tk AS (SELECT f.ticket_id, f.status_now FROM f WHERE {pred}),
        open_now AS (  -- the status at as_of is the ticket's open segment's
          SELECT tk.ticket_id FROM tk WHERE tk.status_now IN {UNSOLVED}
        ), flags AS (
          SELECT i.ticket_id,
                 max(CASE WHEN i.status = 'active_breached' THEN 1 ELSE 0 END) AS is_breached,
                 max(CASE WHEN i.status = 'active' AND i.due_at <= $risk_until THEN 1 ELSE 0 END)
                   AS is_at_risk
          FROM ticket_sla i JOIN open_now o ON o.ticket_id = i.ticket_id
          WHERE i.stopped_at IS NULL GROUP BY i.ticket_id
        ), solves AS (
          SELECT count(*) AS n FROM ticket_segments x
          JOIN tk ON tk.ticket_id = x.ticket_id
          LEFT JOIN ticket_segments p ON p.ticket_id = x.ticket_id AND p.segment = x.segment - 1
          WHERE x.status IN {SOLVED} AND x.started_at > $since AND x.started_at <= $as_of
            AND (p.ticket_id IS NULL OR p.status NOT IN {SOLVED})
        )
        SELECT (SELECT count(*) FROM open_now) AS open_tickets,
               (SELECT count(*) FROM flags WHERE is_breached = 1) AS breached,
               (SELECT count(*) FROM flags WHERE is_breached = 0 AND is_at_risk = 1) AS at_risk,
               (SELECT n FROM solves) AS solves
        """,  # noqa: S608 - predicate from Filters (parameters only)
        **{**cparams, "as_of": as_of, "since": as_of - timedelta(days=throughput_days),
           "risk_until": as_of + timedelta(hours=at_risk_hours), **params},
    ).to_pylist()[0]
    breached, at_risk = int(row["breached"] or 0), int(row["at_risk"] or 0)
    red = breached + at_risk
    solves = int(row["solves"] or 0)
    per_minute = solves / (throughput_days * 1440)
    return GreenEstimate(
        as_of=as_of,
        open_tickets=int(row["open_tickets"] or 0),
        breached_tickets=breached,
        at_risk_tickets=at_risk,
        red_tickets=red,
        completions_last_days=solves,
        throughput_days=throughput_days,
        throughput_per_hour=per_minute * 60,
        minutes_to_green=0.0 if red == 0 else (red / per_minute if per_minute else None),
    )


def backlog_report(
    repo: TenantStore,
    filters: Filters,
    *,
    dimension: str = "all",
    value: str | None = None,
    rebuild: bool = False,
) -> BacklogReport:
    """The backlog per day for the window's dates (``filters.start_at``/``end_at``; default:
    all history), one dimension (optionally one value), with burn-down and minutes to green.

    Without dimension filters it reads ``backlog_daily`` (building it first when missing or
    older than the last build, see :func:`ensure_backlog_daily`); with filters (``--group``,
    ``--category`` …) it computes the rows for the matching tickets on the fly.
    """
    names = check_dimensions([dimension])
    as_of = require_as_of(repo)
    window = Window.of(filters, as_of)
    start = filters.start_at.date() if filters.start_at else None
    end = (filters.end_at - timedelta(seconds=1)).date() if filters.end_at else None
    if as_of is None:
        return BacklogReport(window, dimension, [], _burndown([]), minutes_to_green(repo))
    rebuilt = False
    if filters.values:
        table = compute_backlog_daily(repo, start, end, names, filters=filters, as_of=as_of)
        rows = table.to_pylist()
        if value is not None:
            rows = [r for r in rows if r["value"] == value]
        days = _to_days(rows)
    else:
        rebuilt = ensure_backlog_daily(repo, rebuild=rebuild)
        days = _read_days(repo, dimension, value, start, end)
    values = sorted({d.value for d in days})
    return BacklogReport(
        window, dimension, days, _burndown(days), minutes_to_green(repo, filters), rebuilt, values
    )


@dataclass(frozen=True)
class VolumeRow:
    """Tickets created in one period (a UTC day, or an ISO week starting Monday)."""

    period_start: date
    tickets: int

    def as_dict(self) -> dict[str, Any]:
        return dict(plain(self))


@dataclass(frozen=True)
class VolumeReport:
    """:func:`ticket_volume`'s result."""

    window: Window
    period: str
    periods: list[VolumeRow]

    @property
    def tickets(self) -> int:
        return sum(p.tickets for p in self.periods)

    @property
    def is_empty(self) -> bool:
        return self.tickets == 0

    @property
    def message(self) -> str | None:
        return NO_TICKETS_MESSAGE if self.is_empty else None

    def rows(self) -> list[dict[str, Any]]:
        return [p.as_dict() for p in self.periods]

    def as_dict(self) -> dict[str, Any]:
        return dict(
            plain(
                {
                    "window": self.window,
                    "period": self.period,
                    "tickets": self.tickets,
                    "message": self.message,
                    "periods": self.periods,
                }
            )
        )


PERIODS: Final = {"day": "INTERVAL 1 DAY", "week": "INTERVAL 7 DAY"}


def ticket_volume(repo: TenantStore, filters: Filters, *, period: str = "day") -> VolumeReport:
    """Tickets created per UTC day or ISO week (Monday) in the window, gaps filled with 0.

    The window defaults to the first ticket's period up to the build's ``as_of``.
    """
    if period not in PERIODS:
        raise UsageError(f"unknown period {period!r}; use {', '.join(PERIODS)}")
    as_of = require_as_of(repo)
    window = Window.of(filters, as_of)
    pred, params = filters.ticket_predicate("t")
    bounds = repo.rows(
        f"SELECT min(t.created_at), max(t.created_at) FROM tickets t WHERE {pred}",  # noqa: S608 - fixed SQL text, values are parameters
        **params,
    )[0]
    if as_of is None or bounds[0] is None:
        return VolumeReport(window, period, [])

    def trunc(at: datetime) -> datetime:
        day = datetime.combine(at.date(), datetime.min.time())
        return day - timedelta(days=day.weekday()) if period == "week" else day

    first = trunc(filters.start_at or bounds[0])
    last = trunc((filters.end_at - timedelta(seconds=1)) if filters.end_at else max(bounds[1], as_of))
    rows = repo.query(
        f"""
        WITH v AS (
          SELECT date_trunc('{period}', t.created_at) AS p, count(*) AS n
          FROM tickets t WHERE {pred} GROUP BY 1
        )
        SELECT CAST(g.p AS DATE) AS period_start, CAST(coalesce(v.n, 0) AS BIGINT) AS tickets
        FROM generate_series(CAST($first AS TIMESTAMP), CAST($last AS TIMESTAMP), {PERIODS[period]}) AS g(p)
        LEFT JOIN v ON v.p = g.p
        """,  # noqa: S608 - period from a fixed set, values as parameters
        first=first,
        last=last,
        **params,
    ).to_pylist()
    rows.sort(key=lambda r: r["period_start"])
    return VolumeReport(window, period, [VolumeRow(r["period_start"], int(r["tickets"])) for r in rows])
