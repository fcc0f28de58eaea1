"""Cron expressions with a timezone, written here (no cron library).

Five fields — minute, hour, day of month, month, day of week — with ``*``, lists (``1,15``),
ranges (``1-5``), steps (``*/15``, ``8-18/2``), month and weekday names (``JAN``, ``MON``;
``0`` and ``7`` are Sunday) and the macros ``@hourly``, ``@daily``/``@midnight``,
``@weekly``, ``@monthly``, ``@yearly``/``@annually``. As in Vixie cron, when both the day of
month and the day of week are restricted a day matches when *either* does.

Times are wall-clock times in the schedule's IANA timezone. Daylight-saving changes follow
Vixie cron's rule:

- a job whose hour field is a fixed set of hours (``0 2 * * *``) and whose local time falls in
  a spring-forward gap runs once, at the instant the clocks jump (02:30 → 03:00 local);
  in a fall-back overlap it runs once, at the first occurrence;
- a job whose hour field is ``*`` (or a step over every hour) runs at the wall-clock times
  that exist: none inside a gap, and on both passes through an overlap.

:meth:`CronSchedule.next_after` returns the first occurrence strictly after an instant;
instants are timezone-aware or naive UTC (the store's convention) and results are naive UTC.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from deskpulse.errors import UsageError

MACROS: Final = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
MONTHS: Final = {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
WEEKDAYS: Final = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
#: (name, low, high, names) of the five fields.
FIELDS: Final[tuple[tuple[str, int, int, dict[str, int]], ...]] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, MONTHS),
    ("day of week", 0, 7, WEEKDAYS),
)
#: Local times are searched this far around an instant (larger than any DST shift).
_MARGIN: Final = timedelta(hours=3)
#: A schedule whose expression matches no date within this many years is rejected.
_MAX_YEARS: Final = 8

_TOKEN = re.compile(r"^(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(\d+))?$")


def _value(text: str, field: str, low: int, high: int, names: dict[str, int]) -> int:
    key = text.lower()
    if key in names:
        return names[key]
    if not key.isdigit():
        raise UsageError(f"cron {field}: {text!r} is not a number or a name")
    n = int(key)
    if not low <= n <= high:
        raise UsageError(f"cron {field}: {n} is outside {low}-{high}")
    return n


def _parse_field(text: str, field: str, low: int, high: int, names: dict[str, int]) -> tuple[frozenset[int], bool]:
    """The set of values a field allows, and whether it is unrestricted (``*`` or ``*/1``)."""
    values: set[int] = set()
    star = False
    for part in text.split(","):
        m = _TOKEN.match(part.strip().lower())
        if not m:
            raise UsageError(f"cron {field}: cannot read {part!r}")
        body, step_text = m.group(1), m.group(2)
        step = int(step_text) if step_text else 1
        if step <= 0:
            raise UsageError(f"cron {field}: the step must be positive")
        if body == "*":
            lo, hi = low, high if field != "day of week" else 6
            star = star or step == 1
        elif "-" in body:
            a, b = body.split("-", 1)
            lo, hi = _value(a, field, low, high, names), _value(b, field, low, high, names)
            if lo > hi:
                raise UsageError(f"cron {field}: range {body!r} runs backwards")
        else:
            lo = _value(body, field, low, high, names)
            hi = high if step_text else lo
        values.update(range(lo, hi + 1, step))
    if field == "day of week" and 7 in values:
        values.discard(7)
        values.add(0)
    return frozenset(values), star


def zone(name: str) -> ZoneInfo:
    """An IANA timezone, or a UsageError naming the bad value."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UsageError(f"unknown timezone {name!r} (use an IANA name such as Europe/Berlin)") from exc


def _naive_utc(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at


def _local(utc: datetime, tz: ZoneInfo) -> datetime:
    """The naive local wall-clock reading of a naive UTC instant."""
    return utc.replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)


def _jump(lo: datetime, hi: datetime, local: datetime, tz: ZoneInfo) -> datetime:
    """The instant in ``[lo, hi]`` at which the clocks jump over the missing ``local`` time:
    the first whole second whose wall-clock reading is later than ``local``."""
    a, b = 0, int((hi - lo).total_seconds())
    while a < b:
        mid = (a + b) // 2
        if _local(lo + timedelta(seconds=mid), tz) > local:
            b = mid
        else:
            a = mid + 1
    return lo + timedelta(seconds=a)


