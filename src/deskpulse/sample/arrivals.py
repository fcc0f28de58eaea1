"""When tickets arrive: an hourly arrival-rate grid per region, sampled into creation instants.

The rate follows the requester's local wall clock (weekday and hour profile with a lunch dip),
drops on the region's public holidays, grows slowly over the window, carries day-to-day noise
and a few incident waves; ``n`` tickets are spread over the (region, UTC hour) cells with one
multinomial draw and placed uniformly inside their hour.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from deskpulse.sample import profile as P

HOUR = 3600
DAY = 86400


@dataclass(frozen=True)
class Arrivals:
    """Creation instants (epoch seconds, unsorted), region codes and incident flags."""

    created_at: NDArray[np.int64]
    region: NDArray[np.int8]
    incident: NDArray[np.bool_]


def utc_offsets_seconds(timezone: str, instants: NDArray[np.int64]) -> NDArray[np.int64]:
    """The zone's UTC offset at each instant (whole seconds)."""
    zone = ZoneInfo(timezone)
    out = np.empty(len(instants), dtype=np.int64)
    for k, at in enumerate(instants.tolist()):
        offset = dt.datetime.fromtimestamp(at, zone).utcoffset()
        out[k] = int(offset.total_seconds()) if offset is not None else 0
    return out


@dataclass(frozen=True)
class LocalClock:
    """Each region's UTC offset per UTC hour over a range, for vectorised local-time lookups."""

    origin_at: int
    offsets_seconds: NDArray[np.int64]  # (regions, hours)

    @classmethod
    def build(cls, origin_at: int, horizon_at: int) -> LocalClock:
        """Offsets of every region's zone for each UTC hour in [origin_at, horizon_at)."""
        hours = (horizon_at - origin_at) // HOUR + 1
        hour_at = origin_at + HOUR * np.arange(hours, dtype=np.int64)
        table = np.stack([utc_offsets_seconds(r.calendar.timezone, hour_at) for r in P.REGIONS])
        return cls(origin_at=origin_at, offsets_seconds=table)

    def local_seconds(self, region: NDArray[np.int8], at: NDArray[np.int64]) -> NDArray[np.int64]:
        """Local wall-clock seconds (as if UTC) of each instant in its region's zone."""
        hour = np.clip((at - self.origin_at) // HOUR, 0, self.offsets_seconds.shape[1] - 1)
        return at + self.offsets_seconds[region.astype(np.int64), hour]

    def local_weekday(self, region: NDArray[np.int8], at: NDArray[np.int64]) -> NDArray[np.int64]:
        """Local weekday (0 = Monday) of each instant."""
        return (self.local_seconds(region, at) // DAY + 3) % 7


def epoch_day(day: dt.date) -> int:
    """Days since 1970-01-01."""
    return (day - dt.date(1970, 1, 1)).days


def draw_arrivals(
    rng: np.random.Generator,
    n_tickets: int,
    start_at: int,
    days: int,
    holidays_by_region: Sequence[frozenset[dt.date]],
    local_clock: LocalClock,
) -> Arrivals:
    """Draw ``n_tickets`` creation instants in [start_at, start_at + days) with seasonality."""
    hours = days * 24
    hour_at = start_at + HOUR * np.arange(hours, dtype=np.int64)
    rates = np.empty((len(P.REGIONS), hours), dtype=np.float64)
    workday_profile = np.asarray(P.HOUR_FACTOR_WORKDAY)
    weekend_profile = np.asarray(P.HOUR_FACTOR_WEEKEND)
    weekday_factor = np.asarray(P.WEEKDAY_FACTOR)
    trend = 1.0 + P.GROWTH_OVER_WINDOW * np.arange(hours) / max(hours - 1, 1)
    for r, region in enumerate(P.REGIONS):
        local = local_clock.local_seconds(np.full(hours, r, dtype=np.int8), hour_at)
        local_day = local // DAY
        weekday = (local_day + 3) % 7  # 1970-01-01 was a Thursday
        hour = (local % DAY) // HOUR
        holiday_days = np.asarray(sorted(epoch_day(d) for d in holidays_by_region[r]), dtype=np.int64)
        is_holiday = np.isin(local_day, holiday_days)
        day_off = is_holiday | (weekday >= 5)
        shape = np.where(day_off, weekend_profile[hour], workday_profile[hour])
        factor = weekday_factor[weekday] * np.where(is_holiday, P.HOLIDAY_FACTOR, 1.0)
        noise_days = local_day - local_day.min()
        noise = np.exp(rng.normal(0.0, P.DAY_NOISE_SIGMA, int(noise_days.max()) + 1))[noise_days]
        rates[r] = region.arrival_share * shape * factor * trend * noise

    boost = np.ones(hours, dtype=np.float64)
    n_incidents = max(1, days // P.DAYS_PER_INCIDENT)
    for _ in range(n_incidents):
        day = int(rng.integers(1, max(days - 1, 2)))
        first = day * 24 + int(rng.integers(7, 19))
        boost[first : first + int(rng.integers(2, 7))] = P.INCIDENT_BOOST
    rates *= boost

    p = (rates / rates.sum()).ravel()
    counts = rng.multinomial(n_tickets, p)
    cell = np.repeat(np.arange(p.size, dtype=np.int64), counts)
    region_code = (cell // hours).astype(np.int8)
    hour_index = cell % hours
    created_at = hour_at[hour_index] + rng.integers(0, HOUR, size=n_tickets, dtype=np.int64)
    cell_boost = boost[hour_index]
    incident = rng.random(n_tickets) < (cell_boost - 1.0) / cell_boost
    return Arrivals(created_at=created_at, region=region_code, incident=incident)
