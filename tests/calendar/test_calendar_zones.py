"""UTC-offset segments of IANA zones: every offset change found, to the second."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import numpy as np
import pytest
from calendar_oracle import zone_transitions

from deskpulse.calendar.zones import offset_segments, tzif_transitions, utc_offset_seconds


def epoch(year: int) -> int:
    return int(dt.datetime(year, 1, 1, tzinfo=dt.UTC).timestamp())


@pytest.mark.parametrize(
    "name",
    ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC",
     "Pacific/Chatham", "America/St_Johns", "Africa/Casablanca", "Antarctica/Troll"],
)
def test_segments_match_an_hourly_walk(name: str) -> None:
    zone = zoneinfo.ZoneInfo(name)
    lo, hi = epoch(2023), epoch(2028)
    starts, offsets = offset_segments(zone, lo, hi)
    assert starts[0] == lo
    assert (np.diff(starts) > 0).all() and (np.diff(offsets) != 0).all()
    assert starts[1:].tolist() == [t for t in zone_transitions(name, 2023, 2027)
                                   if lo < t < hi and utc_offset_seconds(zone, t)
                                   != utc_offset_seconds(zone, t - 1)]
    for start, offset in zip(starts.tolist(), offsets.tolist(), strict=True):
        assert utc_offset_seconds(zone, start) == offset


def test_tzif_transitions_are_read() -> None:
    assert len(tzif_transitions("Europe/Berlin")) > 50
    assert tzif_transitions("UTC") == ()


@pytest.mark.slow
def test_segments_for_every_zone() -> None:
    """Offsets inside every segment equal zoneinfo's, for all zones, 1900..2100."""
    rng = np.random.default_rng(0)
    lo, hi = epoch(1900), epoch(2100)
    for name in sorted(zoneinfo.available_timezones()):
        zone = zoneinfo.ZoneInfo(name)
        starts, offsets = offset_segments(zone, lo, hi)
        ends = np.append(starts[1:], hi)
        probes = np.concatenate([starts, ends - 1, rng.integers(lo, hi, size=300)])
        k = np.searchsorted(starts, probes, side="right") - 1
        for t, expected in zip(probes.tolist(), offsets[k].tolist(), strict=True):
            assert utc_offset_seconds(zone, t) == expected, (name, t)
