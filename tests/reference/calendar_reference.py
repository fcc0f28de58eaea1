"""Naive reference for business time (CONTRACT §2 calendars and durations, §3 "Business time").

This module is deliberately simple: it shares no code with ``deskpulse.calendar`` and decides
business time with one literal predicate, :meth:`Calendar.is_business`, evaluated on real UTC
instants. Everything else (:func:`business_seconds`, :func:`reach`, :func:`next_business_instant`)
counts instants for which that predicate holds.

Walking every second would be too slow for property tests, so the walk is done per UTC *minute*
with a per-second fallback: when the calendar's UTC offset is the same whole number of minutes at
the first and the last second of a UTC minute, that minute maps onto exactly one local wall-clock
minute, and since calendar boundaries (interval ends, local midnight for holidays) are whole local
minutes the predicate is constant over the minute -- one evaluation decides all 60 seconds.
Otherwise (a DST change inside the minute, a zone with a seconds offset) all 60 seconds are
evaluated one by one. Minute values are memoised per UTC day together with their prefix sums,
which is the only optimisation.

All instants are naive ``datetime`` values in UTC with whole seconds (CONTRACT §3: "compute in
whole seconds"), as everywhere in deskpulse.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import holidays as holidays_pkg
import yaml

__all__ = [
    "ALWAYS",
    "Calendar",
    "Interval",
    "business_seconds",
    "from_epoch",
    "next_business_instant",
    "parse_calendar",
    "parse_calendars",
    "parse_duration",
    "reach",
    "to_epoch",
]

#: Name of the built-in round-the-clock calendar (CONTRACT §2: ``24x7: always``).
ALWAYS = "24x7"

_EPOCH = dt.datetime(1970, 1, 1)
_DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DEFAULT_DAY_LENGTH = 8 * 3600
#: How far reach()/next_business_instant() look ahead before declaring a calendar empty.
_MAX_SCAN_DAYS = 3 * 366


# --- instants ---------------------------------------------------------------------------------


def to_epoch(instant: dt.datetime) -> int:
    """Whole seconds since 1970-01-01 of a naive UTC datetime (aware ones are converted)."""
    if instant.tzinfo is not None:
        instant = instant.astimezone(dt.UTC).replace(tzinfo=None)
    if instant.microsecond:
        raise ValueError(f"instants must be whole seconds, got {instant.isoformat()}")
    return (instant - _EPOCH) // dt.timedelta(seconds=1)


def from_epoch(seconds: int) -> dt.datetime:
    """The naive UTC datetime ``seconds`` after 1970-01-01."""
    return _EPOCH + dt.timedelta(seconds=seconds)


# --- durations (CONTRACT §2) ------------------------------------------------------------------

_DURATION_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")


def parse_duration(text: str, day_seconds: int | None = None) -> int:
    """Seconds of a duration ``Nd``/``Nh``/``Nm``, combinable in that order (``1d4h``, ``8h30m``).

    ``day_seconds`` is what ``1d`` means: 24 h on ``24x7``, the calendar's ``day_length`` on a
    business calendar. ``None`` forbids the ``d`` unit (used for ``day_length`` itself).
    """
    if not isinstance(text, str):
        raise ValueError(f"a duration must be a string like '15m', '2h', '1d4h', got {text!r}")
    match = _DURATION_RE.match(text.strip())
    if not match or not any(match.groups()):
        raise ValueError(f"bad duration {text!r} (expected e.g. '15m', '2h', '3d', '1d4h')")
    days, hours, minutes = (int(g) if g else 0 for g in match.groups())
    if days and day_seconds is None:
        raise ValueError(f"duration {text!r} may not use days here")
    return days * (day_seconds or 0) + hours * 3600 + minutes * 60


# --- calendars --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """One business interval of a weekday, in minutes after local midnight.

    ``end <= start`` means the interval runs past midnight into the next day
    (``22:00-06:00``; ``00:00-00:00`` is a whole day); ``end`` may be 1440 (``24:00``).
    """

    start: int
    end: int

    @property
    def overnight(self) -> bool:
        return self.end <= self.start


@dataclass(eq=False)
class Calendar:
    """A parsed calendar. ``always`` calendars (``24x7``) count every instant."""

    name: str
    always: bool = False
    timezone: str = "UTC"
    #: weekday (0 = Monday) -> intervals starting on that weekday
    hours: dict[int, tuple[Interval, ...]] = field(default_factory=dict)
    holiday_dates: frozenset[dt.date] = frozenset()
    country: str | None = None
    subdivision: str | None = None
    #: seconds that ``1d`` stands for on this calendar
    day_seconds: int = _DEFAULT_DAY_LENGTH
    # memo: UTC day number -> (business seconds of each of its 1440 minutes, prefix sums)
    _days: dict[int, tuple[list[int], list[int]]] = field(default_factory=dict, repr=False)
    _holiday_memo: dict[dt.date, bool] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._tz = ZoneInfo(self.timezone)
        if self.always:
            self.day_seconds = 86400
        self._country_holidays: Any = None
        if self.country:
            self._country_holidays = holidays_pkg.country_holidays(
                self.country, subdiv=self.subdivision
            )

    # -- the predicate ---------------------------------------------------------------------

    def is_holiday(self, day: dt.date) -> bool:
        """An explicit ``dates`` entry or a holiday of ``country``/``subdivision``."""
        known = self._holiday_memo.get(day)
        if known is None:
            known = day in self.holiday_dates or (
                self._country_holidays is not None and day in self._country_holidays
            )
            self._holiday_memo[day] = known
        return known

    def is_business(self, epoch_second: int) -> bool:
        """CONTRACT §3, literally: does the real instant count as business time?

        It does when its local wall-clock time t satisfies start <= t < end for one of that
        weekday's intervals and the interval's start date (the local date on which the interval
        starts: the previous day for the after-midnight part of an overnight interval) is not a
        holiday.
        """
        if self.always:
            return True
        local = dt.datetime.fromtimestamp(epoch_second, self._tz)
        today = local.date()
        t = local.hour * 3600 + local.minute * 60 + local.second  # wall-clock seconds
        # Intervals that start today: same-day ones, and the evening part of overnight ones.
        for iv in self.hours.get(today.weekday(), ()):
            end = 86400 if iv.overnight else iv.end * 60
            if iv.start * 60 <= t < end and not self.is_holiday(today):
                return True
        # The morning part of overnight intervals that started yesterday.
        yesterday = today - dt.timedelta(days=1)
        for iv in self.hours.get(yesterday.weekday(), ()):
            if iv.overnight and t < iv.end * 60 and not self.is_holiday(yesterday):
                return True
        return False

    # -- per-minute memo -------------------------------------------------------------------

    def _offset(self, epoch_second: int) -> dt.timedelta:
        offset = dt.datetime.fromtimestamp(epoch_second, self._tz).utcoffset()
        assert offset is not None
        return offset

    def _minute_value(self, utc_minute: int) -> int:
        """Business seconds in the UTC minute ``[utc_minute*60, utc_minute*60 + 60)``."""
        first = utc_minute * 60
        offset = self._offset(first)
        if offset == self._offset(first + 59) and offset.total_seconds() % 60 == 0:
            # One whole local minute: the predicate cannot change inside it.
            return 60 if self.is_business(first) else 0
        return sum(self.is_business(first + s) for s in range(60))

    def day_table(self, utc_day: int) -> tuple[list[int], list[int]]:
        """(minute values, prefix sums with 1441 entries) of the UTC day ``utc_day``."""
        table = self._days.get(utc_day)
        if table is None:
            values = [self._minute_value(utc_day * 1440 + i) for i in range(1440)]
            prefix = [0]
            for v in values:
                prefix.append(prefix[-1] + v)
            table = (values, prefix)
            self._days[utc_day] = table
        return table

    def minute_value(self, utc_minute: int) -> int:
        values, _ = self.day_table(utc_minute // 1440)
        return values[utc_minute % 1440]

    def partial_minute(self, a: int, b: int) -> int:
        """Business seconds in ``[a, b)``, both inside one UTC minute."""
        value = self.minute_value(a // 60)
        if value in (0, 60):  # uniform minute
            return (b - a) if value == 60 else 0
        return sum(self.is_business(s) for s in range(a, b))


# --- queries ----------------------------------------------------------------------------------


def business_seconds_epoch(cal: Calendar, a: int, b: int) -> int:
    """Business seconds in the real interval ``[a, b)`` (0 when b <= a)."""
    if b <= a:
        return 0
    if cal.always:
        return b - a
    total = 0
    t = a
    while t < b:
        if t % 60:  # leading partial minute
            end = min(b, t - t % 60 + 60)
            total += cal.partial_minute(t, end)
            t = end
            continue
        minute = t // 60
        day, index = divmod(minute, 1440)
        whole_end = min(b // 60, (day + 1) * 1440)  # whole minutes of this UTC day in range
        if whole_end > minute:
            _, prefix = cal.day_table(day)
            total += prefix[whole_end - day * 1440] - prefix[index]
            t = whole_end * 60
            continue
        total += cal.partial_minute(t, b)  # trailing partial minute
        t = b
    return total


def business_seconds(cal: Calendar, a: dt.datetime, b: dt.datetime) -> int:
    """Business seconds between two naive UTC instants: the count of business seconds in [a, b)."""
    return business_seconds_epoch(cal, to_epoch(a), to_epoch(b))


def reach_epoch(cal: Calendar, a: int, n: int) -> int:
    """The earliest instant u >= a with business_seconds(a, u) == n."""
    if n < 0:
        raise ValueError("n must be >= 0")
    if n == 0:
        return a
    if cal.always:
        return a + n
    remaining = n
    t = a
    limit = a + _MAX_SCAN_DAYS * 86400
    while t < limit:
        if t % 60:  # leading partial minute: walk it second by second
            for s in range(t, t - t % 60 + 60):
                if cal.is_business(s):
                    remaining -= 1
                    if remaining == 0:
                        return s + 1
            t = t - t % 60 + 60
            continue
        day, index = divmod(t // 60, 1440)
        values, prefix = cal.day_table(day)
        rest_of_day = prefix[1440] - prefix[index]
        if rest_of_day < remaining:  # not today: skip to the next UTC midnight
            remaining -= rest_of_day
            t = (day + 1) * 86400
            continue
        for i in range(index, 1440):  # today: walk minute by minute
            first = (day * 1440 + i) * 60
            value = values[i]
            if value < remaining:
                remaining -= value
                continue
            if value == 60:
                return first + remaining
            for s in range(first, first + 60):  # a mixed minute: second by second
                if cal.is_business(s):
                    remaining -= 1
                    if remaining == 0:
                        return s + 1
        raise AssertionError("unreachable: the day held enough business seconds")
    raise ValueError(f"calendar {cal.name!r} has no business time within {_MAX_SCAN_DAYS} days")


def reach(cal: Calendar, t: dt.datetime, n_seconds: int) -> dt.datetime:
    """Earliest instant at which ``n_seconds`` business seconds have elapsed after ``t``.

    When the n-th business second is the last one before closing, that is the closing instant
    itself (a target reached exactly at 17:00 is reached at 17:00, not at the next opening).
    """
    return from_epoch(reach_epoch(cal, to_epoch(t), n_seconds))


def next_business_instant_epoch(cal: Calendar, a: int) -> int:
    """The earliest instant u >= a that is business time."""
    if cal.always:
        return a
    t = a
    limit = a + _MAX_SCAN_DAYS * 86400
    while t < limit:
        minute_start = t - t % 60
        value = cal.minute_value(t // 60)
        if value == 60:
            return t
        if value:
            for s in range(t, minute_start + 60):
                if cal.is_business(s):
                    return s
        t = minute_start + 60
        day, index = divmod(t // 60, 1440)
        _, prefix = cal.day_table(day)
        if prefix[1440] == prefix[index]:  # nothing left today: jump to the next UTC midnight
            t = (day + 1) * 86400
    raise ValueError(f"calendar {cal.name!r} has no business time within {_MAX_SCAN_DAYS} days")


def next_business_instant(cal: Calendar, t: dt.datetime) -> dt.datetime:
    """The first business instant at or after ``t`` (``t`` itself when it is business time)."""
    return from_epoch(next_business_instant_epoch(cal, to_epoch(t)))


# --- parsing the CONTRACT §2 calendar YAML shape ---------------------------------------------


def _parse_clock(text: str, *, is_end: bool) -> int:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not match:
        raise ValueError(f"bad time {text!r} (expected HH:MM)")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and (minutes or not is_end)):
        raise ValueError(f"bad time {text!r}")
    return hours * 60 + minutes


def _parse_interval(text: str) -> Interval:
    if not isinstance(text, str) or text.count("-") != 1:
        raise ValueError(f"bad interval {text!r} (expected 'HH:MM-HH:MM')")
    start, end = text.split("-")
    return Interval(_parse_clock(start, is_end=False), _parse_clock(end, is_end=True))


def _parse_days(key: str) -> list[int]:
    """``mon-fri``, ``sat``, ``mon,wed,fri``, ``mon-wed, sat``; ranges may wrap (``fri-mon``)."""
    days: list[int] = []
    for part in str(key).lower().split(","):
        part = part.strip()
        if "-" in part:
            first, last = (p.strip() for p in part.split("-", 1))
            if first not in _DAY_KEYS or last not in _DAY_KEYS:
                raise ValueError(f"bad day range {part!r}")
            i = _DAY_KEYS.index(first)
            while True:
                days.append(i)
                if i == _DAY_KEYS.index(last):
                    break
                i = (i + 1) % 7
        elif part in _DAY_KEYS:
            days.append(_DAY_KEYS.index(part))
        else:
            raise ValueError(f"bad day {part!r} (expected mon..sun, ranges like mon-fri)")
    return days


def _parse_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def parse_calendar(name: str, spec: Any) -> Calendar:
    """One entry of the ``calendars`` section (or the built-in ``24x7: always``)."""
    if spec == "always":
        return Calendar(name=name, always=True)
    if not isinstance(spec, Mapping):
        raise ValueError(f"calendar {name!r}: expected a mapping or 'always', got {spec!r}")
    hours: dict[int, list[Interval]] = {}
    hours_spec = spec.get("hours") or {}
    if not isinstance(hours_spec, Mapping):
        raise ValueError(f"calendar {name!r}: hours must be a mapping of days to intervals")
    for key, intervals in hours_spec.items():
        if isinstance(intervals, str):
            intervals = [intervals]
        for day in _parse_days(key):
            hours.setdefault(day, []).extend(_parse_interval(i) for i in intervals or [])
    raw_holidays = spec.get("holidays") or {}
    holiday_spec: Mapping[str, Any]
    if isinstance(raw_holidays, Mapping):
        holiday_spec = raw_holidays
    elif isinstance(raw_holidays, Sequence) and not isinstance(raw_holidays, str):
        holiday_spec = {"dates": raw_holidays}  # a bare list of dates
    else:
        raise ValueError(f"calendar {name!r}: holidays must be a mapping or a list of dates")
    day_length = spec.get("day_length")
    return Calendar(
        name=name,
        timezone=str(spec.get("timezone") or "UTC"),
        hours={day: tuple(ivs) for day, ivs in hours.items()},
        holiday_dates=frozenset(_parse_date(d) for d in holiday_spec.get("dates") or []),
        country=holiday_spec.get("country"),
        subdivision=holiday_spec.get("subdivision"),
        day_seconds=parse_duration(str(day_length)) if day_length else _DEFAULT_DAY_LENGTH,
    )


#: Parsed calendars by (name, canonical YAML of their spec), so that the per-day memo survives
#: between calls (property tests call ``sla_reference.compute`` many times with one config).
_PARSED: dict[tuple[str, str], Calendar] = {}


def parse_calendars(section: Mapping[str, Any] | None) -> dict[str, Calendar]:
    """The ``calendars`` section, plus the built-in ``24x7: always``."""
    specs: dict[str, Any] = {ALWAYS: "always"}
    specs.update({str(name): spec for name, spec in (section or {}).items()})
    result = {}
    for name, spec in specs.items():
        key = (name, yaml.safe_dump(spec, sort_keys=True))
        if key not in _PARSED:
            _PARSED[key] = parse_calendar(name, spec)
        result[name] = _PARSED[key]
    return result
