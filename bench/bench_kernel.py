"""Benchmark the business-time kernel against a naive day-by-day walk (run: python bench/bench_kernel.py).

Calendar: Europe/Berlin, mon-fri 08:00-12:00 + 13:00-17:30 (split shift), German (Berlin)
public holidays, span 2025-01-01..2027-01-01. Measures, excluding materialisation (printed
separately): business_seconds on N random (start, end) pairs and add_business_seconds on N
random (start, n) pairs; a pure-Python baseline that walks the business intervals day by day
(one zoneinfo conversion per interval boundary) on a subset, the per-pair speed-up, the
agreement of both on that subset, and the peak RSS. Targets: <= 0.3 s per 1M-pair call and
>= 100x per pair.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import time
from collections.abc import Callable, Iterator
from zoneinfo import ZoneInfo

import numpy as np

from deskpulse.calendar import BusinessCalendar, CalendarSpec, parse_calendars

CONFIG = {
    "emea": {
        "timezone": "Europe/Berlin",
        "hours": {"mon-fri": ["08:00-12:00", "13:00-17:30"]},
        "holidays": {"country": "DE", "subdivision": "BE"},
        "day_length": "8h30m",
    }
}
SPAN = (dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
KERNEL_TARGET_S = 0.3
SPEEDUP_TARGET = 100.0


# --- the naive baseline: pure Python, day by day ---------------------------------------------


class NaiveCalendar:
    """Walks local days; converts each interval's wall-clock ends to UTC with zoneinfo."""

    def __init__(self, spec: CalendarSpec, holidays: set[dt.date]) -> None:
        self.zone = ZoneInfo(spec.timezone)
        self.week = [[(iv.start_minute, iv.end_minute) for iv in day] for day in spec.week]
        self.holidays = holidays

    def _intervals_from(self, day: dt.date) -> Iterator[tuple[int, int]]:
        while True:
            if day not in self.holidays:
                midnight = dt.datetime(day.year, day.month, day.day, tzinfo=self.zone)
                for start_minute, end_minute in self.week[day.weekday()]:
                    start = (midnight + dt.timedelta(minutes=start_minute)).timestamp()
                    end = (midnight + dt.timedelta(minutes=end_minute)).timestamp()
                    yield int(start), int(end)
            day += dt.timedelta(days=1)

    def business_seconds(self, start_s: int, end_s: int) -> int:
        if end_s <= start_s:
            return 0
        day = dt.datetime.fromtimestamp(start_s, self.zone).date() - dt.timedelta(days=1)
        total = 0
        for start, end in self._intervals_from(day):
            if start >= end_s:
                return total
            lo, hi = max(start, start_s), min(end, end_s)
            if hi > lo:
                total += hi - lo
        raise AssertionError("unreachable")  # pragma: no cover

    def add_business_seconds(self, at_s: int, seconds: int) -> int:
        if seconds == 0:
            return at_s
        day = dt.datetime.fromtimestamp(at_s, self.zone).date() - dt.timedelta(days=1)
        remaining = seconds
        for start, end in self._intervals_from(day):
            if end <= at_s:
                continue
            lo = max(start, at_s)
            if remaining <= end - lo:
                return lo + remaining
            remaining -= end - lo
        raise AssertionError("unreachable")  # pragma: no cover


