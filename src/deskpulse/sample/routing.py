"""Who works when: the run's clock patterns (shifts, queue coverage, requesters' day) and routing.

Pattern layout in the :class:`~deskpulse.sample.clock.ClockBook`: one pattern per agent shift,
then one *coverage* pattern per (group, coverage) — the union of the shifts of that group's
agents in one region (coverage 0..2) or in all regions (3, follow the sun) — then one
"requester awake" pattern per region, then ``24x7``. :class:`Router` picks, for each ticket,
an agent of the right group who is on shift at a given instant.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import holidays as holidays_lib
import numpy as np
from numpy.typing import NDArray

from deskpulse.sample import profile as P
from deskpulse.sample.clock import ClockBook, local_intervals, merge_intervals
from deskpulse.sample.population import Agents, all_shifts

#: Coverage codes: 0..2 = the region of that code, FOLLOW_THE_SUN = any region's shift,
#: ON_CALL = any agent of the group at any time (urgent tickets).
FOLLOW_THE_SUN = 3
ON_CALL = 4
N_COVERAGE = 4  # coverages that have a union pattern


@dataclass(frozen=True)
class Patterns:
    """Pattern numbers in the run's clock book."""

    book: ClockBook
    n_shifts: int
    n_groups: int

    def coverage(self, group: NDArray[np.int8] | int, coverage: NDArray[np.int8] | int) -> NDArray[np.int64]:
        """The union pattern of a group's shifts under a coverage (ON_CALL → 24x7)."""
        g = np.asarray(group, dtype=np.int64)
        c = np.asarray(coverage, dtype=np.int64)
        union = self.n_shifts + g * N_COVERAGE + np.minimum(c, N_COVERAGE - 1)
        return np.where(c == ON_CALL, self.always, union)

    def customer(self, region: NDArray[np.int8]) -> NDArray[np.int64]:
        """The pattern of the hours requesters of a region read and answer mail."""
        return self.n_shifts + self.n_groups * N_COVERAGE + np.asarray(region, dtype=np.int64)

    @property
    def always(self) -> int:
        """The 24x7 pattern."""
        return self.n_shifts + self.n_groups * N_COVERAGE + len(P.REGIONS)


def region_holidays(first_day: dt.date, last_day: dt.date) -> tuple[frozenset[dt.date], ...]:
    """Each region's holidays (country package plus explicit dates) between two dates."""
    out: list[frozenset[dt.date]] = []
    years = list(range(first_day.year, last_day.year + 1))
    for region in P.REGIONS:
        cal = region.calendar
        found = set(holidays_lib.country_holidays(
            cal.holiday_country, subdiv=cal.holiday_subdivision, years=years
        ).keys())
        found.update(cal.holiday_dates)
        out.append(frozenset(d for d in found if first_day <= d <= last_day))
    return tuple(out)


def build_patterns(
    agents: Agents,
    holidays_by_region: Sequence[frozenset[dt.date]],
    origin_at: int,
    horizon_at: int,
) -> Patterns:
    """Every pattern the simulation needs, over [origin_at, horizon_at)."""
    first_day = dt.datetime.fromtimestamp(origin_at, dt.UTC).date() - dt.timedelta(days=2)
    last_day = dt.datetime.fromtimestamp(horizon_at, dt.UTC).date() + dt.timedelta(days=1)
    shifts = all_shifts()
    shift_rows: list[NDArray[np.int64]] = []
    for ref in shifts:
        region = P.REGIONS[ref.region]
        week = [ref.shift.intervals if d in ref.shift.days else () for d in range(7)]
        shift_rows.append(local_intervals(region.calendar.timezone, week,
                                          holidays_by_region[ref.region], first_day, last_day))
    always_rows = np.asarray([[origin_at, horizon_at]], dtype=np.int64)
    patterns: list[tuple[str, NDArray[np.int64]]] = [
        (f"shift:{P.REGIONS[ref.region].name}:{ref.shift.name}", rows)
        for ref, rows in zip(shifts, shift_rows, strict=True)
    ]
    for g, group in enumerate(P.GROUPS):
        staffed = {int(k) for k in agents.shift[agents.group == g]}
        for c in range(N_COVERAGE):
            members = [k for k in sorted(staffed) if c == FOLLOW_THE_SUN or shifts[k].region == c]
            rows = (merge_intervals(np.concatenate([shift_rows[k] for k in members]))
                    if members else always_rows)
            patterns.append((f"cover:{group}:{c}", rows))
    for region in P.REGIONS:
        start, end = region.customer_awake
        week = [((start, end),)] * 7
        patterns.append((f"customer:{region.name}",
                         local_intervals(region.calendar.timezone, week, (), first_day, last_day)))
    patterns.append(("24x7", always_rows))
    return Patterns(book=ClockBook.build(patterns, origin_at, horizon_at),
                    n_shifts=len(shifts), n_groups=len(P.GROUPS))


