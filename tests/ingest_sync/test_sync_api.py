"""The HTTP surface on PostgreSQL under several uvicorn worker processes: exactly one job out of
50 simultaneous starts, progress, cancellation, status, a killed worker's lock expiring."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from deskpulse.store import open_store

pytestmark = pytest.mark.postgres


def _wait_status(api: Any, tenant: str, job_id: str, want: set[str], timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with api.client() as c:
        while time.monotonic() < deadline:
            r = c.get(f"/ingest/progress/{job_id}", headers=api.headers(tenant))
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            if body["status"] in want:
                return body
            time.sleep(0.1)
    raise AssertionError(f"job {job_id} never reached {want}: {body}")


def test_exactly_one_of_50_simultaneous_starts(sim, api_server, pg_url):
    sim.seed("race", 100)
    sim.config(page_latency=1.0)  # the job outlasts the 50 requests, however slow the machine
    api = api_server(pg_url, workers=3)
    headers = api.headers("race")
    barrier = threading.Barrier(50)

    def start(_: int) -> httpx.Response:
        with httpx.Client(base_url=api.base, timeout=60) as c:
            barrier.wait()
            return c.post("/ingest/run", params={"tenant_id": "race"}, headers=headers)

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(start, range(50)))
    codes = sorted(r.status_code for r in answers)
    assert codes.count(202) == 1 and codes.count(409) == 49, codes
    job_id = next(r.json()["job_id"] for r in answers if r.status_code == 202)
    for r in answers:
        if r.status_code == 409:
            err = r.json()["error"]
            assert err["code"] == "conflict" and err["details"]["job_id"] == job_id
    with api.client() as c:
        st = c.get("/ingest/status", params={"tenant_id": "race"}, headers=headers).json()
        assert st["status"] == "running" and st["job_id"] == job_id
        mid = c.get(f"/api/v1/ingest/progress/{job_id}", headers=headers).json()
        assert mid["status"] == "running" and mid["total_pages"] in (None, 5)
        assert 0 <= mid["progress"] < 100
        assert c.delete(f"/ingest/{job_id}", headers=headers).status_code == 202
    _wait_status(api, "race", job_id, {"cancelled"})
    store = open_store(pg_url)
    try:
        assert store.execute("SELECT count(*) FROM ingest_jobs")[0][0] == 1
        assert store.execute("SELECT count(*) FROM ingestion_logs")[0][0] == 1
        assert store.execute("SELECT count(*) FROM ingest_locks")[0][0] == 0
    finally:
        store.close()
    sim.config(page_latency=0.0)
    with api.client() as c:  # free again: the next start is accepted and completes
        r = c.post("/ingest/run", params={"tenant_id": "race"}, headers=headers)
        assert r.status_code == 202
        done = _wait_status(api, "race", r.json()["job_id"], {"completed"})
        assert done["progress"] == 100 and done["processed_pages"] == done["total_pages"] == 5
    store = open_store(pg_url)
    try:
        assert store.execute("SELECT count(*) FROM tickets")[0][0] == 100
    finally:
        store.close()


def test_cancel_keeps_what_was_written(sim, api_server, pg_url):
    sim.seed("slow", 200)
    sim.config(page_latency=0.3)
    api = api_server(pg_url, workers=2)
    h = api.headers("slow")
    with api.client() as c:
        job_id = c.post("/ingest/run", params={"tenant_id": "slow"}, headers=h).json()["job_id"]
        deadline = time.monotonic() + 20
        while c.get(f"/ingest/progress/{job_id}", headers=h).json()["processed_pages"] < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        r = c.delete(f"/ingest/{job_id}", headers=h)
        assert r.status_code == 202 and r.json()["status"] == "cancelling"
    final = _wait_status(api, "slow", job_id, {"cancelled", "completed", "failed"})
    assert final["status"] == "cancelled"
    assert 2 <= final["processed_pages"] < final["total_pages"] == 10
    assert 0 < final["progress"] < 100
    store = open_store(pg_url)
    try:
        kept = store.execute("SELECT count(*) FROM tickets WHERE tenant_id = 'slow'")[0][0]
        assert kept == final["tickets"]["new"] == 20 * final["processed_pages"]
        assert store.execute("SELECT count(*) FILTER (WHERE deleted_at IS NOT NULL) FROM tickets")[0][0] == 0
        log = store.execute("SELECT status, finished_at FROM ingestion_logs WHERE log_id = $j", {"j": job_id})
        assert log[0][0] == "cancelled" and log[0][1] is not None
        assert store.execute("SELECT count(*) FROM ingest_locks")[0][0] == 0
    finally:
        store.close()
    with api.client() as c:
        again = c.delete(f"/ingest/{job_id}", headers=h)
        assert again.status_code == 409 and again.json()["error"]["details"]["status"] == "cancelled"
        assert c.delete("/ingest/nope", headers=h).status_code == 404
        # another tenant's token sees neither the job nor the tenant
        assert c.get(f"/ingest/progress/{job_id}", headers=api.headers("other")).status_code == 404
        assert c.get("/ingest/status", params={"tenant_id": "slow"},
                     headers=api.headers("other")).status_code == 404
        assert c.post("/ingest/run", params={"tenant_id": "slow"},
                      headers=api.headers("slow", "viewer")).status_code == 403


def test_lock_of_a_killed_worker_expires_and_its_job_is_marked_failed(sim, api_server, pg_url):
    sim.seed("crash", 200)
    sim.config(page_latency=0.3)
    ttl = {"DESKPULSE_SYNC_LOCK_TTL": "2", "DESKPULSE_SYNC_HEARTBEAT": "0.5"}
    victim = api_server(pg_url, wait=False, **ttl)
    other = api_server(pg_url, wait=False, **ttl)  # a second server (another machine) stays up
    victim.wait(), other.wait()
    h = victim.headers("crash")
    with victim.client() as c:
        job_id = c.post("/ingest/run", params={"tenant_id": "crash"}, headers=h).json()["job_id"]
        deadline = time.monotonic() + 20
        while c.get(f"/ingest/progress/{job_id}", headers=h).json()["processed_pages"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    victim.kill()  # SIGKILL: no finally block runs
    with other.client() as c:
        r = c.post("/ingest/run", params={"tenant_id": "crash"}, headers=h)
        assert r.status_code == 409 and r.json()["error"]["details"]["job_id"] == job_id
        deadline = time.monotonic() + 15
        while True:
            r = c.post("/ingest/run", params={"tenant_id": "crash"}, headers=h)
            if r.status_code == 202:
                break
            assert r.status_code == 409 and time.monotonic() < deadline
            time.sleep(0.2)
        new_job = r.json()["job_id"]
        old = c.get(f"/ingest/progress/{job_id}", headers=h).json()
        assert old["status"] == "failed" and "orphaned" in old["error"]
        _wait_status(other, "crash", new_job, {"completed"})
    store = open_store(pg_url)
    try:
        logs = dict(store.execute("SELECT log_id, status FROM ingestion_logs"))
        assert logs == {job_id: "failed", new_job: "completed"}
        errors = store.execute("SELECT errors FROM ingestion_logs WHERE log_id = $j", {"j": job_id})[0][0]
        assert "orphaned" in errors
    finally:
        store.close()


def test_ingest_end_to_end_through_workers(sim, api_server, pg_url):
    """Seed 004 tasks 1, 2, 6 and 12 over HTTP with 2 workers on PostgreSQL: every page
    fetched, a re-run adds nothing, changes reach /tickets/{id}/history, deletions leave the
    lists, classification feeds /tickets/urgent, every run is in /ingest/logs."""
    sim.seed("e2e", 45)
    api = api_server(pg_url, workers=2)
    h = api.headers("e2e")

    def run() -> dict[str, Any]:
        with api.client() as c:
            r = c.post("/ingest/run", params={"tenant_id": "e2e"}, headers=h)
            assert r.status_code == 202, r.text
        return _wait_status(api, "e2e", r.json()["job_id"], {"completed", "failed", "cancelled"})

    first = run()
    assert first["status"] == "completed" and first["tickets"]["new"] == 45
    assert first["processed_pages"] == first["total_pages"] == 3  # 45 tickets / 20 per page
    assert run()["tickets"] == {"new": 0, "updated": 0, "unchanged": 45, "deleted": 0}
    sim.mutate("e2e", update_ids=[7], delete_ids=[8],
               set={"subject": "Our lawyer will file a lawsuit", "status": "solved"})
    third = run()
    assert third["tickets"] == {"new": 0, "updated": 1, "unchanged": 43, "deleted": 1}
    with api.client() as c:
        hist = c.get("/tickets/7/history", headers=h).json()["changes"]
        by_field = {x["field"]: x for x in hist}
        assert by_field["subject"]["new"] == "Our lawyer will file a lawsuit"
        assert by_field["status"]["new"] == "solved"
        assert by_field["urgency"]["new"] == "high" and by_field["subject"]["job_id"] == third["job_id"]
        listed = {t["ticket_id"] for t in c.get("/tickets", params={"limit": 100}, headers=h).json()["items"]}
        assert len(listed) == 44 and "8" not in listed  # soft-deleted: left out of lists
        everything = c.get("/tickets", params={"limit": 100, "include_deleted": True}, headers=h).json()
        assert len(everything["items"]) == 45
        assert c.get("/tickets/8", headers=h).json()["deleted_at"] is not None
        gone = c.get("/tickets/8/history", headers=h).json()["changes"]
        assert [x["field"] for x in gone] == ["deleted_at"]
        urgent = c.get("/tickets/urgent", params={"limit": 100}, headers=h).json()["items"]
        assert urgent and "7" not in {t["ticket_id"] for t in urgent}  # solved: not open any more
        assert all(t["urgency"] == "high" or t["priority"] == "urgent" for t in urgent)
        rows = c.get("/ingest/logs", params={"tenant_id": "e2e"}, headers=h).json()
        assert [r["status"] for r in rows] == ["completed"] * 3
        assert [r["tickets_deleted"] for r in rows] == [1, 0, 0]  # newest first
