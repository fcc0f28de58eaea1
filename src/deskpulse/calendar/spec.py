"""Parse and validate the ``calendars:`` section of the SLA config into frozen calendar specs.

CONTRACT §2: a calendar is ``always`` (24x7) or a mapping with ``timezone`` (IANA), ``hours``
(weekday keys -> ``"HH:MM-HH:MM"`` local wall-clock intervals), optional ``holidays``
(``country``/``subdivision`` through the ``holidays`` package, plus explicit ``dates``) and
``day_length`` (what ``1d`` means, default 8h). Every problem raises
:class:`~deskpulse.errors.ConfigError` whose message names the file, the path inside the
config (``calendars.emea.hours.mon-fri[1]``) and the reason.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
import warnings
import zoneinfo
from collections.abc import Iterable, Mapping
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from deskpulse.cache import package_stamp, read_text, write_text
from deskpulse.calendar.durations import (
    ALWAYS_DAY_LENGTH_SECONDS,
    DEFAULT_DAY_LENGTH_SECONDS,
    parse_day_length,
    parse_duration,
)
from deskpulse.errors import ConfigError

logger = logging.getLogger(__name__)

#: The name of the built-in calendar that is always open.
ALWAYS_CALENDAR_NAME: Final = "24x7"
#: Weekday keys, Monday first (``datetime.date.weekday()`` order).
DAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY: Final = 1440
MINUTES_PER_WEEK: Final = 7 * MINUTES_PER_DAY

_ALL_DAYS_KEYS: Final = frozenset({"daily", "all"})
_INTERVAL_RE: Final = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_CALENDAR_KEYS: Final = frozenset({"timezone", "hours", "holidays", "day_length"})
_HOLIDAY_KEYS: Final = frozenset({"country", "subdivision", "dates"})


# --- models -----------------------------------------------------------------------------------


class Interval(BaseModel):
    """One local wall-clock business interval of a weekday, in minutes after that day's midnight.

    ``end_minute`` is greater than ``start_minute`` and at most one day later; an end beyond
    1440 runs past midnight into the next day (``22:00-06:00`` is 1320..1800).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    start_minute: int
    end_minute: int

    @model_validator(mode="after")
    def _check_bounds(self) -> Interval:
        if not 0 <= self.start_minute < MINUTES_PER_DAY:
            raise ValueError(f"start_minute must be in [0, 1440), got {self.start_minute}")
        if not self.start_minute < self.end_minute <= self.start_minute + MINUTES_PER_DAY:
            raise ValueError(
                f"end_minute must be in ({self.start_minute}, {self.start_minute + 1440}], "
                f"got {self.end_minute}"
            )
        return self

    @property
    def overnight(self) -> bool:
        """True when the interval runs past midnight into the next day."""
        return self.end_minute > MINUTES_PER_DAY

    @property
    def length_seconds(self) -> int:
        """Wall-clock length of the interval in seconds."""
        return (self.end_minute - self.start_minute) * 60

    def label(self) -> str:
        """The interval as ``HH:MM-HH:MM`` (an end of exactly midnight prints as 24:00 / 00:00)."""
        end = self.end_minute
        if end == MINUTES_PER_DAY and self.start_minute != 0:
            end_text = "24:00"
        else:
            end_text = _hhmm(end % MINUTES_PER_DAY)
        return f"{_hhmm(self.start_minute)}-{end_text}"