class Router:
    """Picks agents of a group who are on shift at an instant, weighted by their capacity."""

    def __init__(self, agents: Agents, patterns: Patterns) -> None:
        self.agents = agents
        self.patterns = patterns
        n_shifts = patterns.n_shifts
        n_groups = patterns.n_groups
        self.shift_region = np.asarray([ref.region for ref in all_shifts()], dtype=np.int64)
        block = agents.group.astype(np.int64) * n_shifts + agents.shift.astype(np.int64)
        self.order = np.argsort(block, kind="stable")
        weights = agents.weight[self.order]
        self.cum_weight = np.cumsum(weights)
        n_blocks = n_groups * n_shifts
        block_sorted = block[self.order]
        self.block_first = np.searchsorted(block_sorted, np.arange(n_blocks), side="left")
        self.block_last = np.searchsorted(block_sorted, np.arange(n_blocks), side="right") - 1
        self.block_weight = np.bincount(block, weights=agents.weight, minlength=n_blocks)
        before = np.concatenate([[0.0], self.cum_weight])
        self.block_before = before[self.block_first]
        self.group_shift_weight = self.block_weight.reshape(n_groups, n_shifts)

    def shift_pattern(self, agent: NDArray[np.int64]) -> NDArray[np.int64]:
        """The shift pattern of each agent."""
        return self.agents.shift[agent].astype(np.int64)

    def choose(self, rng: np.random.Generator, at: NDArray[np.int64], group: NDArray[np.int8],
               coverage: NDArray[np.int8]) -> NDArray[np.int64]:
        """An agent per row: of ``group``, within ``coverage``, on shift at ``at`` if anyone is."""
        m = len(at)
        if m == 0:
            return np.empty(0, dtype=np.int64)
        n_shifts = self.patterns.n_shifts
        g = np.asarray(group, dtype=np.int64)
        c = np.asarray(coverage, dtype=np.int64)
        base = self.group_shift_weight[g]  # (m, n_shifts)
        in_cov = (c[:, None] >= FOLLOW_THE_SUN) | (c[:, None] == self.shift_region[None, :])
        allowed = base * in_cov
        open_now = np.empty((m, n_shifts), dtype=bool)
        for k in range(n_shifts):
            open_now[:, k] = self.patterns.book.is_open(at, k)
        weights = np.where((c == ON_CALL)[:, None], allowed, allowed * open_now)
        total = weights.sum(axis=1)
        weights = np.where((total <= 0)[:, None], allowed, weights)
        total = weights.sum(axis=1)
        weights = np.where((total <= 0)[:, None], base, weights)
        cum = np.cumsum(weights, axis=1)
        u = rng.random(m) * cum[:, -1]
        shift = np.minimum((cum <= u[:, None]).sum(axis=1), n_shifts - 1)
        blk = g * n_shifts + shift
        target = self.block_before[blk] + rng.random(m) * self.block_weight[blk]
        pos = np.searchsorted(self.cum_weight, target, side="right")
        pos = np.clip(pos, self.block_first[blk], self.block_last[blk])
        chosen: NDArray[np.int64] = self.order[pos].astype(np.int64)
        return chosen
