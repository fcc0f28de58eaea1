"""Ingest semantics on both stores: idempotency, change detection, history, soft delete,
classification, outbox rows and tenant isolation (simulator on loopback)."""

from __future__ import annotations

from typing import Any

from deskpulse.config import parse_config
from deskpulse.sla.build import build
from deskpulse.store import Store
from tests.ingest_sync.conftest import run_job


def _tickets(store: Store, tenant: str) -> dict[str, dict[str, Any]]:
    rows = store.execute(
        "SELECT ticket_id, status, updated_at, deleted_at, loaded_at, urgency, sentiment, "
        "requires_action, classified_by, sync_source FROM tickets WHERE tenant_id = $t",
        {"t": tenant},
    )
    keys = ("status", "updated_at", "deleted_at", "loaded_at", "urgency", "sentiment",
            "requires_action", "classified_by", "sync_source")
    return {r[0]: dict(zip(keys, r[1:], strict=True)) for r in rows}


def test_fetches_every_page_and_rerun_is_idempotent(sim, sync_settings, store_of):
    sim.seed("acme", 230)
    first = run_job(store_of, sync_settings(), "acme")
    assert first["status"] == "completed"
    assert first["total_pages"] == first["processed_pages"] == 5  # 230 / 50
    assert first["progress"] == 100
    assert first["tickets"] == {"new": 230, "updated": 0, "unchanged": 0, "deleted": 0}
    before = _tickets(store_of, "acme")
    assert len(before) == 230 and all(t["sync_source"] == "simulator" for t in before.values())
    again = run_job(store_of, sync_settings(), "acme")
    assert again["tickets"] == {"new": 0, "updated": 0, "unchanged": 230, "deleted": 0}
    after = _tickets(store_of, "acme")
    assert after == before  # nothing touched: not even loaded_at
    assert store_of.execute("SELECT count(*) FROM ticket_history WHERE tenant_id = 'acme'")[0][0] == 0
    logs = store_of.execute(
        "SELECT status, pages, tickets_new, tickets_unchanged, finished_at FROM ingestion_logs "
        "WHERE tenant_id = 'acme' ORDER BY started_at")
    assert [(s, p, n, u) for s, p, n, u, _ in logs] == [("completed", 5, 230, 0), ("completed", 5, 0, 230)]
    assert all(r[4] is not None for r in logs)


def test_change_detection_by_updated_at_and_field_history(sim, sync_settings, store_of):
    sim.seed("acme", 60)
    run_job(store_of, sync_settings(), "acme")
    before = _tickets(store_of, "acme")
    sim.mutate("acme", update_ids=[3, 7],
               set={"status": "solved", "subject": "We will file a lawsuit over this"})
    job = run_job(store_of, sync_settings(), "acme")
    assert job["tickets"] == {"new": 0, "updated": 2, "unchanged": 58, "deleted": 0}
    after = _tickets(store_of, "acme")
    for tid in ("3", "7"):
        assert after[tid]["status"] == "solved"
        assert after[tid]["updated_at"] > before[tid]["updated_at"]
        assert after[tid]["urgency"] == "high" and after[tid]["classified_by"] == "legal_threat"
    untouched = [t for t in before if t not in ("3", "7")]
    assert all(after[t]["loaded_at"] == before[t]["loaded_at"] for t in untouched)
    hist = store_of.execute(
        "SELECT ticket_id, field, old, new, changed_at, job_id FROM ticket_history "
        "WHERE tenant_id = 'acme' ORDER BY ticket_id, field")
    fields = {(r[0], r[1]) for r in hist}
    assert ("3", "subject") in fields and ("7", "subject") in fields
    for tid, field, old, new, changed_at, job_id in hist:
        assert job_id == job["job_id"]
        assert changed_at == after[tid]["updated_at"]
        assert old != new
        if field == "subject":
            assert new == "We will file a lawsuit over this"
        if field == "status":
            assert new == "solved" and old == before[tid]["status"]
    # an older (or equal) updated_at never overwrites: re-running changes nothing
    again = run_job(store_of, sync_settings(), "acme")
    assert again["tickets"]["updated"] == 0


