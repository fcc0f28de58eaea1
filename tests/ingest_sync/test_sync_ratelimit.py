"""The global outbound limit (60 calls/min across tenants and processes) and 429 handling.

Time is logical wherever a bound is asserted exactly: the limiter and the in-process simulator
share an injected clock (ManualClock, or LockstepClock for concurrent tenants), so a minute of
limiting takes milliseconds and no assertion depends on how fast the machine is. One test
runs real uvicorn worker processes on PostgreSQL to show the limit is shared between them."""

from __future__ import annotations

import asyncio
import heapq
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from deskpulse.ingest.simulator import SimConfig, create_simulator_app
from deskpulse.ingest.sync.clock import ManualClock
from deskpulse.ingest.sync.connectors.base import HttpClient, parse_retry_after
from deskpulse.ingest.sync.connectors.simulator import SimulatorConnector
from deskpulse.ingest.sync.ratelimit import StoreRateLimiter
from deskpulse.store import open_store


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_sliding_window_with_injected_clock(db_url):
    store = open_store(db_url)
    clock = ManualClock()
    limiter = StoreRateLimiter(store, "t", limit=60, window=60.0, margin=0.0, clock=clock)
    other = StoreRateLimiter(store, "t", limit=60, window=60.0, margin=0.0, clock=clock)  # another process

    async def burst() -> list[float]:
        times: list[float] = []

        async def one(lim: StoreRateLimiter) -> None:
            times.append(await lim.acquire())

        for _ in range(5):  # 150 calls arrive at once, from two limiters sharing the table
            await asyncio.gather(*(one(limiter if i % 2 else other) for i in range(30)))
            clock.advance(7.0)
        return times

    times = asyncio.run(burst())
    assert len(times) == 150
    assert max_in_window(times, 60.0) == 60  # never more than 60 in any minute
    assert clock.now() - 1_767_225_600.0 >= 120  # the last 30 had to wait for two windows
    store.close()


def test_retry_after_blocks_every_limiter(db_url):
    store = open_store(db_url)
    clock = ManualClock()
    a = StoreRateLimiter(store, "t", limit=100, window=60.0, clock=clock)
    b = StoreRateLimiter(store, "t", limit=100, window=60.0, clock=clock)
    a.block_sync(12.0)
    start = clock.now()
    asyncio.run(b.acquire())
    assert clock.now() - start == pytest.approx(12.0)
    assert parse_retry_after("7", 0) == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470.0) == 10.0
    assert parse_retry_after("soon", 0) is None
    store.close()


