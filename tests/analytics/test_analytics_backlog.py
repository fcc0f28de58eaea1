"""backlog_daily reconstructed from history: a hand-checked week across New York's spring-forward
(Sun 2026-03-08) and a holiday (Mon 2026-03-09), on DuckDB and PostgreSQL.

Calendar ``ny``: America/New_York, Mon-Fri 09:00-17:00, holiday 2026-03-09. Business hours in
UTC: Tue 03-03 and Fri 03-06 14:00-22:00 (EST); Tue 03-10 and Wed 03-11 13:00-21:00 (EDT).
Policies: ``urgent`` on 24x7 (first response 1 h, resolution 4 h); ``std`` on ny (first
response 2 h, resolution 1d = 480 business min, paused while pending). as_of Wed 03-11 12:00Z.

- T5 (std, Support): created Tue 03-03 14:00, reply + hold at 15:00, on hold ever since.
  Resolution (hold does not pause) due Tue 03-03 22:00 = 17:00 EST, the close of business:
  breached only at the next opening, Wed 03-04 14:00 (CONTRACT §3). So at the end of Tuesday
  it is at risk, not in debt; from Wednesday its debt counts from the 22:00 due instant.
- T1 (std, Support -> Escalations on Mon 03-09 12:00): created Fri 03-06 15:00, never replied.
  First response due Fri 17:00. Resolution: Fri 420 min, then Mon is a holiday, so the last
  60 min fall on Tue 13:00-14:00Z (EDT): due Tue 03-10 14:00 (15:00 without DST, Mon 14:00
  without the holiday).
- T2 (std, Billing): created Sat 03-07 10:00; first business minute Tue 13:00 (holiday,
  DST), reply + solve Tue 15:00 = exactly at the 2 h target (met).
- T3 (urgent, Support): created Sun 03-08 22:30, reply Mon 00:15 (first response due 23:30:
  breached), solved Mon 01:30 (resolution due Mon 02:30: at risk at the end of Sunday).
- T4 (std, Billing): created Tue 03-10 13:30, reply + pending at 14:00 (resolution paused,
  no due_at).

End of day D = the state just before D+1 00:00Z; the last day (03-11) ends at as_of.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from deskpulse.analytics.backlog import (
    backlog_report,
    build_backlog_daily,
    compute_backlog_daily,
    ensure_backlog_daily,
    minutes_to_green,
    ticket_volume,
)
from deskpulse.analytics.filters import Filters
from deskpulse.errors import UsageError

try:
    from .analytics_helpers import EVENT_HEADER, TICKET_HEADER, Loaded, load
except ImportError:  # pragma: no cover - rootdir-relative import
    from analytics_helpers import (  # type: ignore[no-redef]
        EVENT_HEADER,
        TICKET_HEADER,
        Loaded,
        load,
    )

AS_OF = datetime(2026, 3, 11, 12, 0, 0)
CONFIG = """
calendars:
  ny:
    timezone: America/New_York
    hours: {mon-fri: ["09:00-17:00"]}
    holidays: {dates: [2026-03-09]}
policies:
  - name: urgent
    match: {priority: urgent}
    calendar: 24x7
    targets: {first_response: 1h, resolution: 4h}
  - name: std
    calendar: ny
    targets: {first_response: 2h, resolution: 1d}
    pause_on: [pending]
