"""The reference reproduces every hand-computed golden case, and keeps the contract's invariants.

The golden cases (tests/golden/sla/*.yaml) were computed by hand; the reference is checked
against them here, and the SLA engine is checked against both elsewhere.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from . import (
    SAMPLE_CONFIG,
    TICKET_METRICS_COLUMNS,
    TICKET_SLA_COLUMNS,
    GoldenCase,
    compare_tables,
    compute,
    load_golden_cases,
    random_workload,
)
from .calendar_reference import (
    ALWAYS,
    Calendar,
    business_seconds,
    business_seconds_epoch,
    next_business_instant_epoch,
    parse_calendar,
    parse_calendars,
    parse_duration,
    reach,
    reach_epoch,
    to_epoch,
)

D = dt.datetime
CASES = load_golden_cases()
SLA_STATUSES = {"met", "breached", "active", "paused", "active_breached", "not_applicable"}


# --- golden cases -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=str)
def test_reference_reproduces_golden_case(case: GoldenCase) -> None:
    metrics, slas = compute(case.tickets, case.events, case.config, case.as_of)
    problems = compare_tables("ticket_metrics", case.ticket_metrics, metrics)
    problems += compare_tables("ticket_sla", case.ticket_sla, slas)
    assert not problems, f"{case.path.name}:\n" + "\n".join(problems)
    # exact §4 columns, in order
    assert all(tuple(row) == TICKET_METRICS_COLUMNS for row in metrics)
    assert all(tuple(row) == TICKET_SLA_COLUMNS for row in slas)


def test_golden_cases_cover_every_status_and_metric() -> None:
    assert len(CASES) >= 15
    statuses = {row["status"] for case in CASES for row in case.ticket_sla}
    metrics = {row["metric"] for case in CASES for row in case.ticket_sla}
    assert statuses == SLA_STATUSES
    assert metrics == {"first_response", "next_response", "resolution"}
    for case in CASES:
        assert case.description, f"{case.name} has no description"
        assert case.ticket_metrics, f"{case.name} expects no ticket_metrics rows"


def test_compare_tables_catches_differences_and_accepts_floats() -> None:
    case = next(c for c in CASES if c.name.startswith("16_"))
    metrics, slas = compute(case.tickets, case.events, case.config, case.as_of)

    # floats (as an engine may report them) within far less than a second are equal
    as_floats = [
        {k: float(v) if isinstance(v, Fraction) else v for k, v in row.items()} for row in slas
    ]
    assert compare_tables("ticket_sla", case.ticket_sla, as_floats) == []
    # NaN / ISO strings with offsets stand for empty / instants
    as_text = [
        {
            k: (
                v.isoformat() + "Z"
                if isinstance(v, dt.datetime)
                else float("nan")
                if v is None
                else v
            )
            for k, v in row.items()
        }
        for row in metrics
    ]
    assert compare_tables("ticket_metrics", case.ticket_metrics, as_text) == []

    off_by_a_second = [dict(row) for row in slas]
    off_by_a_second[0]["elapsed_business_minutes"] += Fraction(1, 60)
    assert any(
        "elapsed_business_minutes" in p
        for p in compare_tables("ticket_sla", case.ticket_sla, off_by_a_second)
    )
    moved = [dict(row) for row in slas]
    moved[0]["due_at"] += dt.timedelta(seconds=1)
    assert any("due_at" in p for p in compare_tables("ticket_sla", case.ticket_sla, moved))
    assert any("missing row" in p for p in compare_tables("ticket_sla", case.ticket_sla, slas[1:]))
    emptied = [dict(row) for row in slas]
    emptied[0]["breached_at"] = None
    assert compare_tables("ticket_sla", case.ticket_sla, emptied)


# --- calendar reference: examples from the contract -------------------------------------------


def _cal(spec: dict[str, Any], name: str = "c") -> Calendar:
    return parse_calendar(name, spec)


def test_dst_examples_of_the_contract() -> None:
    spring = _cal({"timezone": "America/New_York", "hours": {"sun": ["02:30-05:00"]}})
    assert business_seconds(spring, D(2026, 3, 8), D(2026, 3, 9)) == 2 * 3600
    assert business_seconds(spring, D(2026, 3, 8), D(2026, 3, 8, 7)) == 0  # starts 07:00Z
    fall = _cal({"timezone": "America/New_York", "hours": {"sun": ["01:30-05:00"]}})
    assert business_seconds(fall, D(2026, 11, 1), D(2026, 11, 2)) == 4 * 3600
    assert business_seconds(fall, D(2026, 11, 1, 6), D(2026, 11, 1, 6, 30)) == 0  # 01:00-01:30 EST


def test_overnight_interval_belongs_to_its_start_day() -> None:
    spec = {"timezone": "America/New_York", "hours": {"mon-fri": ["22:00-06:00"]}}
    plain = _cal(spec)
    monday_off = _cal({**spec, "holidays": {"dates": ["2026-03-16"]}})
    tuesday_off = _cal({**spec, "holidays": {"dates": ["2026-03-17"]}})
    mon_night = (D(2026, 3, 17, 2), D(2026, 3, 17, 10))  # Mon 22:00 -> Tue 06:00 EDT
    assert business_seconds(plain, *mon_night) == 8 * 3600
    assert business_seconds(monday_off, *mon_night) == 0
    assert business_seconds(tuesday_off, *mon_night) == 8 * 3600
    # Friday's shift runs into Saturday; Monday 00:00-06:00 would be Sunday's: not business
    assert business_seconds(plain, D(2026, 3, 14, 4), D(2026, 3, 14, 10)) == 6 * 3600
    assert business_seconds(plain, D(2026, 3, 16, 4), D(2026, 3, 16, 10)) == 0


def test_interval_shapes() -> None:
    whole = _cal({"hours": {"sat": ["00:00-00:00"]}})  # UTC
    assert business_seconds(whole, D(2026, 3, 7), D(2026, 3, 8)) == 86400
    assert business_seconds(whole, D(2026, 3, 8), D(2026, 3, 9)) == 0
    late = _cal({"hours": {"mon": ["20:00-24:00"], "tue,thu": "09:00-10:00", "fri-mon": []}})
    assert business_seconds(late, D(2026, 3, 2), D(2026, 3, 3)) == 4 * 3600
    assert business_seconds(late, D(2026, 3, 3), D(2026, 3, 6)) == 2 * 3600
    with pytest.raises(ValueError):
        _cal({"hours": {"mon": ["24:00-10:00"]}})
    with pytest.raises(ValueError):
        _cal({"hours": {"funday": ["09:00-10:00"]}})


def test_durations() -> None:
    cals = parse_calendars(
        {
            "emea": {"hours": {"mon-fri": ["09:00-17:00"]}, "day_length": "8h30m"},
            "plain": {"hours": {"mon-fri": ["09:00-17:00"]}},
        }
    )
    assert parse_duration("15m", 1) == 900
    assert parse_duration("2h", 1) == 7200
    assert parse_duration("3d", cals["plain"].day_seconds) == 24 * 3600  # default day_length 8h
    assert parse_duration("1d4h", cals["emea"].day_seconds) == 750 * 60
    assert parse_duration("1d", cals[ALWAYS].day_seconds) == 86400
    for bad in ("", "4", "1h1d", "1.5h", "2 hours", "-1h"):
        with pytest.raises(ValueError):
            parse_duration(bad, 86400)


def test_reach_at_end_of_day_and_next_opening() -> None:
    office = _cal({"hours": {"mon-fri": ["09:00-17:00"]}})
    assert reach(office, D(2026, 3, 2, 15), 7200) == D(2026, 3, 2, 17)  # not the next opening
    assert reach(office, D(2026, 3, 6, 16, 59, 30), 60) == D(2026, 3, 9, 9, 0, 30)
    start = to_epoch(D(2026, 3, 6, 17))
    assert next_business_instant_epoch(office, start) == to_epoch(D(2026, 3, 9, 9))


# --- calendar reference: the minute walk agrees with a plain second walk ----------------------

_ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
# instants near DST changes (2026) and Monrovia's odd -00:44:30 offset change (1972-01-07)
_ANCHORS = [
    D(2026, 3, 8, 7),
    D(2026, 11, 1, 6),
    D(2026, 3, 29, 1),
    D(2026, 10, 25, 1),
    D(2026, 4, 4, 15),
    D(2026, 3, 6, 12),
]


@st.composite
def calendars(draw: st.DrawFn) -> tuple[Calendar, dt.datetime]:
    monrovia = draw(st.booleans()) and draw(st.booleans())
    zone = "Africa/Monrovia" if monrovia else draw(st.sampled_from(_ZONES))
    anchor = D(1972, 1, 7) if monrovia else draw(st.sampled_from(_ANCHORS))
    clock = st.integers(0, 47).map(
        lambda half_hours: f"{half_hours // 2:02d}:{half_hours % 2 * 30:02d}"
    )
    hours = {}
    for day in draw(
        st.lists(
            st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun", "mon-fri"]),
            max_size=4,
        )
    ):
        starts = draw(st.lists(clock, min_size=1, max_size=2))
        hours[day] = [f"{s}-{draw(clock) if draw(st.booleans()) else '24:00'}" for s in starts]
    dates = draw(
        st.lists(
            st.dates(anchor.date() - dt.timedelta(days=2), anchor.date() + dt.timedelta(days=2)),
            max_size=2,
        )
    )
    spec = {"timezone": zone, "hours": hours, "holidays": {"dates": [d.isoformat() for d in dates]}}
    return _cal(spec, name=repr(spec)), anchor


def _brute_force(cal: Calendar, a: int, b: int) -> int:
    return sum(cal.is_business(s) for s in range(a, b))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calendars(), st.integers(-86400, 86400), st.integers(0, 3 * 3600))
def test_minute_walk_equals_second_walk(
    cal_anchor: tuple[Calendar, dt.datetime], shift: int, length: int
) -> None:
    cal, anchor = cal_anchor
    a = to_epoch(anchor) + shift
    assert business_seconds_epoch(cal, a, a + length) == _brute_force(cal, a, a + length)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calendars(), st.integers(-86400, 86400), st.integers(0, 4 * 3600), st.integers(0, 4 * 3600))
def test_reach_next_instant_and_additivity(
    cal_anchor: tuple[Calendar, dt.datetime], shift: int, n: int, gap: int
) -> None:
    cal, anchor = cal_anchor
    a = to_epoch(anchor) + shift
    if business_seconds_epoch(cal, a, a + 8 * 86400) == 0:
        return  # a calendar without hours near the anchor: reach() has nothing to find
    n = min(n, business_seconds_epoch(cal, a, a + 8 * 86400))
    u = reach_epoch(cal, a, n)
    assert business_seconds_epoch(cal, a, u) == n
    if n:  # earliest such instant: the second just before it is a business second
        assert cal.is_business(u - 1) and business_seconds_epoch(cal, a, u - 1) == n - 1
    nb = next_business_instant_epoch(cal, a)
    assert cal.is_business(nb) and business_seconds_epoch(cal, a, nb) == 0
    b, c = a + gap, a + gap + n
    assert business_seconds_epoch(cal, a, b) + business_seconds_epoch(
        cal, b, c
    ) == business_seconds_epoch(cal, a, c)


# --- SLA reference: invariants on random workloads --------------------------------------------

MINUTE_PAIRS = [
    (f"{m}_calendar_minutes", f"{m}_business_minutes")
    for m in (
        "first_reply",
        "full_resolution",
        "requester_wait",
        "agent_wait",
        "on_hold",
        "agent_work",
    )
]


def _check_invariants(
    tickets: list[dict[str, Any]],
    metrics: list[dict[str, Any]],
    slas: list[dict[str, Any]],
    as_of: dt.datetime,
) -> None:
    created = {t["ticket_id"]: t["created_at"] for t in tickets}
    assert [r["ticket_id"] for r in metrics] == [
        t["ticket_id"] for t in tickets if t["created_at"] <= as_of
    ]
    for row in metrics:
        for calendar_col, business_col in MINUTE_PAIRS:
            assert (row[calendar_col] is None) == (row[business_col] is None)
            if row[calendar_col] is not None:
                assert 0 <= row[business_col] <= row[calendar_col]
        assert (
            row["requester_wait_calendar_minutes"]
            == row["agent_work_calendar_minutes"] + row["on_hold_calendar_minutes"]
        )
        lifetime = Fraction(int((as_of - created[row["ticket_id"]]).total_seconds()), 60)
        assert (
            row["requester_wait_calendar_minutes"] + row["agent_wait_calendar_minutes"] <= lifetime
        )
        assert (
            min(row["reopens"], row["replies"], row["assignee_stations"], row["group_stations"])
            >= 0
        )
        if row["policy"] is None:
            assert row["calendar"] == ALWAYS
            assert not [s for s in slas if s["ticket_id"] == row["ticket_id"]]
    for row in slas:
        assert row["status"] in SLA_STATUSES
        if row["status"] == "not_applicable":
            assert row["metric"] == "first_response"
            assert all(
                row[c] is None
                for c in (
                    "target_minutes",
                    "started_at",
                    "due_at",
                    "stopped_at",
                    "elapsed_business_minutes",
                    "paused_business_minutes",
                    "breached_at",
                    "margin_minutes",
                )
            )
            continue
        target, elapsed, margin = (
            row["target_minutes"],
            row["elapsed_business_minutes"],
            row["margin_minutes"],
        )
        assert elapsed + margin == target  # margin = target - elapsed
        assert elapsed >= 0 and row["paused_business_minutes"] >= 0
        assert (row["breached_at"] is not None) == (margin < 0)  # breached_at never projected
        if row["breached_at"] is not None:
            assert (
                row["started_at"]
                <= row["due_at"]
                <= row["breached_at"]
                <= (row["stopped_at"] or as_of)
            )
        if row["stopped_at"] is not None:
            assert row["status"] == ("met" if margin >= 0 else "breached")
            assert row["started_at"] <= row["stopped_at"] <= as_of
            assert row["due_at"] is not None
        else:
            assert row["status"] in {"active", "paused", "active_breached"}
            assert (row["status"] == "active_breached") == (margin < 0)
            if row["due_at"] is None:  # only a paused clock that has not reached its target
                assert row["status"] == "paused"
        if row["metric"] != "resolution":
            assert row["paused_business_minutes"] == 0 and row["status"] != "paused"
        else:
            assert row["started_at"] == created[row["ticket_id"]]
        if (
            row["calendar"] == ALWAYS
            and row["due_at"] is not None
            and margin >= 0
            and row["stopped_at"] is None
            and row["status"] == "active"
        ):
            assert row["due_at"] == as_of + dt.timedelta(seconds=int(margin * 60))
    instances: dict[str, list[int]] = {}
    for row in slas:
        if row["metric"] == "next_response":
            instances.setdefault(row["ticket_id"], []).append(row["instance"])
    assert all(numbers == list(range(1, len(numbers) + 1)) for numbers in instances.values())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1))
def test_invariants_on_random_workloads(seed: int) -> None:
    tickets, events, as_of = random_workload(random.Random(seed), n_tickets=15)
    metrics, slas = compute(tickets, events, SAMPLE_CONFIG, as_of)
    _check_invariants(tickets, metrics, slas, as_of)
    # as_of ignores later events: dropping them changes nothing; the output is deterministic
    known = [e for e in events if e["event_at"] <= as_of]
    assert compute(tickets, known, SAMPLE_CONFIG, as_of) == (metrics, slas)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1))
def test_default_policy_on_24x7(seed: int) -> None:
    """Without policies: `default` on 24x7, so business = calendar and due_at is plain arithmetic."""
    tickets, events, as_of = random_workload(random.Random(seed), n_tickets=10)
    config = {"thresholds": {"first_response_minutes": 45, "resolution_hours": 8}}
    metrics, slas = compute(tickets, events, config, as_of)
    _check_invariants(tickets, metrics, slas, as_of)
    for row in metrics:
        assert row["policy"] == "default"
        for calendar_col, business_col in MINUTE_PAIRS:
            assert row[calendar_col] == row[business_col]
    for row in slas:
        if row["status"] != "not_applicable":
            assert row["target_minutes"] == {"first_response": 45, "resolution": 480}[row["metric"]]
        if row["metric"] == "first_response" and row["started_at"] is not None:
            assert row["due_at"] == row["started_at"] + dt.timedelta(minutes=45)


def test_500_tickets_over_a_few_days_are_fast() -> None:
    tickets, events, as_of = random_workload(random.Random(500), n_tickets=500, days=4)
    began = time.perf_counter()
    metrics, slas = compute(tickets, events, SAMPLE_CONFIG, as_of)
    took = time.perf_counter() - began
    _check_invariants(tickets, metrics, slas, as_of)
    assert took < 10, f"500 tickets took {took:.1f} s"
