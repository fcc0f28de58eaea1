"""Duration strings (CONTRACT §2): Nm, Nh, Nd combined, plain minutes, and what 1d means."""

from __future__ import annotations

from typing import Any

import pytest

from deskpulse.calendar import CalendarSpec, parse_calendars, parse_day_length, parse_duration
from deskpulse.errors import ConfigError

H = 3600


@pytest.mark.parametrize(
    ("text", "day_length", "seconds"),
    [
        ("15m", 8 * H, 900),
        ("2h", 8 * H, 2 * H),
        ("1h30m", 8 * H, 5400),
        ("3d", 8 * H, 24 * H),  # 3 business days of the default 8h
        ("1d", 86400, 86400),  # on 24x7
        ("1d4h", 8 * H + 30 * 60, 750 * 60),  # the contract's example: 750 minutes
        ("1d2h3m", 8 * H, 10 * H + 180),
        ("90", 8 * H, 5400),
        (90, 8 * H, 5400),
        (" 8H ", 8 * H, 8 * H),
        ("0d15m", 8 * H, 900),
    ],
)
def test_durations(text: Any, day_length: int, seconds: int) -> None:
    assert parse_duration(text, day_length) == seconds


@pytest.mark.parametrize(
    "text", ["0m", "0", 0, -5, "-5m", "", "  ", "1.5h", 1.5, "4h1d", "30m2h", "abc", "5s", "1w",
             True, None, "h", "1d 4h 5"]
)
def test_invalid_durations(text: Any) -> None:
    with pytest.raises(ConfigError):
        parse_duration(text, 8 * H)


def test_error_names_file_path_and_reason() -> None:
    with pytest.raises(ConfigError) as info:
        parse_duration("1.5h", 8 * H, source="sla.yml", path="policies[0].targets.resolution")
    err = info.value
    assert err.message.startswith("sla.yml: policies[0].targets.resolution: ")
    assert "1.5h" in err.message
    assert err.details["path"] == "policies[0].targets.resolution"
    assert err.details["file"] == "sla.yml"
    with pytest.raises(ConfigError, match="day length"):
        parse_duration("1d", 0)


def test_day_length() -> None:
    assert parse_day_length("8h30m") == 8 * H + 1800
    assert parse_day_length("24h") == 86400
    assert parse_day_length(480) == 8 * H
    for bad in ("1d", "24h1m", "0h"):
        with pytest.raises(ConfigError):
            parse_day_length(bad)


def test_duration_on_a_calendar() -> None:
    specs = parse_calendars(
        {"emea": {"timezone": "Europe/Berlin", "hours": {"mon-fri": ["08:00-17:00"]},
                  "day_length": "8h30m"},
         "plain": {"timezone": "UTC", "hours": {"mon-fri": ["08:00-17:00"]}}}
    )
    assert specs["emea"].duration_seconds("1d4h") == 750 * 60
    assert specs["plain"].duration_seconds("3d") == 24 * H
    assert specs["24x7"].duration_seconds("1d") == 24 * H
    assert CalendarSpec.always_open().duration_seconds("2d") == 48 * H
    with pytest.raises(ConfigError, match="x.yml: policies.p.targets.resolution"):
        specs["emea"].duration_seconds("0m", source="x.yml", path="policies.p.targets.resolution")
