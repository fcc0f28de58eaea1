"""Brute-force oracle for CONTRACT §3 business time, independent of the kernel's algorithm.

It converts every probed instant to local wall-clock time with zoneinfo and applies the
contract's rule literally: the instant counts when its wall-clock time t satisfies
start <= t < end for one of its weekday's intervals (or an overnight interval of the previous
weekday) and that interval's start date is not a holiday. No offsets, no transitions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from zoneinfo import ZoneInfo

import holidays as holidays_lib
import numpy as np

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: One weekly interval: (weekday 0=Mon, start minute, end minute; end may exceed 1440).
WeeklyInterval = tuple[int, int, int]


def country_holiday_dates(
    country: str | None, subdivision: str | None, years: Iterable[int]
) -> set[dt.date]:
    if country is None:
        return set()
    return set(holidays_lib.country_holidays(country, subdiv=subdivision, years=list(years)))


class Oracle:
    """Decides business/not for single instants by the contract rule."""

    def __init__(
        self,
        timezone: str,
        intervals: Sequence[WeeklyInterval],
        holiday_dates: Collection[dt.date] = (),
    ) -> None:
        self.zone = ZoneInfo(timezone)
        self.by_day: dict[int, list[tuple[int, int]]] = {d: [] for d in range(7)}
        for weekday, start_minute, end_minute in intervals:
            self.by_day[weekday].append((start_minute * 60, end_minute * 60))
        self.holidays = frozenset(holiday_dates)

    def is_business(self, at_s: int) -> bool:
        local = dt.datetime.fromtimestamp(at_s, self.zone)
        day = local.date()
        wall_seconds = local.hour * 3600 + local.minute * 60 + local.second
        if day not in self.holidays:
            for start, end in self.by_day[day.weekday()]:
                if start <= wall_seconds < end:
                    return True
        previous = day - dt.timedelta(days=1)
        if previous not in self.holidays:
            for start, end in self.by_day[previous.weekday()]:
                if start <= wall_seconds + 86400 < end:
                    return True
        return False

    def flags(self, start_s: int, count: int, step_s: int) -> np.ndarray:
        """is_business at start_s, start_s + step_s, ... (count instants)."""
        return np.fromiter(
            (self.is_business(start_s + k * step_s) for k in range(count)), dtype=bool, count=count
        )


def interval_text(start_minute: int, end_minute: int, *, midnight_as_24: bool = False) -> str:
    """Format a weekly interval as the config's 'HH:MM-HH:MM'."""
    end = end_minute % 1440
    end_text = f"{end // 60:02d}:{end % 60:02d}"
    if end_minute == 1440 and midnight_as_24:
        end_text = "24:00"
    return f"{start_minute // 60:02d}:{start_minute % 60:02d}-{end_text}"


def hours_config(intervals: Sequence[WeeklyInterval], *, midnight_as_24: bool = False) -> dict:
    """The ``hours:`` mapping (one key per weekday) for weekly intervals."""
    hours: dict[str, list[str]] = {}
    for weekday, start, end in sorted(intervals):
        hours.setdefault(DAY_NAMES[weekday], []).append(
            interval_text(start, end, midnight_as_24=midnight_as_24)
        )
    return hours


def minute_position_oracle(flags: np.ndarray) -> np.ndarray:
    """Business seconds from the span start to each minute boundary (len(flags) + 1 values)."""
    return np.concatenate([[0], np.cumsum(flags.astype(np.int64))]) * 60


def next_true_index(flags: np.ndarray) -> np.ndarray:
    """For each i, the first j >= i with flags[j] (len(flags) when none)."""
    n = flags.size
    idx = np.where(flags, np.arange(n), n)
    return np.minimum.accumulate(idx[::-1])[::-1]


def zone_transitions(timezone: str, first_year: int, last_year: int) -> list[int]:
    """UTC offset changes of a zone, found by an hourly walk plus bisection (test helper)."""
    zone = ZoneInfo(timezone)

    def offset(t: int) -> dt.timedelta | None:
        return dt.datetime.fromtimestamp(t, zone).utcoffset()

    t = int(dt.datetime(first_year, 1, 1, tzinfo=dt.UTC).timestamp())
    end = int(dt.datetime(last_year + 1, 1, 1, tzinfo=dt.UTC).timestamp())
    found: list[int] = []
    previous = offset(t)
    while t < end:
        current = offset(t + 3600)
        if current != previous:
            lo, hi = t, t + 3600
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if offset(mid) == previous:
                    lo = mid
                else:
                    hi = mid
            found.append(hi)
            previous = current
        t += 3600
    return found
