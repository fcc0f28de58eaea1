"""The generator's vectorised business-time arithmetic against brute force."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from deskpulse.sample.clock import NEVER_AT, ClockBook, local_intervals, merge_intervals


def _utc(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp())


def _random_pattern(rng: np.random.Generator, origin: int, horizon: int) -> np.ndarray:
    starts = np.sort(rng.choice(np.arange(origin, horizon - 40), size=12, replace=False))
    rows = np.stack([starts, starts + rng.integers(1, 40, size=12)], axis=1)
    return merge_intervals(rows)


@pytest.mark.parametrize("seed", range(5))
def test_add_is_open_and_open_seconds_match_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    origin, horizon = 1000, 1600
    patterns = [(f"p{i}", _random_pattern(rng, origin, horizon)) for i in range(3)]
    book = ClockBook.build(patterns, origin, horizon)
    second = np.arange(origin, horizon)
    for p, (_, rows) in enumerate(patterns):
        is_open = np.zeros(len(second), dtype=bool)
        for a, b in rows:
            is_open[(second >= a) & (second < b)] = True
        at = rng.integers(origin - 5, horizon, size=200)
        need = rng.integers(1, 120, size=200)
        got = book.add(at, need, p)
        opened = book.is_open(at, p)
        for k in range(len(at)):
            t, n = int(at[k]), int(need[k])
            assert opened[k] == (origin <= t < horizon and bool(is_open[t - origin]))
            later = second[(second >= t) & is_open]
            expected = int(later[n - 1]) + 1 if len(later) >= n else int(NEVER_AT)
            assert got[k] == expected, (p, t, n)
        a = rng.integers(origin, horizon, size=50)
        b = a + rng.integers(0, 200, size=50)
        counted = book.open_seconds_between(a, b, p)
        for k in range(50):
            span = (second >= a[k]) & (second < b[k])
            assert counted[k] == int((is_open & span).sum())


def test_local_intervals_follow_dst_holidays_and_overnight_spans() -> None:
    week = [((480, 720),)] * 5 + [(), ((1320, 360),)]  # weekdays 08-12, Sunday 22:00-06:00
    rows = local_intervals("Europe/Berlin", week, {dt.date(2026, 3, 27)},
                           dt.date(2026, 3, 26), dt.date(2026, 3, 30))
    got = [(dt.datetime.fromtimestamp(a, dt.UTC).strftime("%m-%d %H:%M"),
            dt.datetime.fromtimestamp(b, dt.UTC).strftime("%m-%d %H:%M")) for a, b in rows]
    assert got == [
        ("03-26 07:00", "03-26 11:00"),  # Thursday, CET (UTC+1)
        # Friday 27 is a holiday; Sunday 29 is the spring-forward day (CEST from 01:00 UTC)
        ("03-29 20:00", "03-30 04:00"),  # Sunday 22:00 CEST -> Monday 06:00 CEST
        ("03-30 06:00", "03-30 10:00"),  # Monday 08-12 CEST (UTC+2)
    ]


def test_patterns_do_not_leak_into_each_other() -> None:
    origin, horizon = _utc("2026-01-01T00:00:00"), _utc("2026-01-03T00:00:00")
    a = np.asarray([[origin + 3600, origin + 7200]], dtype=np.int64)
    b = np.asarray([[origin, horizon]], dtype=np.int64)
    book = ClockBook.build([("a", a), ("b", b)], origin, horizon)
    # 2 hours of pattern a do not exist: the answer is "never", not an instant of pattern b
    assert book.add(np.asarray([origin]), np.asarray([7200]), 0)[0] == NEVER_AT
    assert book.add(np.asarray([origin]), np.asarray([7200]), 1)[0] == origin + 7200
    assert book.index("b") == 1
