"""Benchmark the analytics commands (issue 5, items 1-4) end to end on a large sample store.

Usage: python bench/bench_analytics.py [--tickets 1000000] [--runs 3] [--prepare-only]

Prepares once (cached under bench/.cache/analytics_<N>/, gitignored): two years of sample
data (``deskpulse.sample.generate``, Parquet), imported and built into a DuckDB file. Then, in
one run, prints:

0. the analytics marts a build writes (``deskpulse.analytics.facts.build_analytics_marts``:
   ``ticket_facts``, ``ticket_stage_facts``, ``backlog_daily``), once, timed;
1. each analytics CLI command end to end in a fresh process (process start, store open,
   query, output as JSON to a pipe): wall and CPU seconds, best and median of ``--runs``;
   target ≤ 2 s each at 1M tickets (the seed's ``--days 30`` usage, and all time). With
   ``--no-marts`` the same commands read the built tables only (the analytics compute the
   mart's rows inline: the "before" of the mart);
2. ``backlog_daily`` for the whole two years × 5 dimensions (compute + write, in process);
   target ≤ 3 s;
3. a pandas row-loop baseline (Python loops over the rows of DataFrames) on a 10k-ticket
   store against the library on the same store, with the ratio and an equality check.

The machine is shared: the load average is printed next to the figures; compare CPU
seconds and ratios rather than absolute wall times across runs.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "demo" / "deskpulse.yaml"
START = date(2024, 11, 4)  # a Monday; two years of arrivals cross four DST changes per zone
DAYS = 730
CLI = str(Path(sys.executable).parent / "deskpulse")


def prepare(n: int, days: int = DAYS) -> Path:
    """Generate, import and build once; returns the built DuckDB file (cached)."""
    from deskpulse.config import load_config
    from deskpulse.pipeline import import_files
    from deskpulse.sample.generate import generate
    from deskpulse.sla.build import build
    from deskpulse.store import open_store

    suffix = "" if days == DAYS else f"_{days}d"
    cache = ROOT / "bench" / ".cache" / f"analytics_{n}{suffix}"
    data = cache / "data"
    db = cache / "built.duckdb"
    if db.exists():
        return db
    if not (data / "events.parquet").exists():
        t = time.perf_counter()
        res = generate(n, 5, data, start=START, days=days, fmt="parquet")
        print(f"generated {n:,} tickets / {res.n_events:,} events over {days} days "
              f"in {time.perf_counter() - t:.1f} s")
    tmp = cache / "building.duckdb"
    tmp.unlink(missing_ok=True)
    store = open_store(str(tmp))
    repo = store.tenant("default")
    t = time.perf_counter()
    s = import_files(repo, data / "tickets.parquet", data / "events.parquet")
    print(f"imported {s.tickets_inserted:,} tickets / {s.events_inserted:,} events "
          f"in {time.perf_counter() - t:.1f} s")
    as_of = repo.scalar("SELECT max(event_at) FROM ticket_events")
    t = time.perf_counter()
    b = build(repo, load_config(CONFIG), as_of=as_of, full=True)
    print(f"built {b.tickets_total:,} tickets, {b.sla_rows:,} SLA rows in {time.perf_counter() - t:.1f} s")
    store.close()
    tmp.rename(db)
    return db


def write_marts(db: Path) -> tuple[float, float, Any]:
    """Write the analytics marts the build writes (wall, CPU seconds, summary)."""
    from deskpulse.analytics.facts import build_analytics_marts
    from deskpulse.store import open_store

    store = open_store(str(db))
    try:
        c0, t = time.process_time(), time.perf_counter()
        summary = build_analytics_marts(store.tenant("default"))
        return time.perf_counter() - t, time.process_time() - c0, summary
    finally:
        store.close()


def drop_marts(db: Path) -> None:
    """Empty the per-ticket marts (the analytics then compute their rows inline)."""
    from deskpulse.store import open_store

    store = open_store(str(db))
    try:
        for table in ("ticket_facts", "ticket_stage_facts"):
            store.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
    finally:
        store.close()


def run_cli(db: Path, args: list[str], src: Path | None = None) -> tuple[float, float]:
    """One command in a fresh process: (wall seconds, CPU seconds of the child). ``src``: run
    the ``deskpulse`` package of another source tree (e.g. the last commit's, for "before")."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "PYTHONPATH": str(src)} if src else None
    cmd = ([sys.executable, "-c", "import sys; from deskpulse.cli.main import run; "
            "sys.argv[0] = 'deskpulse'; run()"] if src else [CLI])
    t = time.perf_counter()
    proc = subprocess.run(
        [*cmd, "--db", str(db), "--tenant", "default", "--config", str(CONFIG), *args,
         "--format", "json"],
        capture_output=True,
        check=False,
        env=env,
    )
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{args} failed: {proc.stderr.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


COMMANDS: list[list[str]] = [
    ["response-times", "--days", "30"],
    ["resolution", "--days", "30"],
    ["bottlenecks", "--days", "30"],
    ["agents", "performance", "--range", "30d"],
    ["backlog", "--days", "30"],
    ["volume", "--period", "week"],
    ["response-times"],
    ["resolution"],
    ["bottlenecks"],
    ["agents", "performance", "--range", "all"],
]


def selected(only: list[str]) -> list[list[str]]:
    """The commands whose text contains one of ``only`` (all without)."""
    return [c for c in COMMANDS if not only or any(o in " ".join(c) for o in only)]


def bench_before_after(db: Path, before_db: Path, src: Path, runs: int,
                       only: list[str] | None = None) -> None:
    """Each command with the other tree (``src``, on ``before_db``) and this one (on ``db``),
    alternately, so that both see the same machine load."""
    run_cli(before_db, ["backlog", "--days", "1"], src)  # its backlog_daily, untimed
    print("| command | before: wall best (s) | before: CPU (s) | after: wall best (s) | after: CPU (s) | CPU ratio |")
    print("|---|---|---|---|---|---|")
    for args in selected(only or []):
        b_wall, b_cpu, a_wall, a_cpu = [], [], [], []
        for _ in range(runs):
            w, c = run_cli(before_db, args, src)
            b_wall.append(w)
            b_cpu.append(c)
            w, c = run_cli(db, args)
            a_wall.append(w)
            a_cpu.append(c)
        print(f"| `{' '.join(args)}` | {min(b_wall):.2f} | {min(b_cpu):.2f} | {min(a_wall):.2f} | "
              f"{min(a_cpu):.2f} | {min(b_cpu) / min(a_cpu):.1f}× |  (load {os.getloadavg()[0]:.1f})",
              flush=True)


def bench_cli(db: Path, runs: int, only: list[str] | None = None) -> list[tuple[str, float, float, float]]:
    commands = selected(only or [])
    run_cli(db, ["backlog", "--days", "1"])  # builds backlog_daily once (timed separately)
    out = []
    for args in commands:
        walls, cpus = [], []
        for _ in range(runs):
            w, c = run_cli(db, args)
            walls.append(w)
            cpus.append(c)
        out.append((" ".join(args), min(walls), statistics.median(walls), min(cpus)))
        print(f"  {' '.join(args):36s} wall best {min(walls):5.2f} s  median "
              f"{statistics.median(walls):5.2f} s  cpu {min(cpus):5.2f} s  "
              f"(load {os.getloadavg()[0]:.1f})", flush=True)
    return out


def bench_backlog(db: Path, runs: int) -> tuple[float, int, float]:
    from deskpulse.analytics.backlog import build_backlog_daily
    from deskpulse.store import open_store

    store = open_store(str(db))
    repo = store.tenant("default")
    times, cpus, rows = [], [], 0
    for _ in range(runs):
        c0, t = time.process_time(), time.perf_counter()
        s = build_backlog_daily(repo)
        times.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c0)
        rows = s.rows
        span = (s.start_date, s.end_date)
    store.close()
    print(f"  backlog_daily {span[0]} → {span[1]} × 5 dimensions: {rows:,} rows, "
          f"best {min(times):.2f} s (median {statistics.median(times):.2f} s, "
          f"cpu {min(cpus):.2f} s, load {os.getloadavg()[0]:.1f})")
    return min(times), rows, min(cpus)


# --- the pandas row-loop baseline ----------------------------------------------------------------


def baseline(db: Path) -> tuple[float, dict[str, Any]]:
    """Response times overall and backlog per day ('all'), with Python loops over rows."""
    import duckdb
    import pandas as pd

    con = duckdb.connect(str(db), read_only=True)
    tables = {
        name: con.sql(f"SELECT * FROM {name} WHERE tenant_id = 'default'").df()
        for name in ("tickets", "ticket_metrics", "ticket_sla", "ticket_segments")
    }
    as_of = con.execute("SELECT as_of FROM build_state").fetchall()[0][0]
    con.close()
    t = time.perf_counter()
    tickets = tables["tickets"]
    tickets = tickets[tickets["deleted_at"].isna()]
    metrics = {r.ticket_id: r for r in tables["ticket_metrics"].itertuples()}
    replies = []
    met = missed = 0
    for r in tables["ticket_sla"].itertuples():
        if r.metric == "first_response":
            if r.status == "met":
                met += 1
            elif r.status in ("breached", "active_breached"):
                missed += 1
    for tk in tickets.itertuples():
        m = metrics.get(tk.ticket_id)
        if m is not None and not pd.isna(m.first_reply_calendar_minutes):
            replies.append(float(m.first_reply_calendar_minutes))
    replies.sort()
    mean = sum(replies) / len(replies)
    median = replies[len(replies) // 2] if len(replies) % 2 else (
        replies[len(replies) // 2 - 1] + replies[len(replies) // 2]) / 2
    first_day = tickets["created_at"].min().date()
    last_day = as_of.date()
    open_by_day: dict[date, int] = defaultdict(int)
    arrivals: dict[date, int] = defaultdict(int)
    completions: dict[date, int] = defaultdict(int)
    created = {r.ticket_id: r.created_at for r in tickets.itertuples()}
    previous: dict[str, str] = {}
    segs = tables["ticket_segments"].sort_values(["ticket_id", "segment"])
    for s in segs.itertuples():
        if s.ticket_id not in created:
            continue
        prev = previous.get(s.ticket_id)
        previous[s.ticket_id] = s.status
        if s.status in ("solved", "closed") and (prev is None or prev not in ("solved", "closed")):
            completions[s.started_at.date()] += 1
        if s.status in ("solved", "closed"):
            continue
        ended = s.ended_at if not pd.isna(s.ended_at) else None
        day = max(s.started_at.date(), first_day)
        last = min(ended.date(), last_day) if ended is not None else last_day
        while day <= last:  # is the ticket open just before the end of this day?
            end = min(datetime.combine(day + timedelta(days=1), datetime.min.time()),
                      as_of + timedelta(seconds=1))
            if s.started_at < end and (ended is None or ended >= end):
                open_by_day[day] += 1
            day += timedelta(days=1)
    for c in created.values():
        if c <= as_of:
            arrivals[c.date()] += 1
    seconds = time.perf_counter() - t
    return seconds, {
        "first_reply_mean": round(mean, 6),
        "first_reply_median": round(median, 6),
        "fr_met": met,
        "fr_missed": missed,
        "open": {d: open_by_day.get(d, 0) for d in _days(first_day, last_day)},
        "arrivals": {d: arrivals.get(d, 0) for d in _days(first_day, last_day)},
        "completions": {d: completions.get(d, 0) for d in _days(first_day, last_day)},
    }


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def library(db: Path) -> tuple[float, dict[str, Any]]:
    from deskpulse.analytics.backlog import compute_backlog_daily
    from deskpulse.analytics.filters import Filters
    from deskpulse.analytics.resolution import response_times
    from deskpulse.config import load_config
    from deskpulse.store import open_store

    store = open_store(str(db))
    repo = store.tenant("default")
    cfg = load_config(CONFIG)
    t = time.perf_counter()
    rt = response_times(repo, Filters(), cfg.thresholds, by=[]).overall
    rows = compute_backlog_daily(repo, dimensions=["all"]).to_pylist()
    seconds = time.perf_counter() - t
    store.close()
    return seconds, {
        "first_reply_mean": rt.first_reply_mean_calendar_minutes,
        "first_reply_median": rt.first_reply_median_calendar_minutes,
        "fr_met": rt.first_response_sla_met,
        "fr_missed": rt.first_response_sla_missed,
        "open": {r["date"]: r["open_count"] for r in rows},
        "arrivals": {r["date"]: r["arrivals"] for r in rows},
        "completions": {r["date"]: r["completions"] for r in rows},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--prepare-only", action="store_true")
    ap.add_argument("--no-marts", action="store_true", help="read the built tables only")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--before-src", type=Path, default=None,
                    help="also time the commands of another source tree (e.g. `git archive HEAD src | "
                         "tar -x -C /tmp/old` then /tmp/old/src), alternately with this one")
    ap.add_argument("--before-no-marts", action="store_true",
                    help="with --before-src: the other tree reads the built tables only (no marts)")
    ap.add_argument("--only", action="append", default=[], metavar="TEXT",
                    help="time only the commands containing TEXT, e.g. 'resolution' (repeatable)")
    ap.add_argument("--skip-backlog", action="store_true", help="leave out backlog_daily (in process)")
    args = ap.parse_args()
    db = prepare(args.tickets)
    small = prepare(10_000, 180)
    if args.prepare_only:
        return
    work = db.with_name("work.duckdb")
    shutil.copy(db, work)
    print(f"store: {db} ({args.tickets:,} tickets over {DAYS} days), {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}")
    start = process_start(args.runs)
    print(f"python process start + import deskpulse.cli and what the analytics commands import: "
          f"wall {start[0]:.2f} s, cpu {start[1]:.2f} s")
    wall_m, cpu_m, marts = write_marts(work)
    print(f"analytics marts (build_analytics_marts): {marts.ticket_facts_rows:,} ticket_facts rows, "
          f"{marts.backlog_daily_rows:,} backlog_daily rows in {wall_m:.1f} s (cpu {cpu_m:.1f} s)")
    if args.no_marts:
        drop_marts(work)
        print("marts emptied: the commands read the built tables only")
    if args.before_src:
        before_db = db.with_name("before.duckdb")
        shutil.copy(db, before_db)
        if not args.before_no_marts:  # the other tree writes its own marts (else it reads inline)
            c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(
                [sys.executable, "-c", "import sys; from deskpulse.analytics.facts import "
                 "build_analytics_marts; from deskpulse.store import open_store; "
                 "s = open_store(sys.argv[1]); build_analytics_marts(s.tenant('default')); s.close()",
                 str(before_db)],
                check=True, env={**os.environ, "PYTHONPATH": str(args.before_src)})
            c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            print(f"before: marts written by {args.before_src} "
                  f"(cpu {c1.ru_utime - c0.ru_utime + c1.ru_stime - c0.ru_stime:.1f} s)")
        print(f"before ({args.before_src}) vs after (this tree), alternately:")
        bench_before_after(work, before_db, args.before_src, args.runs, args.only)
        before_db.unlink(missing_ok=True)
    print("CLI commands, end to end (fresh process each, --format json):")
    cli = bench_cli(work, args.runs, args.only)
    backlog_s, backlog_rows, backlog_cpu = 0.0, 0, 0.0
    if not args.skip_backlog:
        print("backlog_daily (in process):")
        backlog_s, backlog_rows, backlog_cpu = bench_backlog(work, args.runs)

    if args.skip_baseline:
        summary_table(cli, start, backlog_s, backlog_rows, backlog_cpu, None)
        work.unlink(missing_ok=True)
        return
    print("pandas row-loop baseline vs library on 10k tickets (response times + backlog 'all'):")
    base_s, base = baseline(small)
    lib_s, lib = library(small)
    same = base == lib
    print(f"  baseline {base_s:.2f} s, library {lib_s:.3f} s, ratio {base_s / lib_s:,.0f}×, "
          f"identical results: {'yes' if same else 'NO'}")
    if not same:
        for key in base:
            if base[key] != lib[key]:
                print(f"    differs: {key}")
    summary_table(cli, start, backlog_s, backlog_rows, backlog_cpu, (base_s, lib_s))
    work.unlink(missing_ok=True)


def process_start(runs: int) -> tuple[float, float]:
    """Best wall and CPU seconds of a bare process that imports what the analytics commands
    import before any query (the CLI, the store, the config, the analytics modules)."""
    code = ("import deskpulse.cli, deskpulse.store, deskpulse.config, deskpulse.settings, "
            "deskpulse.analytics.resolution, deskpulse.analytics.backlog, "
            "deskpulse.analytics.bottlenecks, deskpulse.analytics.agents")
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        walls.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return min(walls), min(cpus)


def summary_table(cli: list[tuple[str, float, float, float]], start: tuple[float, float],
                  backlog_s: float, backlog_rows: int, backlog_cpu: float,
                  base: tuple[float, float] | None) -> None:
    """The run's figures against the issue's targets (wall, process start included)."""
    print()
    print(f"Targets (issue 5): each command ≤ 2 s end to end including process start, "
          f"backlog_daily 2 y × 5 dims ≤ 3 s. Load average now {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores: above ~2 the wall times are inflated, compare CPU seconds.")
    print()
    print("| what | wall best (s) | wall median (s) | CPU (s) | target | met (wall) |")
    print("|---|---|---|---|---|---|")
    print(f"| process start + imports (no query) | {start[0]:.2f} | | {start[1]:.2f} | – | – |")
    for name, best, med, cpu in cli:
        print(f"| `deskpulse {name}` | {best:.2f} | {med:.2f} | {cpu:.2f} | ≤ 2 s | "
              f"{'yes' if best <= 2.0 else 'NO'} |")
    if backlog_rows:  # not with --skip-backlog
        print(f"| backlog_daily {backlog_rows:,} rows (2 y × 5 dims) | {backlog_s:.2f} | | {backlog_cpu:.2f} | "
              f"≤ 3 s | {'yes' if backlog_s <= 3.0 else 'NO'} |")
    if base is not None:
        print(f"| 10k baseline / library | {base[0]:.2f} / {base[1]:.3f} | | | "
              f"ratio {base[0] / base[1]:,.0f}× | |")


if __name__ == "__main__":
    main()
