"""The global outbound limit: a shared sliding window (injected clock), Retry-After honoured,
and parallel tenants across worker processes never exceeding it at the simulator."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from deskpulse.ingest.sync.clock import ManualClock
from deskpulse.ingest.sync.connectors.base import HttpClient, parse_retry_after
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


def test_429_is_retried_after_retry_after(sim):
    sim.seed("t429", 30)
    sim.config(rate_limit=2, rate_window=1.0)

    async def go() -> tuple[int, int]:
        async with httpx.AsyncClient(base_url=sim.base) as client:
            http = HttpClient(client)
            for _ in range(4):
                r = await http.request("GET", "/t/t429/api/v2/tickets/count.json")
                assert r.status_code == 200
            return http.calls, http.throttled

    t0 = time.monotonic()
    calls, throttled = asyncio.run(go())
    assert throttled >= 1 and calls == 4 + throttled
    assert time.monotonic() - t0 >= 0.9  # waited for Retry-After (1 s) at least once
    log = sim.calls()
    refused = [c for c in log if c[2] == 429]
    for at, *_ in refused:  # after each 429 nothing was sent before Retry-After elapsed
        later = [c[0] for c in log if c[0] > at]
        assert not later or min(later) - at >= 0.95


@pytest.mark.postgres
def test_parallel_tenants_across_processes_stay_under_the_limit(sim, api_server, pg_url):
    limit, window = 10, 2.0
    tenants = [f"par{i}" for i in range(4)]
    for t in tenants:
        sim.seed(t, 100)  # 5 pages of 20 + a count call each: 24 calls in all
    sim.config(rate_limit=limit, rate_window=window)
    env = {"DESKPULSE_SYNC_RATE_LIMIT": str(limit), "DESKPULSE_SYNC_RATE_WINDOW": str(window),
           "DESKPULSE_SYNC_RATE_MARGIN": "0.3"}
    api = api_server(pg_url, workers=2, **env)

    def run(t: str) -> str:
        with api.client() as c:
            r = c.post("/ingest/run", params={"tenant_id": t}, headers=api.headers(t))
            assert r.status_code == 202, r.text
            job = r.json()["job_id"]
            deadline = time.monotonic() + 60
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
