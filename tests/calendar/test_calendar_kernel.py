"""Hand-checked kernel examples (CONTRACT §3), API behaviour, span extension and errors."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deskpulse.calendar import (
    BusinessCalendar,
    CalendarSet,
    CalendarSpec,
    as_epoch_seconds,
    calendar_for,
    clear_calendar_cache,
    parse_calendars,
)
from deskpulse.calendar.kernel import SortedIndex
from deskpulse.errors import BadInputError, ConfigError

H = 3600


def utc(text: str) -> int:
    """Epoch seconds of an ISO instant written in UTC ('2026-03-08T07:00')."""
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp())


def local(text: str, zone: str) -> int:
    """Epoch seconds of a local wall-clock time (fold=0 for repeated times)."""
    from zoneinfo import ZoneInfo

    return int(dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp())


def spec_of(hours: dict[str, Any], zone: str = "UTC", **extra: Any) -> CalendarSpec:
    return parse_calendars({"c": {"timezone": zone, "hours": hours, **extra}}, "test.yml")["c"]


def calendar(hours: dict[str, Any], zone: str = "UTC", *, around: str = "2026-06-01T00:00",
             **extra: Any) -> BusinessCalendar:
    t = utc(around)
    return BusinessCalendar.for_span(spec_of(hours, zone, **extra), t - 200 * 86400, t + 200 * 86400)


# --- CONTRACT §3 examples ---------------------------------------------------------------------


def test_new_york_spring_forward_starts_at_three_local() -> None:
    ny = calendar({"sun": ["02:30-05:00"]}, "America/New_York", around="2026-03-08T00:00")
    day = (utc("2026-03-08T05:00"), utc("2026-03-09T05:00"))  # the local Sunday
    assert ny.business_seconds(*day) == 2 * H
    assert ny.next_business_instant(day[0]) == utc("2026-03-08T07:00")  # 03:00 EDT
    assert not ny.is_business(utc("2026-03-08T06:59:59"))
    assert ny.is_business(utc("2026-03-08T07:00"))
    assert ny.add_business_seconds(day[0], 2 * H) == utc("2026-03-08T09:00")  # 05:00 EDT
    # a normal Sunday counts 2.5 h
    assert ny.business_seconds(utc("2026-03-15T04:00"), utc("2026-03-16T04:00")) == 2.5 * H


def test_new_york_fall_back_counts_four_hours() -> None:
    ny = calendar({"sun": ["01:30-05:00"]}, "America/New_York", around="2026-11-01T00:00")
    assert ny.business_seconds(utc("2026-11-01T04:00"), utc("2026-11-02T05:00")) == 4 * H
    assert ny.is_business(utc("2026-11-01T05:30"))  # 01:30 EDT
    assert ny.is_business(utc("2026-11-01T05:59:59"))  # 01:59:59 EDT
    assert not ny.is_business(utc("2026-11-01T06:00"))  # 01:00 EST
    assert not ny.is_business(utc("2026-11-01T06:29:59"))  # 01:29:59 EST
    assert ny.is_business(utc("2026-11-01T06:30"))  # 01:30 EST
    assert not ny.is_business(utc("2026-11-01T10:00"))  # 05:00 EST
    assert ny.next_business_instant(utc("2026-11-01T06:00")) == utc("2026-11-01T06:30")
    assert ny.add_business_seconds(utc("2026-11-01T05:30"), 30 * 60) == utc("2026-11-01T06:00")
    assert ny.add_business_seconds(utc("2026-11-01T05:30"), 30 * 60 + 1) == utc(
        "2026-11-01T06:30:01"
    )


def test_target_reached_at_end_of_day_is_due_then_and_breaches_at_next_opening() -> None:
    emea = calendar({"mon-fri": ["09:00-17:00"]}, "Europe/Berlin")
    created = local("2026-03-02T09:00", "Europe/Berlin")  # a Monday
    target = emea.spec.duration_seconds("8h")
    due = emea.add_business_seconds(created, target)
    assert due == local("2026-03-02T17:00", "Europe/Berlin")
    assert emea.reach(emea.position(created) + target) == due
    assert emea.next_business_instant(due) == local("2026-03-03T09:00", "Europe/Berlin")
    reply = local("2026-03-02T17:30", "Europe/Berlin")
    assert emea.business_seconds(created, reply) == target  # met: elapsed <= target
    assert emea.business_seconds(created, emea.next_business_instant(due) + 1) == target + 1
    # Friday 17:00 -> next opening is Monday 09:00
    friday_end = local("2026-03-06T17:00", "Europe/Berlin")
    assert emea.next_business_instant(friday_end) == local("2026-03-09T09:00", "Europe/Berlin")


def test_split_shift_with_lunch_break_and_day_length() -> None:
    emea = calendar(
        {"mon-fri": ["08:00-12:00", "13:00-17:30"], "sat": ["10:00-14:00"]}, "Europe/Berlin",
        day_length="8h30m",
    )
    monday = local("2026-03-02T08:00", "Europe/Berlin")
    assert emea.add_business_seconds(monday, emea.spec.duration_seconds("1d")) == local(
        "2026-03-02T17:30", "Europe/Berlin"
    )
    assert emea.add_business_seconds(monday, 4 * H) == local("2026-03-02T12:00", "Europe/Berlin")
    assert emea.add_business_seconds(monday, 4 * H + 1) == local(
        "2026-03-02T13:00:01", "Europe/Berlin"
    )
    # Friday 16:00 + 3h: 1.5h Friday, then Saturday 10:00 + 1.5h
    friday = local("2026-03-06T16:00", "Europe/Berlin")
    assert emea.add_business_seconds(friday, 3 * H) == local("2026-03-07T11:30", "Europe/Berlin")


def test_overnight_interval_belongs_to_its_start_date() -> None:
    zone = "America/New_York"
    hours = {"mon-fri": ["22:00-06:00"]}
    # 2026-03-16 is a Monday
    mon_holiday = calendar(hours, zone, holidays={"dates": ["2026-03-16"]})
    tue_holiday = calendar(hours, zone, holidays={"dates": ["2026-03-17"]})
    plain = calendar(hours, zone)
    window = (local("2026-03-16T12:00", zone), local("2026-03-18T12:00", zone))
    assert plain.business_seconds(*window) == 16 * H
    # a holiday on Monday removes all of Mon 22:00 -> Tue 06:00
    assert mon_holiday.business_seconds(*window) == 8 * H
    assert not mon_holiday.is_business(local("2026-03-17T03:00", zone))
    # a holiday only on Tuesday leaves it whole (but removes Tue 22:00 -> Wed 06:00)
    assert tue_holiday.business_seconds(
        local("2026-03-16T12:00", zone), local("2026-03-17T12:00", zone)
    ) == 8 * H
    assert tue_holiday.is_business(local("2026-03-17T05:59:59", zone))
    assert not tue_holiday.is_business(local("2026-03-18T01:00", zone))
    # Friday's night shift runs into Saturday
    assert plain.is_business(local("2026-03-21T05:00", zone))
    assert not plain.is_business(local("2026-03-22T05:00", zone))


def test_country_holidays_apply() -> None:
    emea = calendar({"mon-fri": ["09:00-17:00"]}, "Europe/Berlin",
                    holidays={"country": "DE", "subdivision": "BE"}, around="2026-12-20T00:00")
    # 2026-12-24 (Thu) is no German public holiday; 25th (Fri) is; 28th (Mon) is a workday
    assert emea.business_seconds(local("2026-12-24T00:00", "Europe/Berlin"),
                                 local("2026-12-29T00:00", "Europe/Berlin")) == 16 * H
    assert emea.next_business_instant(local("2026-12-24T17:00", "Europe/Berlin")) == local(
        "2026-12-28T09:00", "Europe/Berlin"
    )


def test_lord_howe_thirty_minute_shift() -> None:
    zone = "Australia/Lord_Howe"
    lh = calendar({"daily": ["01:30-03:00"]}, zone, around="2026-07-01T00:00")
    # DST starts Sunday 2026-10-04 at 02:00 -> 02:30: the half hour 02:00-02:30 never happens
    start_day = (local("2026-10-04T00:00", zone), local("2026-10-05T00:00", zone))
    assert lh.business_seconds(*start_day) == 1 * H
    # DST ends Sunday 2026-04-05 at 02:00 -> 01:30: 01:30-02:00 happens twice
    end_day = (local("2026-04-05T00:00", zone), local("2026-04-06T00:00", zone))
    assert lh.business_seconds(*end_day) == 2 * H
    assert lh.business_seconds(local("2026-07-01T00:00", zone),
                               local("2026-07-02T00:00", zone)) == 1.5 * H


def test_kolkata_half_hour_offset() -> None:
    india = calendar({"mon-fri": ["09:00-17:30"]}, "Asia/Kolkata")
    assert india.next_business_instant(utc("2026-06-01T00:00")) == utc("2026-06-01T03:30")
    assert india.add_business_seconds(utc("2026-06-01T03:30"), 8 * H + 30 * 60) == utc(
        "2026-06-01T12:00"
    )


def test_whole_days_merge_and_follow_real_time_across_dst() -> None:
    berlin = calendar({"daily": ["00:00-00:00"]}, "Europe/Berlin", around="2026-10-01T00:00",
                      holidays={"dates": ["2026-10-25"]})
    # one merged interval up to the holiday; the fall-back holiday lasts 25 real hours
    day_start = local("2026-10-25T00:00", "Europe/Berlin")
    day_end = local("2026-10-26T00:00", "Europe/Berlin")
    assert day_end - day_start == 25 * H
    assert berlin.business_seconds(day_start, day_end) == 0
    assert berlin.business_seconds(day_start - 5 * 86400, day_start) == 5 * 86400
    starts, ends = berlin.starts_s, berlin.ends_s
    assert ((starts == day_end) & (ends > day_end)).sum() == 1
    spring = (local("2026-03-29T00:00", "Europe/Berlin"), local("2026-03-30T00:00", "Europe/Berlin"))
    assert berlin.business_seconds(*spring) == 23 * H


def test_materialised_arrays_are_sorted_merged_and_cumulative() -> None:
    emea = calendar({"mon-fri": ["08:00-12:00", "12:00-17:30"], "sat": ["22:00-08:00"]},
                    "Europe/Berlin", holidays={"country": "DE"})
    starts, ends, cum = emea.starts_s, emea.ends_s, emea.cum_seconds
    assert starts.dtype == ends.dtype == cum.dtype == np.int64
    assert (starts < ends).all()
    assert (starts[1:] > ends[:-1]).all()  # non-overlapping and adjacent ones merged
    np.testing.assert_array_equal(np.diff(cum), (ends - starts)[:-1])
    assert emea.position(emea.origin_s) == 0
    # 08:00-12:00 and 12:00-17:30 became one interval
    # (and the Saturday night shift is 10 h, or 9 h / 11 h across a DST change)
    assert set((ends - starts).tolist()) == {9.5 * H, 9 * H, 10 * H, 11 * H}


# --- 24x7 ---------------------------------------------------------------------------------------


def test_always_calendar_is_the_identity() -> None:
    always = BusinessCalendar(parse_calendars({})["24x7"])
    t = np.array([utc("2026-03-08T06:30"), utc("2026-11-01T05:59")], dtype=np.int64)
    np.testing.assert_array_equal(always.position(t), t - always.origin_s)
    np.testing.assert_array_equal(always.reach(always.position(t)), t)
    assert always.business_seconds(100, 50) == 0
    assert always.business_seconds(50, 100) == 50
    np.testing.assert_array_equal(always.add_business_seconds(t, 15 * 60), t + 900)
    np.testing.assert_array_equal(always.next_business_instant(t), t)
    assert always.is_business(int(t[0])) is True
    assert always.starts_s.size == 0
    assert calendar_for("24x7").always


# --- API shape and input handling ---------------------------------------------------------------


def test_scalars_lists_shapes_and_datetime64() -> None:
    emea = calendar({"mon-fri": ["09:00-17:00"]}, "Europe/Berlin")
    t = local("2026-03-02T10:00", "Europe/Berlin")
    assert isinstance(emea.position(t), int)
    assert isinstance(emea.position(np.int64(t)), int)
    assert emea.is_business(t) is True
    assert isinstance(emea.business_seconds(t, t + 60), int)
    grid = np.array([[t, t + 60], [t + 120, t + 180]], dtype=np.int64)
    assert emea.position(grid).shape == (2, 2)
    assert emea.business_seconds(grid, t + 3600).shape == (2, 2)
    assert emea.add_business_seconds(grid, np.array([0, 60])).shape == (2, 2)
    np.testing.assert_array_equal(emea.add_business_seconds(grid, np.array([0, 60]))[:, 0],
                                  grid[:, 0])
    assert emea.position([t, t + 60]).tolist() == [emea.position(t), emea.position(t) + 60]
    stamps = np.array(["2026-03-02T09:00:00", "2026-03-02T09:00:30.900"], dtype="datetime64[ms]")
    np.testing.assert_array_equal(as_epoch_seconds(stamps), [utc("2026-03-02T09:00")] * 2
                                  + np.array([0, 30]))
    assert emea.business_seconds(stamps[0], stamps[1]) == 30
    assert emea.position(np.array([], dtype=np.int64)).shape == (0,)
    assert emea.reach([]).shape == (0,)
    assert emea.next_business_instant(np.zeros(0, dtype=np.int64)).shape == (0,)
    np.testing.assert_allclose(emea.business_minutes([t], [t + 90]), [1.5])


def test_bad_inputs() -> None:
    emea = calendar({"mon-fri": ["09:00-17:00"]}, "Europe/Berlin")
    with pytest.raises(TypeError):
        emea.position(np.array([1.5]))
    with pytest.raises(TypeError):
        emea.position(np.array([True]))
    with pytest.raises(ValueError, match=">= 0"):
        emea.add_business_seconds(utc("2026-03-02T10:00"), -1)
    with pytest.raises(BadInputError):
        emea.position(np.array(["NaT"], dtype="datetime64[s]"))
    with pytest.raises(BadInputError, match="supported range"):
        emea.position(utc("2026-03-02T10:00") + 10**11)


# --- span extension -------------------------------------------------------------------------


def test_due_dates_far_beyond_the_span_are_exact() -> None:
    hours = {"mon-fri": ["08:00-12:00", "13:00-17:30"]}
    spec = spec_of(hours, "Europe/Berlin", holidays={"country": "DE", "subdivision": "BE"})
    start = local("2026-03-02T08:00", "Europe/Berlin")
    small = BusinessCalendar.for_span(spec, start, start + 86400, margin_days=0)
    lo, hi = small.span_s
    assert hi - lo < 10 * 86400
    n = np.array([1, 8.5 * H, 400 * 8.5 * H, 3000 * 8.5 * H], dtype=np.int64)
    due = small.add_business_seconds(start, n)
    assert due[-1] > start + 10 * 365 * 86400  # years ahead: the span grew
    big = BusinessCalendar.for_span(spec, start - 86400, int(due[-1]) + 86400)
    np.testing.assert_array_equal(big.add_business_seconds(start, n), due)
    np.testing.assert_array_equal(small.business_seconds(start, due), n)
    # and backwards, before the first span
    past = local("2019-06-03T09:00", "Europe/Berlin")
    assert small.business_seconds(past, start) == big.business_seconds(past, start)
    assert small.position(start) == 0  # the origin did not move


def test_reach_before_the_span_extends_backwards() -> None:
    spec = spec_of({"mon-fri": ["09:00-17:00"]}, "Europe/Berlin")
    start = local("2026-03-02T09:00", "Europe/Berlin")
    cal = BusinessCalendar.for_span(spec, start, start, margin_days=0)
    y = cal.position(start) - 40 * 8 * H  # 40 business days earlier
    t = cal.reach(y)
    # the earliest instant with F >= y: the end of the business day before Monday 5 January
    assert t == local("2026-01-02T17:00", "Europe/Berlin")
    assert cal.position(t) == y
    assert cal.business_seconds(t, start) == 40 * 8 * H


def test_no_business_time_for_ten_years_is_a_config_error() -> None:
    mondays = [dt.date(2026, 1, 5) + dt.timedelta(weeks=k) for k in range(52 * 13)]
    spec = spec_of({"mon": ["09:00-17:00"]}, holidays={"dates": [d.isoformat() for d in mondays]})
    start = utc("2026-01-01T00:00")
    cal = BusinessCalendar.for_span(spec, start, start + 86400)
    with pytest.raises(ConfigError, match="no business time for 10 years"):
        cal.add_business_seconds(start, 3600)
    with pytest.raises(ConfigError, match="no business time for 10 years"):
        cal.next_business_instant(start)
    # business time exists before the blackout
    assert cal.business_seconds(utc("2025-12-01T00:00"), start) == 5 * 8 * H


def test_targets_beyond_the_supported_range_raise() -> None:
    spec = spec_of({"mon": ["09:00-09:01"]})  # one business minute a week
    start = utc("2026-01-05T00:00")
    cal = BusinessCalendar.for_span(spec, start, start)
    assert cal.add_business_seconds(start, 60) == utc("2026-01-05T09:01")
    with pytest.raises(BadInputError, match="2400"):
        cal.add_business_seconds(start, 60 * 52 * 500)  # 500 years of Monday minutes


# --- calendar sets and the cache -------------------------------------------------------------


def test_calendar_set_materialises_once() -> None:
    specs = parse_calendars(
        {"emea": {"timezone": "Europe/Berlin", "hours": {"mon-fri": ["09:00-17:00"]}}}
    )
    calendars = CalendarSet(specs, utc("2026-01-01T00:00"), utc("2026-12-31T00:00"))
    assert calendars.get("emea") is calendars.get("emea") is calendars["emea"]
    assert calendars.get("24x7").always
    assert "emea" in calendars and "nope" not in calendars
    assert set(calendars.names) == {"emea", "24x7"}
    lo, hi = calendars.get("emea").span_s
    assert lo <= utc("2026-01-01T00:00") and hi >= utc("2026-12-31T00:00")
    with pytest.raises(ConfigError, match="unknown calendar 'nope'"):
        calendars.get("nope")


def test_calendar_for_caches_by_spec() -> None:
    clear_calendar_cache()
    specs = parse_calendars(
        {"emea": {"timezone": "Europe/Berlin", "hours": {"mon-fri": ["09:00-17:00"]}}}
    )
    again = parse_calendars(
        {"emea": {"timezone": "Europe/Berlin", "hours": {"mon-fri": ["09:00-17:00"]}}}
    )
    a = calendar_for("emea", specs, utc("2026-01-01T00:00"), utc("2026-02-01T00:00"))
    b = calendar_for(again["emea"])
    assert a is b
    lo, hi = a.span_s
    assert lo <= utc("2026-01-01T00:00") and hi >= utc("2026-02-01T00:00")
    with pytest.raises(ConfigError):
        calendar_for("nope", specs)
    assert "emea" in repr(a)
    clear_calendar_cache()


# --- the bucketed searchsorted ------------------------------------------------------------------


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.lists(st.integers(-(10**9), 10**9), min_size=0, max_size=400),
    st.lists(st.integers(-(2 * 10**9), 2 * 10**9), min_size=1, max_size=200),
    st.booleans(),
)
def test_sorted_index_matches_searchsorted(keys: list[int], queries: list[int], clustered: bool) -> None:
    arr = np.unique(np.asarray(keys, dtype=np.int64))
    if clustered and arr.size:  # many keys in one bucket: must fall back or still be right
        arr = np.unique(np.concatenate([arr, arr[0] + np.arange(100, dtype=np.int64)]))
    q = np.asarray(queries + arr.tolist(), dtype=np.int64)  # include exact key hits
    index = SortedIndex(arr)
    for side in ("left", "right"):
        np.testing.assert_array_equal(index.search(q, side), np.searchsorted(arr, q, side=side))
        np.testing.assert_array_equal(index.search(q.reshape(1, -1), side)[0],
                                      np.searchsorted(arr, q, side=side))


def test_sorted_index_uses_buckets_for_calendar_sized_arrays() -> None:
    keys = np.cumsum(np.random.default_rng(1).integers(1, 10_000, size=5000)).astype(np.int64)
    index = SortedIndex(keys)
    assert 0 < index.steps <= SortedIndex.MAX_STEPS
    q = np.random.default_rng(2).integers(-10, int(keys[-1]) + 10, size=10_000)
    np.testing.assert_array_equal(index.search(q, "right"), np.searchsorted(keys, q, "right"))
