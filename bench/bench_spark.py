"""Benchmark the Spark build against the DuckDB build on the same data, in one run.

Usage: python bench/bench_spark.py [--tickets 100000] [--master local[2]] [--skip-duckdb]

Generated sample data (seed 11, 180 days; the import is cached under bench/.cache/ and shared
with bench_build.py) is imported into DuckDB once. Then, in one run: the DuckDB build (full
SLA build + backlog_daily, the embedded engine), ``export-lake``, and the Spark build of the
lake on ``--master`` (results written back to the lake as Parquet). Each phase prints wall
time and CPU time (user + system of the whole process tree: the Spark JVM and its Python
workers included — the steadier figure on a shared machine), tickets per second, tickets per
second per core, and the Spark/DuckDB ratio. The results are checked equal (row counts and
exact sums of every minute column).

What scales: the Spark build runs the same engine per group of whole tickets, so its
per-core throughput is close to the embedded engine's minus the fixed costs (JVM start,
Python worker start and imports per task, Arrow transfer, the shuffle that groups tickets
with their events, Parquet I/O). On one machine DuckDB wins; Spark wins when the data or
the tenants outgrow one machine, and its throughput grows with executors (docs/scaling.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import pyarrow.compute as pc
import pyarrow.dataset as ds

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "demo" / "deskpulse.yaml"
T = TypeVar("T")


def tree_cpu_s(pid: int | None = None) -> float:
    """User + system CPU seconds of this process and all its descendants (reaped ones too)."""
    tick = os.sysconf("SC_CLK_TCK")
    pid = pid or os.getpid()
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        p = int(d.name)
        stats[p] = fields
        children.setdefault(int(fields[1]), []).append(p)
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        f = stats.get(p)
        if f:  # utime, stime, cutime, cstime are fields 14-17 of stat (11-14 after the name)
            total += sum(int(x) for x in f[11:15]) / tick
        todo += children.get(p, [])
    return total


def timed(fn: Callable[[], T]) -> tuple[T, float, float]:
    w, c = time.perf_counter(), tree_cpu_s()
    out = fn()
    return out, time.perf_counter() - w, tree_cpu_s() - c


def imported_store(n: int) -> Path:
    """The imported DuckDB store of ``n`` generated tickets (shared cache with bench_build)."""
    from deskpulse.pipeline import import_files
    from deskpulse.sample.generate import generate
    from deskpulse.store import open_store

    shared = ROOT / "bench" / ".cache" / f"build_{n}" / "imported.duckdb"
    if shared.exists():
        return shared
    cache = ROOT / "bench" / ".cache" / f"spark_{n}"
    data, db = cache / "data", cache / "imported.duckdb"
    if not (data / "events.csv").exists():
        generate(n, 11, data, start=date(2026, 5, 4), days=180)
    if not db.exists():
        with open_store(str(db)) as store:
            import_files(store.tenant("default"), data / "tickets.csv", data / "events.csv")
    return db


def sums(tables: dict[str, Any]) -> dict[str, Any]:
    """Row counts and exact sums of the minute columns (a cheap equality fingerprint)."""
    out: dict[str, Any] = {}
    for name, t in tables.items():
        out[name] = t.num_rows
        for c in t.column_names:
            if c.endswith("_minutes") or c in ("open_count", "arrivals", "completions", "at_risk_count"):
                out[f"{name}.{c}"] = round(float(pc.sum(t.column(c)).as_py() or 0), 6)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickets", type=int, default=100_000)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--buckets", type=int, default=None, help="groups per tenant (default: auto)")
    ap.add_argument("--skip-duckdb", action="store_true")
    args = ap.parse_args()

    from deskpulse.analytics.backlog import build_backlog_daily
    from deskpulse.config import load_config
    from deskpulse.sla.build import build
    from deskpulse.spark.jobs import build_lake_on_spark
    from deskpulse.spark.lake import export_lake, read_result
    from deskpulse.spark.session import spark_session
    from deskpulse.store import open_store

    base = imported_store(args.tickets)
    work_dir = ROOT / "bench" / ".cache" / f"spark_run_{args.tickets}"
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    work = work_dir / "work.duckdb"
    shutil.copy(base, work)
    cfg = load_config(CONFIG)
    cores = os.cpu_count() or 1
    store = open_store(str(work))
    repo = store.tenant("default")
    as_of = repo.scalar("SELECT max(event_at) FROM ticket_events")
    n_tickets = int(repo.scalar("SELECT count(*) FROM tickets WHERE deleted_at IS NULL"))
    n_events = int(repo.scalar("SELECT count(*) FROM ticket_events"))
    print(f"data: {n_tickets:,} tickets, {n_events:,} events, as_of {as_of}, {cores} cores", flush=True)

    duck_wall = duck_cpu = None
    if not args.skip_duckdb:
        def duck() -> None:
            build(repo, cfg, as_of=as_of, full=True)
            build_backlog_daily(repo, as_of=as_of)

        _, duck_wall, duck_cpu = timed(duck)
        print(f"duckdb build (+backlog): {duck_wall:.2f} s wall, {duck_cpu:.2f} s CPU, "
              f"{n_tickets / duck_wall:,.0f} tickets/s, {n_tickets / duck_cpu:,.0f} tickets/s per core", flush=True)
    lake = work_dir / "lake"
    _, ex_wall, ex_cpu = timed(lambda: export_lake(store, str(lake), ["default"]))
    print(f"export-lake: {ex_wall:.2f} s wall, {ex_cpu:.2f} s CPU", flush=True)

    spark, st_wall, st_cpu = timed(lambda: spark_session(args.master, conf={
        "spark.driver.memory": "2g", "spark.sql.shuffle.partitions": "8"}))
    print(f"spark session ({args.master}): {st_wall:.2f} s wall", flush=True)
    result, sp_wall, sp_cpu = timed(lambda: build_lake_on_spark(
        spark, str(lake), cfg, tenants=["default"], as_of=as_of, buckets=args.buckets))
    spark_cores = int(spark.sparkContext.defaultParallelism)
    print(f"spark build ({args.master}, {result['buckets']} buckets, lake -> lake): {sp_wall:.2f} s wall, "
          f"{sp_cpu:.2f} s CPU, {n_tickets / sp_wall:,.0f} tickets/s, "
          f"{n_tickets / sp_wall / spark_cores:,.0f} tickets/s per core (wall), "
          f"{n_tickets / sp_cpu:,.0f} tickets per CPU-second", flush=True)
    print(f"  of which: read + compute (cached) {result['compute_seconds']:.2f} s, "
          f"write results {result['write_seconds']:.2f} s (wall)")
    if duck_wall and duck_cpu:
        print(f"ratio spark/duckdb: wall {sp_wall / duck_wall:.2f}x, CPU {sp_cpu / duck_cpu:.2f}x")
        mine = {n: read_result(str(lake), n, "default") for n in ("ticket_metrics", "ticket_sla", "backlog_daily")}
        theirs = {n: repo.query(f"SELECT * FROM {n}") for n in mine}  # noqa: S608 - fixed names
        same = sums(mine) == sums(theirs)
        print(f"results equal (counts and exact minute sums): {same}")
        if not same:
            sys.exit(1)
    sizes = {n: sum(f.stat().st_size for f in (lake / n).rglob("*.parquet")) for n in ("tickets", "ticket_events")}
    print(f"lake inputs: tickets {sizes['tickets'] / 1e6:.1f} MB, events {sizes['ticket_events'] / 1e6:.1f} MB; "
          f"results {sum(f.stat().st_size for f in (lake / 'results').rglob('*.parquet')) / 1e6:.1f} MB")
    print(f"rows in result partitions: {ds.dataset(lake / 'results' / 'ticket_sla', format='parquet').count_rows():,} ticket_sla")
    spark.stop()
    store.close()
    shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