class HolidaySpec(BaseModel):
    """Holidays of a calendar: a country (and subdivision) of the ``holidays`` package and dates."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    country: str | None = None
    subdivision: str | None = None
    dates: tuple[dt.date, ...] = ()

    @model_validator(mode="after")
    def _check_country(self) -> HolidaySpec:
        if self.subdivision is not None and self.country is None:
            raise ValueError("a subdivision needs a country")
        if self.country is not None:
            check_country(self.country, self.subdivision)  # raises on unknown codes
        return self

    @property
    def empty(self) -> bool:
        """True when no day is ever a holiday."""
        return self.country is None and not self.dates

    def dates_between(self, first: dt.date, last: dt.date) -> frozenset[dt.date]:
        """All holiday dates d with ``first <= d <= last`` (country holidays and explicit dates)."""
        found: set[dt.date] = {d for d in self.dates if first <= d <= last}
        if self.country is not None:
            for year in range(first.year, last.year + 1):
                found.update(
                    d
                    for d in _country_holidays(self.country, self.subdivision, year)
                    if first <= d <= last
                )
        return frozenset(found)


class CalendarSpec(BaseModel):
    """A validated calendar: ``always`` (24x7) or weekly local hours in a timezone plus holidays.

    ``week[d]`` holds the intervals that *start* on weekday ``d`` (0 = Monday), sorted.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    always: bool = False
    timezone: str = "UTC"
    week: tuple[tuple[Interval, ...], ...] = ((),) * 7
    holidays: HolidaySpec = HolidaySpec()
    day_length_seconds: int = DEFAULT_DAY_LENGTH_SECONDS

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        load_zone(value)
        return value

    @model_validator(mode="after")
    def _check_week(self) -> CalendarSpec:
        if len(self.week) != 7:
            raise ValueError(f"week must have 7 days, got {len(self.week)}")
        if self.always:
            return self
        if not 0 < self.day_length_seconds <= 86400:
            raise ValueError("day_length_seconds must be in (0, 86400]")
        overlap = find_overlap(
            (day, i, iv) for day, intervals in enumerate(self.week) for i, iv in enumerate(intervals)
        )
        if overlap is not None:
            raise ValueError(overlap[0])
        if not any(self.week):
            raise ValueError(f"calendar {self.name!r} has no business hours on any day")
        return self

    @classmethod
    def always_open(cls, name: str = ALWAYS_CALENDAR_NAME) -> CalendarSpec:
        """The 24x7 calendar (``1d`` = 24h)."""
        return cls(name=name, always=True, day_length_seconds=ALWAYS_DAY_LENGTH_SECONDS)

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The calendar's timezone."""
        return load_zone(self.timezone)

    def duration_seconds(self, text: str | int, *, source: str | None = None,
                         path: str | None = None) -> int:
        """Parse a target duration on this calendar (``1d`` = 24h on 24x7, else day_length)."""
        day_seconds = ALWAYS_DAY_LENGTH_SECONDS if self.always else self.day_length_seconds
        return parse_duration(text, day_seconds, source=source, path=path)