class LockstepClock:
    """Logical time for a fixed set of concurrent participants (a discrete-event simulation):
    time moves only when every live participant is asleep, to the earliest wake-up. So a
    request is sent and received at the same logical instant — no participant can run ahead
    of another still working — and a minute of rate limiting takes milliseconds."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        self.t = start
        self.live = 0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._sleepers, (self.t + max(0.0, seconds), self._seq, fut))
        self._advance()
        await fut

    def _advance(self) -> None:
        if self._sleepers and len(self._sleepers) >= self.live:
            target, _, fut = heapq.heappop(self._sleepers)
            self.t = max(self.t, target)
            fut.set_result(None)

    async def run(self, coro: Any) -> Any:
        """Run ``coro`` as one participant."""
        self.live += 1
        try:
            return await coro
        finally:
            self.live -= 1
            self._advance()


def _fetch_tenants(db_url: str, *, our_limit: int, sim_limit: int, tenants: int, tickets: int,
                   page_size: int) -> tuple[LockstepClock, list[tuple[float, str, int, float | None]],
                                            dict[str, int], float]:
    """``tenants`` tenants paged concurrently through two limiter instances (two "processes")
    sharing one store, against the in-process simulator on the same logical clock."""
    clock = LockstepClock()
    app = create_simulator_app(SimConfig(tickets_per_tenant=0, rate_limit=sim_limit,
                                         rate_window=60.0), clock=clock.now)
    names = [f"t{i}" for i in range(tenants)]
    for name in names:
        app.state.sim.tenant(name, tickets)
    # PostgreSQL: a connection per "process"; DuckDB (embedded, one process) shares its store
    stores = [open_store(db_url)]
    stores.append(open_store(db_url) if stores[0].dialect == "postgresql" else stores[0])
    limiters = [StoreRateLimiter(s, "helpdesk", limit=our_limit, window=60.0, margin=0.0,
                                 clock=clock) for s in stores]
    seen: list[tuple[float, str, int, float | None]] = []  # (at, tenant, status, Retry-After)

    async def record(resp: httpx.Response) -> None:
        ra = resp.headers.get("Retry-After")
        seen.append((clock.now(), resp.request.url.path.split("/")[2], resp.status_code,
                     float(ra) if ra else None))

    async def tenant(i: int, name: str, client: httpx.AsyncClient) -> int:
        http = HttpClient(client, limiter=limiters[i % 2], clock=clock)
        conn = SimulatorConnector("http://sim", name, page_size=page_size)
        return sum([p.tickets.num_rows async for p in conn.pages(http, None)])

    async def go() -> dict[str, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sim",
                                     event_hooks={"response": [record]}) as client:
            counts = await asyncio.gather(*(clock.run(tenant(i, n, client))
                                            for i, n in enumerate(names)))
        return dict(zip(names, counts, strict=True))

    start = clock.now()
    try:
        fetched = asyncio.run(go())
    finally:
        for s in {id(s): s for s in stores}.values():
            s.close()
    return clock, seen, fetched, clock.now() - start


def test_parallel_tenants_never_exceed_60_calls_a_minute(db_url):
    """4 tenants, 2 limiter instances, one shared limit of 60/min; the API allows 60/min."""
    clock, seen, fetched, elapsed = _fetch_tenants(db_url, our_limit=60, sim_limit=60, tenants=4,
                                                   tickets=190, page_size=10)
    assert fetched == {f"t{i}": 190 for i in range(4)}  # every page of every tenant
    assert len(seen) == 4 * 20  # a count call + 19 pages each
    assert [s for s in seen if s[2] != 200] == []  # never refused: we kept under the limit
    assert max_in_window([s[0] for s in seen], 60.0) == 60  # the limit binds, and holds
    assert elapsed >= 60.0  # 80 calls at 60/min take more than a minute (of logical time)


def test_429_retry_after_is_honoured_by_every_tenant(db_url):
    """The API allows only 30/min while we allow ourselves 60: it answers 429 + Retry-After;
    the refused request is repeated after it, and no tenant calls before it has passed."""
    clock, seen, fetched, elapsed = _fetch_tenants(db_url, our_limit=60, sim_limit=30, tenants=3,
                                                   tickets=190, page_size=10)
    assert fetched == {f"t{i}": 190 for i in range(3)}  # refused pages were fetched again
    refused = [s for s in seen if s[2] == 429]
    assert refused and all(s[3] is not None and s[3] >= 1 for s in refused)
    for at, _, _, retry_after in refused:
        assert retry_after is not None
        later = [s[0] for s in seen if s[0] > at]
        assert not later or min(later) >= at + retry_after  # every tenant waited it out
    ok = [s[0] for s in seen if s[2] == 200]
    assert len(ok) == 3 * 20
    assert max_in_window([s[0] for s in seen], 60.0) <= 60  # our own limit still holds
    assert max_in_window(ok, 60.0) <= 30
    assert parse_retry_after("7", 0) == 7.0


@pytest.mark.postgres
def test_parallel_tenants_across_processes_stay_under_the_limit(sim, api_server, pg_url):
    """Real worker processes share one limit through PostgreSQL. The exact bound is proven on
    a logical clock above; here wall time runs, so the limiter's margin (the tolerance for
    the time between our decision and the request's arrival) is generous: a request would
    have to be delayed by more than 1.5 s on loopback for the simulator to see too many."""
    limit, window = 12, 4.0
    tenants = [f"par{i}" for i in range(4)]
    for t in tenants:
        sim.seed(t, 100)  # 5 pages of 20 + a count call each: 24 calls in all
    sim.config(rate_limit=limit, rate_window=window)
    env = {"DESKPULSE_SYNC_RATE_LIMIT": str(limit), "DESKPULSE_SYNC_RATE_WINDOW": str(window),
           "DESKPULSE_SYNC_RATE_MARGIN": "1.5"}
    api = api_server(pg_url, workers=2, **env)

    def run(t: str) -> str:
        with api.client() as c:
            r = c.post("/ingest/run", params={"tenant_id": t}, headers=api.headers(t))
            assert r.status_code == 202, r.text
            job = r.json()["job_id"]
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                st = c.get(f"/ingest/progress/{job}", headers=api.headers(t)).json()
                if st["status"] != "running":
                    return str(st["status"])
                time.sleep(0.2)
        return "timeout"

    with ThreadPoolExecutor(len(tenants)) as pool:
        statuses = list(pool.map(run, tenants))
    assert statuses == ["completed"] * len(tenants)
    log = [c for c in sim.calls() if c[3] in tenants]
    assert len(log) >= 24
    sent = [c[0] for c in log]
    assert max_in_window(sent, window) <= limit  # every call counts, refused ones included
    assert sum(1 for c in log if c[2] == 429) == 0
