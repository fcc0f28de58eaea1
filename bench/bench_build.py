"""Benchmark the SLA build: full build and a 1 %-changed incremental build on DuckDB.

Usage: python bench/bench_build.py [--tickets 1000000]

Generates the sample data once (cached under bench/.cache/), imports it into a DuckDB file
(cached too), then times in one run: a full build, an incremental build after 1 % of the
tickets received a new event, and a full build again; prints peak RSS. Targets (issue 4, on
the 2-core machine): full ≤ 10 s and incremental ≤ 1 s for 1M tickets / ~10M events.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import time
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from deskpulse.config import load_config
from deskpulse.pipeline import import_files
from deskpulse.sample.generate import generate
from deskpulse.sla.build import build
from deskpulse.store import open_store

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "demo" / "deskpulse.yaml"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tickets", type=int, default=1_000_000)
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
    store = open_store(str(work))
    repo = store.tenant("default")
    as_of = repo.scalar("SELECT max(event_at) FROM ticket_events")

    t = time.perf_counter()
    full = build(repo, cfg, as_of=as_of, full=True)
    full_s = time.perf_counter() - t
    print(f"full build: {full.tickets_recomputed:,} tickets, {full.sla_rows:,} SLA rows in {full_s:.2f} s")

    # 1 % of tickets get one new public agent comment at as_of
    ids = repo.query("SELECT ticket_id FROM tickets ORDER BY ticket_id").column("ticket_id")
    picked = pc.take(ids, pa.array(range(0, len(ids), 100)))
    n = len(picked)
    events = pa.table({
        "ticket_id": picked,
        "event_at": pa.array([as_of] * n, pa.timestamp("s")),
        "kind": ["comment"] * n, "actor": ["agent"] * n, "actor_id": ["bench"] * n,
        "public": [True] * n, "from_value": [None] * n, "to_value": [None] * n, "field": [None] * n,
    })
    ev_path = cache / "delta_events.csv"
    pacsv.write_csv(events, ev_path)
    tickets = repo.query('SELECT ticket_id, created_at, updated_at, status FROM tickets WHERE ticket_id IN (SELECT unnest($ids))', ids=picked.to_pylist())
    tk_path = cache / "delta_tickets.csv"
    pacsv.write_csv(tickets, tk_path)
    t = time.perf_counter()
    imp = import_files(repo, tk_path, ev_path)
    print(f"delta import: {imp.events_inserted:,} events in {time.perf_counter() - t:.2f} s")
    t = time.perf_counter()
    inc = build(repo, cfg, as_of=as_of)
    inc_s = time.perf_counter() - t
    print(f"incremental build ({inc.mode}): {inc.tickets_recomputed:,} tickets recomputed in {inc_s:.2f} s")
    print(f"peak RSS: {rss_mb():,.0f} MB")
    print()
    print("| build | tickets recomputed | seconds | target |")
    print("|---|---|---|---|")
    print(f"| full | {full.tickets_recomputed:,} | {full_s:.2f} | ≤ 10 s at 1M |")
    print(f"| incremental (1 % changed) | {inc.tickets_recomputed:,} | {inc_s:.2f} | ≤ 1 s at 1M |")
    store.close()


if __name__ == "__main__":
    main()
