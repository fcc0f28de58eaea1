"""Benchmark ``deskpulse.sample.generate`` against a naive per-ticket Python generator.

Prints: wall time, rows/s (tickets + events), peak RSS and file sizes of the vectorised
generator on --tickets (default 1M), the same figures for a naive baseline (one Python loop per
ticket, scalar business-time arithmetic with bisect, csv.writer) on --baseline-tickets (default
20k), and the throughput ratio. Each generator runs in its own child process so peak RSS is its
own.

    .venv/bin/python bench/bench_generate.py [--tickets 1000000] [--baseline-tickets 20000]
"""

from __future__ import annotations

import argparse
import bisect
import csv
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from deskpulse.sample import generate
from deskpulse.sample import profile as P
from deskpulse.sample.population import build_agents
from deskpulse.sample.routing import build_patterns, region_holidays

START = dt.date(2026, 1, 5)
DAYS = 180
CACHE = Path(__file__).resolve().parent / ".cache" / "generate"


# --- the naive baseline -----------------------------------------------------------------------


def naive_generate(n_tickets: int, seed: int, out_dir: Path) -> dict[str, Any]:
    """A straightforward generator: one Python loop iteration (and csv row calls) per ticket."""
    began = time.perf_counter()
    rnd = random.Random(seed)
    start_at = (START - dt.date(1970, 1, 1)).days * 86400
    end_at = start_at + DAYS * 86400
    hol = region_holidays(START - dt.timedelta(days=7), START + dt.timedelta(days=DAYS + 7))
    agents = build_agents(np.random.default_rng(seed), max(30, round(n_tickets / DAYS / 10)), "")
    patterns = build_patterns(agents, hol, start_at - 2 * 86400, end_at + 86400)
    book = patterns.book
    starts, ends = book.starts.tolist(), book.ends.tolist()
    cum_s, cum_e = book.cum_start.tolist(), book.cum_end.tolist()
    span, origin = book.span_seconds, book.origin_at

    def business_add(at: int, seconds: int, pattern: int) -> int:
        v = at - origin + pattern * span
        i = max(bisect.bisect_right(starts, v) - 1, int(book.first_idx[pattern]))
        pos = cum_s[i] + min(max(v - starts[i], 0), ends[i] - starts[i]) + max(seconds, 1)
        j = bisect.bisect_left(cum_e, pos)
        if j > int(book.last_idx[pattern]):
            return end_at + 10**9
        return starts[j] + (pos - cum_s[j]) - pattern * span + origin

    # arrival weights per (region, UTC hour), computed hour by hour
    cells: list[tuple[int, int]] = []
    weights: list[float] = []
    for r, region in enumerate(P.REGIONS):
        zone = ZoneInfo(region.calendar.timezone)
        for h in range(DAYS * 24):
            at = start_at + h * 3600
            local = dt.datetime.fromtimestamp(at, zone)
            off = local.date() in hol[r] or local.weekday() >= 5
            shape = (P.HOUR_FACTOR_WEEKEND if off else P.HOUR_FACTOR_WORKDAY)[local.hour]
            cells.append((r, at))
            weights.append(region.arrival_share * shape * P.WEEKDAY_FACTOR[local.weekday()])
    cum_w = list(np.cumsum(weights))
    by_group: dict[int, list[int]] = {}
    for a, g in enumerate(agents.group.tolist()):
        by_group.setdefault(g, []).append(a)
    shift = agents.shift.tolist()

    tickets: list[list[Any]] = []
    events: list[tuple[int, int, list[Any]]] = []
    for _ in range(n_tickets):
        r, hour_at = rnd.choices(cells, cum_weights=cum_w)[0]
        created = hour_at + rnd.randrange(3600)
        category = rnd.choices(range(len(P.CATEGORIES)), weights=P.CATEGORY_BY_BRAND[0])[0]
        priority = rnd.choices(range(4), weights=P.PRIORITY_BY_CATEGORY[category])[0]
        channel = rnd.choices(P.CHANNELS, weights=P.CHANNEL_SHARE)[0]
        group = P.GROUPS.index(P.CATEGORY_GROUP[category])
        on_shift = [a for a in by_group[group] if book.is_open(np.asarray([created]), shift[a])[0]]
        agent = rnd.choice(on_shift or by_group[group])
        evs: list[list[Any]] = [[created, "status", "end_user", "", "true", "", "new", ""],
                                [created, "comment", "end_user", "", "true", "", "", ""]]
        status = "new"
        at = created
        for round_no in range(1, P.MAX_ROUNDS + 1):
            at = business_add(at, int(rnd.lognormvariate(0, 1) * 3600), shift[agent])
            aid = agents.agent_id[agent]
            if round_no == 1:
                evs.append([at, "assignee", "agent", aid, "true", "", aid, ""])
            evs.append([at, "comment", "agent", aid, "true", "", "", ""])
            decision = "solved" if rnd.random() < 0.35 + 0.15 * round_no else "pending"
            evs.append([at, "status", "agent", aid, "true", status, decision, ""])
            status = decision
            if decision == "solved":
                evs.append([at + 4 * 86400, "status", "system", "", "true", "solved", "closed", ""])
                status = "closed"
                break
            at += int(rnd.lognormvariate(0, 1.3) * 3 * 3600)
            evs.append([at, "comment", "end_user", "", "true", "", "", ""])
            evs.append([at, "status", "end_user", "", "true", "pending", "open", ""])
            status = "open"
        kept = [e for e in evs if e[0] < end_at]
        final = [e[6] for e in kept if e[1] == "status"][-1]
        tickets.append([created, max(e[0] for e in kept), final, P.PRIORITIES[priority], channel,
                        P.CATEGORIES[category], P.GROUPS[group], P.REGIONS[r].name,
                        agents.agent_id[agent]])
        events.append((created, len(tickets) - 1, kept))

    def iso(at: int) -> str:
        return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    order = sorted(range(len(tickets)), key=lambda i: tickets[i][0])
    n_events = 0
    with (out_dir / "tickets.csv").open("w", newline="") as tf, \
            (out_dir / "events.csv").open("w", newline="") as ef:
        tw, ew = csv.writer(tf), csv.writer(ef)
        tw.writerow(["ticket_id", "created_at", "updated_at", "status", "priority", "channel",
                     "category", "group", "region", "assignee_id"])
        ew.writerow(["ticket_id", "event_at", "kind", "actor", "actor_id", "public", "from_value",
                     "to_value", "field"])
        for number, i in enumerate(order, start=1):
            t = tickets[i]
            tid = f"T-{number:07d}"
            tw.writerow([tid, iso(t[0]), iso(t[1]), *t[2:]])
            for e in sorted(events[i][2], key=lambda e: e[0]):
                ew.writerow([tid, iso(e[0]), *e[1:]])
                n_events += 1
    return {"seconds": time.perf_counter() - began, "tickets": n_tickets, "events": n_events}


