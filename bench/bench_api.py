"""Benchmark the HTTP API under load: tenant stats and the ticket list, on DuckDB and PostgreSQL.

Usage:
    python bench/bench_api.py [--tenants 10] [--tickets 10000] [--clients 50] [--duration 20]
                              [--backend duckdb|postgres|both] [--plans FILE]

Generates ``--tenants`` sample helpdesks of ``--tickets`` tickets each (deskpulse.sample,
cached under bench/.cache/api_*), imports and builds them into a DuckDB file and (with
``--backend postgres|both``) into a PostgreSQL schema (DESKPULSE_BENCH_PG_URL, default the
local server's ``test`` database, schema ``bench_api_<tenants>x<tickets>``). Then, per
backend, it starts the server on 127.0.0.1 (``deskpulse serve``: one process on DuckDB,
``--workers`` processes on PostgreSQL) and runs a bounded async load loop: ``--clients``
concurrent httpx clients for ``--duration`` seconds, each request for a random tenant with
that tenant's token. Phases: stats (cache on, the shipped configuration), the overview's
figures (``/api/v1/metrics/overview``), the ticket list (first pages, filtered pages, cursor
pages), and stats with the cache off (every request computes in the database). It prints
p50/p95/p99/max, throughput and errors per phase, plus single-client latencies, the
server-side histogram (one process) and the server's CPU time (user+sys of all its processes,
from /proc) per phase and per request. On PostgreSQL it also prints EXPLAIN ANALYZE of the stats and
ticket-list queries (captured from the API code itself) without and with the indexes of
migration 0003, and writes them to ``--plans`` (default build/bench_api_plans.md).

Loopback only; the load generator shares the machine with the server (2 cores here), so its
own CPU use is part of every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache"
CONFIG = ROOT / "examples" / "demo" / "deskpulse.yaml"
SECRET = "bench-secret-" + "s" * 40
PG_URL = os.environ.get("DESKPULSE_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PYTHON = sys.executable
LOADGEN = "python"  # or "wrk" (--loadgen)


def app_factory() -> Any:
    """uvicorn --factory target for the cache-off phase (DESKPULSE_BENCH_STATS_CACHE=0)."""
    from deskpulse.serve.app import create_app

    return create_app(stats_cache=os.environ.get("DESKPULSE_BENCH_STATS_CACHE", "1") != "0")


# --- data ---------------------------------------------------------------------------------------


def tenant_names(n: int) -> list[str]:
    return [f"tenant{i:02d}" for i in range(n)]


def sample_files(tenants: int, tickets: int) -> dict[str, tuple[Path, Path]]:
    from deskpulse.sample.generate import generate

    out: dict[str, tuple[Path, Path]] = {}
    for i, name in enumerate(tenant_names(tenants)):
        d = CACHE / f"api_data_{tickets}" / name
        if not (d / "events.parquet").exists():
            t = time.perf_counter()
            generate(tickets, 100 + i, d, days=180, tenant_hint=name, fmt="parquet")
            print(f"  generated {tickets:,} tickets for {name} in {time.perf_counter() - t:.1f} s", flush=True)
        out[name] = (d / "tickets.parquet", d / "events.parquet")
    return out


def load(url: str, files: dict[str, tuple[Path, Path]]) -> None:
    """Import and build every tenant that the store does not hold yet."""
    from deskpulse.config import load_config
    from deskpulse.pipeline import import_files, utcnow
    from deskpulse.sla.build import build
    from deskpulse.store import open_store

    cfg = load_config(CONFIG)
    store = open_store(url)
    try:
        for name, (tickets, events) in files.items():
            repo = store.tenant(name)
            if repo.count("ticket_metrics"):
                continue
            t = time.perf_counter()
            s = import_files(repo, tickets, events)
            b = build(repo, cfg, as_of=utcnow())
            print(f"  {name}: imported {s.tickets_inserted:,} tickets / {s.events_inserted:,} events, "
                  f"built {b.sla_rows:,} SLA rows in {time.perf_counter() - t:.1f} s", flush=True)
    finally:
        store.close()


def pg_schema_url(schema: str) -> str:
    import psycopg

    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as con:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


# --- server -------------------------------------------------------------------------------------


class Server:
    """A server subprocess on 127.0.0.1:port, stopped with SIGTERM."""

    def __init__(self, args: list[str], env: dict[str, str], port: int, log: Path) -> None:
        self.port = port
        self.log = log.open("w")
        self.proc = subprocess.Popen(args, env={**os.environ, **env}, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=ROOT, start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early, see {log}")
            try:
                # our server answers /health with our store; anything else on the port is not ours
                r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                if r.status_code == 200 and self.proc.poll() is None:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"server did not become healthy, see {log}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def process_cpu_seconds(session: int) -> float:
    """user+sys CPU seconds of every process of a session (the server and its workers), from /proc."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session:  # field 6 of stat: the session id
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def free_port() -> int:
    """A TCP port nobody listens on now (other servers may run on this machine)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, port: int, workers: int, cache: bool) -> Server:
    env = {"DESKPULSE_JWT_SECRET": SECRET, "DESKPULSE_DATABASE_URL": url, "DESKPULSE_BENCH_STATS_CACHE": "1" if cache else "0"}
    log = ROOT / "build" / f"bench_api_server_{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    if cache:  # the shipped path: `deskpulse serve`
        deskpulse = str(Path(PYTHON).with_name("deskpulse"))
        args = [deskpulse, "serve", "--port", str(port), "--workers", str(workers), "--no-access-log"]
    elif workers == 1:
        args = [PYTHON, "-m", "uvicorn", "bench_api:app_factory", "--factory", "--app-dir", str(ROOT / "bench"),
                "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"]
    else:  # the same worker launcher as `deskpulse serve` (uvicorn's own lacks TCP_NODELAY)
        code = (f"import sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); "
                "from deskpulse.cli.serve import run_workers; "
                f"run_workers('bench_api:app_factory', host='127.0.0.1', port={port}, workers={workers}, "
                "log_level='warning', access_log=False)")
        args = [PYTHON, "-c", code]
    return Server(args, env, port, log)


# --- load ---------------------------------------------------------------------------------------


@dataclass
class Result:
    label: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    sample_error: str = ""
    server: tuple[float, float] | None = None  # server-side p50/p95 from /metrics (bucket bounds)
    server_cpu: float | None = None  # CPU seconds (user+sys) of the server's processes during the phase
    summary: tuple[int, float, float, float, float] | None = None  # wrk: requests, p50, p95, p99, max (s)

    def row(self) -> str:
        lat = sorted(self.latencies)

        def pct(p: float) -> float:
            return lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))] * 1000

        if self.summary is not None:  # wrk measured it: its own percentiles
            n, p50, p95, p99, top = self.summary
            figures = (n, p50 * 1000, p95 * 1000, p99 * 1000, top * 1000)
        elif lat:
            figures = (len(lat), pct(50), pct(95), pct(99), lat[-1] * 1000)
        else:
            return f"| {self.label} | 0 | – | – | – | – | – | – | – | {self.errors} |"

        def bound(ms: float) -> str:
            return "> 10000" if ms == float("inf") else ("–" if ms != ms else f"≤ {ms:g}")

        n = figures[0]
        server = f"{bound(self.server[0])} / {bound(self.server[1])}" if self.server else "–"
        cpu = "–"
        if self.server_cpu is not None:
            cpu = f"{self.server_cpu:.1f} s · {1000 * self.server_cpu / max(n, 1):.2f} ms/req"
        return (f"| {self.label} | {n:,} | {n / self.seconds:,.0f} | {figures[1]:.1f} | {figures[2]:.1f} | "
                f"{figures[3]:.1f} | {figures[4]:.1f} | {server} | {cpu} | {self.errors} |")


Request = Callable[[random.Random], tuple[str, dict[str, Any], str]]


def tokens(tenants: list[str]) -> dict[str, str]:
    from deskpulse.serve.auth import create_token

    return {t: create_token(SECRET, tenant_id=t, role="viewer") for t in tenants}


def stats_request(tenants: list[str]) -> Request:
    def make(rng: random.Random) -> tuple[str, dict[str, Any], str]:
        t = rng.choice(tenants)
        return f"/tenants/{t}/stats", {}, t
    return make


def overview_request(tenants: list[str]) -> Request:
    """The overview's figures (``/api/v1/metrics/overview``) over the dashboard's ranges."""
    variants: list[dict[str, Any]] = [{"days": 30}, {"days": 30}, {"days": 7}, {"days": 90}]

    def make(rng: random.Random) -> tuple[str, dict[str, Any], str]:
        t = rng.choice(tenants)
        return "/api/v1/metrics/overview", rng.choice(variants), t
    return make


def list_request(tenants: list[str], cursors: dict[str, str]) -> Request:
    variants: list[dict[str, Any]] = [
        {"limit": 50}, {"limit": 50}, {"limit": 50, "status": "open"}, {"limit": 50, "priority": "urgent"},
        {"limit": 50, "sort": "-updated_at"}, {"limit": 50, "status": ["open", "pending"], "group": "Billing"},
    ]

    def make(rng: random.Random) -> tuple[str, dict[str, Any], str]:
        t = rng.choice(tenants)
        if rng.random() < 0.25 and t in cursors:
            return "/api/v1/tickets", {"limit": 50, "cursor": cursors[t]}, t
        return "/api/v1/tickets", rng.choice(variants), t
    return make


async def run_load(base: str, toks: dict[str, str], make: Request, clients: int, duration: float,
                   label: str, seed: int = 7) -> Result:
    """``clients`` workers, each with its own keep-alive connection (one httpx client each:
    a shared pool of 50 connections costs httpx several ms of CPU per request)."""
    result = Result(label)
    deadline = time.perf_counter() + duration

    async def worker(i: int) -> None:
        rng = random.Random(seed * 1000 + i)
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            while time.perf_counter() < deadline:
                path, params, tenant = make(rng)
                started = time.perf_counter()
                try:
                    r = await client.get(path, params=params, headers={"Authorization": f"Bearer {toks[tenant]}"})
                    ok = r.status_code == 200
                    if not ok and not result.sample_error:
                        result.sample_error = f"{r.status_code} {r.text[:200]}"
                except httpx.HTTPError as exc:
                    ok = False
                    result.sample_error = result.sample_error or repr(exc)
                if ok:
                    result.latencies.append(time.perf_counter() - started)
                else:
                    result.errors += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(clients)))
    result.seconds = time.perf_counter() - began
    return result


def warm(base: str, toks: dict[str, str], overview: bool, cache: bool = True) -> dict[str, str]:
    """One request of each kind per tenant (the slow overviews first: the stats cache keeps an
    answer 30 s); returns each tenant's second-page cursor."""
    cursors = {}
    with httpx.Client(base_url=base, timeout=600) as c:
        for t, tok in toks.items() if overview else ():
            h = {"Authorization": f"Bearer {tok}"}
            for days in (7, 30, 90):
                started = time.perf_counter()
                ov = c.get("/api/v1/metrics/overview", params={"days": days}, headers=h)
                assert ov.status_code == 200, f"{t}: {ov.status_code} {ov.text[:300]}"
                if t == sorted(toks)[0]:
                    print(f"  cold overview ({t}, {days} days): {1000 * (time.perf_counter() - started):.0f} ms",
                          flush=True)
        for t, tok in toks.items():
            h = {"Authorization": f"Bearer {tok}"}
            # every worker process keeps its own cache: ask on new connections (any worker
            # may accept one) until six answers in a row were hits, so that no worker starts
            # the load phases cold (a cold stats computation: 0.5-2 s on PostgreSQL)
            hits = 0
            for _ in range(60):
                r = c.get(f"/tenants/{t}/stats", headers={**h, "Connection": "close"})
                assert r.status_code == 200, f"{t}: {r.status_code} {r.text[:300]}"
                hits = hits + 1 if r.headers.get("X-Stats-Cache") == "hit" else 0
                if hits >= 6 or not cache:  # without the cache every answer is a miss
                    break
            page = c.get("/api/v1/tickets", params={"limit": 50}, headers=h)
            assert page.status_code == 200, page.text
            if page.json()["next_cursor"]:
                cursors[t] = page.json()["next_cursor"]
    return cursors


