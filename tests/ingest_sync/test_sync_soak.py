"""Resource stability (seed 004 Task 7, Debug Task C), opt-in with ``-m slow``: memory stays
flat over 20 consecutive 10k-ticket ingests; the API keeps answering 100 concurrent stats
requests while an ingest runs."""

from __future__ import annotations

import gc
import os
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from deskpulse.store import open_store
from tests.ingest_sync.conftest import run_job

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def rss_bytes() -> int:
    with open(f"/proc/{os.getpid()}/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_memory_flat_over_20_ingests_of_10k(sim, sync_settings, pg_url):
    sim.seed("mem", 10_000)
    sim.config(churn=0.02)  # every run sees updates, deletions and new tickets
    store = open_store(pg_url)
    settings = sync_settings(sync_page_size=1000)
    samples = []
    try:
        for i in range(20):
            job = run_job(store, settings, "mem")
            assert job["status"] == "completed"
            if i > 0:
                assert job["tickets"]["updated"] > 0 and job["tickets"]["deleted"] > 0
            gc.collect()
            samples.append(rss_bytes())
    finally:
        store.close()
    warm = samples[2]  # after the first runs have loaded every module and cache
    growth = (samples[-1] - warm) / warm
    print(f"RSS MiB per run: {[round(s / 2**20, 1) for s in samples]}; growth after warm-up {growth:.1%}")
    assert growth < 0.10, [round(s / 2**20, 1) for s in samples]


def test_api_answers_100_concurrent_stats_requests_during_an_ingest(sim, api_server, pg_url):
    sim.seed("busy", 10_000)
    sim.config(page_latency=0.05)
    api = api_server(pg_url, workers=2, DESKPULSE_SYNC_PAGE_SIZE="500")
    h = api.headers("busy")
    with api.client() as c:
        job = c.post("/ingest/run", params={"tenant_id": "busy"}, headers=h).json()["job_id"]
        while c.get(f"/ingest/progress/{job}", headers=h).json()["processed_pages"] < 2:
            time.sleep(0.05)

    def stats(_: int) -> int:
        with httpx.Client(base_url=api.base, timeout=60) as cl:
            return cl.get("/tenants/busy/stats", headers=h).status_code

    with ThreadPoolExecutor(100) as pool:
        codes = list(pool.map(stats, range(100)))
    assert codes == [200] * 100
    with api.client() as c:
        deadline = time.monotonic() + 120
        while True:
            st = c.get(f"/ingest/progress/{job}", headers=h).json()
            if st["status"] != "running":
                break
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert st["status"] == "completed" and st["tickets"]["new"] == 10_000
        assert c.get("/health").status_code == 200