"""
TICKETS = TICKET_HEADER + """
T1,2026-03-06T15:00:00Z,,new,normal,email,billing,Escalations,amer,r1,,Refund,,
T2,2026-03-07T10:00:00Z,,solved,normal,web,billing,Billing,amer,r2,a1,Invoice,,
T3,2026-03-08T22:30:00Z,,solved,urgent,phone,outage,Support,amer,r3,a2,Down,,
T4,2026-03-10T13:30:00Z,,pending,low,email,billing,Billing,amer,r4,a1,Question,,
T5,2026-03-03T14:00:00Z,,hold,low,web,technical,Support,amer,r5,a2,Vendor,,
"""
EVENTS = EVENT_HEADER + """
T1,2026-03-06T15:00:00Z,comment,end_user,,true,,,
T1,2026-03-09T12:00:00Z,group,agent,a2,true,Support,Escalations,
T2,2026-03-07T10:00:00Z,comment,end_user,,true,,,
T2,2026-03-10T15:00:00Z,comment,agent,a1,true,,,
T2,2026-03-10T15:00:00Z,status,agent,a1,true,new,solved,
T3,2026-03-08T22:30:00Z,comment,end_user,,true,,,
T3,2026-03-09T00:15:00Z,comment,agent,a2,true,,,
T3,2026-03-09T01:30:00Z,status,agent,a2,true,new,solved,
T4,2026-03-10T13:30:00Z,comment,end_user,,true,,,
T4,2026-03-10T14:00:00Z,comment,agent,a1,true,,,
T4,2026-03-10T14:00:00Z,status,agent,a1,true,new,pending,
T5,2026-03-03T14:00:00Z,comment,end_user,,true,,,
T5,2026-03-03T15:00:00Z,comment,agent,a2,true,,,
T5,2026-03-03T15:00:00Z,status,agent,a2,true,new,hold,
"""

H = 60  # minutes per hour
#: date -> (open, arrivals, completions, wip, lt_1d, d1_3, d3_7, d7_30, gt_30d, debt min, at risk)
EXPECTED_ALL: dict[date, tuple[int, ...]] = {
    # T5 open (hold, 10 h old); its resolution is due (22:00) but breaches only Wed 14:00
    date(2026, 3, 3): (1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1),
    date(2026, 3, 4): (1, 0, 0, 0, 0, 1, 0, 0, 0, 26 * H, 0),
    date(2026, 3, 5): (1, 0, 0, 0, 0, 1, 0, 0, 0, 50 * H, 0),
    # + T1 (new, 9 h old, first response 7 h past due); T5 74 h past due
    date(2026, 3, 6): (2, 1, 0, 1, 1, 0, 1, 0, 0, (7 + 74) * H, 0),
    # + T2 (14 h old); T1 33 h old, 31 h past due; T5 98 h
    date(2026, 3, 7): (3, 1, 0, 2, 1, 1, 1, 0, 0, (31 + 98) * H, 0),
    # + T3 (1.5 h old, first response 30 min past due, resolution due 02:30 -> at risk)
    date(2026, 3, 8): (4, 1, 0, 3, 1, 2, 1, 0, 0, (55 + 122) * H + 30, 1),
    # holiday: T3 solved; T1 81 h old (3-7 d), T1's resolution not yet due (holiday)
    date(2026, 3, 9): (3, 0, 1, 2, 0, 1, 2, 0, 0, (79 + 146) * H, 0),
    # T2 solved, T4 arrives (pending: not WIP); T1's resolution 10 h past its 14:00 (EDT) due
    date(2026, 3, 10): (3, 1, 1, 1, 1, 0, 1, 1, 0, (103 + 10 + 170) * H, 0),
    # partial day up to as_of 12:00
    date(2026, 3, 11): (3, 0, 0, 1, 1, 0, 1, 1, 0, (115 + 22 + 182) * H, 0),
}
COLUMNS = ("open_count", "arrivals", "completions", "wip", "lt_1d", "d1_3", "d3_7", "d7_30",
           "gt_30d", "sla_debt_minutes", "at_risk_count")


def _load(db_url: str, tmp_path: Path) -> Loaded:
    return load(db_url, tmp_path, tickets=TICKETS, events=EVENTS, config=CONFIG, as_of=AS_OF)


def _rows(table: Any, dimension: str, value: str | None = None) -> dict[date, tuple[Any, ...]]:
    return {
        r["date"]: tuple(r[c] for c in COLUMNS)
        for r in table.to_pylist()
        if r["dimension"] == dimension and (value is None or r["value"] == value)
    }


@pytest.fixture
def dst_week(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    loaded = _load(db_url, tmp_path)
    yield loaded
    loaded.close()


def test_engine_due_instants_behind_the_expectations(dst_week: Loaded) -> None:
    """The hand-checked due_at values the backlog expectations rest on (DST and holiday)."""
    due = {
        (r[0], r[1]): (r[2], r[3])
        for r in dst_week.repo.rows("SELECT ticket_id, metric, due_at, status FROM ticket_sla")
    }
    assert due[("T1", "first_response")] == (datetime(2026, 3, 6, 17), "active_breached")
    assert due[("T1", "resolution")] == (datetime(2026, 3, 10, 14), "active_breached")
    assert due[("T2", "first_response")] == (datetime(2026, 3, 10, 15), "met")
    assert due[("T3", "first_response")] == (datetime(2026, 3, 8, 23, 30), "breached")
    assert due[("T3", "resolution")] == (datetime(2026, 3, 9, 2, 30), "met")
    assert due[("T4", "resolution")] == (None, "paused")
    assert due[("T5", "resolution")] == (datetime(2026, 3, 3, 22), "active_breached")
    breached = dict(dst_week.repo.rows(
        "SELECT ticket_id, breached_at FROM ticket_sla WHERE metric = 'resolution' AND ticket_id = 'T5'"
    ))
    assert breached["T5"] == datetime(2026, 3, 4, 14)  # the next opening after 17:00 EST


def test_backlog_all_hand_checked(dst_week: Loaded) -> None:
    table = compute_backlog_daily(dst_week.repo)
    assert table.column_names == ["date", "dimension", "value", *COLUMNS]
    assert _rows(table, "all") == EXPECTED_ALL
    dims = [r["dimension"] for r in table.to_pylist() if r["date"] == date(2026, 3, 8)]
    assert dims[0] == "all" and set(dims) == {"all", "group", "priority", "channel", "region"}


def test_backlog_by_group_follows_the_history(dst_week: Loaded) -> None:
    table = compute_backlog_daily(dst_week.repo, date(2026, 3, 6), date(2026, 3, 11), ["group"])
    support = _rows(table, "group", "Support")
    escalations = _rows(table, "group", "Escalations")
    billing = _rows(table, "group", "Billing")
    # T1 is in Support until Mon 12:00, then in Escalations (its current group)
    assert support[date(2026, 3, 8)][:3] == (3, 1, 0)  # T1, T3, T5 open; T3 arrived
    assert support[date(2026, 3, 9)][:3] == (1, 0, 1)  # T5 left; T3 solved there
    assert escalations[date(2026, 3, 8)][0] == 0
    assert escalations[date(2026, 3, 9)] == (1, 0, 0, 1, 0, 0, 1, 0, 0, 79 * H, 0)
    assert support[date(2026, 3, 9)][9] == 146 * H
    assert billing[date(2026, 3, 7)][:2] == (1, 1) and billing[date(2026, 3, 10)][:3] == (1, 1, 1)
    assert sorted({r["value"] for r in table.to_pylist()}) == ["Billing", "Escalations", "Support"]
    assert sum(v[1] for v in support.values()) == 2  # arrivals by the group at creation: T1, T3


def test_backlog_by_ticket_attributes_and_filters(dst_week: Loaded) -> None:
    table = compute_backlog_daily(dst_week.repo, date(2026, 3, 8), date(2026, 3, 9), ["priority", "all"])
    assert _rows(table, "priority", "urgent") == {
        date(2026, 3, 8): (1, 1, 0, 1, 1, 0, 0, 0, 0, 30, 1),
        date(2026, 3, 9): (0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0),
    }
    assert [r["dimension"] for r in table.to_pylist()][:1] == ["priority"]
    only_t1 = compute_backlog_daily(
        dst_week.repo, date(2026, 3, 10), None, ["all"], filters=Filters(values={"group": "Escalations"})
    )
    assert _rows(only_t1, "all") == {
        date(2026, 3, 10): (1, 0, 0, 1, 0, 0, 1, 0, 0, 113 * H, 0),
        date(2026, 3, 11): (1, 0, 0, 1, 0, 0, 1, 0, 0, 137 * H, 0),
    }
    with pytest.raises(UsageError, match="unknown backlog dimension"):
        compute_backlog_daily(dst_week.repo, dimensions=["colour"])


def test_build_writes_backlog_daily_and_report_reads_it(dst_week: Loaded) -> None:
    repo = dst_week.repo
    assert ensure_backlog_daily(repo) is True  # empty -> built
    assert ensure_backlog_daily(repo) is False  # fresh
    n = repo.scalar("SELECT count(*) FROM backlog_daily")
    assert n == repo.scalar("SELECT count(*) FROM backlog_daily WHERE date >= $d", d=date(2026, 3, 3))
    stored = repo.query(
        "SELECT date, dimension, value, open_count, arrivals, completions, wip, lt_1d, d1_3, "
        "d3_7, d7_30, gt_30d, sla_debt_minutes, at_risk_count FROM backlog_daily"
    )
    assert _rows(stored, "all") == EXPECTED_ALL
    summary = build_backlog_daily(repo, date(2026, 3, 6), date(2026, 3, 20), ["all"])
    assert (summary.start_date, summary.end_date, summary.rows) == (date(2026, 3, 6), date(2026, 3, 11), 6)

    report = backlog_report(
        repo, Filters(start_at=datetime(2026, 3, 6), end_at=datetime(2026, 3, 12)), rebuild=True
    )
    assert report.rebuilt and [d.date for d in report.days] == sorted(EXPECTED_ALL)[3:]
    b = report.burndown
    assert (b.days, b.open_at_start, b.open_at_end, b.arrivals, b.completions) == (6, 1, 3, 4, 2)
    assert b.net_burn_per_day == pytest.approx(-1 / 3) and b.days_to_clear_at_net_burn is None
    assert report.days[3].net_change == -1
    by_value = backlog_report(repo, Filters(), dimension="group", value="Escalations")
    assert {d.value for d in by_value.days} == {"Escalations"} and not by_value.rebuilt
    filtered = backlog_report(repo, Filters(values={"priority": "urgent"}))
    assert [(d.date, d.open_count) for d in filtered.days if d.open_count] == [(date(2026, 3, 8), 1)]
    empty = backlog_report(repo, Filters(start_at=datetime(2027, 1, 1), end_at=datetime(2027, 2, 1)))
    assert empty.is_empty and empty.message == "no tickets in range"


def test_minutes_to_green(dst_week: Loaded) -> None:
    g = minutes_to_green(dst_week.repo)
    # open at as_of: T1, T4, T5; breached: T1, T5; at risk: none (T4's resolution is paused);
    # solves in the 7 days before as_of: T3, T2 -> 2 per 10,080 min
    assert (g.open_tickets, g.breached_tickets, g.at_risk_tickets, g.red_tickets) == (3, 2, 0, 2)
    assert g.completions_last_days == 2
    assert g.minutes_to_green == pytest.approx(10080.0)
    assert g.throughput_per_hour == pytest.approx(2 / 168)
    later = minutes_to_green(dst_week.repo, at_risk_hours=1000)
    assert later.red_tickets == 2  # paused clocks are never at risk


def test_ticket_volume(dst_week: Loaded) -> None:
    daily = ticket_volume(dst_week.repo, Filters())
    assert [(r.period_start, r.tickets) for r in daily.periods if r.tickets] == [
        (date(2026, 3, 3), 1), (date(2026, 3, 6), 1), (date(2026, 3, 7), 1),
        (date(2026, 3, 8), 1), (date(2026, 3, 10), 1),
    ]
    assert len(daily.periods) == 9  # 03-03 .. 03-11, gaps filled with 0
    weekly = ticket_volume(dst_week.repo, Filters(), period="week")
    assert [(r.period_start, r.tickets) for r in weekly.periods] == [
        (date(2026, 3, 2), 4), (date(2026, 3, 9), 1),
    ]
    window = Filters(start_at=datetime(2026, 3, 7), end_at=datetime(2026, 3, 9))
    assert [r.tickets for r in ticket_volume(dst_week.repo, window).periods] == [1, 1]
    with pytest.raises(UsageError):
        ticket_volume(dst_week.repo, Filters(), period="month")
    assert ticket_volume(dst_week.repo, window).tickets == 2