def _child(base: str, toks: dict[str, str], kind: str, cursors: dict[str, str], clients: int, duration: float,
           seed: int) -> tuple[list[float], int, str, float]:
    tenants = sorted(toks)
    make = (stats_request(tenants) if kind == "stats" else overview_request(tenants) if kind == "overview"
            else list_request(tenants, cursors))
    r = asyncio.run(run_load(base, toks, make, clients, duration, kind, seed))
    return r.latencies, r.errors, r.sample_error, r.seconds


WRK_SCRIPT = """
local reqs = {%s}
local i = 0
request = function()
  i = i %% #reqs + 1
  local r = reqs[i]
  return wrk.format("GET", r[1], {["Authorization"] = "Bearer " .. r[2]})
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %%d %%d %%d %%d %%d %%d %%d\\n", summary.requests,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def wrk_phase(base: str, toks: dict[str, str], kind: str, cursors: dict[str, str], clients: int,
              duration: float, label: str) -> Result:
    """The same requests driven by wrk (C, 2 threads, keep-alive): a load generator that takes
    far less CPU from the server than the Python one."""
    import json
    import tempfile
    from urllib.parse import urlencode

    tenants = sorted(toks)
    make = (stats_request(tenants) if kind == "stats" else overview_request(tenants) if kind == "overview"
            else list_request(tenants, cursors))
    rng = random.Random(7)
    items = []
    for _ in range(400):
        path, params, tenant = make(rng)
        query = urlencode(params, doseq=True)
        target = json.dumps(path + (f"?{query}" if query else ""))
        items.append("{" + target + ", " + json.dumps(toks[tenant]) + "}")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT % ", ".join(items))
        script = f.name
    threads = max(1, min(2, clients))
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{clients}", f"-d{duration:.0f}s", "--timeout", "60s",
                          "-s", script, base], capture_output=True, text=True, check=True).stdout
    os.unlink(script)
    line = next(ln for ln in out.splitlines() if ln.startswith("WRK "))
    n, p50, p95, p99, top, errors, status = (int(v) for v in line.split()[1:])
    result = Result(label, errors=errors + status, seconds=duration)
    result.summary = (n, p50 / 1e6, p95 / 1e6, p99 / 1e6, top / 1e6)
    return result


def load_phase(base: str, toks: dict[str, str], kind: str, cursors: dict[str, str], clients: int,
               duration: float, procs: int, label: str) -> Result:
    """``clients`` concurrent clients spread over ``procs`` load processes (one event loop
    cannot drive 50 httpx clients on this machine without becoming the bottleneck)."""
    from concurrent.futures import ProcessPoolExecutor

    if LOADGEN == "wrk":
        return wrk_phase(base, toks, kind, cursors, clients, duration, label + " (wrk)")
    procs = max(1, min(procs, clients))
    shares = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    result = Result(label)
    with ProcessPoolExecutor(procs) as pool:
        futures = [pool.submit(_child, base, toks, kind, cursors, n, duration, 7 + i) for i, n in enumerate(shares)]
        for f in futures:
            lat, errors, sample, seconds = f.result()
            result.latencies += lat
            result.errors += errors
            result.sample_error = result.sample_error or sample
            result.seconds = max(result.seconds, seconds)
    return result


def server_buckets(base: str, route: str) -> list[tuple[float, int]]:
    """The cumulative latency histogram of a route, from the server's /metrics."""
    import re

    # after a cache-off phase with 50 clients the server still works off queued computations
    # (each 0.5-2 s, the thread pool full): /metrics answers after them, which can take a minute
    text = httpx.get(f"{base}/metrics", timeout=300).text
    pattern = (r'deskpulse_http_request_duration_seconds_bucket\{method="GET",route="' + re.escape(route)
               + r'",le="([^"]+)"\} (\d+)')
    return [(float("inf") if le == "+Inf" else float(le), int(n)) for le, n in re.findall(pattern, text)]


