"""Vectorised business-time arithmetic for the simulated actors (agents' shifts, requesters' day).

A *pattern* is a sorted set of disjoint UTC open intervals (epoch seconds). All patterns of one
run are laid side by side on a single "virtual" axis (pattern ``p`` is shifted by ``p * span``),
so adding business seconds to a million instants, each on its own pattern, is one
``np.searchsorted`` over the concatenated cumulative open time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from deskpulse.sample.profile import Interval

I64 = NDArray[np.int64]

#: The instant returned for anything that would happen after the clock's horizon.
NEVER_AT: Final = int(np.iinfo(np.int64).max // 4)


def local_intervals(
    timezone: str,
    week: Sequence[Sequence[Interval]],
    holidays: Iterable[dt.date],
    first_day: dt.date,
    last_day: dt.date,
) -> I64:
    """UTC (start, end) epoch seconds of weekly local intervals between two local dates.

    An interval belongs to the local date it starts on and is skipped when that date is a
    holiday; an end ≤ start (or beyond 1440) runs into the next day.
    """
    zone = ZoneInfo(timezone)
    skip = set(holidays)
    rows: list[tuple[int, int]] = []
    day = first_day
    while day <= last_day:
        if day not in skip:
            midnight = dt.datetime.combine(day, dt.time())
            for start_min, end_min in week[day.weekday()]:
                end = end_min if end_min > start_min else end_min + 1440
                a = (midnight + dt.timedelta(minutes=start_min)).replace(tzinfo=zone)
                b = (midnight + dt.timedelta(minutes=end)).replace(tzinfo=zone)
                rows.append((int(a.timestamp()), int(b.timestamp())))
        day += dt.timedelta(days=1)
    if not rows:
        return np.empty((0, 2), dtype=np.int64)
    return merge_intervals(np.asarray(rows, dtype=np.int64))


def merge_intervals(intervals: I64) -> I64:
    """Sort (start, end) rows and merge the ones that overlap or touch."""
    if len(intervals) == 0:
        return intervals.reshape(0, 2)
    rows = intervals[np.argsort(intervals[:, 0], kind="stable")]
    ends = np.maximum.accumulate(rows[:, 1])
    new = np.ones(len(rows), dtype=bool)
    new[1:] = rows[1:, 0] > ends[:-1]
    group = np.cumsum(new) - 1
    starts = rows[new, 0]
    merged_ends = np.zeros(len(starts), dtype=np.int64)
    np.maximum.at(merged_ends, group, rows[:, 1])
    return np.stack([starts, merged_ends], axis=1)


@dataclass(frozen=True)
class ClockBook:
    """Business-time arithmetic over a fixed list of patterns within [origin_at, horizon_at)."""

    names: tuple[str, ...]
    origin_at: int
    horizon_at: int
    span_seconds: int
    starts: I64  # virtual axis
    ends: I64
    cum_start: I64  # open seconds before each interval (global running total)
    cum_end: I64
    first_idx: I64  # per pattern
    last_idx: I64

    @classmethod
    def build(cls, patterns: Sequence[tuple[str, I64]], origin_at: int, horizon_at: int) -> ClockBook:
        """Lay ``patterns`` (name, UTC intervals) side by side, clipped to the horizon."""
        span_seconds = horizon_at - origin_at + 86400
        starts: list[I64] = []
        ends: list[I64] = []
        first: list[int] = []
        last: list[int] = []
        count = 0
        for index, (name, rows) in enumerate(patterns):
            a = np.clip(rows[:, 0], origin_at, horizon_at)
            b = np.clip(rows[:, 1], origin_at, horizon_at)
            keep = b > a
            a, b = a[keep], b[keep]
            if len(a) == 0:
                raise ValueError(f"pattern {name!r} has no open time in the horizon")
            shift = index * span_seconds - origin_at
            starts.append(a + shift)
            ends.append(b + shift)
            first.append(count)
            count += len(a)
            last.append(count - 1)
        s = np.concatenate(starts)
        e = np.concatenate(ends)
        lengths = e - s
        cum_end = np.cumsum(lengths)
        return cls(
            names=tuple(name for name, _ in patterns),
            origin_at=origin_at,
            horizon_at=horizon_at,
            span_seconds=span_seconds,
            starts=s,
            ends=e,
            cum_start=cum_end - lengths,
            cum_end=cum_end,
            first_idx=np.asarray(first, dtype=np.int64),
            last_idx=np.asarray(last, dtype=np.int64),
        )

    def index(self, name: str) -> int:
        """The pattern number of ``name``."""
        return self.names.index(name)

    def _virtual(self, at: I64, pattern: I64) -> I64:
        return np.clip(at, self.origin_at, self.horizon_at) - self.origin_at + pattern * self.span_seconds

    def add(self, at: I64, business_seconds: I64, pattern: I64 | int) -> I64:
        """The instant at which ``business_seconds`` (≥ 1) of open time have passed after ``at``.

        Results beyond the horizon (and inputs at or after it) are :data:`NEVER_AT`.
        """
        at = np.asarray(at, dtype=np.int64)
        pat = np.broadcast_to(np.asarray(pattern, dtype=np.int64), at.shape)
        need_seconds = np.maximum(np.asarray(business_seconds, dtype=np.int64), 1)
        target = self._position(at, pat) + need_seconds
        j = np.searchsorted(self.cum_end, target, side="left")
        beyond = j > self.last_idx[pat]
        j = np.minimum(j, len(self.starts) - 1)
        out = self.starts[j] + (target - self.cum_start[j]) - pat * self.span_seconds + self.origin_at
        return np.where(beyond | (at >= self.horizon_at), NEVER_AT, out)

    def is_open(self, at: I64, pattern: I64 | int) -> NDArray[np.bool_]:
        """Whether each instant lies inside its pattern's open time."""
        at = np.asarray(at, dtype=np.int64)
        pat = np.broadcast_to(np.asarray(pattern, dtype=np.int64), at.shape)
        v = self._virtual(at, pat)
        i = np.searchsorted(self.starts, v, side="right") - 1
        ok = i >= self.first_idx[pat]
        i = np.maximum(i, 0)
        inside = (v >= self.starts[i]) & (v < self.ends[i])
        return ok & inside & (at >= self.origin_at) & (at < self.horizon_at)

    def open_seconds_between(self, a: I64, b: I64, pattern: I64 | int) -> I64:
        """Open seconds in [a, b) on each pattern (0 when b ≤ a)."""
        a = np.asarray(a, dtype=np.int64)
        pat = np.broadcast_to(np.asarray(pattern, dtype=np.int64), a.shape)
        counted: I64 = np.maximum(self._position(np.asarray(b, dtype=np.int64), pat)
                                  - self._position(a, pat), 0)
        return counted

    def _position(self, at: I64, pat: I64) -> I64:
        v = self._virtual(at, pat)
        i = np.searchsorted(self.starts, v, side="right") - 1
        i = np.maximum(i, self.first_idx[pat])
        position: I64 = self.cum_start[i] + np.clip(v - self.starts[i], 0, self.ends[i] - self.starts[i])
        return position