@dataclass(frozen=True)
class CronSchedule:
    """A parsed cron expression bound to a timezone."""

    expression: str
    timezone: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool
    every_hour: bool

    @classmethod
    def parse(cls, expression: str, timezone: str = "UTC") -> CronSchedule:
        text = " ".join(expression.split())
        spec = MACROS.get(text.lower(), text)
        parts = spec.split(" ")
        if len(parts) != 5:
            raise UsageError(
                f"cron expression {expression!r} must have 5 fields "
                "(minute hour day-of-month month day-of-week) or be a macro such as @daily"
            )
        parsed = [_parse_field(p, *f) for p, f in zip(parts, FIELDS, strict=True)]
        zone(timezone)
        sched = cls(
            expression=text,
            timezone=timezone,
            minutes=parsed[0][0],
            hours=parsed[1][0],
            days=parsed[2][0],
            months=parsed[3][0],
            weekdays=parsed[4][0],
            days_restricted=not parsed[2][1],
            weekdays_restricted=not parsed[4][1],
            every_hour=len(parsed[1][0]) == 24,
        )
        if not any(True for _ in sched._days(date.today(), years=_MAX_YEARS)):
            raise UsageError(f"cron expression {expression!r} never matches a date")
        return sched

    # --- local wall-clock matches --------------------------------------------------------------

    def _day_matches(self, d: date) -> bool:
        if d.month not in self.months:
            return False
        dom = d.day in self.days
        dow = (d.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return dom or dow
        if self.days_restricted:
            return dom
        if self.weekdays_restricted:
            return dow
        return True

    def _days(self, start: date, *, years: int = _MAX_YEARS) -> Iterator[date]:
        """Matching days from ``start`` on, for at most ``years`` years."""
        y, m = start.year, start.month
        first = True
        for _ in range(years * 12 + 1):
            if m in self.months:
                last = calendar.monthrange(y, m)[1]
                for day in range(start.day if first else 1, last + 1):
                    d = date(y, m, day)
                    if self._day_matches(d):
                        yield d
            first = False
            m += 1
            if m == 13:
                y, m = y + 1, 1

    def local_times(self, start: datetime) -> Iterator[datetime]:
        """Matching naive local wall-clock minutes at or after ``start`` (naive local), in order."""
        start = start.replace(second=0, microsecond=0)
        hours = sorted(self.hours)
        minutes = sorted(self.minutes)
        for d in self._days(start.date()):
            for h in hours:
                for mi in minutes:
                    t = datetime(d.year, d.month, d.day, h, mi)
                    if t >= start:
                        yield t

    # --- instants ------------------------------------------------------------------------------

    def instants(self, local: datetime) -> list[datetime]:
        """The UTC instants (naive) at which the local wall-clock time ``local`` fires."""
        tz = zone(self.timezone)
        first = local.replace(tzinfo=tz, fold=0)
        second = local.replace(tzinfo=tz, fold=1)
        a = _naive_utc(first)
        b = _naive_utc(second)
        if _local(a, tz) != local:  # in a gap: this wall-clock time does not exist
            return [] if self.every_hour else [_jump(min(a, b), max(a, b), local, tz)]
        if a != b:  # in an overlap: the time happens twice
            return sorted({a, b}) if self.every_hour else [min(a, b)]
        return [a]

    def next_after(self, after: datetime) -> datetime:
        """The first occurrence strictly after ``after`` (aware, or naive UTC); naive UTC."""
        after_utc = _naive_utc(after)
        tz = zone(self.timezone)
        local_after = after_utc.replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)
        best: datetime | None = None
        stop: datetime | None = None
        for local in self.local_times(local_after - _MARGIN):
            if stop is not None and local > stop:
                break
            for instant in self.instants(local):
                if instant > after_utc and (best is None or instant < best):
                    best = instant
                    stop = local + _MARGIN
        if best is None:
            raise UsageError(f"cron expression {self.expression!r} has no occurrence after {after_utc}")
        return best

    def between(self, start: datetime, end: datetime, *, limit: int = 10_000) -> list[datetime]:
        """Occurrences in ``[start, end]`` (naive UTC), at most ``limit`` of them."""
        out: list[datetime] = []
        at = _naive_utc(start) - timedelta(microseconds=1)
        end = _naive_utc(end)
        while len(out) < limit:
            at = self.next_after(at)
            if at > end:
                break
            out.append(at)
        return out

    def describe(self) -> str:
        return f"{self.expression} ({self.timezone})"
