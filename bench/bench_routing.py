"""Benchmark auto-assignment (issue 8) against a naive workload count, in one run.

Run: python bench/bench_routing.py [--tickets 1000000] [--backend duckdb|postgres] [--calls 100]

Loads N synthetic tickets (50 agents, 20 of them available, six statuses), then times
``deskpulse.routing.auto_assign`` on fresh tickets: one set-based candidates query (workload
per available agent in the database) inside the tenant lock, plus the writes. The naive
baseline does what a hand-written router does: read every unsolved ticket's assignee into
Python, count per agent, pick the minimum. Prints wall and CPU per call, the ratio, and checks
that both pick an agent with the same (lowest) workload.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from deskpulse.model import TICKET_SCHEMA
from deskpulse.routing import AgentStatus, auto_assign, set_availability
from deskpulse.store import open_store

PG = "postgresql://postgres@127.0.0.1:5432/test"
T0 = datetime(2026, 1, 1)
STATUSES = np.array(["new", "open", "pending", "hold", "solved", "closed"])
AGENTS = np.array([f"agt-{i:03d}" for i in range(50)])


def tickets(n: int, prefix: str, *, status: str | None = None, seed: int = 1) -> pa.Table:
    rng = np.random.default_rng(seed)
    data = {c: pa.nulls(n, TICKET_SCHEMA.field(c).type) for c in TICKET_SCHEMA.names}
    data["ticket_id"] = pa.array([f"{prefix}{i:07d}" for i in range(n)])
    created = (np.datetime64(T0, "s") + rng.integers(0, 300 * 86400, n).astype("timedelta64[s]"))
    data["created_at"] = pa.array(created.astype("datetime64[us]"))
    data["updated_at"] = data["created_at"]
    if status is None:
        data["status"] = pa.array(STATUSES[rng.integers(0, 6, n)])
        data["assignee_id"] = pa.array(AGENTS[rng.integers(0, 50, n)])
    else:
        data["status"] = pa.array([status] * n)
    data["category"] = pa.array(np.array(["billing", "technical", "account"])[rng.integers(0, 3, n)])
    return pa.table(data, schema=TICKET_SCHEMA)


def naive_pick(repo, available: list[str]) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    rows = repo.rows("SELECT assignee_id FROM tickets WHERE status IN ('new', 'open', 'pending', 'hold') "
                     "AND deleted_at IS NULL")
    load = Counter(a for (a,) in rows if a is not None)
    best = min(available, key=lambda a: (load[a], a))
    return best, load[best]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--backend", choices=["duckdb", "postgres"], default="duckdb")
    ap.add_argument("--calls", type=int, default=100)
    args = ap.parse_args()

    schema = None
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend == "postgres":
            import psycopg

            schema = "dp_bench_" + uuid.uuid4().hex[:8]
            with psycopg.connect(PG, autocommit=True) as c:
                c.execute(f"CREATE SCHEMA {schema}")
            url = f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
        else:
            url = str(Path(tmp) / "bench.duckdb")
        store = open_store(url)
        try:
            repo = store.tenant("bench")
            w = time.perf_counter()
            repo.upsert_tickets(tickets(args.tickets, "T-"), T0)
            repo.upsert_tickets(tickets(args.calls * 2, "NEW-", status="new", seed=2), T0)
            print(f"{store.dialect}: loaded {args.tickets:,} tickets in {time.perf_counter() - w:.1f} s")
            if schema is not None:
                import psycopg

                with psycopg.connect(PG, autocommit=True) as c:
                    c.execute(f"VACUUM ANALYZE {schema}.tickets")
            available = [str(a) for a in AGENTS[:20]]
            for a in available:
                set_availability(repo, a, AgentStatus.available, now=T0 + timedelta(days=400))

            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(args.calls):
                auto_assign(repo, f"NEW-{i:07d}", now=T0 + timedelta(days=400, seconds=i))
            ours_wall = (time.perf_counter() - wall) / args.calls
            ours_cpu = (time.process_time() - cpu) / args.calls

            calls = max(3, args.calls // 10)
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(calls):
                pick, load = naive_pick(repo, available)
            naive_wall = (time.perf_counter() - wall) / calls
            naive_cpu = (time.process_time() - cpu) / calls

            pick, load = naive_pick(repo, available)
            d = auto_assign(repo, f"NEW-{args.calls:07d}", now=T0 + timedelta(days=401))
            agree = d.workload == load  # both find the same lowest workload
        finally:
            store.close()
            if schema is not None:
                import psycopg

                with psycopg.connect(PG, autocommit=True) as c:
                    c.execute(f"DROP SCHEMA {schema} CASCADE")
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"auto_assign (set-based, locked, with writes): {ours_wall * 1000:.1f} ms wall, "
          f"{ours_cpu * 1000:.1f} ms CPU per call")
    print(f"naive (read every unsolved assignee, count in Python, no writes): {naive_wall * 1000:.1f} ms wall, "
          f"{naive_cpu * 1000:.1f} ms CPU per call")
    print(f"speed-up (wall): {naive_wall / ours_wall:.1f}x · same lowest workload: {agree} · peak RSS {rss_gb:.2f} GB")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