def server_percentiles(before: list[tuple[float, int]], after: list[tuple[float, int]]) -> tuple[float, float]:
    """p50/p95 (ms, as bucket upper bounds) of the requests between two snapshots."""
    old = dict(before)
    diff = [(le, n - old.get(le, 0)) for le, n in after]
    total = diff[-1][1] if diff else 0
    if total <= 0:
        return float("nan"), float("nan")

    def pct(p: float) -> float:
        return next((le for le, n in diff if n >= p * total), float("inf")) * 1000

    return pct(0.5), pct(0.95)


def phases(base: str, tenants: list[str], clients: int, duration: float, cache: bool, label: str,
           procs: int, workers: int, session: int, overview: bool) -> list[Result]:
    toks = tokens(tenants)
    cursors = warm(base, toks, overview and cache, cache)
    suffix = "" if cache else ", cache off"
    out = []
    kinds = [("stats", "stats", "/tenants/{tenant_id}/stats")]
    if cache:
        kinds += [("overview", "overview", "/api/v1/metrics/overview")] if overview else []
        kinds += [("ticket list", "list", "/api/v1/tickets")]
    for kind, key, route in kinds:
        for n, seconds, nprocs in ((1, min(duration, 5), 1), (clients, duration, procs)):
            before = server_buckets(base, route) if workers == 1 else []  # /metrics is per process
            cpu = process_cpu_seconds(session)
            r = load_phase(base, toks, key, cursors, n, seconds, nprocs,
                           f"{label} {kind}, {n} client{'s' if n > 1 else ''}{suffix}")
            r.server_cpu = process_cpu_seconds(session) - cpu
            if workers == 1:
                r.server = server_percentiles(before, server_buckets(base, route))
            out.append(r)
    for r in out:
        if r.sample_error:
            print(f"  {r.label}: first error: {r.sample_error}", flush=True)
    return out


