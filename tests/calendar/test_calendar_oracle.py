"""The kernel against a brute-force oracle on random calendars, spans, DST changes and holidays.

Each example draws a calendar (split and overnight shifts, adjacent intervals, whole days),
a zone with DST (Berlin, New York, Lord Howe with its 30-minute shift) or without (Kolkata),
holidays (explicit dates and a country's), and a span near a DST change, a year end or a
random instant. The oracle walks every minute (or every second) of the span converting each
instant with zoneinfo; the kernel must agree to the second on positions (differences),
business_seconds, is_business, next_business_instant, reach and add_business_seconds.
"""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from calendar_oracle import (
    Oracle,
    WeeklyInterval,
    country_holiday_dates,
    hours_config,
    minute_position_oracle,
    next_true_index,
    zone_transitions,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deskpulse.calendar import BusinessCalendar, calendar_for, parse_calendars

ZONES = ("Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata")
COUNTRIES = (None, ("DE", "BE"), ("US", "NY"), ("AU", "NSW"), ("IN", None))
YEARS = (2024, 2027)
WEEK_MINUTES = 7 * 1440

FAST = settings(
    max_examples=800,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SECOND_LEVEL = settings(FAST, max_examples=250)
SLOW = settings(FAST, max_examples=4000)


@functools.cache
def anchors(timezone: str) -> tuple[int, ...]:
    """Instants worth testing around: the zone's DST changes and local year ends."""
    zone_changes = zone_transitions(timezone, *YEARS)
    year_ends = [
        int(dt.datetime(year, 12, 31, 23, 0, tzinfo=ZoneInfo(timezone)).timestamp())
        for year in range(YEARS[0], YEARS[1] + 1)
    ]
    return tuple(zone_changes + year_ends)


minute_values = st.one_of(
    st.integers(0, 96).map(lambda k: k * 30),  # half hours: hit DST changes exactly
    st.integers(0, 2880),
)


@st.composite
def weekly_intervals(draw: st.DrawFn) -> list[WeeklyInterval]:
    """Non-overlapping weekly intervals (each at most a day long), rotated around the week."""
    spans: list[tuple[int, int]] = []
    position = 0
    for _ in range(draw(st.integers(1, 9))):
        gap = draw(st.one_of(st.just(0), minute_values, st.integers(0, 2 * 1440)))
        length = draw(
            st.one_of(
                st.just(1440),
                st.integers(1, 48).map(lambda k: k * 30),
                st.integers(1, 1440),
            )
        )
        start = position + gap
        if start + length > WEEK_MINUTES:
            break
        spans.append((start, start + length))
        position = start + length
    if not spans:
        spans.append((540, 1020))
    rotation = draw(st.one_of(st.integers(0, 7 * 48 - 1).map(lambda k: k * 30),
                              st.integers(0, WEEK_MINUTES - 1)))
    out: list[WeeklyInterval] = []
    for start, end in spans:
        rotated = (start + rotation) % WEEK_MINUTES
        weekday, start_minute = divmod(rotated, 1440)
        out.append((weekday, start_minute, start_minute + (end - start)))
    return out


@st.composite
def scenarios(draw: st.DrawFn, *, max_span_s: int, min_span_s: int = 3600) -> dict:
    timezone = draw(st.sampled_from(ZONES))
    intervals = draw(weekly_intervals())
    anchor = draw(
        st.one_of(
            st.sampled_from(anchors(timezone)),
            st.integers(
                int(dt.datetime(YEARS[0], 1, 1, tzinfo=dt.UTC).timestamp()),
                int(dt.datetime(YEARS[1], 12, 1, tzinfo=dt.UTC).timestamp()),
            ),
        )
    )
    start_s = (anchor - draw(st.integers(0, max_span_s))) // 60 * 60
    span_s = draw(st.integers(min_span_s // 60, max_span_s // 60)) * 60
    first_date = dt.datetime.fromtimestamp(start_s, dt.UTC).date()
    explicit = sorted(
        {
            first_date + dt.timedelta(days=k)
            for k in draw(st.lists(st.integers(-2, span_s // 86400 + 2), max_size=4))
        }
    )
    country = draw(st.sampled_from(COUNTRIES))
    mode = draw(st.sampled_from(("exact", "lazy", "far_before", "far_after", "cached", "tight_start", "tight_middle", "tight_end")))
    return {
        "timezone": timezone,
        "intervals": intervals,
        "start_s": start_s,
        "span_s": span_s,
        "explicit": explicit,
        "country": country,
        "mode": mode,
        "midnight_as_24": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


def build(sc: dict) -> tuple[BusinessCalendar, Oracle]:
    holidays: dict = {"dates": [d.isoformat() for d in sc["explicit"]]}
    if sc["country"] is not None:
        holidays["country"], subdivision = sc["country"]
        if subdivision is not None:
            holidays["subdivision"] = subdivision
    raw = {
        "c": {
            "timezone": sc["timezone"],
            "hours": hours_config(sc["intervals"], midnight_as_24=sc["midnight_as_24"]),
            "holidays": holidays,
        }
    }
    spec = parse_calendars(raw, "oracle.yml")["c"]
    start_s, end_s = sc["start_s"], sc["start_s"] + sc["span_s"]
    mode = sc["mode"]
    if mode == "exact":
        calendar = BusinessCalendar.for_span(spec, start_s, end_s)
    elif mode == "lazy":
        calendar = BusinessCalendar(spec)
    elif mode == "far_before":  # queries force forward extension
        calendar = BusinessCalendar.for_span(spec, start_s - 500 * 86400, start_s - 499 * 86400,
                                             margin_days=0)
    elif mode == "far_after":  # queries force backward extension
        calendar = BusinessCalendar.for_span(spec, end_s + 800 * 86400, end_s + 801 * 86400,
                                             margin_days=0)
    elif mode == "tight_start":  # no margin: queries run across the upper edge of the span
        calendar = BusinessCalendar.for_span(spec, start_s, start_s, margin_days=0)
    elif mode == "tight_middle":  # no margin: queries run across both edges
        middle_s = (start_s + end_s) // 2
        calendar = BusinessCalendar.for_span(spec, middle_s, middle_s, margin_days=0)
    elif mode == "tight_end":  # no margin: queries run across the lower edge of the span
        calendar = BusinessCalendar.for_span(spec, end_s, end_s, margin_days=0)
    else:
        calendar = calendar_for(spec)
    first_year = dt.datetime.fromtimestamp(start_s, dt.UTC).year
    country_dates: set[dt.date] = set()
    if sc["country"] is not None:
        country_dates = country_holiday_dates(*sc["country"], range(first_year - 1, first_year + 3))
    oracle = Oracle(sc["timezone"], sc["intervals"], set(sc["explicit"]) | country_dates)
    return calendar, oracle


def check_against_flags(
    calendar: BusinessCalendar, start_s: int, flags: np.ndarray, step_s: int, seed: int
) -> None:
    """Compare every kernel query with the oracle flags of consecutive step_s-long cells."""
    rng = np.random.default_rng(seed)
    cells = flags.size
    grid = start_s + step_s * np.arange(cells + 1, dtype=np.int64)
    expected_pos = minute_position_oracle(flags) * step_s // 60

    # positions at every cell boundary, and inside the cells
    position = calendar.position(grid)
    np.testing.assert_array_equal(position - position[0], expected_pos)
    np.testing.assert_array_equal(calendar.is_business(grid[:-1]), flags)
    offsets = rng.integers(0, step_s, size=cells)
    inside = grid[:-1] + offsets
    expected_inside = expected_pos[:-1] + np.where(flags, offsets, 0)
    np.testing.assert_array_equal(calendar.position(inside) - position[0], expected_inside)
    np.testing.assert_array_equal(calendar.is_business(inside), flags)

    # business_seconds on random pairs (either order)
    points = np.concatenate([grid, inside])
    point_pos = np.concatenate([expected_pos, expected_inside])
    a_idx = rng.integers(0, points.size, size=500)
    b_idx = rng.integers(0, points.size, size=500)
    np.testing.assert_array_equal(
        calendar.business_seconds(points[a_idx], points[b_idx]),
        np.maximum(point_pos[b_idx] - point_pos[a_idx], 0),
    )

    # next_business_instant from every cell start and from inside every cell
    nxt = next_true_index(flags)
    known = nxt < cells
    np.testing.assert_array_equal(
        calendar.next_business_instant(grid[:-1][known]), grid[nxt[known]]
    )
    after = np.append(nxt[1:], cells)
    inside_expected = np.where(flags, inside, grid[np.minimum(after, cells)])
    inside_known = flags | (after < cells)
    np.testing.assert_array_equal(
        calendar.next_business_instant(inside[inside_known]), inside_expected[inside_known]
    )

    # reach / add_business_seconds: the earliest instant where the target is met
    total = int(expected_pos[-1])
    t_idx = rng.integers(0, points.size, size=400)
    start_pos = point_pos[t_idx]
    remaining = total - start_pos
    n = np.where(
        rng.random(400) < 0.3,
        0,
        (rng.random(400) * (remaining + 1)).astype(np.int64),
    )
    # hit cell ends exactly now and then
    exact = rng.random(400) < 0.3
    cell_end_targets = expected_pos[np.searchsorted(expected_pos, start_pos + n, side="left")
                                    .clip(0, cells)]
    n = np.where(exact, np.maximum(cell_end_targets - start_pos, 0), n)
    target = start_pos + n
    j = np.searchsorted(expected_pos[1:], target, side="left")  # first cell whose end >= target
    expected_reach = grid[np.minimum(j, cells - 1)] + (target - expected_pos[np.minimum(j, cells - 1)])
    expected_add = np.where(n == 0, points[t_idx], expected_reach)
    np.testing.assert_array_equal(calendar.add_business_seconds(points[t_idx], n), expected_add)
    positive = n > 0
    reached = calendar.reach(calendar.position(points[t_idx][positive]) + n[positive])
    np.testing.assert_array_equal(reached, expected_reach[positive])


@FAST
@given(scenarios(max_span_s=4 * 86400))
def test_kernel_matches_minute_oracle(sc: dict) -> None:
    calendar, oracle = build(sc)
    minutes = sc["span_s"] // 60
    flags = oracle.flags(sc["start_s"], minutes, 60)
    check_against_flags(calendar, sc["start_s"], flags, 60, sc["seed"])


@SECOND_LEVEL
@given(scenarios(max_span_s=3 * 3600, min_span_s=60))
def test_kernel_matches_second_oracle(sc: dict) -> None:
    calendar, oracle = build(sc)
    flags = oracle.flags(sc["start_s"], sc["span_s"], 1)
    check_against_flags(calendar, sc["start_s"], flags, 1, sc["seed"])


@settings(FAST, max_examples=250)
@given(scenarios(max_span_s=30 * 86400), st.floats(0, 1))
def test_extension_far_beyond_span_matches_fresh_calendar(sc: dict, fraction: float) -> None:
    """A due date projected far past the data (up to ~3 years of this calendar's business
    time): the lazily extended calendar agrees with one materialised up front."""
    weekly_seconds = sum(end - start for _, start, end in sc["intervals"]) * 60
    n_seconds = max(1, int(fraction * weekly_seconds * 156))
    calendar, _ = build({**sc, "mode": "exact"})
    start_s = sc["start_s"]
    due = calendar.add_business_seconds(start_s, n_seconds)
    spec = calendar.spec
    fresh = BusinessCalendar.for_span(spec, start_s, due + 86400)
    assert fresh.add_business_seconds(start_s, n_seconds) == due
    assert calendar.business_seconds(start_s, due) == n_seconds
    assert fresh.business_seconds(start_s, due) == n_seconds
    assert calendar.next_business_instant(due) == fresh.next_business_instant(due)


@pytest.mark.slow
@SLOW
@given(scenarios(max_span_s=10 * 86400))
def test_kernel_matches_minute_oracle_long(sc: dict) -> None:
    calendar, oracle = build(sc)
    flags = oracle.flags(sc["start_s"], sc["span_s"] // 60, 60)
    check_against_flags(calendar, sc["start_s"], flags, 60, sc["seed"])


@pytest.mark.slow
@settings(SLOW, max_examples=1500)
@given(scenarios(max_span_s=6 * 3600, min_span_s=60))
def test_kernel_matches_second_oracle_long(sc: dict) -> None:
    calendar, oracle = build(sc)
    flags = oracle.flags(sc["start_s"], sc["span_s"], 1)
    check_against_flags(calendar, sc["start_s"], flags, 1, sc["seed"])


@settings(FAST, max_examples=200)
@given(scenarios(max_span_s=3600), st.integers(0, 2))
def test_claimed_exact_span_is_exact(sc: dict, margin_days: int) -> None:
    """Every instant of ``span_s`` (where no re-materialisation happens) is answered exactly,
    including the edges where overnight intervals and UTC offsets reach across days."""
    calendar, oracle = build({**sc, "mode": "exact"})
    calendar = BusinessCalendar.for_span(calendar.spec, sc["start_s"], sc["start_s"],
                                         margin_days=margin_days)
    lo_s, hi_s = calendar.span_s
    assert lo_s <= sc["start_s"] <= hi_s
    first_s = -(-lo_s // 60) * 60
    minutes = (hi_s - first_s) // 60
    flags = oracle.flags(first_s, minutes, 60)
    grid = first_s + 60 * np.arange(minutes + 1, dtype=np.int64)
    position = calendar.position(grid)
    np.testing.assert_array_equal(position - position[0], minute_position_oracle(flags))
    np.testing.assert_array_equal(calendar.is_business(grid[:-1]), flags)
    assert calendar.span_s == (lo_s, hi_s)  # answered without growing
