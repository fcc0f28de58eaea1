"""Parsing the ``calendars:`` config section (CONTRACT §2) and every config error it raises."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml

from deskpulse.calendar import (
    ALWAYS_CALENDAR_NAME,
    BusinessCalendar,
    CalendarSpec,
    Interval,
    parse_calendars,
    parse_day_key,
    parse_interval,
)
from deskpulse.errors import ConfigError

CONTRACT_YAML = """
calendars:
  emea:
    timezone: Europe/Berlin
    hours:                      # local wall-clock, weekday -> intervals
      mon-fri: ["08:00-12:00", "13:00-17:30"]   # split shift (lunch break)
      sat: ["10:00-14:00"]
    holidays:
      country: DE               # optional: the `holidays` package
      subdivision: BE
      dates: [2026-12-24, 2026-12-31]
    day_length: 8h30m           # what `1d` means on this calendar (default 8h)
  follow_the_sun_night:
    timezone: America/New_York
    hours:
      mon-fri: ["22:00-06:00"]  # overnight: Mon 22:00 -> Tue 06:00
  24x7: always                  # built in
"""


def iv(start: str, end: str) -> Interval:
    sh, sm = map(int, start.split(":"))
    eh, em = map(int, end.split(":"))
    s, e = sh * 60 + sm, eh * 60 + em
    return Interval(start_minute=s, end_minute=e if e > s else e + 1440)


def cal(hours: Any, **extra: Any) -> dict[str, Any]:
    return {"c": {"timezone": "Europe/Berlin", "hours": hours, **extra}}


def config_error(raw: Any, source: str = "sla.yml") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_calendars(raw, source)
    return info.value


def assert_names(err: ConfigError, path: str, *words: str) -> None:
    """The message names the file, the path and the reason; details carry them too."""
    assert err.details["file"] == "sla.yml"
    assert err.details["path"] == path
    assert err.details["reason"]
    assert err.message.startswith(f"sla.yml: {path}: ")
    for word in words:
        assert word in err.message, (word, err.message)
    assert err.exit_code == 4


# --- the contract example ---------------------------------------------------------------------


def test_contract_example_parses() -> None:
    specs = parse_calendars(yaml.safe_load(CONTRACT_YAML), "deskpulse.yaml")
    assert set(specs) == {"emea", "follow_the_sun_night", "24x7"}
    emea = specs["emea"]
    assert emea.timezone == "Europe/Berlin"
    split = (iv("08:00", "12:00"), iv("13:00", "17:30"))
    assert emea.week == (split,) * 5 + ((iv("10:00", "14:00"),), ())
    assert emea.holidays.country == "DE" and emea.holidays.subdivision == "BE"
    assert emea.holidays.dates == (dt.date(2026, 12, 24), dt.date(2026, 12, 31))
    assert emea.day_length_seconds == 8 * 3600 + 30 * 60
    night = specs["follow_the_sun_night"]
    assert night.week[0] == (Interval(start_minute=22 * 60, end_minute=30 * 60),)
    assert night.week[5] == night.week[6] == ()
    assert night.day_length_seconds == 8 * 3600
    assert specs["24x7"].always and specs["24x7"].day_length_seconds == 86400


def test_section_or_whole_document_and_builtin_24x7() -> None:
    doc = yaml.safe_load(CONTRACT_YAML)
    assert parse_calendars(doc) == parse_calendars(doc["calendars"])
    assert parse_calendars({}) == {ALWAYS_CALENDAR_NAME: CalendarSpec.always_open()}
    assert parse_calendars(None)[ALWAYS_CALENDAR_NAME].always
    assert parse_calendars({"calendars": None})[ALWAYS_CALENDAR_NAME].always
    other = parse_calendars({"round_the_clock": "always"})["round_the_clock"]
    assert other.always and other.name == "round_the_clock"


def test_specs_are_hashable_and_comparable() -> None:
    a = parse_calendars(yaml.safe_load(CONTRACT_YAML))["emea"]
    b = parse_calendars(yaml.safe_load(CONTRACT_YAML))["emea"]
    assert a == b and hash(a) == hash(b)


# --- day keys and intervals -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "days"),
    [
        ("mon", (0,)),
        ("sun", (6,)),
        ("mon-fri", (0, 1, 2, 3, 4)),
        ("fri-mon", (4, 5, 6, 0)),
        ("sat-sun", (5, 6)),
        ("sun-sun", (6,)),
        ("mon,wed,fri", (0, 2, 4)),
        ("mon-tue, thu", (0, 1, 3)),
        ("Mon-Fri", (0, 1, 2, 3, 4)),
        ("daily", tuple(range(7))),
        ("all", tuple(range(7))),
    ],
)
def test_day_keys(key: str, days: tuple[int, ...]) -> None:
    assert parse_day_key(key) == days


@pytest.mark.parametrize("key", ["funday", "mon-xyz", "mon,mon", "mon-fri,wed", "", "mon-", "1"])
def test_bad_day_keys(key: str) -> None:
    with pytest.raises(ValueError):
        parse_day_key(key)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("08:00-17:00", 480, 1020),
        ("8:00-17:00", 480, 1020),
        (" 08:00 - 12:30 ", 480, 750),
        ("22:00-06:00", 1320, 1800),
        ("00:00-00:00", 0, 1440),
        ("00:00-24:00", 0, 1440),
        ("08:00-24:00", 480, 1440),
        ("22:00-00:00", 1320, 1440),
        ("10:00-10:00", 600, 2040),
        ("23:59-00:01", 1439, 1441),
    ],
)
def test_intervals(text: str, start: int, end: int) -> None:
    parsed = parse_interval(text)
    assert (parsed.start_minute, parsed.end_minute) == (start, end)


@pytest.mark.parametrize(
    "text", ["25:00-26:00", "8-17", "08:00", "08:00-17:60", "08:60-17:00", "24:00-02:00",
             "08:00-24:30", "08:00-25:00", "0800-1700", "aa:bb-cc:dd", ""]
)
def test_malformed_intervals(text: str) -> None:
    with pytest.raises(ValueError):
        parse_interval(text)


def test_ranges_lists_and_all_days_in_config() -> None:
    specs = parse_calendars(
        cal({"fri-mon": ["09:00-12:00"], "tue,thu": "13:00-14:00", "wed": [], "daily": ["20:00-21:00"]})
    )
    week = specs["c"].week
    assert week[4] == week[5] == week[6] == week[0] == (iv("09:00", "12:00"), iv("20:00", "21:00"))
    assert week[1] == week[3] == (iv("13:00", "14:00"), iv("20:00", "21:00"))
    assert week[2] == (iv("20:00", "21:00"),)


def test_adjacent_and_touching_overnight_intervals_are_allowed() -> None:
    specs = parse_calendars(
        cal({"mon": ["08:00-12:00", "12:00-17:00"], "tue": ["22:00-06:00"], "wed": ["06:00-09:00"],
             "sun": ["20:00-08:00"]})
    )
    assert specs["c"].week[6] == (iv("20:00", "08:00"),)
    whole = parse_calendars(cal({"daily": ["00:00-00:00"]}))["c"]
    assert all(day == (iv("00:00", "00:00"),) for day in whole.week)


# --- config errors: file, path, reason --------------------------------------------------------


def test_unknown_timezone_names_calendar_and_zone() -> None:
    err = config_error(cal({"mon": ["08:00-17:00"]}) | {"x": {"timezone": "Mars/Olympus_Mons",
                                                          "hours": {"mon": ["08:00-17:00"]}}})
    assert_names(err, "calendars.x.timezone", "'x'", "Mars/Olympus_Mons")
    err = config_error({"y": {"timezone": "../etc/passwd", "hours": {"mon": ["08:00-17:00"]}}})
    assert_names(err, "calendars.y.timezone", "'y'", "../etc/passwd")


@pytest.mark.parametrize("bad", ["25:00-26:00", "8-17", "08:00-17:60", "9:00"])
def test_malformed_time_error_path(bad: str) -> None:
    err = config_error(cal({"mon-fri": ["08:00-12:00", bad]}))
    assert_names(err, "calendars.c.hours.mon-fri[1]", "'c'", bad)


@pytest.mark.parametrize(
    ("hours", "path", "words"),
    [
        # two intervals of one day
        ({"mon": ["08:00-12:00", "11:00-13:00"]}, "calendars.c.hours.mon[1]", ["on mon"]),
        # an overnight interval spilling into the next day's interval
        ({"mon": ["22:00-06:00"], "tue": ["05:00-09:00"]}, "calendars.c.hours.tue[0]", ["on tue"]),
        # the same weekday given by two keys with overlapping times
        ({"mon-fri": ["08:00-17:00"], "wed": ["16:00-18:00"]}, "calendars.c.hours.wed[0]",
         ["on wed"]),
        ({"daily": ["09:00-10:00"], "sat": ["09:30-09:45"]}, "calendars.c.hours.sat[0]",
         ["on sat"]),
        # Sunday night runs into Monday morning
        ({"sun": ["23:00-02:00"], "mon": ["01:00-03:00"]}, "calendars.c.hours.mon[0]",
         ["on mon"]),
        # a whole day overlapping anything the same day
        ({"tue": ["00:00-00:00", "10:00-11:00"]}, "calendars.c.hours.tue[1]", ["on tue"]),
        # two overnight intervals each a day long
        ({"daily": ["10:00-10:00"], "mon": ["09:00-09:30"]}, "calendars.c.hours.mon[0]",
         ["on mon"]),
    ],
)
def test_overlaps_name_calendar_day_and_intervals(hours: dict, path: str, words: list[str]) -> None:
    err = config_error(cal(hours))
    assert_names(err, path, "'c'", "overlap", *words)


def test_overlap_message_names_both_intervals() -> None:
    err = config_error(cal({"mon": ["22:00-06:00"], "tue": ["05:00-09:00"]}))
    assert "mon 22:00-06:00" in err.message and "tue 05:00-09:00" in err.message


@pytest.mark.parametrize(
    ("hours", "path"),
    [
        ({"funday": ["08:00-12:00"]}, "calendars.c.hours.funday"),
        ({"mon-xyz": ["08:00-12:00"]}, "calendars.c.hours.mon-xyz"),
        ({"mon,mon": ["08:00-12:00"]}, "calendars.c.hours.mon,mon"),
        ({"mon": 5}, "calendars.c.hours.mon"),
        ({"mon": [], "tue": None}, "calendars.c.hours"),
        ({}, "calendars.c.hours"),
        ("mon-fri 9-5", "calendars.c.hours"),
    ],
)
def test_bad_hours(hours: Any, path: str) -> None:
    assert_names(config_error(cal(hours)), path, "'c'")


def test_holiday_errors() -> None:
    ok = {"mon": ["08:00-12:00"]}
    err = config_error(cal(ok, holidays={"country": "XX"}))
    assert_names(err, "calendars.c.holidays.country", "'XX'", "'c'")
    err = config_error(cal(ok, holidays={"country": "DE", "subdivision": "ZZ"}))
    assert_names(err, "calendars.c.holidays.subdivision", "'ZZ'", "'DE'")
    err = config_error(cal(ok, holidays={"subdivision": "BE"}))
    assert_names(err, "calendars.c.holidays.subdivision", "country")
    err = config_error(cal(ok, holidays={"dates": ["2026-13-01"]}))
    assert_names(err, "calendars.c.holidays.dates[0]", "2026-13-01")
    err = config_error(cal(ok, holidays={"dates": [dt.datetime(2026, 1, 1, 10, 0)]}))
    assert_names(err, "calendars.c.holidays.dates[0]", "datetime")
    err = config_error(cal(ok, holidays={"dates": "2026-12-24"}))
    assert_names(err, "calendars.c.holidays.dates", "list")
    err = config_error(cal(ok, holidays={"contry": "DE"}))
    assert_names(err, "calendars.c.holidays.contry", "unknown key")
    err = config_error(cal(ok, holidays="DE"))
    assert_names(err, "calendars.c.holidays")


def test_holiday_forms() -> None:
    ok = {"mon": ["08:00-12:00"]}
    spec = parse_calendars(cal(ok, holidays=["2026-12-24", dt.date(2026, 12, 25)]))["c"]
    assert spec.holidays.dates == (dt.date(2026, 12, 24), dt.date(2026, 12, 25))
    spec = parse_calendars(cal(ok, holidays={"country": "de", "subdivision": "BE"}))["c"]
    assert spec.holidays.country == "DE"
    found = spec.holidays.dates_between(dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    assert dt.date(2026, 12, 25) in found and dt.date(2026, 3, 8) in found  # BE: Women's Day
    spec = parse_calendars(cal(ok, holidays=None))["c"]
    assert spec.holidays.empty


@pytest.mark.parametrize("value", ["0m", "1d", "25h", "abc", -5, True])
def test_bad_day_length(value: Any) -> None:
    err = config_error(cal({"mon": ["08:00-12:00"]}, day_length=value))
    assert_names(err, "calendars.c.day_length")


def test_calendar_shape_errors() -> None:
    assert_names(config_error({"c": {"hours": {"mon": ["08:00-12:00"]}}}),
                 "calendars.c.timezone", "required")
    assert_names(config_error({"c": {"timezone": "UTC"}}), "calendars.c.hours", "required")
    assert_names(config_error(cal({"mon": ["08:00-12:00"]}, timezon="UTC")),
                 "calendars.c.timezon", "unknown key")
    assert_names(config_error({"c": 5}), "calendars.c")
    assert_names(config_error({"c": "sometimes"}), "calendars.c", "always")
    assert_names(config_error({"24x7": {"timezone": "UTC", "hours": {"mon": ["08:00-12:00"]}}}),
                 "calendars.24x7", "built in")
    assert_names(config_error({"calendars": ["emea"]}), "calendars")


def test_no_business_time_is_a_config_error_at_construction() -> None:
    assert_names(config_error(cal({"mon-fri": []})), "calendars.c.hours", "no business hours")
    empty = CalendarSpec.model_construct(name="empty", week=((),) * 7)
    with pytest.raises(ConfigError, match="no business hours"):
        BusinessCalendar(empty)


def test_spec_validates_when_built_directly() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="unknown timezone"):
        CalendarSpec(name="x", timezone="Nowhere/Special", week=((iv("08:00", "12:00"),),) + ((),) * 6)
    with pytest.raises(ValidationError, match="overlap"):
        CalendarSpec(name="x", week=((iv("08:00", "12:00"), iv("11:00", "13:00")),) + ((),) * 6)
    with pytest.raises(ValidationError):
        Interval(start_minute=600, end_minute=600)
    with pytest.raises(ValidationError):
        Interval(start_minute=1440, end_minute=1500)