# --- helpers shared with the kernel -----------------------------------------------------------


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@functools.lru_cache(maxsize=256)
def load_zone(name: str) -> zoneinfo.ZoneInfo:
    """Return the IANA zone ``name``; raise ``ValueError`` when it does not exist."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"timezone must be an IANA zone name, got {name!r}")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown timezone {name!r}") from exc


# The ``holidays`` package imports all of its ≈ 280 countries on first use (≈ 0.2 s per
# process). Its answers for a (country, subdivision, year) are kept in deskpulse.cache, keyed
# by its installed version, so a warm process never imports it.


def _holidays_key(*parts: str) -> str:
    return "\0".join((package_stamp("holidays"), *parts))


@functools.lru_cache(maxsize=256)
def check_country(country: str, subdivision: str | None) -> None:
    """Raise ``ValueError`` unless the ``holidays`` package knows the country (and subdivision)."""
    key = _holidays_key("known", country, subdivision or "")
    if read_text("holidays", key) == "yes":
        return
    import holidays as holidays_lib

    try:
        holidays_lib.country_holidays(country, subdiv=subdivision, years=[])
    except NotImplementedError as exc:
        what = f"country {country!r}" if subdivision is None else (
            f"subdivision {subdivision!r} of country {country!r}"
        )
        raise ValueError(f"unknown holiday {what}: {exc}") from exc
    write_text("holidays", key, "yes")


_logged_holiday_warnings: set[tuple[str, str | None, str]] = set()


@functools.lru_cache(maxsize=4096)
def _country_holidays(country: str, subdivision: str | None, year: int) -> frozenset[dt.date]:
    key = _holidays_key("dates", country, subdivision or "", str(year))
    try:
        payload = json.loads(read_text("holidays", key) or "null")
        days, texts = [dt.date.fromisoformat(d) for d in payload["dates"]], list(payload["warnings"])
    except (TypeError, KeyError, ValueError):  # not cached yet (or an unreadable entry)
        check_country(country, subdivision)
        import holidays as holidays_lib

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            found = holidays_lib.country_holidays(country, subdiv=subdivision, years=year)
        days, texts = sorted(found.keys()), [str(w.message) for w in caught]
        write_text("holidays", key, json.dumps({"dates": [d.isoformat() for d in days], "warnings": texts}))
    for text in texts:  # e.g. "available only from 2001 to 2035": log once, do not fail
        if (country, subdivision, text) not in _logged_holiday_warnings:
            _logged_holiday_warnings.add((country, subdivision, text))
            logger.warning("holidays %s/%s (year %d): %s", country, subdivision, year, text)
    return frozenset(days)


def find_overlap(
    intervals: Iterable[tuple[int, Any, Interval]],
) -> tuple[str, Any] | None:
    """Find two overlapping intervals of a week (overnight ones spill into the next day).

    ``intervals`` yields ``(weekday, tag, interval)``; the week is circular (Sunday night runs
    into Monday). Returns ``(reason, tag of the later of the two)`` or ``None``.
    """
    pieces: list[tuple[int, int, int, Any, Interval]] = []
    for day, tag, iv in intervals:
        start = day * MINUTES_PER_DAY + iv.start_minute
        end = day * MINUTES_PER_DAY + iv.end_minute
        if end > MINUTES_PER_WEEK:
            pieces.append((start, MINUTES_PER_WEEK, day, tag, iv))
            pieces.append((0, end - MINUTES_PER_WEEK, day, tag, iv))
        else:
            pieces.append((start, end, day, tag, iv))
    pieces.sort(key=lambda p: (p[0], p[1]))
    best: tuple[int, int, int, Any, Interval] | None = None
    for piece in pieces:
        if best is not None and piece[0] < best[1]:
            other_day, other_iv = best[2], best[4]
            day, iv = piece[2], piece[4]
            clash_day = DAY_NAMES[(piece[0] // MINUTES_PER_DAY) % 7]
            reason = (
                f"intervals overlap on {clash_day}: {DAY_NAMES[other_day]} {other_iv.label()} "
                f"and {DAY_NAMES[day]} {iv.label()}"
            )
            return reason, piece[3]
        if best is None or piece[1] > best[1]:
            best = piece
    return None


# --- parsing ----------------------------------------------------------------------------------


class _Reporter:
    """Builds ConfigErrors that name the file, the path inside it and the reason."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, path: str, reason: str, **details: Any) -> ConfigError:
        return ConfigError(
            f"{self.source}: {path}: {reason}",
            file=self.source,
            path=path,
            reason=reason,
            **details,
        )


def parse_day_key(key: str) -> tuple[int, ...]:
    """Weekdays (0 = Monday) named by a day key.

    ``mon``..``sun``, ranges ``mon-fri`` and wrapping ``fri-mon``, comma lists ``mon,wed,fri``
    (whose items may be ranges) and ``daily``/``all``. Raises ``ValueError`` on anything else or
    on a weekday named twice.
    """
    if not isinstance(key, str):
        raise ValueError(f"a day key must be a string, got {key!r}")
    days: list[int] = []
    for raw_item in key.split(","):
        item = raw_item.strip().lower()
        if item in _ALL_DAYS_KEYS:
            days.extend(range(7))
        elif "-" in item:
            first, _, last = (part.strip() for part in item.partition("-"))
            if first not in DAY_NAMES or last not in DAY_NAMES:
                raise ValueError(f"unknown day range {raw_item.strip()!r} (use e.g. mon-fri)")
            start, stop = DAY_NAMES.index(first), DAY_NAMES.index(last)
            days.extend((start + i) % 7 for i in range((stop - start) % 7 + 1))
        elif item in DAY_NAMES:
            days.append(DAY_NAMES.index(item))
        else:
            raise ValueError(
                f"unknown day {raw_item.strip()!r} (use mon..sun, ranges like mon-fri, "
                "lists like mon,wed,fri, or daily)"
            )
    if len(set(days)) != len(days):
        raise ValueError(f"day key {key!r} names a weekday more than once")
    return tuple(days)


