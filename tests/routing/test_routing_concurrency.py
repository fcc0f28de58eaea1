"""Auto-assignment under concurrency: balanced, no lost update, no double assignment.

- PostgreSQL, several processes: the app under uvicorn with 3 workers on a free port; 20
  simultaneous ``POST /api/v1/tickets/{id}/assign/auto`` (threads released by one barrier)
  end with every ticket assigned once and the agents' unsolved workloads within one of each
  other; then 40 simultaneous requests for 20 tickets (each twice): exactly 20 succeed, the
  others answer 409, and every ticket has one decision.
- PostgreSQL, the advisory lock alone: 20 threads on 20 connections of one process with the
  process lock disabled — the transaction-scoped advisory lock still serialises them.
- DuckDB (one process): 20 threads on one store (transaction + process lock).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import deskpulse.routing.locks as locks
from deskpulse.routing import AgentStatus, auto_assign, set_availability
from deskpulse.store import Store, TenantStore, open_store
from tests.api.conftest import SECRET, headers
from tests.routing.conftest import T0, add_tickets, drop_schema, pg_schema_url

AGENTS = ("a1", "a2", "a3", "a4")
START_LOAD = {"a1": 2, "a2": 1}  # unequal start: the new tickets must fill the gap first


def seed(repo: TenantStore, n: int, prefix: str = "N") -> None:
    existing = [dict(ticket_id=f"W-{u}-{i}", status="open", assignee_id=u)
                for u, k in START_LOAD.items() for i in range(k)]
    add_tickets(repo, [*existing, *(dict(ticket_id=f"{prefix}-{i:02d}") for i in range(n))])
    for u in AGENTS:
        set_availability(repo, u, AgentStatus.available)


def check_balanced(repo: TenantStore, prefix: str, n: int, assigned_before: int = 0) -> None:
    owners = dict(repo.rows(f"SELECT ticket_id, assignee_id FROM tickets WHERE ticket_id LIKE '{prefix}-%'"))  # noqa: S608
    assert len(owners) == n and all(owners.values()), owners
    decisions = Counter(t for (t,) in repo.rows(
        f"SELECT ticket_id FROM routing_decisions WHERE ticket_id LIKE '{prefix}-%'"))  # noqa: S608
    assert set(decisions.values()) == {1} and len(decisions) == n  # one decision per ticket, none lost
    load = dict(repo.rows(
        "SELECT assignee_id, count(*) FROM tickets WHERE status IN ('new', 'open', 'pending', 'hold') "
        "AND assignee_id IS NOT NULL GROUP BY assignee_id"))
    assert set(load) == set(AGENTS)
    assert max(load.values()) - min(load.values()) <= 1, load  # least-loaded, never a stale snapshot
    assert sum(load.values()) == assigned_before + n + sum(START_LOAD.values())


def fire(n: int, call: Callable[[int], Any]) -> list[Any]:
    """Run ``call(i)`` for i < n in n threads released at the same instant."""
    barrier = threading.Barrier(n)
    out: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            out[i] = call(i)
        except Exception as exc:  # collected and asserted by the test
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def pg_server(pg_available: bool, tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """uvicorn with 3 worker processes running the app factory (what ``deskpulse serve --workers 3``
    runs) on a fresh PostgreSQL schema: (base URL, store URL, log). uvicorn's CLI rather than
    ``deskpulse serve`` only for ``--timeout-worker-healthcheck``: on a loaded machine a worker
    still importing after uvicorn's default 5 s is killed and restarted."""
    schema, url = pg_schema_url()
    open_store(url).close()  # migrate once, before the workers start (as `deskpulse serve` does)
    port = _free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "DESKPULSE_JWT_SECRET": SECRET, "DESKPULSE_DATABASE_URL": url}
    env.pop("DESKPULSE_TENANT", None)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "deskpulse.serve.app:create_app", "--factory", "--workers", "3",
             "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--timeout-worker-healthcheck", "120"],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code in (200, 503) and \
                        log.read_text().count("Application startup complete") >= 3:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the server did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield base, url, log
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        drop_schema(schema)


@pytest.mark.postgres
def test_20_simultaneous_auto_assigns_across_3_worker_processes(pg_server: tuple[str, str, Path]) -> None:
    base, url, log = pg_server
    tenant = "conc"
    store = open_store(url, migrate=False)
    try:
        repo = store.tenant(tenant)
        seed(repo, 20)
        auth = headers(tenant, "agent", subject="dispatcher")
        with httpx.Client(base_url=base, timeout=60, limits=httpx.Limits(max_connections=40)) as http:
            answers = fire(20, lambda i: http.post(f"/api/v1/tickets/N-{i:02d}/assign/auto", headers=auth))
            assert [getattr(a, "status_code", a) for a in answers] == [200] * 20
            pids = {line for line in log.read_text().splitlines() if "Started server process" in line}
            assert len(pids) >= 3, log.read_text()  # three worker processes served
            check_balanced(repo, "N", 20)
            # double submission: each of 20 more tickets requested twice at the same instant
            add_tickets(repo, [dict(ticket_id=f"R-{i:02d}") for i in range(20)])
            answers = fire(40, lambda i: http.post(f"/api/v1/tickets/R-{i // 2:02d}/assign/auto", headers=auth))
        codes = Counter(getattr(a, "status_code", a) for a in answers)
        assert codes == {200: 20, 409: 20}, codes
        assert all(a.json()["error"]["code"] == "conflict" for a in answers if a.status_code == 409)
        check_balanced(repo, "R", 20, assigned_before=20)
    finally:
        store.close()


@pytest.mark.postgres
def test_the_advisory_lock_alone_serialises_connections(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locks, "_process_lock", lambda url, tenant: threading.Lock())  # a new lock: no help
    first = open_store(pg_url)
    stores: list[Store] = [first, *(open_store(pg_url, migrate=False) for _ in range(19))]
    try:
        seed(first.tenant("adv"), 20)
        out = fire(20, lambda i: auto_assign(stores[i].tenant("adv"), f"N-{i:02d}"))
        assert not [o for o in out if isinstance(o, Exception)], out
        check_balanced(first.tenant("adv"), "N", 20)
    finally:
        for s in stores:
            s.close()


def test_20_threads_on_duckdb(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "conc.duckdb"))
    try:
        repo = store.tenant(f"t-{uuid.uuid4().hex[:6]}")
        seed(repo, 20)
        out = fire(20, lambda i: auto_assign(repo, f"N-{i:02d}", now=None))
        assert not [o for o in out if isinstance(o, Exception)], out
        check_balanced(repo, "N", 20)
        add_tickets(repo, [dict(ticket_id=f"R-{i:02d}") for i in range(20)], loaded_at=T0)
        out = fire(40, lambda i: auto_assign(repo, f"R-{i // 2:02d}"))
        assert Counter(type(o).__name__ for o in out) == {"Decision": 20, "ConflictError": 20}
        check_balanced(repo, "R", 20, assigned_before=20)
    finally:
        store.close()