def test_soft_delete_is_kept_recorded_and_excluded_from_metrics(sim, sync_settings, store_of):
    sim.seed("acme", 40)
    run_job(store_of, sync_settings(), "acme")
    gone = sim.mutate("acme", delete_ids=[5, 6], creates=2)
    job = run_job(store_of, sync_settings(), "acme")
    assert job["tickets"]["deleted"] == 2 and job["tickets"]["new"] == 2
    t = _tickets(store_of, "acme")
    assert len(t) == 42  # the rows stay
    assert {k for k, v in t.items() if v["deleted_at"] is not None} == {"5", "6"}
    hist = store_of.execute(
        "SELECT ticket_id, old, new FROM ticket_history WHERE tenant_id = 'acme' AND field = 'deleted_at'")
    assert sorted(r[0] for r in hist) == ["5", "6"] and all(r[1] is None and r[2] for r in hist)
    summary = build(store_of.tenant("acme"), parse_config({}))
    assert summary.tickets_total == 40  # 40 live: 42 stored minus the 2 deleted
    ids = {r[0] for r in store_of.execute(
        "SELECT ticket_id FROM ticket_metrics WHERE tenant_id = 'acme'")}
    assert "5" not in ids and "6" not in ids
    assert set(map(str, gone["created"])) <= ids
    # the next run does not delete them again
    assert run_job(store_of, sync_settings(), "acme")["tickets"]["deleted"] == 0


def test_classification_and_outbox_rows_once(sim, sync_settings, store_of):
    sim.seed("acme", 80)
    sim.mutate("acme", update_ids=[1], set={"subject": "I want a refund now", "priority": "low"})
    sim.mutate("acme", update_ids=[2], set={"subject": "Thanks for the refund, all good",
                                             "description": "", "priority": "low", "tags": []})
    run_job(store_of, sync_settings(), "acme")
    t = _tickets(store_of, "acme")
    assert (t["1"]["urgency"], t["1"]["sentiment"], t["1"]["requires_action"], t["1"]["classified_by"]) == (
        "high", "negative", True, "refund")
    assert t["2"]["urgency"] == "low" and t["2"]["sentiment"] == "positive"
    assert all(v["urgency"] in ("high", "medium", "low") for v in t.values())
    assert all(v["requires_action"] for v in t.values() if v["urgency"] == "high")
    high = {k for k, v in t.items() if v["urgency"] == "high"}
    outbox = store_of.execute(
        "SELECT ticket_id, status, rule FROM notification_outbox WHERE tenant_id = 'acme'")
    assert {r[0] for r in outbox} == high and all(r[1] == "pending" for r in outbox)
    run_job(store_of, sync_settings(), "acme")  # unchanged: no second notification
    assert store_of.execute(
        "SELECT count(*) FROM notification_outbox WHERE tenant_id = 'acme'")[0][0] == len(high)


def test_tenant_isolation(sim, sync_settings, store_of):
    sim.seed("alpha", 30, seed=1)
    sim.seed("bravo", 12, seed=2)
    a = run_job(store_of, sync_settings(), "alpha")
    b = run_job(store_of, sync_settings(), "bravo")
    assert a["tickets"]["new"] == 30 and b["tickets"]["new"] == 12
    sim.mutate("bravo", delete_ids=[1], update_ids=[2], set={"status": "closed"})
    b2 = run_job(store_of, sync_settings(), "bravo")
    assert b2["tickets"]["deleted"] == 1 and b2["tickets"]["updated"] == 1
    # same ticket ids in both tenants: alpha's are untouched by bravo's run
    ta = _tickets(store_of, "alpha")
    assert len(ta) == 30 and all(v["deleted_at"] is None for v in ta.values())
    assert store_of.execute(
        "SELECT count(*) FROM ticket_history WHERE tenant_id = 'alpha'")[0][0] == 0
    assert store_of.tenant("alpha").count("tickets") == 30
    assert store_of.tenant("bravo").count("tickets") == 12


def test_page_number_pagination_and_its_unstable_listing_guard(sim, sync_settings, store_of):
    sim.seed("pages", 130)
    job = run_job(store_of, sync_settings(simulator_pagination="page"), "pages")
    assert job["status"] == "completed" and job["total_pages"] == job["processed_pages"] == 3
    assert job["tickets"]["new"] == 130
    sim.mutate("pages", delete_ids=[1])
    again = run_job(store_of, sync_settings(simulator_pagination="page"), "pages")
    assert again["tickets"]["deleted"] == 1  # a stable listing sweeps
    assert listing_stable_when_changed_midway() is False


def listing_stable_when_changed_midway() -> bool:
    """Page mode notices a listing that changed between its pages (count moved)."""
    import asyncio

    import httpx

    from deskpulse.ingest.simulator import SimConfig, create_simulator_app
    from deskpulse.ingest.sync.connectors.base import HttpClient
    from deskpulse.ingest.sync.connectors.simulator import SimulatorConnector

    app = create_simulator_app(SimConfig(tickets_per_tenant=50, rate_limit=0))
    conn = SimulatorConnector("http://sim", "x", page_size=20, mode="page")

    async def go() -> bool:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
            n = 0
            async for _ in conn.pages(HttpClient(client), None):
                n += 1
                if n == 1:
                    app.state.sim.mutate("x", delete_ids=[45])
            return conn.listing_stable

    return asyncio.run(go())
