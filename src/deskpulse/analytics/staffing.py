"""Staffing: agents needed per hour of the week to meet a first-reply service level (Erlang C),
set against the roster (issue 5 item 6, seed 003).

One job: turn the arrival profile and a handle time into agents needed per (weekday, hour) slot
and compare them with the agents on shift.

- **Arrival rate** λ per slot = mean tickets created in that weekday-hour over the window (every
  occurrence of the slot counts, zero-arrival hours included), in the grid's timezone
  (``tz``, default UTC).
- **Handle time** (AHT, minutes), ``aht_method``:
  ``reply-gap`` (default) — the mean gap between an agent's consecutive public replies (made in
  the window) when it is at most 60 minutes (the same working session): the agent time one reply
  takes, idle time between replies included, so an upper bound;
  ``agent-work`` — mean ``agent_work_business_minutes`` of solved tickets (time in new/open:
  includes queueing, so it overstates handle time);
  ``assign-to-reply`` — mean calendar minutes from the first assignment to the first reply
  (includes queueing when routing assigns on arrival);
  or a fixed ``aht_minutes``.
- **Erlang C**: traffic A = λ·AHT; for N > A agents, P(wait) = C(N, A) (from the Erlang B
  recursion) and the service level SL = 1 − C(N, A)·e^(−(N − A)·T/AHT) with T = ``within`` minutes.
  Agents needed = the least N with SL ≥ ``target``; scheduled = ⌈N / (1 − shrinkage)⌉
  (shrinkage: breaks, meetings, absence; default 30 %).
- **Roster**: from an ``agents.csv`` (``agent_id, group, timezone, shift`` as the sample writes it,
  e.g. ``mon-fri 08:00-12:00,13:00-16:30`` in the agent's timezone) as the hours each agent is on
  shift in each slot of the week after ``as_of`` (DST-exact through the calendar kernel), and/or
  observed: the mean number of distinct agents with any event in that weekday-hour.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa

from deskpulse.analytics.filters import Filters
from deskpulse.analytics.insights_common import (
    NO_TICKETS,
    FloatArray,
    IntArray,
    jsonable,
    resolve_as_of,
    ts_seconds,
)
from deskpulse.calendar.kernel import BusinessCalendar
from deskpulse.calendar.spec import CalendarSpec, Interval, load_zone, parse_day_key, parse_interval
from deskpulse.errors import BadInputError, UsageError
from deskpulse.store import TenantStore

AHT_METHODS: Final = ("reply-gap", "agent-work", "assign-to-reply")
SESSION_GAP_MINUTES: Final = 60.0
DEFAULT_WINDOW_DAYS: Final = 28
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


# --- Erlang C -----------------------------------------------------------------------------------


def erlang_c(agents: int | IntArray, traffic_erlangs: float | FloatArray) -> FloatArray:
    """Probability that a contact waits, C(N, A); 1 where N ≤ A (the queue grows without bound)."""
    n = np.atleast_1d(np.asarray(agents, dtype=np.int64))
    a = np.atleast_1d(np.asarray(traffic_erlangs, dtype=np.float64))
    n, a = np.broadcast_arrays(n, a)
    b = np.ones(n.shape)
    top = int(n.max(initial=0))
    for k in range(1, top + 1):  # Erlang B recursion, vectorised over slots
        nb = a * b / (k + a * b)
        b = np.where(k <= n, nb, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = n * b / (n - a * (1 - b))
    out: FloatArray = np.where(n > a, c, 1.0)
    return out


def service_level(agents: int | IntArray, traffic_erlangs: float | FloatArray,
                  within_minutes: float, aht_minutes: float) -> FloatArray:
    """Share of contacts answered within ``within_minutes``: 1 − C(N, A)·e^(−(N − A)·T/AHT)."""
    n = np.atleast_1d(np.asarray(agents, dtype=np.float64))
    a = np.atleast_1d(np.asarray(traffic_erlangs, dtype=np.float64))
    c = erlang_c(np.asarray(agents), a)
    sl = 1 - c * np.exp(-(n - a) * within_minutes / aht_minutes)
    out: FloatArray = np.where(n > a, sl, 0.0)
    out = np.where(a <= 0, 1.0, out)
    return out


def agents_needed(traffic_erlangs: FloatArray, *, target: float, within_minutes: float,
                  aht_minutes: float) -> IntArray:
    """The least N per slot with service level ≥ target (0 where there is no traffic)."""
    a = np.asarray(traffic_erlangs, dtype=np.float64)
    need = np.zeros(a.shape, dtype=np.int64)
    todo = a > 0
    n = np.where(todo, np.floor(a).astype(np.int64) + 1, 0)
    b = np.ones(a.shape)
    # walk N upwards for all slots at once, carrying Erlang B
    k_max = int(np.ceil(a.max(initial=0) + 10 * math.sqrt(a.max(initial=0)) + 20))
    for k in range(1, k_max + 1):
        b = a * b / (k + a * b)
        active = todo & (k >= n)
        if not active.any():
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            c = k * b / (k - a * (1 - b))
            sl = 1 - c * np.exp(-(k - a) * within_minutes / aht_minutes)
        hit = active & (k > a) & (sl >= target)
        need[hit] = k
        todo &= ~hit
        if not todo.any():
            break
    need[todo] = k_max
    return need


# --- handle time --------------------------------------------------------------------------------


def handle_time_minutes(repo: TenantStore, filters: Filters, method: str) -> float | None:
    """Mean handle time in minutes by ``method`` (see the module doc); None without data."""
    pred, params = filters.ticket_predicate("t")
    if method == "reply-gap":
        # replies made in the window, on tickets matching the dimension filters
        dims_pred, dims_params = Filters(values=filters.values).ticket_predicate("t", "g_")
        join = f"JOIN tickets t ON t.ticket_id = e.ticket_id AND {dims_pred} " if filters.values else ""
        window = {"lo": filters.start_at, "hi": filters.end_at}
        cond = "".join(f" AND e.event_at {op} ${k}" for k, op in (("lo", ">="), ("hi", "<"))
                       if window[k] is not None)
        gap = repo.scalar(
            "SELECT avg(gap_s) FROM (SELECT date_diff('second', lag(e.event_at) OVER ("  # noqa: S608
            "PARTITION BY e.actor_id ORDER BY e.event_at, e.seq), e.event_at) AS gap_s "
            f"FROM ticket_events e {join}"
            f"WHERE e.kind = 'comment' AND e.actor = 'agent' AND e.public AND e.actor_id IS NOT NULL{cond}"
            ") x WHERE gap_s > 0 AND gap_s <= $session_s",
            session_s=int(SESSION_GAP_MINUTES * 60),
            **{k: v for k, v in window.items() if v is not None},
            **(dims_params if filters.values else {}))
        return float(gap) / 60.0 if gap is not None else None
    if method == "agent-work":
        v = repo.scalar(
            "SELECT avg(m.agent_work_business_minutes) FROM ticket_metrics m JOIN tickets t ON t.ticket_id = m.ticket_id "  # noqa: S608
            f"WHERE m.solved_at IS NOT NULL AND {pred}", **params)
        return float(v) if v is not None else None
    if method == "assign-to-reply":
        tbl = repo.query(
            "SELECT m.first_reply_at, a.assigned_at FROM ticket_metrics m "  # noqa: S608
            "JOIN (SELECT e.ticket_id, min(e.event_at) AS assigned_at FROM ticket_events e "
            "WHERE e.kind = 'assignee' AND coalesce(e.to_value, '') <> '' GROUP BY e.ticket_id) a "
            "ON a.ticket_id = m.ticket_id JOIN tickets t ON t.ticket_id = m.ticket_id "
            f"WHERE m.first_reply_at IS NOT NULL AND a.assigned_at <= m.first_reply_at AND {pred}",
            **params)
        if tbl.num_rows == 0:
            return None
        reply, _ = ts_seconds(tbl.column("first_reply_at"))
        assigned, _ = ts_seconds(tbl.column("assigned_at"))
        return float(np.mean(reply - assigned) / 60.0)
    raise UsageError(f"unknown handle-time method {method!r}; use {', '.join(AHT_METHODS)}")


# --- roster -------------------------------------------------------------------------------------


def parse_shift(label: str, timezone: str, name: str = "shift") -> CalendarSpec:
    """``mon-fri 08:00-12:00,13:00-16:30`` (local to ``timezone``) as a calendar spec."""
    days_key, _, hours = label.strip().partition(" ")
    if not hours:
        raise ValueError(f"shift {label!r}: expected 'DAYS HH:MM-HH:MM[,HH:MM-HH:MM…]'")
    days = parse_day_key(days_key)
    intervals = tuple(sorted((parse_interval(p) for p in hours.split(",") if p.strip()),
                             key=lambda iv: iv.start_minute))
    week: list[tuple[Interval, ...]] = [() for _ in range(7)]
    for d in days:
        week[d] = intervals
    return CalendarSpec(name=name, timezone=timezone, week=tuple(week))


def _week_slots(week_start_local: datetime, tz: str) -> tuple[IntArray, IntArray]:
    """UTC epoch starts and ends of the 168 local hours of a week (DST-exact)."""
    zone = load_zone(tz)
    starts = [datetime(week_start_local.year, week_start_local.month, week_start_local.day, tzinfo=zone)
              + timedelta(days=h // 24, hours=h % 24) for h in range(168)]
    # wall-clock hours: add the local offset per hour (a skipped hour has no length)
    s = np.asarray([int(x.timestamp()) for x in starts], dtype=np.int64)
    e = np.append(s[1:], int((starts[0] + timedelta(days=7)).timestamp()))
    return s, np.maximum(e, s)


def roster_hours(roster: pa.Table, slot_start_s: IntArray, slot_end_s: IntArray,
                 groups: set[str] | None = None) -> FloatArray:
    """Agents on shift per slot (agent-hours / slot length) from an agents table."""
    need = {"timezone", "shift"}
    missing = need - set(roster.column_names)
    if missing:
        raise BadInputError(f"roster needs columns {', '.join(sorted(need))}; missing {', '.join(sorted(missing))}")
    frame = roster.to_pandas()
    if groups is not None and "group" in frame:
        frame = frame[frame["group"].isin(groups)]
    frame = frame.dropna(subset=["shift", "timezone"])
    counts = frame.groupby(["shift", "timezone"]).size()
    total = np.zeros(slot_start_s.size)
    length = np.maximum(slot_end_s - slot_start_s, 1).astype(np.float64)
    for (label, tz), n in counts.items():  # one calendar per distinct shift, not per agent
        try:
            spec = parse_shift(str(label), str(tz))
        except Exception as exc:
            raise BadInputError(f"roster: bad shift {label!r} ({tz}): {exc}", value=str(label)) from exc
        cal = BusinessCalendar(spec)
        total += int(n) * cal.business_seconds(slot_start_s, slot_end_s) / length
    return total


def read_roster(path: Path) -> pa.Table:
    import pyarrow.csv as pacsv

    if not path.exists():
        raise UsageError(f"roster file not found: {path}")
    try:
        return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    except pa.ArrowInvalid as exc:
        raise BadInputError(f"cannot read roster {path}: {exc}") from exc


# --- result -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffingSlot:
    """One weekday-hour of the week in the grid's timezone."""

    weekday: str
    hour: int
    arrivals_per_hour: float
    traffic_erlangs: float
    agents_needed: int
    scheduled_needed: int
    service_level: float | None
    roster_on_shift: float | None
    observed_active: float | None
    gap: float | None  # roster (or observed) − scheduled needed; negative = short