# --- EXPLAIN ------------------------------------------------------------------------------------


def migration_indexes() -> Any:
    """The migration module 0003 (its INDEXES and index_ddl)."""
    path = ROOT / "src" / "deskpulse" / "store" / "migrations" / "versions" / "0003_api_indexes.py"
    spec = importlib.util.spec_from_file_location("api_indexes", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def captured_queries(url: str, tenant: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, SQL, params) of the stats and ticket-list queries, recorded from the API code."""
    from deskpulse.serve.routes import stats, tickets
    from deskpulse.serve.routes._shared import utcnow
    from deskpulse.store import TenantStore, open_store

    seen: list[tuple[str, str, dict[str, Any]]] = []

    class Recorder(TenantStore):
        label = ""

        def query(self, sql: str, **params: Any) -> Any:
            seen.append((self.label, sql, params))
            return super().query(sql, **params)

        def rows(self, sql: str, **params: Any) -> Any:
            seen.append((self.label, sql, params))
            return super().rows(sql, **params)

    store = open_store(url, migrate=False)
    try:
        repo = Recorder(store, tenant)
        now = utcnow()
        repo.label = "stats"
        stats.data_version(repo)
        stats.compute_stats(repo, start=None, stop=None, trend_last=now.replace(minute=0, second=0), top=10)
        for label, q_args, cursor in (
            ("list: first page", {}, None),
            ("list: status=open", {"status": [tickets.Status.open]}, None),
            ("list: second page (cursor)", {}, "next"),
        ):
            repo.label = label
            q = tickets._filters(repo, status=q_args.get("status"), priority=None, urgency=None, group=None,
                                 assignee=None, requester=None, channel=None, category=None, brand=None, region=None,
                                 tier=None, organization=None, sla_status=None, created_from=None, created_to=None,
                                 include_deleted=False)
            first = tickets.ticket_page(repo, q, sort=tickets.Sort.newest, limit=50, cursor=None, page=None,
                                        include_total=False)
            if cursor:
                seen.pop()
                tickets.ticket_page(repo, q, sort=tickets.Sort.newest, limit=50, cursor=first.next_cursor,
                                    page=None, include_total=False)
    finally:
        store.close()
    keep = [(label, sql, params) for label, sql, params in seen if "information_schema" not in sql]
    return keep


def explain(url: str, tenant: str, queries: list[tuple[str, str, dict[str, Any]]]) -> list[tuple[str, str, str]]:
    import psycopg

    from deskpulse.store.sql import scoped_sql

    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    out = []
    with psycopg.connect(dsn, autocommit=True) as con:
        for label, sql, params in queries:
            text, bound = scoped_sql(sql, "postgresql", tenant, params)
            for _ in range(2):  # the second run is the warm one we keep
                plan = "\n".join(r[0] for r in con.execute(f"EXPLAIN (ANALYZE, BUFFERS) {text}", bound))
            out.append((label, " ".join(sql.split())[:160], plan))
    return out


def plans(url: str, tenant: str, out: Path) -> None:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    migration = migration_indexes()
    queries = captured_queries(url, tenant)
    with psycopg.connect(dsn, autocommit=True) as con:
        have = {r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'tickets' AND table_schema = current_schema()")}
        for name in migration.INDEXES:
            con.execute(f"DROP INDEX IF EXISTS {name}")
        con.execute("VACUUM ANALYZE tickets")
    before = explain(url, tenant, queries)
    with psycopg.connect(dsn, autocommit=True) as con:
        for name in migration.INDEXES:
            con.execute(migration.index_ddl(name, have))
        con.execute("VACUUM ANALYZE tickets")
    after = explain(url, tenant, queries)
    lines = [f"EXPLAIN (ANALYZE, BUFFERS), tenant {tenant}; before = without the 0003 indexes.\n"]
    print("\n| query | before | after |\n|---|---|---|")
    for (label, sql, p0), (_, _, p1) in zip(before, after, strict=True):
        t0 = next((x for x in p0.splitlines() if "Execution Time" in x), "").split(":")[-1].strip()
        t1 = next((x for x in p1.splitlines() if "Execution Time" in x), "").split(":")[-1].strip()
        print(f"| {label}: `{sql[:70]}…` | {t0} | {t1} |")
        lines += [f"### {label}\n", f"`{sql}`\n", "Before:\n", "```", p0, "```", "After:\n", "```", p1, "```\n"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print(f"\nplans written to {out}")


# --- main ---------------------------------------------------------------------------------------


def bench_backend(label: str, url: str, workers: int, args: argparse.Namespace, overview: bool) -> list[Result]:
    tenants = tenant_names(args.tenants)
    results: list[Result] = []
    for cache in (True, False):
        port = free_port()
        server = start_server(url, port, workers, cache)
        try:
            results += phases(f"http://127.0.0.1:{port}", tenants, args.clients, args.duration, cache, label,
                              args.procs, workers, server.proc.pid, overview)
        finally:
            server.stop()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tenants", type=int, default=10)
    ap.add_argument("--tickets", type=int, default=10_000, help="per tenant")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per load phase")
    ap.add_argument("--backend", choices=["duckdb", "postgres", "both"], default="both")
    ap.add_argument("--workers", type=int, default=None, help="PostgreSQL worker processes (default: deskpulse's)")
    ap.add_argument("--procs", type=int, default=5, help="load-generator processes sharing the clients")
    ap.add_argument("--plans", type=Path, default=ROOT / "build" / "bench_api_plans.md")
    ap.add_argument("--overview", choices=["duckdb", "postgres", "both", "none"], default="duckdb",
                    help="where to load the overview endpoint (a cold overview on PostgreSQL without the "
                         "analytics marts takes minutes per tenant and window)")
    ap.add_argument("--loadgen", choices=["python", "wrk"], default="python",
                    help="load generator: the Python async clients (default) or wrk (apt install wrk)")
    args = ap.parse_args()
    global LOADGEN
    LOADGEN = args.loadgen

    print(f"data: {args.tenants} tenants x {args.tickets:,} tickets", flush=True)
    files = sample_files(args.tenants, args.tickets)
    results: list[Result] = []
    if args.backend in ("duckdb", "both"):
        db = CACHE / f"api_{args.tenants}x{args.tickets}.duckdb"
        load(str(db), files)  # imports and builds only the tenants not loaded yet
        results += bench_backend("DuckDB", str(db), 1, args, args.overview in ("duckdb", "both"))
        print("\n".join(r.row() for r in results), flush=True)  # kept even if a later backend fails
    if args.backend in ("postgres", "both"):
        from deskpulse.cli.serve import default_workers

        url = pg_schema_url(f"bench_api_{args.tenants}x{args.tickets}")
        load(url, files)
        plans(url, tenant_names(args.tenants)[0], args.plans)  # ends with the indexes in place
        workers = args.workers or default_workers("postgresql")
        results += bench_backend(f"PostgreSQL ({workers} workers)", url, workers, args,
                                 args.overview in ("postgres", "both"))

    print(f"\n{args.tenants} tenants x {args.tickets:,} tickets; load: {args.clients} concurrent clients for "
          f"{args.duration:.0f} s per phase (1 client: {min(args.duration, 5):.0f} s), loopback\n")
    print("| phase | requests | req/s | p50 ms | p95 ms | p99 ms | max ms | server p50 / p95 ms | server CPU | errors |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(r.row())
    if any(r.errors for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
