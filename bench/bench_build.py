"""Benchmark the SLA build: full build and a 1 %-changed incremental build on DuckDB.

Usage: python bench/bench_build.py [--tickets 1000000] [--naive-tickets 2000]

Generates the sample data once (cached under bench/.cache/), imports it into a DuckDB file
(cached too), then times in one run: a full build, an incremental build after 1 % of the
tickets received a new public agent comment (stored directly, not through the import), and
the naive baseline. Each phase prints wall time and CPU time
(user + system of this process, all threads: the steadier figure on a shared machine). Targets
(issue 4, on the 2-core machine): full ≤ 10 s and incremental ≤ 1 s for 1M tickets / ~10M
events, peak RSS ≤ 3 GB.

Naive baseline, same run: the deliberately naive reference implementation of the SLA rules
(``tests/reference/sla_reference.py``: one ticket at a time, business time by walking a
minute table per day) on the first ``--naive-tickets`` tickets of the same data. Its rows are
compared with what the build stored for those tickets (must be equal), and the per-ticket
speed ratio against the full build is printed.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.reference: the naive baseline

from deskpulse.config import load_config  # noqa: E402
from deskpulse.model import EVENT_COLUMNS, TICKET_COLUMNS  # noqa: E402
from deskpulse.pipeline import import_files  # noqa: E402
from deskpulse.sample.generate import generate  # noqa: E402
from deskpulse.sla.build import build, utcnow  # noqa: E402
from deskpulse.store import TenantStore, open_store  # noqa: E402

CONFIG = ROOT / "examples" / "demo" / "deskpulse.yaml"
T = TypeVar("T")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(fn: Callable[[], T]) -> tuple[T, float, float]:
    """(result, wall seconds, CPU seconds) of ``fn()``."""
    w, c = time.perf_counter(), cpu_s()
    out = fn()
    return out, time.perf_counter() - w, cpu_s() - c


def naive_baseline(repo: TenantStore, as_of: Any, n: int) -> tuple[int, float, float, int]:
    """Run the reference implementation on the first ``n`` tickets; returns
    (tickets, wall s, CPU s, differences against the stored build)."""
    from tests.reference import compare_tables
    from tests.reference.sla_reference import compute as reference_compute

    ids = repo.query("SELECT ticket_id FROM tickets ORDER BY ticket_id LIMIT $n", n=n).column("ticket_id")
    id_list = ids.to_pylist()
    tcols = ", ".join(f'"{c}"' for c in TICKET_COLUMNS)
    ecols = ", ".join(f'"{c}"' for c in EVENT_COLUMNS)
    tickets = repo.query(
        f"SELECT {tcols} FROM tickets WHERE deleted_at IS NULL AND ticket_id IN (SELECT unnest($ids))",  # noqa: S608
        ids=id_list,
    ).to_pylist()
    events = repo.query(
        f"SELECT {ecols} FROM ticket_events WHERE event_at <= $as_of "  # noqa: S608
        "AND ticket_id IN (SELECT unnest($ids)) ORDER BY seq",
        ids=id_list, as_of=as_of,
    ).to_pylist()
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    (want_metrics, want_sla), wall, cpu = timed(lambda: reference_compute(tickets, events, config, as_of))
    got_metrics = repo.query(
        "SELECT * FROM ticket_metrics WHERE ticket_id IN (SELECT unnest($ids))", ids=id_list
    ).to_pylist()
    got_sla = repo.query(
        "SELECT * FROM ticket_sla WHERE ticket_id IN (SELECT unnest($ids))", ids=id_list
    ).to_pylist()
    problems = compare_tables("ticket_metrics", want_metrics, got_metrics)
    problems += compare_tables("ticket_sla", want_sla, got_sla)
    for p in problems[:5]:
        print("  naive vs build:", p)
    return len(tickets), wall, cpu, len(problems)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--naive-tickets", type=int, default=2_000, help="tickets for the naive baseline (0: skip)")
    args = ap.parse_args()
    cache = ROOT / "bench" / ".cache" / f"build_{args.tickets}"
    data = cache / "data"
    if not (data / "events.csv").exists():
        t = time.perf_counter()
        generate(args.tickets, 11, data, start=date(2026, 5, 4), days=180)
        print(f"generated {args.tickets:,} tickets in {time.perf_counter() - t:.1f} s")
    base_db = cache / "imported.duckdb"
    if not base_db.exists():
        t = time.perf_counter()
        store = open_store(str(base_db))
        s = import_files(store.tenant("default"), data / "tickets.csv", data / "events.csv")
        store.close()
        print(f"imported {s.tickets_inserted:,} tickets / {s.events_inserted:,} events in {time.perf_counter() - t:.1f} s")
    work = cache / "work.duckdb"
    shutil.copy(base_db, work)
    cfg = load_config(CONFIG)
    rss_before = rss_mb()
    store, open_wall, open_cpu = timed(lambda: open_store(str(work)))
    repo = store.tenant("default")
    as_of = repo.scalar("SELECT max(event_at) FROM ticket_events")
    n_events = int(repo.scalar("SELECT count(*) FROM ticket_events"))

    full, full_wall, full_cpu = timed(lambda: build(repo, cfg, as_of=as_of, full=True))
    print(f"full build: {full.tickets_recomputed:,} tickets, {full.sla_rows:,} SLA rows in "
          f"{full_wall:.2f} s (CPU {full_cpu:.2f} s), peak RSS so far {rss_mb():,.0f} MB", flush=True)

    # the naive baseline checks the full build's rows (before any delta)
    naive = naive_baseline(repo, as_of, args.naive_tickets) if args.naive_tickets else None
    ids = repo.query("SELECT ticket_id FROM tickets ORDER BY ticket_id").column("ticket_id")

    def delta(offset: int, at: Any) -> None:
        """1 % of the tickets (every 100th from ``offset``) get one public agent comment at ``at``,
        stored straight through the store (the build is measured here, not the import path)."""
        picked = pc.take(ids, pa.array(range(offset, len(ids), 100)))
        n = len(picked)
        events = pa.table({
            "ticket_id": picked,
            "event_at": pa.array([at] * n, pa.timestamp("s")),
            "kind": ["comment"] * n, "actor": ["agent"] * n, "actor_id": ["bench"] * n,
            "public": [True] * n, "from_value": [None] * n, "to_value": [None] * n, "field": [None] * n,
        }).append_column("seq", pa.array(range(n), pa.int64()))
        imp, imp_wall, _ = timed(lambda: repo.insert_events(events, utcnow()))
        print(f"delta: {imp.inserted:,} events stored in {imp_wall:.2f} s")

    # same as_of: only the changed tickets can differ
    delta(0, as_of)
    inc, inc_wall, inc_cpu = timed(lambda: build(repo, cfg, as_of=as_of))
    print(f"incremental build ({inc.mode}, same as_of): {inc.tickets_recomputed:,} tickets recomputed in "
          f"{inc_wall:.2f} s (CPU {inc_cpu:.2f} s)", flush=True)
    # as_of one hour later (a scheduled build): tickets with open clocks are recomputed too
    later = as_of + timedelta(hours=1)
    delta(1, later)
    mov, mov_wall, mov_cpu = timed(lambda: build(repo, cfg, as_of=later))
    print(f"incremental build ({mov.mode}, as_of + 1 h): {mov.tickets_recomputed:,} tickets recomputed in "
          f"{mov_wall:.2f} s (CPU {mov_cpu:.2f} s)", flush=True)
    peak = rss_mb()

    store.close()

    print()
    print(f"{args.tickets:,} tickets / {n_events:,} events; open_store {open_wall:.2f} s (CPU {open_cpu:.2f} s); "
          f"peak RSS {peak:,.0f} MB (before the store opened: {rss_before:,.0f} MB)")
    print()
    print("| build | tickets computed | wall s | CPU s | µs CPU / ticket | target |")
    print("|---|---|---|---|---|---|")
    per_ticket = full_cpu / max(full.tickets_recomputed, 1) * 1e6
    print(f"| full | {full.tickets_recomputed:,} | {full_wall:.2f} | {full_cpu:.2f} | {per_ticket:.1f} | ≤ 10 s at 1M |")
    print(f"| incremental (1 % changed, same as_of) | {inc.tickets_recomputed:,} | {inc_wall:.2f} | {inc_cpu:.2f} | "
          f"{inc_cpu / max(inc.tickets_recomputed, 1) * 1e6:.1f} | ≤ 1 s at 1M |")
    print(f"| incremental (1 % changed, as_of + 1 h: open clocks too) | {mov.tickets_recomputed:,} | {mov_wall:.2f} | "
          f"{mov_cpu:.2f} | {mov_cpu / max(mov.tickets_recomputed, 1) * 1e6:.1f} | – |")
    if naive is not None:
        n_naive, naive_wall, naive_cpu, problems = naive
        naive_per = naive_cpu / max(n_naive, 1) * 1e6
        print(f"| naive reference (one ticket at a time) | {n_naive:,} | {naive_wall:.2f} | {naive_cpu:.2f} | "
              f"{naive_per:.1f} | – |")
        print()
        print(f"naive vs full build, CPU per ticket: {naive_per / per_ticket:,.0f}× "
              f"(wall: {naive_wall / max(n_naive, 1) / (full_wall / max(full.tickets_recomputed, 1)):,.0f}×); "
              f"rows equal: {'yes' if problems == 0 else f'NO ({problems} differences)'}")
    print(f"peak RSS: {peak:,.0f} MB (target ≤ 3,072 MB)")


if __name__ == "__main__":
    main()
