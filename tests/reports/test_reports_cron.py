"""Cron parsing and next-run computation, with timezones and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from deskpulse.errors import UsageError
from deskpulse.reports.cron import CronSchedule


def test_fields_names_ranges_steps_and_macros() -> None:
    c = CronSchedule.parse("*/15 8-18/2 * JAN-mar mon-FRI")
    assert c.minutes == {0, 15, 30, 45}
    assert c.hours == {8, 10, 12, 14, 16, 18}
    assert c.months == {1, 2, 3}
    assert c.weekdays == {1, 2, 3, 4, 5}
    assert CronSchedule.parse("0 0 * * 7").weekdays == {0}  # 7 is Sunday too
    assert CronSchedule.parse("@weekly").expression == "@weekly"
    assert CronSchedule.parse("@daily").next_after(datetime(2026, 5, 1, 0, 0)) == datetime(2026, 5, 2)
    assert CronSchedule.parse("5 4 1,15 * *").between(datetime(2026, 1, 1), datetime(2026, 2, 1)) == [
        datetime(2026, 1, 1, 4, 5), datetime(2026, 1, 15, 4, 5)]


def test_day_of_month_or_day_of_week() -> None:
    # Vixie cron: both restricted -> either matches (the 13th, and every Friday)
    c = CronSchedule.parse("0 12 13 * FRI")
    days = [d.day for d in c.between(datetime(2026, 2, 1), datetime(2026, 2, 28, 23))]
    assert days == [6, 13, 20, 27]  # Feb 13 2026 is itself a Friday
    assert CronSchedule.parse("0 0 29 2 *").next_after(datetime(2026, 3, 1)) == datetime(2028, 2, 29)


@pytest.mark.parametrize("bad", ["", "* * * *", "61 * * * *", "* 24 * * *", "* * 0 * *", "5-1 * * * *",
                                 "*/0 * * * *", "* * * FOO *", "0 0 31 2 *", "a b c d e"])
def test_bad_expressions_are_usage_errors(bad: str) -> None:
    with pytest.raises(UsageError):
        CronSchedule.parse(bad)


def test_unknown_timezone() -> None:
    with pytest.raises(UsageError, match="timezone"):
        CronSchedule.parse("0 8 * * *", "Mars/Olympus")


def test_timezone_across_dst_berlin() -> None:
    c = CronSchedule.parse("0 8 * * MON", "Europe/Berlin")
    # 08:00 CET = 07:00Z before the 2026-03-29 change, 08:00 CEST = 06:00Z after
    assert c.between(datetime(2026, 3, 20), datetime(2026, 4, 7)) == [
        datetime(2026, 3, 23, 7), datetime(2026, 3, 30, 6), datetime(2026, 4, 6, 6)]
    for at in c.between(datetime(2026, 1, 1), datetime(2026, 12, 31)):
        local = at.replace(tzinfo=UTC).astimezone(ZoneInfo("Europe/Berlin"))
        assert (local.weekday(), local.hour, local.minute) == (0, 8, 0)


def test_spring_forward_fixed_hour_runs_at_the_jump_and_wildcard_hour_skips() -> None:
    ny = "America/New_York"  # 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z)
    daily = CronSchedule.parse("30 2 * * *", ny)
    assert daily.between(datetime(2026, 3, 7), datetime(2026, 3, 10)) == [
        datetime(2026, 3, 7, 7, 30), datetime(2026, 3, 8, 7, 0), datetime(2026, 3, 9, 6, 30)]
    half_hourly = CronSchedule.parse("*/30 * * * *", ny)
    runs = half_hourly.between(datetime(2026, 3, 8, 6), datetime(2026, 3, 8, 8))
    assert runs == [datetime(2026, 3, 8, 6), datetime(2026, 3, 8, 6, 30), datetime(2026, 3, 8, 7),
                    datetime(2026, 3, 8, 7, 30), datetime(2026, 3, 8, 8)]


def test_fall_back_fixed_hour_runs_once_and_wildcard_hour_twice() -> None:
    ny = "America/New_York"  # 2026-11-01 02:00 EDT -> 01:00 EST: 01:xx happens twice
    daily = CronSchedule.parse("30 1 * * *", ny)
    assert daily.between(datetime(2026, 11, 1), datetime(2026, 11, 2)) == [datetime(2026, 11, 1, 5, 30)]
    hourly = CronSchedule.parse("30 * * * *", ny)
    assert hourly.between(datetime(2026, 11, 1, 4), datetime(2026, 11, 1, 8)) == [
        datetime(2026, 11, 1, 4, 30), datetime(2026, 11, 1, 5, 30), datetime(2026, 11, 1, 6, 30),
        datetime(2026, 11, 1, 7, 30)]


def test_next_after_is_strict_and_accepts_aware_instants() -> None:
    c = CronSchedule.parse("0 * * * *", "Asia/Kolkata")  # +05:30: hours fall on :30 UTC
    assert c.next_after(datetime(2026, 6, 1, 10, 30)) == datetime(2026, 6, 1, 11, 30)
    aware = datetime(2026, 6, 1, 16, 0, tzinfo=ZoneInfo("Asia/Kolkata"))
    assert c.next_after(aware) == datetime(2026, 6, 1, 11, 30)
    start = datetime(2026, 1, 1)
    slots = c.between(start, start + timedelta(days=2))
    assert len(slots) == 48 and len(set(slots)) == 48
