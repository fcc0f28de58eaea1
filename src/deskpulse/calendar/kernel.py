"""The business-time kernel: exact-to-the-second, vectorised business time on one calendar.

A :class:`BusinessCalendar` materialises its calendar's business time over a span as sorted,
non-overlapping UTC intervals ``[starts_s[i], ends_s[i])`` (epoch seconds, adjacent intervals
merged) with ``cum_seconds[i]`` = business seconds from the calendar's origin up to
``starts_s[i]``. Every query is then a ``searchsorted`` plus arithmetic over numpy int64 arrays;
nothing loops in Python per query instant.

Business time is CONTRACT §3: a real instant counts when its local wall-clock time lies in one
of its weekday's intervals whose start date is not a holiday. Materialisation builds the local
wall-clock intervals (as "wall seconds", the local date-time read as if it were UTC), drops
those whose start date is a holiday, and maps them to UTC by splitting them at the zone's
UTC-offset changes: within a segment of constant offset ``o``, wall = utc + o, so the part of a
wall interval inside that segment's wall range is one UTC interval. Wall times that a
spring-forward skips get no UTC instant; wall times that a fall-back repeats get two.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, overload

import numpy as np
import numpy.typing as npt

from deskpulse.calendar.spec import ALWAYS_CALENDAR_NAME, CalendarSpec
from deskpulse.calendar.zones import offset_segments
from deskpulse.errors import BadInputError, ConfigError

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
#: One instant or count: a Python/numpy integer (epoch seconds) or a numpy datetime64.
Scalar = int | np.integer[Any] | np.datetime64
#: Many instants or counts: an integer or datetime64 numpy array, or a sequence of ints.
Vector = npt.NDArray[Any] | Sequence[int]

SECONDS_PER_DAY: Final = 86400
_EPOCH_DATE: Final = dt.date(1970, 1, 1)
_TEN_YEARS_SECONDS: Final = 3653 * SECONDS_PER_DAY
_MIN_GROWTH_DAYS: Final = 366
#: Days materialised beyond a requested span on either side by default.
DEFAULT_MARGIN_DAYS: Final = 45
#: Supported instants: 1800-01-01T00:00Z <= t <= 2400-01-01T00:00Z.
MIN_SUPPORTED_DAY: Final = (dt.date(1800, 1, 1) - _EPOCH_DATE).days
MAX_SUPPORTED_DAY: Final = (dt.date(2400, 1, 1) - _EPOCH_DATE).days
MIN_SUPPORTED_S: Final = MIN_SUPPORTED_DAY * SECONDS_PER_DAY
MAX_SUPPORTED_S: Final = MAX_SUPPORTED_DAY * SECONDS_PER_DAY


# --- input conversion -------------------------------------------------------------------------


def as_epoch_seconds(values: Scalar | Vector) -> IntArray:
    """``values`` as an int64 array of epoch seconds (datetime64 is floored to the second).

    Integers are taken as epoch seconds (or second counts). Floats, booleans and NaT are
    rejected so that nothing is rounded silently.
    """
    arr = np.asarray(values)
    if arr.size == 0 and arr.dtype.kind in "fO":
        return arr.astype(np.int64)
    kind = arr.dtype.kind
    if kind == "M":
        if np.isnat(arr).any():
            raise BadInputError("NaT is not an instant; mask missing timestamps first")
        return arr.astype("datetime64[s]").astype(np.int64)
    if kind in "iu":
        return arr.astype(np.int64, copy=False)
    raise TypeError(f"expected integer epoch seconds or datetime64 values, got dtype {arr.dtype}")


def _out_int(arr: IntArray) -> int | IntArray:
    return int(arr) if arr.ndim == 0 else arr


def _bounds(arr: IntArray) -> tuple[int, int] | None:
    if arr.size == 0:
        return None
    return int(arr.min()), int(arr.max())


def _check_supported(lo_s: int, hi_s: int) -> None:
    if lo_s < MIN_SUPPORTED_S or hi_s > MAX_SUPPORTED_S:
        bad = lo_s if lo_s < MIN_SUPPORTED_S else hi_s
        raise BadInputError(
            f"instant {bad} (epoch seconds) is outside the supported range 1800-01-01..2400-01-01",
            value=bad,
        )


# --- materialisation --------------------------------------------------------------------------


def _merge(starts: IntArray, ends: IntArray) -> tuple[IntArray, IntArray]:
    """Sort intervals and merge the overlapping and the adjacent ones."""
    if starts.size == 0:
        return starts, ends
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    running_end = np.maximum.accumulate(ends)
    new_group = np.ones(starts.size, dtype=bool)
    new_group[1:] = starts[1:] > running_end[:-1]
    first = np.flatnonzero(new_group)
    last = np.append(first[1:] - 1, starts.size - 1)
    return starts[first], running_end[last]


def wall_intervals(spec: CalendarSpec, first_day: int, end_day: int) -> tuple[IntArray, IntArray]:
    """Local wall-clock business intervals starting on local days ``[first_day, end_day)``.

    Days count from 1970-01-01; an interval is in "wall seconds" (the local date-time read as
    if it were UTC). Intervals whose start date is a holiday are left out; the result is sorted
    and merged.
    """
    days = np.arange(first_day, end_day, dtype=np.int64)
    weekdays = (days + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    holidays = spec.holidays.dates_between(
        _EPOCH_DATE + dt.timedelta(days=first_day), _EPOCH_DATE + dt.timedelta(days=end_day - 1)
    )
    holiday_days = np.asarray(sorted((d - _EPOCH_DATE).days for d in holidays), dtype=np.int64)
    working = ~np.isin(days, holiday_days)
    starts: list[IntArray] = []
    ends: list[IntArray] = []
    for weekday, intervals in enumerate(spec.week):
        if not intervals:
            continue
        day_start_s = days[(weekdays == weekday) & working] * SECONDS_PER_DAY
        for iv in intervals:
            starts.append(day_start_s + iv.start_minute * 60)
            ends.append(day_start_s + iv.end_minute * 60)
    if not starts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy()
    return _merge(np.concatenate(starts), np.concatenate(ends))


def wall_to_utc(
    wall_starts: IntArray, wall_ends: IntArray, segment_starts_s: IntArray,
    segment_ends_s: IntArray, offsets_seconds: IntArray,
) -> tuple[IntArray, IntArray]:
    """The real (UTC) instants whose local wall-clock time lies in the given wall intervals.

    Segment k is the UTC range ``[segment_starts_s[k], segment_ends_s[k])`` with constant offset
    ``offsets_seconds[k]``; it shows the wall range ``[start + o, end + o)``. The wall intervals
    (sorted, non-overlapping) are clipped to each segment's wall range and shifted by ``-o``.
    """
    out_starts: list[IntArray] = []
    out_ends: list[IntArray] = []
    for seg_start, seg_end, offset in zip(
        segment_starts_s.tolist(), segment_ends_s.tolist(), offsets_seconds.tolist(), strict=True
    ):
        wall_lo, wall_hi = seg_start + offset, seg_end + offset
        i0 = int(np.searchsorted(wall_ends, wall_lo, side="right"))
        i1 = int(np.searchsorted(wall_starts, wall_hi, side="left"))
        if i0 >= i1:
            continue
        piece_starts = np.maximum(wall_starts[i0:i1], wall_lo) - offset
        piece_ends = np.minimum(wall_ends[i0:i1], wall_hi) - offset
        keep = piece_starts < piece_ends
        out_starts.append(piece_starts[keep])
        out_ends.append(piece_ends[keep])
    if not out_starts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy()
    return _merge(np.concatenate(out_starts), np.concatenate(out_ends))


class SortedIndex:
    """``np.searchsorted`` over a fixed sorted int64 array, via fixed-width buckets.

    Each query finds its bucket by one division, starts at the number of keys before that
    bucket and steps over the (few) keys inside it, all vectorised: a handful of gathers instead
    of a binary search per query. Falls back to ``np.searchsorted`` for small arrays or when
    keys cluster (more than ``MAX_STEPS`` keys in one bucket).
    """

    MAX_STEPS: Final = 8
    MIN_KEYS: Final = 64

    def __init__(self, keys: IntArray) -> None:
        self.keys = keys
        self.padded: IntArray = np.append(keys, np.iinfo(np.int64).max)
        self.steps = -1  # -1: use np.searchsorted
        self.lo_key = 0
        self.width = 1
        self.buckets = 0
        self.count_before: IntArray = np.zeros(0, dtype=np.int64)
        n = int(keys.size)
        if n < self.MIN_KEYS:
            return
        lo_key, hi_key = int(keys[0]), int(keys[-1])
        width = max((hi_key - lo_key) // (2 * n), 1)
        buckets = (hi_key - lo_key) // width + 2  # the last bucket holds no key
        edges = lo_key + width * np.arange(buckets, dtype=np.int64)
        count_before = np.searchsorted(keys, edges, side="left").astype(np.int64)
        steps = int(np.diff(np.append(count_before, n)).max())
        if steps > self.MAX_STEPS:
            return
        self.steps, self.lo_key, self.width, self.buckets = steps, lo_key, width, buckets
        self.count_before = count_before

    def search(self, query: IntArray, side: Literal["left", "right"]) -> IntArray:
        """Same as ``np.searchsorted(keys, query, side)``."""
        if self.steps < 0 or query.ndim == 0:
            found: IntArray = np.searchsorted(self.keys, query, side=side).astype(np.int64)
            return found
        bucket = query - self.lo_key
        bucket //= self.width
        np.clip(bucket, 0, self.buckets - 1, out=bucket)
        index: IntArray = self.count_before[bucket]
        for _ in range(self.steps):
            if side == "right":
                index += self.padded[index] <= query
            else:
                index += self.padded[index] < query
        return index


@dataclass(frozen=True)
class _Tables:
    """Materialised business intervals for intervals starting on local days [first, end)."""

    first_day: int
    end_day: int
    starts_s: IntArray
    ends_s: IntArray
    cum_seconds: IntArray  # business seconds from the origin up to starts_s[i]
    cum_end_seconds: IntArray  # ... up to ends_s[i]

    @property
    def valid_lo_s(self) -> int:
        # Intervals start at most a day before an instant they contain and |offset| < 1 day,
        # so every business instant at or after this one starts on a materialised day.
        return (self.first_day + 2) * SECONDS_PER_DAY

    @property
    def valid_hi_s(self) -> int:
        return (self.end_day - 1) * SECONDS_PER_DAY

    @functools.cached_property
    def lengths_s(self) -> IntArray:
        lengths: IntArray = self.ends_s - self.starts_s
        return lengths

    @functools.cached_property
    def starts_index(self) -> SortedIndex:
        return SortedIndex(self.starts_s)

    @functools.cached_property
    def ends_index(self) -> SortedIndex:
        return SortedIndex(self.ends_s)

    @functools.cached_property
    def cum_end_index(self) -> SortedIndex:
        return SortedIndex(self.cum_end_seconds)

    def last_start_index(self, at_s: IntArray) -> IntArray:
        """Index of the last interval starting at or before each instant (0 when none)."""
        i = self.starts_index.search(at_s, "right")
        i -= 1
        return np.maximum(i, 0)

    def position(self, at_s: IntArray) -> IntArray:
        if self.starts_s.size == 0:
            return np.zeros(np.shape(at_s), dtype=np.int64)
        at = np.atleast_1d(at_s)
        i = self.last_start_index(at)
        inside = at - self.starts_s[i]
        np.clip(inside, 0, self.lengths_s[i], out=inside)
        inside += self.cum_seconds[i]
        return inside.reshape(np.shape(at_s))

    def position_at(self, at_s: int) -> int:
        return int(self.position(np.asarray(at_s, dtype=np.int64)))


def _materialise(spec: CalendarSpec, first_day: int, end_day: int, origin_s: int) -> _Tables:
    wall_starts, wall_ends = wall_intervals(spec, first_day, end_day)
    seg_lo = (first_day - 1) * SECONDS_PER_DAY
    seg_hi = (end_day + 2) * SECONDS_PER_DAY
    segment_starts_s, offsets_seconds = offset_segments(spec.zone, seg_lo, seg_hi)
    segment_ends_s = np.append(segment_starts_s[1:], seg_hi)
    starts_s, ends_s = wall_to_utc(
        wall_starts, wall_ends, segment_starts_s, segment_ends_s, offsets_seconds
    )
    lengths = ends_s - starts_s
    cum_end = np.cumsum(lengths, dtype=np.int64)
    cum = cum_end - lengths
    tables = _Tables(first_day, end_day, starts_s, ends_s, cum, cum_end)
    shift = tables.position_at(origin_s)
    return _Tables(first_day, end_day, starts_s, ends_s, cum - shift, cum_end - shift)


# --- the calendar -----------------------------------------------------------------------------


class BusinessCalendar:
    """Vectorised business time of one calendar, exact to the second.

    ``position(t)`` is F(t), the business seconds from ``origin_s`` to ``t`` (negative before
    it); only differences of positions mean anything. All methods take epoch seconds (int64
    arrays, ``datetime64`` arrays or scalars) and return arrays (or Python scalars for scalar
    input). The materialised span grows automatically when a query needs it.
    """

    def __init__(
        self,
        spec: CalendarSpec,
        start_s: int | None = None,
        end_s: int | None = None,
        *,
        margin_days: int = DEFAULT_MARGIN_DAYS,
    ) -> None:
        if not spec.always and not any(spec.week):
            raise ConfigError(
                f"calendar {spec.name!r} has no business hours on any day",
                calendar=spec.name,
                reason="no business time",
            )
        self.spec = spec
        self.margin_days = max(int(margin_days), 0)
        self._lock = threading.Lock()
        self._tables: _Tables | None = None
        self._origin_s: int | None = 0 if spec.always else None
        if not spec.always and start_s is not None:
            self._covering(int(start_s), int(end_s if end_s is not None else start_s))

    @classmethod
    def for_span(
        cls, spec: CalendarSpec, start_s: int, end_s: int, *, margin_days: int = DEFAULT_MARGIN_DAYS
    ) -> BusinessCalendar:
        """Materialise ``spec`` for ``[start_s - margin, end_s + margin]``; the origin is start_s."""
        return cls(spec, start_s, end_s, margin_days=margin_days)

    # --- introspection ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The calendar's name."""
        return self.spec.name

    @property
    def always(self) -> bool:
        """True for a 24x7 calendar (F(t) = t - origin, no intervals)."""
        return self.spec.always

    @property
    def origin_s(self) -> int:
        """The instant where position is 0 (the first materialised span's start)."""
        return 0 if self._origin_s is None else self._origin_s

    @property
    def starts_s(self) -> IntArray:
        """Starts of the materialised business intervals (UTC epoch seconds, sorted)."""
        return self._snapshot().starts_s

    @property
    def ends_s(self) -> IntArray:
        """Ends (exclusive) of the materialised business intervals."""
        return self._snapshot().ends_s

    @property
    def cum_seconds(self) -> IntArray:
        """Business seconds from the origin up to each interval's start."""
        return self._snapshot().cum_seconds

    @property
    def span_s(self) -> tuple[int, int]:
        """The instants ``[lo, hi]`` within which positions are exact without re-materialising."""
        tables = self._snapshot()
        return tables.valid_lo_s, tables.valid_hi_s

    def _snapshot(self) -> _Tables:
        if self.always:
            empty = np.zeros(0, dtype=np.int64)
            return _Tables(MIN_SUPPORTED_DAY - 2, MAX_SUPPORTED_DAY + 1, empty, empty, empty, empty)
        tables = self._tables
        if tables is None:
            raise ValueError(f"calendar {self.name!r} has not been materialised yet")
        return tables

    def __repr__(self) -> str:
        if self.always:
            return f"BusinessCalendar({self.name!r}, always)"
        tables = self._tables
        if tables is None:
            return f"BusinessCalendar({self.name!r}, not materialised)"
        return (
            f"BusinessCalendar({self.name!r}, {self.spec.timezone}, "
            f"{tables.starts_s.size} intervals, days {tables.first_day}..{tables.end_day})"
        )

    # --- span management ----------------------------------------------------------------------

    def _covering(self, lo_s: int, hi_s: int) -> _Tables:
        """Tables whose exact range contains [lo_s, hi_s], re-materialising if needed."""
        tables = self._tables
        if tables is not None and tables.valid_lo_s <= lo_s and hi_s <= tables.valid_hi_s:
            return tables
        _check_supported(lo_s, hi_s)
        with self._lock:
            tables = self._tables
            if tables is not None and tables.valid_lo_s <= lo_s and hi_s <= tables.valid_hi_s:
                return tables
            want_first = lo_s // SECONDS_PER_DAY - 2 - self.margin_days
            want_end = -(-hi_s // SECONDS_PER_DAY) + 2 + self.margin_days
            if tables is None:
                first_day, end_day = want_first, want_end
                self._origin_s = lo_s
            else:
                width = tables.end_day - tables.first_day
                growth = max(_MIN_GROWTH_DAYS, width // 2)
                first_day = tables.first_day
                end_day = tables.end_day
                if lo_s < tables.valid_lo_s:
                    first_day = min(want_first, tables.first_day - growth)
                if hi_s > tables.valid_hi_s:
                    end_day = max(want_end, tables.end_day + growth)
            first_day = max(first_day, MIN_SUPPORTED_DAY - 2)
            end_day = min(end_day, MAX_SUPPORTED_DAY + 1)
            tables = _materialise(self.spec, first_day, end_day, self.origin_s)
            self._tables = tables
            return tables

    def _no_business_for_ten_years(self, tables: _Tables, forward: bool) -> bool:
        lo, hi = tables.valid_lo_s, tables.valid_hi_s
        if hi - lo < _TEN_YEARS_SECONDS:
            return False
        if forward:
            return tables.position_at(hi) == tables.position_at(hi - _TEN_YEARS_SECONDS)
        return tables.position_at(lo + _TEN_YEARS_SECONDS) == tables.position_at(lo)

    def _raise_no_business(self, forward: bool) -> None:
        where = "after" if forward else "before"
        raise ConfigError(
            f"calendar {self.name!r} has no business time for 10 years {where} the requested "
            "instant; the target can never be reached",
            calendar=self.name,
            reason="no business time within 10 years",
        )

    def _grow(self, tables: _Tables, *, forward: bool, extra_s: int) -> _Tables:
        extra_s = max(extra_s, _MIN_GROWTH_DAYS * SECONDS_PER_DAY)
        if forward:
            if tables.valid_hi_s >= MAX_SUPPORTED_S:
                raise BadInputError("the requested instant lies beyond 2400-01-01")
            return self._covering(tables.valid_lo_s, min(tables.valid_hi_s + extra_s,
                                                         MAX_SUPPORTED_S))
        if tables.valid_lo_s <= MIN_SUPPORTED_S:
            raise BadInputError("the requested instant lies before 1800-01-01")
        return self._covering(max(tables.valid_lo_s - extra_s, MIN_SUPPORTED_S), tables.valid_hi_s)

    def _tables_reaching(self, y_lo: int, y_hi: int) -> _Tables:
        """Tables with F(valid_lo) < y_lo and y_hi <= F(valid_hi)."""
        tables = self._snapshot() if self._tables is not None else self._covering(
            self.origin_s, self.origin_s
        )
        while True:
            f_lo = tables.position_at(tables.valid_lo_s)
            f_hi = tables.position_at(tables.valid_hi_s)
            if f_lo < y_lo and y_hi <= f_hi:
                return tables
            rate = (f_hi - f_lo) / max(tables.valid_hi_s - tables.valid_lo_s, 1)
            if y_hi > f_hi:
                if self._no_business_for_ten_years(tables, forward=True):
                    self._raise_no_business(forward=True)
                extra_s = _estimate_extra_seconds(y_hi - f_hi, rate)
                tables = self._grow(tables, forward=True, extra_s=extra_s)
            else:
                if self._no_business_for_ten_years(tables, forward=False):
                    self._raise_no_business(forward=False)
                extra_s = _estimate_extra_seconds(f_lo - y_lo + 1, rate)
                tables = self._grow(tables, forward=False, extra_s=extra_s)

    # --- queries ------------------------------------------------------------------------------

    @overload
    def position(self, at_s: Scalar) -> int: ...
    @overload
    def position(self, at_s: Vector) -> IntArray: ...
    def position(self, at_s: Scalar | Vector) -> int | IntArray:
        """F(t): business seconds from the origin up to each instant ``t``."""
        return _out_int(self._position(as_epoch_seconds(at_s)))

    def _position(self, at_s: IntArray) -> IntArray:
        if self.always:
            return at_s - self.origin_s
        bounds = _bounds(at_s)
        if bounds is None:
            return np.zeros(at_s.shape, dtype=np.int64)
        return self._covering(*bounds).position(at_s)

    @overload
    def business_seconds(self, start_s: Scalar, end_s: Scalar) -> int: ...
    @overload
    def business_seconds(self, start_s: Vector, end_s: Scalar | Vector) -> IntArray: ...
    @overload
    def business_seconds(self, start_s: Scalar, end_s: Vector) -> IntArray: ...
    def business_seconds(self, start_s: Scalar | Vector, end_s: Scalar | Vector) -> int | IntArray:
        """Business seconds between ``start_s`` and ``end_s``: max(F(end) - F(start), 0)."""
        a, b = np.broadcast_arrays(as_epoch_seconds(start_s), as_epoch_seconds(end_s))
        if self.always:
            return _out_int(np.maximum(b - a, 0))
        if a.size == 0:
            return _out_int(np.zeros(a.shape, dtype=np.int64))
        tables = self._covering(min(int(a.min()), int(b.min())), max(int(a.max()), int(b.max())))
        return _out_int(np.maximum(tables.position(b) - tables.position(a), 0))

    def business_minutes(self, start_s: Scalar | Vector, end_s: Scalar | Vector) -> Any:
        """Business minutes as exact decimals (``business_seconds / 60``, float64)."""
        return np.asarray(self.business_seconds(start_s, end_s), dtype=np.float64) / 60.0

    @overload
    def reach(self, position_seconds: Scalar) -> int: ...
    @overload
    def reach(self, position_seconds: Vector) -> IntArray: ...
    def reach(self, position_seconds: Scalar | Vector) -> int | IntArray:
        """The earliest instant t with F(t) >= y for each position y.

        A target met exactly at the end of a business interval is reached at that end
        (e.g. 17:00), not at the next opening.
        """
        return _out_int(self._reach(as_epoch_seconds(position_seconds)))

    def _reach(self, y: IntArray) -> IntArray:
        if self.always:
            return y + self.origin_s
        bounds = _bounds(y)
        if bounds is None:
            return np.zeros(y.shape, dtype=np.int64)
        tables = self._tables_reaching(*bounds)
        j = tables.cum_end_index.search(y, "left")
        result: IntArray = tables.starts_s[j] + (y - tables.cum_seconds[j])
        return result

    @overload
    def add_business_seconds(self, at_s: Scalar, seconds: Scalar) -> int: ...
    @overload
    def add_business_seconds(self, at_s: Vector, seconds: Scalar | Vector) -> IntArray: ...
    @overload
    def add_business_seconds(self, at_s: Scalar, seconds: Vector) -> IntArray: ...
    def add_business_seconds(
        self, at_s: Scalar | Vector, seconds: Scalar | Vector
    ) -> int | IntArray:
        """The instant at which ``seconds`` of business time have passed since ``at_s``.

        ``reach(F(t) + n)`` for n > 0 (the due instant of a target n) and ``t`` for n = 0.
        """
        t, n = np.broadcast_arrays(as_epoch_seconds(at_s), as_epoch_seconds(seconds))
        if (n < 0).any():
            raise ValueError("add_business_seconds needs seconds >= 0")
        if (n > MAX_SUPPORTED_S - MIN_SUPPORTED_S).any():
            raise BadInputError("a business-time amount exceeds the supported range of 600 years")
        if self.always:
            return _out_int(t + n)
        y = self._position(t) + n
        positive = n > 0
        result = t.copy()
        if positive.any():
            result[positive] = self._reach(y[positive])
        return _out_int(result)

    @overload
    def next_business_instant(self, at_s: Scalar) -> int: ...
    @overload
    def next_business_instant(self, at_s: Vector) -> IntArray: ...
    def next_business_instant(self, at_s: Scalar | Vector) -> int | IntArray:
        """The earliest instant u >= t at which business time is running.

        ``t`` itself inside an interval ``[start, end)``; the next interval's start at or after
        an end (the breached_at of a target reached exactly at the end of business hours).
        """
        return _out_int(self._next_business_instant(as_epoch_seconds(at_s)))

    def _next_business_instant(self, at_s: IntArray) -> IntArray:
        if self.always:
            return at_s.copy()
        bounds = _bounds(at_s)
        if bounds is None:
            return np.zeros(at_s.shape, dtype=np.int64)
        tables = self._covering(*bounds)
        while True:
            j = tables.ends_index.search(at_s, "right")
            n = tables.starts_s.size
            if n and int(j.max()) < n:
                result: IntArray = np.maximum(at_s, tables.starts_s[j])
                if int(result.max()) <= tables.valid_hi_s:
                    return result
            if self._no_business_for_ten_years(tables, forward=True) and (
                tables.valid_hi_s - bounds[1] >= _TEN_YEARS_SECONDS
            ):
                self._raise_no_business(forward=True)
            tables = self._grow(tables, forward=True, extra_s=0)

    @overload
    def is_business(self, at_s: Scalar) -> bool: ...
    @overload
    def is_business(self, at_s: Vector) -> BoolArray: ...
    def is_business(self, at_s: Scalar | Vector) -> bool | BoolArray:
        """Whether business time is running at each instant (start <= t < end)."""
        t = as_epoch_seconds(at_s)
        if self.always:
            inside = np.ones(t.shape, dtype=bool)
        else:
            bounds = _bounds(t)
            if bounds is None:
                return np.zeros(t.shape, dtype=bool)
            tables = self._covering(*bounds)
            if tables.starts_s.size == 0:
                inside = np.zeros(t.shape, dtype=bool)
            else:
                i = tables.last_start_index(np.atleast_1d(t)).reshape(t.shape)
                inside = (tables.starts_s[i] <= t) & (t < tables.ends_s[i])
        return bool(inside) if inside.ndim == 0 else inside


def _estimate_extra_seconds(missing_seconds: int, rate: float) -> int:
    """Wall time likely needed to accumulate ``missing_seconds`` of business time."""
    if rate <= 0:
        return _TEN_YEARS_SECONDS + 2 * SECONDS_PER_DAY
    return int(missing_seconds / rate * 1.1) + 30 * SECONDS_PER_DAY


# --- lookup and caching -----------------------------------------------------------------------


class CalendarSet:
    """The calendars of one build, each materialised once on first use and then shared.

    ``get(name)`` returns the :class:`BusinessCalendar` for a configured calendar (``24x7`` is
    always there); an unknown name raises :class:`ConfigError`.
    """

    def __init__(
        self,
        specs: Mapping[str, CalendarSpec],
        start_s: int | None = None,
        end_s: int | None = None,
        *,
        margin_days: int = DEFAULT_MARGIN_DAYS,
    ) -> None:
        self.specs: dict[str, CalendarSpec] = dict(specs)
        self.specs.setdefault(ALWAYS_CALENDAR_NAME, CalendarSpec.always_open())
        self.start_s = start_s
        self.end_s = end_s
        self.margin_days = margin_days
        self._calendars: dict[str, BusinessCalendar] = {}
        self._lock = threading.Lock()

    def __contains__(self, name: object) -> bool:
        return name in self.specs

    @property
    def names(self) -> tuple[str, ...]:
        """Configured calendar names (including ``24x7``)."""
        return tuple(self.specs)

    def get(self, name: str) -> BusinessCalendar:
        """The materialised calendar ``name`` (materialised at most once per set)."""
        calendar = self._calendars.get(name)
        if calendar is not None:
            return calendar
        spec = self.specs.get(name)
        if spec is None:
            known = ", ".join(sorted(self.specs))
            raise ConfigError(
                f"unknown calendar {name!r} (known: {known})",
                calendar=name,
                reason="unknown calendar",
            )
        with self._lock:
            calendar = self._calendars.get(name)
            if calendar is None:
                calendar = BusinessCalendar(
                    spec, self.start_s, self.end_s, margin_days=self.margin_days
                )
                self._calendars[name] = calendar
        return calendar

    __getitem__ = get


_CACHE_SIZE: Final = 64
_cache: OrderedDict[CalendarSpec, BusinessCalendar] = OrderedDict()
_cache_lock = threading.Lock()


def calendar_for(
    spec_or_name: CalendarSpec | str,
    specs: Mapping[str, CalendarSpec] | None = None,
    start_s: int | None = None,
    end_s: int | None = None,
) -> BusinessCalendar:
    """A process-wide cached :class:`BusinessCalendar` for a spec (or a name looked up in specs).

    The same spec yields the same calendar object (an LRU of 64), grown to cover
    ``[start_s, end_s]`` when given. ``"24x7"`` needs no ``specs``.
    """
    if isinstance(spec_or_name, CalendarSpec):
        spec = spec_or_name
    else:
        found = (specs or {}).get(spec_or_name)
        if found is None and spec_or_name == ALWAYS_CALENDAR_NAME:
            found = CalendarSpec.always_open()
        if found is None:
            raise ConfigError(
                f"unknown calendar {spec_or_name!r}", calendar=spec_or_name,
                reason="unknown calendar",
            )
        spec = found
    with _cache_lock:
        calendar = _cache.get(spec)
        if calendar is None:
            calendar = BusinessCalendar(spec)
            _cache[spec] = calendar
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
        else:
            _cache.move_to_end(spec)
    if start_s is not None and not calendar.always:
        calendar.position(np.asarray([start_s, end_s if end_s is not None else start_s]))
    return calendar


def clear_calendar_cache() -> None:
    """Forget every cached calendar (tests, or after a config reload)."""
    with _cache_lock:
        _cache.clear()
