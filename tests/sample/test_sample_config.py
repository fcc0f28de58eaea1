"""examples/demo/deskpulse.yaml is a complete CONTRACT §2 config that fits the sample data."""

from __future__ import annotations

import datetime as dt

import pytest
from sample_helpers import Sample
from sample_sla_probe import DEMO_CONFIG

from deskpulse.calendar.spec import parse_calendars
from deskpulse.config import load_config
from deskpulse.model import PRIORITIES
from deskpulse.sample import profile as P
from deskpulse.sla.policies import load_sla_config, match_policies


def test_thresholds_are_seed_000s() -> None:
    cfg = load_config(DEMO_CONFIG, required=True)
    t = cfg.thresholds
    assert (t.first_response_minutes, t.resolution_hours, t.sla_target_percentage,
            t.resolution_rate_target, t.bottleneck_threshold_percentage) == (60, 24, 95.0, 0.85, 20.0)


@pytest.mark.parametrize("region", P.REGIONS, ids=lambda r: r.name)
def test_region_calendars_match_the_sample_profile(region: P.RegionProfile) -> None:
    cfg = load_config(DEMO_CONFIG, required=True)
    spec = parse_calendars(cfg.sections["calendars"], str(DEMO_CONFIG))[region.name]
    cal = region.calendar
    assert spec.timezone == cal.timezone
    week = tuple(tuple((iv.start_minute, iv.end_minute) for iv in day) for day in spec.week)
    assert week == cal.week
    assert spec.holidays.country == cal.holiday_country
    assert spec.holidays.subdivision == cal.holiday_subdivision
    assert spec.holidays.dates == tuple(sorted(cal.holiday_dates))
    assert spec.day_length_seconds == cal.day_length_minutes * 60
    # agents of the region work inside (or on the edges of) the calendar's business hours
    for shift in region.shifts:
        for day in shift.days:
            open_minutes = {m for s, e in cal.week[day] for m in range(s, e)}
            worked = {m for s, e in shift.intervals for m in range(s, e)}
            assert len(worked & open_minutes) >= 0.85 * len(worked), (region.name, shift.name)


def test_policies_validate_and_cover_every_sample_ticket(sample: Sample) -> None:
    sla = load_sla_config(load_config(DEMO_CONFIG, required=True))
    names = [p.name for p in sla.policies]
    assert names == ["p1-urgent", "enterprise", "p2-high", "p3-emea", "p3-amer", "p3-apac"]
    urgent = sla.policies[0]
    assert urgent.calendar == "24x7" and urgent.match == {"priority": ("urgent",)}
    assert urgent.targets_seconds["first_response"] == 15 * 60
    assert urgent.targets_seconds["resolution"] == 2 * 3600
    assert sla.policies[1].match == {"tier": ("enterprise",)}
    for policy in sla.policies[3:]:
        assert policy.calendar in P.REGION_NAMES and policy.pause_on == ("pending", "hold")
        assert set(policy.targets_seconds) == {"first_response", "next_response", "resolution"}
    matched = match_policies(sample.tickets, sla.policies)
    assert (matched >= 0).all()
    assert set(matched.tolist()) == set(range(len(sla.policies)))
    for policy in sla.policies:
        for key, values in policy.match.items():
            assert set(values) <= set(sample.tickets[key].to_pylist()) | set(PRIORITIES), key


def test_explicit_holiday_dates_cover_the_next_years() -> None:
    for region in P.REGIONS:
        years = {d.year for d in region.calendar.holiday_dates}
        assert dt.date.today().year in years or dt.date.today().year + 1 in years