@dataclass(frozen=True)
class StaffingPlan:
    """``deskpulse staffing``: agents needed per hour of the week vs the roster."""

    as_of: datetime
    window: str
    window_from: datetime | None
    window_to: datetime | None
    tz: str
    tickets: int
    weeks: float
    target: float
    within_minutes: float
    aht_minutes: float | None
    aht_method: str
    shrinkage: float
    roster_source: str
    slots: tuple[StaffingSlot, ...]
    agent_hours_needed: float
    agent_hours_rostered: float | None
    short_slots: int
    peak: StaffingSlot | None
    message: str = ""

    @property
    def empty(self) -> bool:
        return self.tickets == 0

    def rows(self, busy_only: bool = False) -> list[dict[str, Any]]:
        slots = [s for s in self.slots
                 if not busy_only or s.arrivals_per_hour > 0 or (s.roster_on_shift or 0) > 0
                 or (s.observed_active or 0) > 0]
        return [jsonable(asdict(s)) for s in slots]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = jsonable(asdict(self))
        return out


def staffing_plan(
    repo: TenantStore,
    *,
    filters: Filters | None = None,
    as_of: datetime | None = None,
    target: float = 0.8,
    within_minutes: float = 60.0,
    shrinkage: float = 0.3,
    aht_method: str = "reply-gap",
    aht_minutes: float | None = None,
    roster: pa.Table | None = None,
    infer_roster: bool = True,
    tz: str = "UTC",
) -> StaffingPlan:
    """Agents needed per weekday-hour (Erlang C) over the window (default: the last 28 days)."""
    if not 0 < target < 1:
        raise UsageError("--target must be between 0 and 1 (e.g. 0.8)")
    if within_minutes <= 0:
        raise UsageError("--within must be positive (minutes)")
    if not 0 <= shrinkage < 1:
        raise UsageError("--shrinkage must be in [0, 1)")
    if aht_minutes is not None and aht_minutes <= 0:
        raise UsageError("--aht must be positive (minutes)")
    if aht_method not in AHT_METHODS:
        raise UsageError(f"unknown handle-time method {aht_method!r}; use {', '.join(AHT_METHODS)}")
    load_zone(tz)
    as_of = resolve_as_of(repo, as_of)
    filters = filters or Filters()
    if filters.start_at is None:
        end = filters.end_at or as_of
        filters = Filters(start_at=end - timedelta(days=DEFAULT_WINDOW_DAYS), end_at=end,
                          values=filters.values)
    lo = filters.start_at or as_of
    hi = filters.end_at or as_of
    pred, params = filters.ticket_predicate("t")
    hourly = repo.query(
        f"SELECT date_trunc('hour', t.created_at) AS hour_at, count(*) AS n FROM tickets t "  # noqa: S608
        f"WHERE {pred} GROUP BY 1 ORDER BY 1", **params)
    tickets = int(np.sum(hourly.column("n").to_numpy())) if hourly.num_rows else 0
    method = "fixed" if aht_minutes is not None else aht_method
    base = StaffingPlan(
        as_of=as_of, window=filters.describe(), window_from=lo, window_to=hi, tz=tz, tickets=tickets,
        weeks=round((hi - lo).total_seconds() / (7 * 86400), 2), target=target,
        within_minutes=within_minutes, aht_minutes=None, aht_method=method, shrinkage=shrinkage,
        roster_source="none", slots=(), agent_hours_needed=0.0, agent_hours_rostered=None,
        short_slots=0, peak=None)
    if tickets == 0:
        return _replace(base, message=NO_TICKETS)
    aht = aht_minutes if aht_minutes is not None else handle_time_minutes(repo, filters, aht_method)
    if aht is None or aht <= 0:
        raise UsageError(f"cannot estimate a handle time by {aht_method!r} from this data; give --aht MINUTES")
    # occurrences of each local weekday-hour in [lo, hi) and arrivals per slot
    all_hours = pd.date_range(pd.Timestamp(lo).ceil("h"), pd.Timestamp(hi), freq="h", inclusive="left")
    local = all_hours.tz_localize("UTC").tz_convert(tz)
    occ = np.bincount(local.day_of_week * 24 + local.hour, minlength=168).astype(np.float64)
    hours_at = pd.DatetimeIndex(hourly.column("hour_at").to_pandas()).tz_localize("UTC").tz_convert(tz)
    counts = np.bincount(hours_at.day_of_week * 24 + hours_at.hour,
                         weights=hourly.column("n").to_numpy().astype(np.float64), minlength=168)
    rate = np.divide(counts, occ, out=np.zeros(168), where=occ > 0)
    traffic = rate * aht / 60.0
    need = agents_needed(traffic, target=target, within_minutes=within_minutes, aht_minutes=aht)
    sched = np.ceil(need / (1 - shrinkage)).astype(np.int64)
    sl = service_level(need, traffic, within_minutes, aht)
    # rosters
    on_shift: FloatArray | None = None
    source = []
    groups = {filters.values["group"]} if "group" in filters.values else None
    if roster is not None:
        week0 = pd.Timestamp(as_of, tz="UTC").tz_convert(tz).normalize()
        week0 = week0 - pd.Timedelta(days=int(week0.weekday())) + pd.Timedelta(days=7)
        s, e = _week_slots(week0.to_pydatetime(), tz)
        on_shift = roster_hours(roster, s, e, groups)
        source.append("roster file (week after as_of)")
    observed: FloatArray | None = None
    if infer_roster:
        dims_pred, dims_params = Filters(values=filters.values).ticket_predicate("t", "g_")
        join = f"JOIN tickets t ON t.ticket_id = e.ticket_id AND {dims_pred} " if filters.values else ""
        act = repo.query(
            "SELECT date_trunc('hour', e.event_at) AS hour_at, count(DISTINCT e.actor_id) AS n "  # noqa: S608
            f"FROM ticket_events e {join}"
            "WHERE e.actor = 'agent' AND e.actor_id IS NOT NULL AND e.event_at >= $lo AND e.event_at < $hi "
            "GROUP BY 1", lo=lo, hi=hi, **(dims_params if filters.values else {}))
        if act.num_rows:
            ha = pd.DatetimeIndex(act.column("hour_at").to_pandas()).tz_localize("UTC").tz_convert(tz)
            tot = np.bincount(ha.day_of_week * 24 + ha.hour, weights=act.column("n").to_numpy().astype(np.float64),
                              minlength=168)
            observed = np.divide(tot, occ, out=np.zeros(168), where=occ > 0)
            source.append("observed agent activity")
    compare = on_shift if on_shift is not None else observed
    gap = None if compare is None else (compare - sched) if on_shift is not None else (compare - need)
    slots = tuple(
        StaffingSlot(
            weekday=WEEKDAYS[k // 24], hour=k % 24, arrivals_per_hour=round(float(rate[k]), 3),
            traffic_erlangs=round(float(traffic[k]), 3), agents_needed=int(need[k]),
            scheduled_needed=int(sched[k]), service_level=round(float(sl[k]), 4) if rate[k] > 0 else None,
            roster_on_shift=None if on_shift is None else round(float(on_shift[k]), 2),
            observed_active=None if observed is None else round(float(observed[k]), 2),
            gap=None if gap is None else round(float(gap[k]), 2),
        )
        for k in range(168)
    )
    peak_k = int(np.argmax(sched))
    return _replace(
        base, aht_minutes=round(float(aht), 2), roster_source=" + ".join(source) or "none", slots=slots,
        agent_hours_needed=float(sched.sum()),
        agent_hours_rostered=None if on_shift is None else round(float(on_shift.sum()), 1),
        short_slots=0 if gap is None else int((gap < 0).sum()),
        peak=slots[peak_k] if sched[peak_k] > 0 else None,
    )


def _replace(plan: StaffingPlan, **changes: Any) -> StaffingPlan:
    from dataclasses import replace

    return replace(plan, **changes)