# --- measurement ------------------------------------------------------------------------------


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def log_uniform(rng: np.random.Generator, lo: float, hi: float, size: int) -> np.ndarray:
    return np.exp(rng.uniform(np.log(lo), np.log(hi), size)).astype(np.int64)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--baseline-pairs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20260306)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    lo_s, hi_s = (int(x.timestamp()) for x in SPAN)

    spec = parse_calendars(CONFIG, "bench")["emea"]
    t0 = time.perf_counter()
    calendar = BusinessCalendar.for_span(spec, lo_s, hi_s)
    materialise_s = time.perf_counter() - t0

    # workloads
    n = args.pairs
    uniform = np.sort(rng.integers(lo_s, hi_s, size=(n, 2)), axis=1)
    starts = rng.integers(lo_s, hi_s - 31 * 86400, size=n)
    tickets = np.stack([starts, starts + log_uniform(rng, 60, 30 * 86400, n)], axis=1)
    add_at = rng.integers(lo_s, hi_s - 60 * 86400, size=n)
    add_n = log_uniform(rng, 60, 30 * spec.day_length_seconds, n)

    workloads: list[tuple[str, Callable[[], np.ndarray], Callable[[NaiveCalendar, int], int]]] = [
        (
            "business_seconds (uniform pairs over 2 y)",
            lambda: calendar.business_seconds(uniform[:, 0], uniform[:, 1]),
            lambda naive, i: naive.business_seconds(int(uniform[i, 0]), int(uniform[i, 1])),
        ),
        (
            "business_seconds (ticket-like, <= 30 d)",
            lambda: calendar.business_seconds(tickets[:, 0], tickets[:, 1]),
            lambda naive, i: naive.business_seconds(int(tickets[i, 0]), int(tickets[i, 1])),
        ),
        (
            "add_business_seconds (n <= 30 business d)",
            lambda: calendar.add_business_seconds(add_at, add_n),
            lambda naive, i: naive.add_business_seconds(int(add_at[i]), int(add_n[i])),
        ),
    ]

    first, last = SPAN[0].date() - dt.timedelta(days=400), SPAN[1].date() + dt.timedelta(days=400)
    naive = NaiveCalendar(spec, set(spec.holidays.dates_between(first, last)))
    m = min(args.baseline_pairs, n)

    rows = []
    all_ok = True
    for label, kernel_fn, naive_fn in workloads:
        result = kernel_fn()  # warm-up (any span growth happens here, outside the timing)
        kernel_s = best_of(args.repeats, kernel_fn)
        t0 = time.perf_counter()
        naive_results = [naive_fn(naive, i) for i in range(m)]
        naive_s = time.perf_counter() - t0
        agree = bool(np.array_equal(np.asarray(naive_results, dtype=np.int64), result[:m]))
        kernel_pp = kernel_s / n
        naive_pp = naive_s / m
        speedup = naive_pp / kernel_pp
        ok = agree and kernel_s <= KERNEL_TARGET_S * n / 1_000_000 and speedup >= SPEEDUP_TARGET
        all_ok &= ok
        rows.append((label, kernel_s, kernel_pp * 1e9, naive_s, naive_pp * 1e6, speedup, agree, ok))

    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lo_valid, hi_valid = calendar.span_s
    print(f"deskpulse business-time kernel benchmark  (numpy {np.__version__}, "
          f"python {sys.version.split()[0]})")
    print(f"calendar: Europe/Berlin mon-fri 08:00-12:00 + 13:00-17:30, DE-BE holidays; "
          f"data span {SPAN[0].date()}..{SPAN[1].date()}")
    print(f"materialisation: {materialise_s * 1e3:.1f} ms for {calendar.starts_s.size} intervals "
          f"({dt.datetime.fromtimestamp(lo_valid, dt.UTC).date()}.."
          f"{dt.datetime.fromtimestamp(hi_valid, dt.UTC).date()})")
    print(f"kernel: {n:,} pairs, best of {args.repeats}; naive baseline: {m:,} pairs, once")
    print()
    header = (f"{'operation':<44}{'kernel s':>10}{'ns/pair':>10}{'naive s':>10}"
              f"{'us/pair':>10}{'speed-up':>11}{'agree':>7}{'ok':>5}")
    print(header)
    print("-" * len(header))
    for label, kernel_s, kernel_ns, naive_s, naive_us, speedup, agree, ok in rows:
        print(f"{label:<44}{kernel_s:>10.4f}{kernel_ns:>10.1f}{naive_s:>10.2f}{naive_us:>10.1f}"
              f"{speedup:>10.0f}x{'yes' if agree else 'NO':>7}{'yes' if ok else 'NO':>5}")
    print()
    print(f"peak RSS: {peak_rss_mb:.0f} MB")
    print(f"targets: kernel <= {KERNEL_TARGET_S} s per 1M pairs, speed-up >= {SPEEDUP_TARGET:.0f}x, "
          f"results equal: {'met' if all_ok else 'NOT met'}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