# --- the vectorised generator -----------------------------------------------------------------


def vectorised_generate(n_tickets: int, seed: int, out_dir: Path) -> dict[str, Any]:
    """The real thing: deskpulse.sample.generate."""
    began = time.perf_counter()
    result = generate(n_tickets, seed, out_dir, start=START, days=DAYS)
    return {"seconds": time.perf_counter() - began, "tickets": result.n_tickets,
            "events": result.n_events}


# --- harness ----------------------------------------------------------------------------------


def run_child(kind: str, n_tickets: int, seed: int, out_dir: Path) -> dict[str, Any]:
    """Run one generator in a child process; return its figures plus peak RSS and file sizes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile("w+") as report:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", kind, "--tickets", str(n_tickets),
             "--seed", str(seed), "--out", str(out_dir)],
            stdout=report,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"{kind} generator failed with exit code {proc.returncode}")
        report.seek(0)
        figures: dict[str, Any] = json.loads(report.read())
    figures["peak_rss_mb"] = usage.ru_maxrss / 1024
    figures["files_mb"] = {p.name: p.stat().st_size / 1e6 for p in sorted(out_dir.glob("*.csv"))}
    figures["rows_per_second"] = (figures["tickets"] + figures["events"]) / figures["seconds"]
    return figures


def show(title: str, f: dict[str, Any]) -> None:
    files = ", ".join(f"{name} {size:,.1f} MB" for name, size in f["files_mb"].items())
    print(f"{title}")
    print(f"  tickets {f['tickets']:,}  events {f['events']:,} "
          f"({f['events'] / f['tickets']:.1f} per ticket)")
    print(f"  time {f['seconds']:.2f} s   rows/s {f['rows_per_second']:,.0f}   "
          f"tickets/s {f['tickets'] / f['seconds']:,.0f}   peak RSS {f['peak_rss_mb']:,.0f} MB")
    print(f"  files: {files}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--baseline-tickets", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=CACHE)
    parser.add_argument("--child", choices=("vectorised", "naive"))
    args = parser.parse_args()
    if args.child:
        fn = vectorised_generate if args.child == "vectorised" else naive_generate
        print(json.dumps(fn(args.tickets, args.seed, args.out)))
        return
    print(f"deskpulse generate benchmark ({os.cpu_count()} CPUs, Python {sys.version.split()[0]})")
    fast = run_child("vectorised", args.tickets, args.seed, args.out / "vectorised")
    show(f"vectorised generate(): {args.tickets:,} tickets", fast)
    slow = run_child("naive", args.baseline_tickets, args.seed, args.out / "naive")
    show(f"naive per-ticket loop + csv.writer: {args.baseline_tickets:,} tickets", slow)
    ratio = fast["rows_per_second"] / slow["rows_per_second"]
    print(f"speed ratio (rows/s, vectorised / naive): {ratio:,.1f}x")
    budget = "within" if fast["seconds"] <= 60 and fast["peak_rss_mb"] <= 4096 else "OUTSIDE"
    print(f"budget (<= 60 s, <= 4 GB RSS for 1M tickets): {budget}")


if __name__ == "__main__":
    main()