def parse_interval(text: str) -> Interval:
    """Parse ``"HH:MM-HH:MM"``; an end ≤ start runs into the next day, ``24:00`` is a valid end."""
    if not isinstance(text, str):
        raise ValueError(f"expected a string 'HH:MM-HH:MM', got {text!r}")
    match = _INTERVAL_RE.match(text)
    if match is None:
        raise ValueError(f"malformed interval {text!r}: expected 'HH:MM-HH:MM'")
    sh, sm, eh, em = (int(g) for g in match.groups())
    if sh > 23 or sm > 59:
        raise ValueError(f"malformed interval {text!r}: start {sh:02d}:{sm:02d} is not a time")
    if (eh > 24 or em > 59) or (eh == 24 and em != 0):
        raise ValueError(f"malformed interval {text!r}: end {eh:02d}:{em:02d} is not a time")
    start = sh * 60 + sm
    end = eh * 60 + em
    if end <= start:
        end += MINUTES_PER_DAY
    return Interval(start_minute=start, end_minute=end)


def _parse_dates(value: Any, path: str, rep: _Reporter) -> tuple[dt.date, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise rep.error(path, f"expected a list of dates (YYYY-MM-DD), got {value!r}")
    out: list[dt.date] = []
    for i, item in enumerate(value):
        if isinstance(item, dt.datetime):
            raise rep.error(f"{path}[{i}]", f"expected a date (YYYY-MM-DD), got a datetime {item}")
        if isinstance(item, dt.date):
            out.append(item)
            continue
        try:
            out.append(dt.date.fromisoformat(str(item).strip()))
        except ValueError:
            raise rep.error(
                f"{path}[{i}]", f"expected a date (YYYY-MM-DD), got {item!r}"
            ) from None
    return tuple(sorted(set(out)))


def _parse_holidays(name: str, value: Any, path: str, rep: _Reporter) -> HolidaySpec:
    if value is None:
        return HolidaySpec()
    if isinstance(value, list | tuple):
        return HolidaySpec(dates=_parse_dates(value, path, rep))
    if not isinstance(value, Mapping):
        raise rep.error(path, f"expected a mapping with country/subdivision/dates, got {value!r}")
    unknown = sorted(str(k) for k in value if k not in _HOLIDAY_KEYS)
    if unknown:
        raise rep.error(f"{path}.{unknown[0]}",
                        f"unknown key {unknown[0]!r} (allowed: country, subdivision, dates)")
    country = value.get("country")
    subdivision = value.get("subdivision")
    if country is not None:
        if not isinstance(country, str) or not country.strip():
            raise rep.error(f"{path}.country", f"expected a country code, got {country!r}")
        country = country.strip().upper()
    if subdivision is not None:
        subdivision = str(subdivision).strip()
        if country is None:
            raise rep.error(f"{path}.subdivision", "a subdivision needs a country")
    if country is not None:
        try:
            check_country(country, None)
        except ValueError:
            raise rep.error(
                f"{path}.country",
                f"calendar {name!r}: unknown holiday country {country!r}",
                calendar=name,
            ) from None
        if subdivision is not None:
            try:
                check_country(country, subdivision)
            except ValueError:
                raise rep.error(
                    f"{path}.subdivision",
                    f"calendar {name!r}: unknown subdivision {subdivision!r} of country "
                    f"{country!r}",
                    calendar=name,
                ) from None
    dates = _parse_dates(value.get("dates"), f"{path}.dates", rep)
    return HolidaySpec(country=country, subdivision=subdivision, dates=dates)


def _parse_hours(
    name: str, value: Any, path: str, rep: _Reporter
) -> tuple[tuple[Interval, ...], ...]:
    if not isinstance(value, Mapping) or not value:
        raise rep.error(path, f"calendar {name!r}: expected a mapping of day keys to intervals",
                        calendar=name)
    tagged: list[tuple[int, str, Interval]] = []
    for key, intervals in value.items():
        key_path = f"{path}.{key}"
        try:
            days = parse_day_key(key)
        except ValueError as exc:
            raise rep.error(key_path, f"calendar {name!r}: {exc}", calendar=name) from None
        if intervals is None:
            items: list[Any] = []
        elif isinstance(intervals, str):
            items = [intervals]
        elif isinstance(intervals, list | tuple):
            items = list(intervals)
        else:
            raise rep.error(key_path, f"calendar {name!r}: expected a list of 'HH:MM-HH:MM' "
                            f"intervals, got {intervals!r}", calendar=name)
        for i, text in enumerate(items):
            item_path = f"{key_path}[{i}]"
            try:
                iv = parse_interval(text)
            except ValueError as exc:
                raise rep.error(item_path, f"calendar {name!r}: {exc}", calendar=name) from None
            tagged.extend((day, item_path, iv) for day in days)
    overlap = find_overlap(tagged)
    if overlap is not None:
        reason, item_path = overlap
        raise rep.error(item_path, f"calendar {name!r}: {reason}", calendar=name)
    week: list[list[Interval]] = [[] for _ in range(7)]
    for day, _tag, iv in tagged:
        week[day].append(iv)
    if not any(week):
        raise rep.error(path, f"calendar {name!r} has no business hours on any day",
                        calendar=name)
    return tuple(tuple(sorted(day, key=lambda iv: iv.start_minute)) for day in week)


def _parse_calendar(name: str, value: Any, rep: _Reporter) -> CalendarSpec:
    path = f"calendars.{name}"
    is_always = isinstance(value, str) and value.strip().lower() == "always"
    if name == ALWAYS_CALENDAR_NAME and not is_always:
        raise rep.error(path, f"calendar {name!r} is built in and can only be 'always'")
    if isinstance(value, str):
        if value.strip().lower() == "always":
            return CalendarSpec.always_open(name)
        raise rep.error(path, f"calendar {name!r}: expected 'always' or a mapping, got {value!r}")
    if not isinstance(value, Mapping):
        raise rep.error(path, f"calendar {name!r}: expected 'always' or a mapping with timezone "
                        f"and hours, got {value!r}", calendar=name)
    unknown = sorted(str(k) for k in value if k not in _CALENDAR_KEYS)
    if unknown:
        raise rep.error(f"{path}.{unknown[0]}", f"calendar {name!r}: unknown key {unknown[0]!r} "
                        "(allowed: timezone, hours, holidays, day_length)", calendar=name)
    if "timezone" not in value:
        raise rep.error(f"{path}.timezone", f"calendar {name!r}: timezone is required",
                        calendar=name)
    zone_name = value["timezone"]
    try:
        load_zone(zone_name)
    except (ValueError, TypeError):
        raise rep.error(
            f"{path}.timezone",
            f"calendar {name!r}: unknown timezone {zone_name!r} (expected an IANA zone such as "
            "Europe/Berlin)",
            calendar=name,
            timezone=str(zone_name),
        ) from None
    if "hours" not in value:
        raise rep.error(f"{path}.hours", f"calendar {name!r}: hours are required", calendar=name)
    week = _parse_hours(name, value["hours"], f"{path}.hours", rep)
    holidays = _parse_holidays(name, value.get("holidays"), f"{path}.holidays", rep)
    day_length_seconds = DEFAULT_DAY_LENGTH_SECONDS
    if value.get("day_length") is not None:
        day_length_seconds = parse_day_length(
            value["day_length"], source=rep.source, path=f"{path}.day_length"
        )
    try:
        return CalendarSpec(
            name=name,
            timezone=zone_name,
            week=week,
            holidays=holidays,
            day_length_seconds=day_length_seconds,
        )
    except ValidationError as exc:  # pragma: no cover - the checks above come first
        raise rep.error(path, f"calendar {name!r}: {exc}", calendar=name) from None


def parse_calendars(raw: Mapping[str, Any] | None, source: str = "<config>") -> dict[str, CalendarSpec]:
    """Parse the ``calendars:`` section into specs by name; ``24x7`` is always present.

    ``raw`` is the section itself (name -> calendar) or, when it has a ``calendars`` key, the
    whole config document. Raises :class:`ConfigError` naming ``source``, the path and reason.
    """
    rep = _Reporter(source)
    section: Any = raw
    if isinstance(raw, Mapping) and "calendars" in raw:
        section = raw["calendars"]
    if section is None:
        section = {}
    if not isinstance(section, Mapping):
        raise rep.error("calendars", f"expected a mapping of calendar names, got {section!r}")
    specs: dict[str, CalendarSpec] = {}
    for name, value in section.items():
        if not isinstance(name, str) or not name.strip():
            raise rep.error(f"calendars.{name}", f"a calendar name must be a string, got {name!r}")
        specs[name] = _parse_calendar(name, value, rep)
    specs.setdefault(ALWAYS_CALENDAR_NAME, CalendarSpec.always_open())
    return specs
