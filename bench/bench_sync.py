"""Benchmark the ingestion service: tickets/s from the helpdesk simulator into each store.

Usage: python bench/bench_sync.py [--tickets 100000] [--page-size 1000] [--pg-url URL] [--no-pg]

Starts the simulator in its own process with its rate limit lifted, seeds one tenant with
N tickets, then for DuckDB (a fresh file) and PostgreSQL (a fresh schema) times, in one run:

* **ingest** — a full job (``SyncService`` + the simulator connector): fetch every page,
  classify, change-detect, write tickets + outbox rows, sweep; tickets per second;
* **re-run** — the same job again with nothing changed (idempotency: every ticket unchanged);
* **baseline** — the same canonical rows written one ``INSERT`` statement per ticket (a sample
  of ``--baseline-rows`` rows, the rate extrapolated), on the same store in the same run.

Targets (issue 7, on the 2-core machine): ≥ 5,000 tickets/s into PostgreSQL, ≥ 20,000/s into
DuckDB. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa

from deskpulse.ingest.sync.connectors.base import HttpClient
from deskpulse.ingest.sync.connectors.simulator import SimulatorConnector
from deskpulse.ingest.sync.service import SyncService
from deskpulse.model import TICKET_COLUMNS
from deskpulse.settings import SyncSettings
from deskpulse.store import Store, open_store

PG_DEFAULT = os.environ.get("DESKPULSE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TARGETS = {"duckdb": 20_000.0, "postgresql": 5_000.0}
TENANT = "bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_simulator(port: int, tickets: int) -> subprocess.Popen[bytes]:
    code = "from deskpulse.cli.main import run; import deskpulse.cli; run()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "simulate-helpdesk", "--port", str(port), "--tickets", "0",
         "--rate-limit", "0", "--churn", "0", "--notify-fail-rate", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(f"{base}/health", timeout=0.5)
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    t = time.perf_counter()
    httpx.post(f"{base}/_sim/tenants/{TENANT}/seed", json={"tickets": tickets}, timeout=300)
    print(f"simulator on {base}: seeded {tickets:,} tickets in {time.perf_counter() - t:.1f} s")
    return proc


def cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of process ``pid`` so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def ingest(store: Store, base: str, page_size: int, sim_pid: int) -> tuple[float, dict[str, Any]]:
    settings = SyncSettings(helpdesk_url=base, sync_rate_limit=0, sync_page_size=page_size,
                            notify_enabled=False)
    svc = SyncService(store, settings)
    await svc.start(sender=False)
    try:
        t, cpu, sim_cpu = time.perf_counter(), time.process_time(), cpu_seconds(sim_pid)
        job = await asyncio.to_thread(svc.runner.start, TENANT, "simulator")
        status = await svc.runner.run(job)
        elapsed = time.perf_counter() - t
        prog = await asyncio.to_thread(svc.runner.progress, TENANT, job.job_id)
        prog["cpu_seconds"] = time.process_time() - cpu
        prog["sim_cpu_seconds"] = cpu_seconds(sim_pid) - sim_cpu
        assert status == "completed", prog
        return elapsed, prog
    finally:
        await svc.stop()


async def fetch_rows(base: str, page_size: int, limit: int) -> pa.Table:
    conn = SimulatorConnector(base, TENANT, page_size=page_size)
    parts = []
    n = 0
    async with httpx.AsyncClient(timeout=60) as client:
        async for page in conn.pages(HttpClient(client), None):
            parts.append(page.tickets)
            n += page.tickets.num_rows
            if n >= limit:
                break
    return pa.concat_tables(parts).slice(0, limit)


def baseline(store: Store, rows: pa.Table) -> float:
    """One INSERT statement per ticket (autocommit), tickets/s."""
    cols = [*TICKET_COLUMNS, "row_hash", "loaded_at", "tenant_id"]
    sql = (f"INSERT INTO tickets ({', '.join(chr(34) + c + chr(34) for c in cols)}) VALUES ("
           + ", ".join(f"$p{i}" for i in range(len(cols))) + ")")
    tenant = f"baseline-{uuid.uuid4().hex[:6]}"
    data = rows.to_pylist()
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    t = time.perf_counter()
    for r in data:
        values = [r[c] for c in TICKET_COLUMNS] + ["-", now, tenant]
        store.execute(sql, {f"p{i}": v for i, v in enumerate(values)})
    return len(data) / (time.perf_counter() - t)


def pg_schema_url(pg_url: str) -> tuple[str, str]:
    import psycopg

    schema = f"bench_sync_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as con:
        con.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in pg_url else "?"
    return f"{pg_url}{sep}options=-csearch_path%3D{schema}", schema


def drop_schema(pg_url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as con:
        con.execute(f"DROP SCHEMA {schema} CASCADE")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickets", type=int, default=100_000)
    ap.add_argument("--page-size", type=int, default=1000)
    ap.add_argument("--baseline-rows", type=int, default=5000)
    ap.add_argument("--pg-url", default=PG_DEFAULT)
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    sim = start_simulator(port, args.tickets)
    results: list[tuple[str, float, float, float]] = []
    try:
        sample = asyncio.run(fetch_rows(base, args.page_size, args.baseline_rows))
        backends: list[tuple[str, str]] = []
        tmp = tempfile.TemporaryDirectory(prefix="bench-sync-")
        backends.append(("duckdb", str(Path(tmp.name) / "bench.duckdb")))
        schema = None
        if not args.no_pg:
            url, schema = pg_schema_url(args.pg_url)
            backends.append(("postgresql", url))
        try:
            for name, url in backends:
                store = open_store(url)
                first, prog = asyncio.run(ingest(store, base, args.page_size, sim.pid))
                again, prog2 = asyncio.run(ingest(store, base, args.page_size, sim.pid))
                assert prog2["tickets"]["unchanged"] == args.tickets, prog2
                base_rate = baseline(store, sample)
                store.close()
                rate = args.tickets / first
                results.append((name, rate, args.tickets / again, base_rate))
                print(f"{name:10s} ingest {args.tickets:,} tickets in {first:6.2f} s = {rate:9,.0f}/s "
                      f"({prog['processed_pages']} pages; CPU {prog['cpu_seconds']:.1f} s here + "
                      f"{prog['sim_cpu_seconds']:.1f} s simulator) · re-run (all unchanged) {again:5.2f} s "
                      f"= {args.tickets / again:9,.0f}/s · one-INSERT-per-row baseline "
                      f"{base_rate:7,.0f}/s → {rate / base_rate:5.1f}× faster")
        finally:
            tmp.cleanup()
            if schema:
                drop_schema(args.pg_url, schema)
    finally:
        sim.terminate()
        sim.wait(10)
    print(f"load average (1/5/15 min): {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} CPUs")
    failed = [n for n, rate, _, _ in results if rate < TARGETS[n]]
    for n, rate, _, _ in results:
        print(f"target {n}: ≥ {TARGETS[n]:,.0f}/s → {'ok' if rate >= TARGETS[n] else 'MISSED'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
