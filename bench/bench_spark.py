"""Benchmark the Spark build against the DuckDB build on the same data, in one run.

Usage: python bench/bench_spark.py [--tickets 1000000 4000000] [--master local[2]] [--no-local] [--no-cluster]
                                   [--partitions N] [--skip-duckdb] [--json out.json]

Without arguments (``make bench``): 1M and 4M tickets, local[2] and the standalone cluster.

Per size: generated sample data (seed 11, 180 days; the import is cached under bench/.cache/
and shared with bench_build.py). A size of k million (k > 1) without a store of its own is
the 1M store's tickets and events copied k times with suffixed ticket ids: the per-ticket work
is identical, so the growth factor between sizes measures scaling only. Then, in one
run: the DuckDB build (full SLA build + backlog_daily, the embedded engine), ``export-lake``,
the Spark build of the lake on ``--master`` (results written back to the lake as Parquet) and,
with ``--cluster``, the same build on a standalone cluster started here (a master and two
workers, 1 core and 2 GB each, from pyspark's bin/spark-class on free localhost ports;
stopped by pid afterwards). Each phase prints wall time and CPU time (user + system of the
whole process tree: the Spark JVMs and Python workers included — the steadier figure on a
shared machine), tickets per second, per core, per CPU-second, the ratio to DuckDB, and the
growth factor between sizes. The results of every Spark run are checked equal to DuckDB's
(row counts and exact sums of every minute column).

What scales: the Spark build runs the same engine per group of whole tickets, so its
per-core throughput is close to the embedded engine's minus the fixed costs (JVM start,
Python worker start and imports per task, Arrow transfer, the shuffle that groups tickets
with their events, Parquet I/O). On one machine DuckDB wins; Spark wins when the data or
the tenants outgrow one machine, and its throughput grows with executors (docs/scaling.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import pyarrow.compute as pc
import pyarrow.dataset as ds

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "demo" / "deskpulse.yaml"
T = TypeVar("T")


def tree_cpu(pid: int | None = None) -> dict[str, float]:
    """User + system CPU seconds of this process (``self``) and its descendants, reaped ones
    included, by kind: ``java`` (Spark JVMs) and ``python`` (Spark's Python workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    pid = pid or os.getpid()
    children: dict[int, list[int]] = {}
    stats: dict[int, tuple[str, list[str]]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            text = (d / "stat").read_text()
        except OSError:
            continue
        comm, fields = text[text.index("(") + 1:text.rindex(")")], text.rsplit(")", 1)[1].split()
        p = int(d.name)
        stats[p] = (comm, fields)
        children.setdefault(int(fields[1]), []).append(p)
    out = {"self": 0.0, "java": 0.0, "python": 0.0, "other": 0.0}
    todo = [pid]
    while todo:
        p = todo.pop()
        if p in stats:  # utime, stime, cutime, cstime are fields 14-17 of stat (11-14 after the name)
            comm, f = stats[p]
            kind = "self" if p == pid else "java" if comm == "java" else "python" if "python" in comm else "other"
            out[kind] += sum(int(x) for x in f[11:15]) / tick
        todo += children.get(p, [])
    return out


def tree_cpu_s(pid: int | None = None) -> float:
    """User + system CPU seconds of this process and all its descendants (reaped ones too)."""
    return sum(tree_cpu(pid).values())


LAST_SPLIT: dict[str, float] = {}


def tree_rss_mb(pid: int | None = None) -> float:
    """Resident memory (MB) of this process and its live descendants."""
    pid = pid or os.getpid()
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            pages = int((d / "statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        p = int(d.name)
        rss[p] = pages * page
        children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(p)
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += children.get(p, [])
    return total / 1e6


def timed(fn: Callable[[], T]) -> tuple[T, float, float]:
    """``fn()``, its wall seconds and the process tree's CPU seconds (split in LAST_SPLIT; the
    tree's peak resident memory, sampled every second, in LAST_SPLIT["peak_rss_mb"])."""
    peak = [tree_rss_mb()]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(1.0):
            peak[0] = max(peak[0], tree_rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    w, c = time.perf_counter(), tree_cpu()
    try:
        out = fn()
    finally:
        done.set()
        sampler.join()
    wall, c2 = time.perf_counter() - w, tree_cpu()
    LAST_SPLIT.clear()
    LAST_SPLIT.update({k: c2[k] - c.get(k, 0.0) for k in c2})
    cpu = sum(LAST_SPLIT.values())
    LAST_SPLIT["peak_rss_mb"] = peak[0]
    return out, wall, cpu


def imported_store(n: int) -> Path:
    """The imported DuckDB store of ``n`` generated tickets (shared cache with bench_build)."""
    from deskpulse.pipeline import import_files
    from deskpulse.sample.generate import generate
    from deskpulse.store import open_store

    shared = ROOT / "bench" / ".cache" / f"build_{n}" / "imported.duckdb"
    # bench_build.py writes its store in place: use it only once it is finished (no WAL, idle)
    if shared.exists() and not shared.with_suffix(".duckdb.wal").exists() and time.time() - shared.stat().st_mtime > 300:
        return shared
    cache = ROOT / "bench" / ".cache" / f"spark_{n}"
    data, db = cache / "data", cache / "imported.duckdb"
    if db.exists():
        return db
    unit = 1_000_000
    if n > unit and n % unit == 0:
        return replicated_store(imported_store(unit), n // unit, db)
    if not (data / "events.csv").exists():
        generate(n, 11, data, start=date(2026, 5, 4), days=180)
    tmp = db.with_suffix(".importing")
    tmp.unlink(missing_ok=True)
    with open_store(str(tmp)) as store:  # renamed when complete: a killed run leaves no half store
        import_files(store.tenant("default"), data / "tickets.csv", data / "events.csv")
    tmp.rename(db)
    return db


def replicated_store(base: Path, copies: int, db: Path) -> Path:
    """``base``'s tickets and events ``copies`` times (ticket ids suffixed ``~k``, event seq
    shifted): k times the data with exactly the same per-ticket work."""
    import duckdb

    db.parent.mkdir(parents=True, exist_ok=True)
    tmp = db.with_suffix(".tmp")
    shutil.copy(base, tmp)
    con = duckdb.connect(str(tmp))
    try:
        con.execute("CREATE TEMP TABLE t0 AS SELECT * FROM tickets")
        con.execute("CREATE TEMP TABLE e0 AS SELECT * FROM ticket_events")
        step = int(con.execute("SELECT max(seq) + 1 FROM e0").fetchall()[0][0])
        for k in range(1, copies):
            con.execute("INSERT INTO tickets SELECT * REPLACE (ticket_id || $s AS ticket_id) FROM t0", {"s": f"~{k}"})
            con.execute("INSERT INTO ticket_events SELECT * REPLACE (ticket_id || $s AS ticket_id, seq + $o AS seq) "
                        "FROM e0", {"s": f"~{k}", "o": k * step})
        con.execute("CHECKPOINT")
    finally:
        con.close()
    tmp.rename(db)
    return db


def sums(tables: dict[str, Any]) -> dict[str, Any]:
    """Row counts and exact sums of the minute columns (a cheap equality fingerprint).

    Minutes are whole seconds / 60, so each value is summed as its integer number of seconds:
    a float sum would depend on the row order of the two sides."""
    import pyarrow as pa

    out: dict[str, Any] = {}
    for name, t in tables.items():
        out[name] = t.num_rows
        for c in t.column_names:
            if c.endswith("_minutes"):
                secs = pc.cast(pc.round(pc.multiply(pc.cast(t.column(c), pa.float64()), 60.0)), pa.int64())
                out[f"{name}.{c}"] = int(pc.sum(secs).as_py() or 0)
            elif c in ("open_count", "arrivals", "completions", "at_risk_count"):
                out[f"{name}.{c}"] = int(pc.sum(t.column(c)).as_py() or 0)
    return out


@dataclass
class Phase:
    """One measured phase of one size."""

    tickets: int
    phase: str
    wall_s: float
    cpu_s: float
    cores: int
    note: str = ""

    @property
    def per_s(self) -> float:
        return self.tickets / self.wall_s

    @property
    def per_core_s(self) -> float:
        return self.per_s / self.cores

    @property
    def per_cpu_s(self) -> float:
        return self.tickets / self.cpu_s if self.cpu_s else 0.0


def report(p: Phase, duck: Phase | None) -> None:
    if p.phase.endswith("session start"):
        print(f"  {p.phase}: {p.wall_s:.1f} s wall, {p.cpu_s:.1f} s CPU (JVM start; not in the build figures)")
        return
    ratio = f", {p.wall_s / duck.wall_s:.2f}x wall / {p.cpu_s / duck.cpu_s:.2f}x CPU of DuckDB" if duck else ""
    print(f"  {p.phase}: {p.wall_s:.1f} s wall, {p.cpu_s:.1f} s CPU, {p.per_s:,.0f} tickets/s, "
          f"{p.per_core_s:,.0f} tickets/s per core ({p.cores} cores), {p.per_cpu_s:,.0f} tickets per CPU-second"
          f"{ratio}{(' — ' + p.note) if p.note else ''}", flush=True)


CLUSTER_WORKERS = 2
CLUSTER_CONF = {  # the driver asks for both executors and waits for them before running tasks
    "spark.executor.cores": "1",
    "spark.cores.max": str(CLUSTER_WORKERS),
    "spark.scheduler.minRegisteredResourcesRatio": "1.0",
    "spark.scheduler.maxRegisteredResourcesWaitingTime": "120s",
}


def spark_phase(n: int, name: str, master: str, conf: dict[str, str], cores: int, lake: Path, cfg: Any,
                as_of: Any, args: argparse.Namespace, expected: dict[str, Any] | None) -> list[Phase]:
    """Session start, then the lake build on ``master``, results checked against DuckDB's."""
    from deskpulse.spark.jobs import build_lake_on_spark
    from deskpulse.spark.lake import read_result
    from deskpulse.spark.session import spark_session

    shutil.rmtree(lake / "results", ignore_errors=True)
    spark, st_wall, st_cpu = timed(lambda: spark_session(master, app_name=f"bench-{name}", conf=conf))
    try:
        result, wall, cpu = timed(lambda: build_lake_on_spark(
            spark, str(lake), cfg, tenants=["default"], as_of=as_of, buckets=args.buckets,
            tickets_per_group=args.tickets_per_group))
    finally:
        spark.stop()
    split = dict(LAST_SPLIT)
    note = (f"{result['spark_groups']} groups of <= {result['spark_tickets_per_group']:,} tickets in "
            f"{result['spark_partitions']} partitions; read + compute {result['compute_seconds']:.1f} s, "
            f"write {result['write_seconds']:.1f} s wall; CPU: JVMs {split['java']:.1f} s, "
            f"Python workers {split['python']:.1f} s, driver Python {split['self']:.1f} s; "
            f"peak RSS of the process tree {split['peak_rss_mb'] / 1000:.1f} GB")
    if expected is not None:
        mine = {t: read_result(str(lake), t, "default") for t in expected_tables()}
        same = sums(mine) == expected
        note += f"; results equal DuckDB's: {same}"
        if not same:
            print(f"  {name}: RESULTS DIFFER", file=sys.stderr)
            sys.exit(1)
    return [Phase(n, f"{name} session start", st_wall, st_cpu, cores),
            Phase(n, f"{name} build", wall, cpu, cores, note)]


def expected_tables() -> tuple[str, ...]:
    return ("ticket_metrics", "ticket_sla", "backlog_daily")


def run_size(n: int, args: argparse.Namespace, cores: int) -> list[Phase]:
    from deskpulse.analytics.backlog import build_backlog_daily
    from deskpulse.config import load_config
    from deskpulse.sla.build import build
    from deskpulse.spark.cluster import start_cluster
    from deskpulse.spark.lake import export_lake
    from deskpulse.store import open_store

    base = imported_store(n)
    work_dir = ROOT / "bench" / ".cache" / f"spark_run_{n}"
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    work = work_dir / "work.duckdb"
    shutil.copy(base, work)
    cfg = load_config(CONFIG)
    phases: list[Phase] = []
    store = open_store(str(work))
    try:
        repo = store.tenant("default")
        as_of = repo.scalar("SELECT max(event_at) FROM ticket_events")
        n_tickets = int(repo.scalar("SELECT count(*) FROM tickets WHERE deleted_at IS NULL"))
        n_events = int(repo.scalar("SELECT count(*) FROM ticket_events"))
        print(f"== {n:,} generated: {n_tickets:,} live tickets, {n_events:,} events, as_of {as_of}, "
              f"{cores} cores", flush=True)
        duck = expected = None
        if not args.skip_duckdb:
            def duck_build() -> None:
                build(repo, cfg, as_of=as_of, full=True)
                build_backlog_daily(repo, as_of=as_of)

            _, wall, cpu = timed(duck_build)
            duck = Phase(n_tickets, "duckdb build (+backlog)", wall, cpu, cores)
            report(duck, None)
            phases.append(duck)
            expected = sums({t: repo.query(f"SELECT * FROM {t}") for t in expected_tables()})  # noqa: S608
        lake = work_dir / "lake"
        _, wall, cpu = timed(lambda: export_lake(store, str(lake), ["default"]))
        phases.append(Phase(n_tickets, "export-lake", wall, cpu, cores))
        report(phases[-1], None)
    finally:
        store.close()
    # the build chooses its groups and partitions from the data size and the heap of a task
    # (deskpulse.spark.layout); --partitions only sets spark.sql.shuffle.partitions (the writes)
    local_conf = {"spark.driver.memory": args.driver_memory}
    if args.partitions:
        local_conf["spark.sql.shuffle.partitions"] = str(args.partitions)
    local_cores = int(args.master.split("[")[1].rstrip("]")) if args.master.startswith("local[") and \
        args.master[6:-1].isdigit() else cores
    for p in (spark_phase(n_tickets, f"spark {args.master}", args.master, local_conf, local_cores, lake, cfg,
                          as_of, args, expected) if args.local else []):
        report(p, duck if p.phase.endswith("build") else None)
        phases.append(p)
    if args.cluster:
        cluster, wall, cpu = timed(lambda: start_cluster(work_dir / "cluster", workers=CLUSTER_WORKERS, cores=1,
                                                         memory=args.worker_memory))
        print(f"  standalone cluster up ({cluster.master_url}, pids "
              f"{[p.pid for p in cluster.processes.values()]}): {wall:.1f} s wall", flush=True)
        try:
            conf = {**local_conf, **CLUSTER_CONF, "spark.driver.memory": args.cluster_driver_memory,
                    "spark.executor.memory": args.executor_memory}
            for p in spark_phase(n_tickets, "spark standalone 2x1", cluster.master_url, conf, CLUSTER_WORKERS,
                                 lake, cfg, as_of, args, expected):
                report(p, duck if p.phase.endswith("build") else None)
                phases.append(p)
            ran = {w: cluster.tasks_run(w) for w in cluster.workers}
            print(f"  tasks per worker: {ran}", flush=True)
        finally:
            cluster.stop()
    sizes = {t: sum(f.stat().st_size for f in (lake / t).rglob("*.parquet")) for t in ("tickets", "ticket_events")}
    print(f"  lake: tickets {sizes['tickets'] / 1e6:.1f} MB, events {sizes['ticket_events'] / 1e6:.1f} MB; results "
          f"{sum(f.stat().st_size for f in (lake / 'results').rglob('*.parquet')) / 1e6:.1f} MB; ticket_sla rows "
          f"{ds.dataset(lake / 'results' / 'ticket_sla', format='parquet').count_rows():,}", flush=True)
    shutil.rmtree(work_dir, ignore_errors=True)
    return phases


def growth(phases: list[Phase]) -> None:
    """Time growth between consecutive sizes, per phase (linear: equal to the size factor)."""
    by_phase: dict[str, list[Phase]] = {}
    for p in phases:
        by_phase.setdefault(p.phase, []).append(p)
    for name, ps in by_phase.items():
        if "session start" in name:  # a fixed cost (and a reused session at the second size)
            continue
        for a, b in zip(ps, ps[1:], strict=False):
            k = b.tickets / a.tickets
            print(f"  {name}: {a.tickets:,} -> {b.tickets:,} tickets ({k:.2f}x): wall {b.wall_s / a.wall_s:.2f}x, "
                  f"CPU {b.cpu_s / a.cpu_s:.2f}x; tickets per CPU-second {a.per_cpu_s:,.0f} -> {b.per_cpu_s:,.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickets", type=int, nargs="+", default=[1_000_000, 4_000_000],
                    help="sizes, measured one after the other (default: 1M and 4M, as make bench runs it)")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--local", action=argparse.BooleanOptionalAction, default=True,
                    help="run on --master (default; --no-local measures only the cluster)")
    ap.add_argument("--cluster", action=argparse.BooleanOptionalAction, default=True,
                    help="also run on a 2-worker standalone cluster (default; --no-cluster skips it)")
    ap.add_argument("--buckets", type=int, default=None, help="groups of the tenant (default: auto)")
    ap.add_argument("--tickets-per-group", type=int, default=None,
                    help="group size (default: auto, from the heap of one task: 25k tickets per GB)")
    ap.add_argument("--partitions", type=int, default=None,
                    help="spark.sql.shuffle.partitions for the writes (default: Spark's; the build sets the "
                         "group stage's partitions itself)")
    ap.add_argument("--driver-memory", default="4g", help="driver heap on --master (local: shared by its cores)")
    ap.add_argument("--cluster-driver-memory", default="1g", help="driver heap of the cluster run")
    ap.add_argument("--worker-memory", default="2g", help="memory of each standalone worker")
    ap.add_argument("--executor-memory", default="2g", help="heap of each cluster executor (1 core)")
    ap.add_argument("--skip-duckdb", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="also write the phases as JSON here")
    args = ap.parse_args()

    cores = os.cpu_count() or 1
    phases: list[Phase] = []
    for n in args.tickets:
        phases += run_size(n, args, cores)
    if len(args.tickets) > 1:
        print("== growth between sizes")
        growth(phases)
    if args.json:
        args.json.write_text(json.dumps([{**asdict(p), "tickets_per_s": p.per_s, "tickets_per_s_per_core": p.per_core_s,
                                          "tickets_per_cpu_s": p.per_cpu_s} for p in phases], indent=1))


if __name__ == "__main__":
    main()
