"""Connectors against recorded-shape fixtures served by the simulator (offline): Zendesk
Incremental Export (tickets by cursor, events by time, deletions), Intercom conversations,
and the fast Zendesk mapping agreeing with the import preset."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from deskpulse.errors import ComponentMissingError
from deskpulse.ingest import read_import
from deskpulse.ingest.sync.connectors.base import HttpClient, make_connector
from deskpulse.ingest.sync.connectors.mapping import zendesk_tickets
from deskpulse.ingest.sync.connectors.zendesk import ZendeskConnector
from deskpulse.settings import SyncSettings
from tests.ingest_sync.conftest import run_job

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest" / "zendesk"


def zendesk_settings(sim, tenant: str, sync_settings, **kw):  # type: ignore[no-untyped-def]
    return sync_settings(zendesk_url=f"{sim.base}/t/{tenant}", zendesk_email="agent@example.com",
                         zendesk_token="secret-token", **kw)


def test_zendesk_incremental_tickets_events_and_deletions(sim, sync_settings, store_of):
    sim.seed("zd", 120)
    s = zendesk_settings(sim, "zd", sync_settings)
    first = run_job(store_of, s, "zd", "zendesk")
    assert first["status"] == "completed", first
    assert first["tickets"]["new"] == 120
    assert first["events_new"] > 120  # create + comment (+ status change) audits
    kinds = dict(store_of.execute("SELECT kind, count(*) FROM ticket_events WHERE tenant_id = 'zd' GROUP BY 1"))
    assert kinds.get("comment", 0) >= 120 and kinds.get("status", 0) >= 120
    actors = {r[0] for r in store_of.execute("SELECT DISTINCT actor FROM ticket_events WHERE kind = 'comment'")}
    assert "end_user" in actors and "agent" in actors  # requester comments recognised
    calls_before = len(sim.calls())
    sim.mutate("zd", update_ids=[4], delete_ids=[9], set={"status": "solved"})
    second = run_job(store_of, s, "zd", "zendesk")
    assert second["tickets"]["updated"] == 1 and second["tickets"]["deleted"] == 1
    assert second["tickets"]["new"] == 0
    # incremental: the second run fetched only what changed since the saved cursor
    assert second["tickets"]["unchanged"] <= 2
    assert len(sim.calls()) - calls_before <= 4
    row = store_of.execute("SELECT status, deleted_at FROM tickets WHERE tenant_id = 'zd' AND ticket_id = '9'")[0]
    assert row[0] == "closed" and row[1] is not None
    state = store_of.execute("SELECT state FROM ingest_cursors WHERE tenant_id = 'zd' AND connector = 'zendesk'")
    assert set(json.loads(state[0][0])) >= {"tickets_cursor", "events_start"}


def test_zendesk_needs_credentials_and_never_logs_them(sim, sync_settings, caplog):
    with pytest.raises(ComponentMissingError):
        make_connector("zendesk", SyncSettings(), "t")
    s = zendesk_settings(sim, "zd2", sync_settings)
    assert "secret-token" not in repr(s)
    sim.seed("zd2", 5)
    conn = ZendeskConnector(f"{sim.base}/t/zd2", email=None, token=None)

    async def go() -> None:
        async with httpx.AsyncClient() as client:
            async for _ in conn.pages(HttpClient(client), None):
                pass

    with pytest.raises(ComponentMissingError):  # 401 from the API
        asyncio.run(go())
    assert "secret-token" not in caplog.text


def test_intercom_conversations(sim, sync_settings, store_of):
    sim.seed("ic", 70)
    s = sync_settings(intercom_token="ic-token", intercom_url=f"{sim.base}/t/ic/intercom")
    first = run_job(store_of, s, "ic", "intercom")
    assert first["status"] == "completed", first
    assert first["tickets"]["new"] == 70
    row = store_of.execute(
        "SELECT status, subject, requester_id, channel FROM tickets WHERE tenant_id = 'ic' AND ticket_id = '1'")[0]
    assert row[0] in ("open", "hold", "solved") and row[1] and row[2]
    sim.mutate("ic", update_ids=[2, 3], set={"subject": "lawsuit coming"})
    second = run_job(store_of, s, "ic", "intercom")
    assert second["tickets"] == {"new": 0, "updated": 2, "unchanged": 0, "deleted": 0}
    assert store_of.execute(
        "SELECT count(*) FROM tickets WHERE tenant_id = 'ic' AND urgency = 'high' AND ticket_id IN ('2', '3')"
    )[0][0] == 2


def _normalise(t: pa.Table) -> list[dict]:
    rows = sorted(t.to_pylist(), key=lambda r: r["ticket_id"])
    for r in rows:
        r["extra"] = json.loads(r["extra"]) if r["extra"] else None
        r["tags"] = r["tags"] or None
    return rows


@pytest.mark.parametrize("source", ["fixtures", "simulator"])
def test_fast_mapping_agrees_with_the_import_preset(source, tmp_path):
    if source == "fixtures":
        pages = sorted((FIXTURES / "tickets").glob("*.json"))
    else:
        from deskpulse.ingest.simulator import SimConfig, Simulator

        sim = Simulator(SimConfig(tickets_per_tenant=300))
        sim.mutate("x", delete_ids=[3, 4], update_ids=[5], set_fields={"priority": "P1"})
        doc = sim.incremental("x", {"start_time": "0"}, "http://sim")
        pages = [tmp_path / "page.json"]
        pages[0].write_text(json.dumps(doc))
    objs = [t for p in pages for t in json.loads(p.read_text())["tickets"]]
    fast, rejected = zendesk_tickets(objs)
    slow = read_import(pages[0].parent if source == "fixtures" else pages[0], preset="zendesk")
    assert rejected == slow.rejects.num_rows == 0
    assert _normalise(fast) == _normalise(slow.tickets)


_T = "2024-03-04T09:15:00Z"
PAGE_CASES = {
    # name: (ticket objects, mapped by Arrow rather than the Python fallback)
    "escapes_and_offsets": ([{"id": 1, "created_at": _T, "updated_at": "2024-03-04T11:15:00+02:00",
                              "status": "open", "note": 'he said "hi" \\ é', "n": 3, "b": False,
                              "z": None}], True),
    "epoch_seconds": ([{"id": 1, "created_at": 1709546400, "updated_at": 1709550000,
                        "status": "Solved"}], True),
    "duplicates_and_deleted": ([
        {"id": 1, "created_at": _T, "updated_at": "2024-03-04T10:00:00Z", "status": "open"},
        {"id": 1, "created_at": _T, "updated_at": "2024-03-04T12:00:00Z", "status": "pending"},
        {"id": 2, "created_at": _T, "updated_at": "2024-03-05T09:15:00Z", "status": "deleted"}], True),
    "rejects": ([{"id": 1, "status": "open"}, {"id": 2, "created_at": _T, "status": "weird"},
                 {"created_at": _T, "status": "open"}], True),
    "empty": ([], True),
    "text_ids_tags_via": ([
        {"id": "A-1", "created_at": "2024-03-04T09:15:00", "status": "open", "tags": ["x", "y"],
         "via": {"channel": "voice"}, "satisfaction_rating": {"score": "good"}, "priority": "P1"},
        {"id": "A-2", "created_at": "2024-03-04T09:15:00", "status": "open", "tags": [],
         "via": None, "satisfaction_rating": None}], True),
    "nested_extra": ([{"id": 1, "created_at": _T, "status": "open",
                       "custom_fields": [{"id": 1, "value": "x"}]}], False),
    "mixed_id_types": ([{"id": 1, "created_at": _T, "status": "open"},
                        {"id": "x", "created_at": _T, "status": "open"}], False),
    "float_extra": ([{"id": 1, "created_at": _T, "status": "open", "score": 1.5}], False),
}


@pytest.mark.parametrize("case", sorted(PAGE_CASES))
def test_arrow_page_mapping_agrees_with_the_python_mapping(case):
    from deskpulse.ingest.sync.connectors import mapping

    objs, arrow = PAGE_CASES[case]
    body = json.dumps({"tickets": objs, "meta": {"has_more": False}}, separators=(",", ":")).encode()
    want, want_rejected = zendesk_tickets(objs)
    got, rejected, rest = mapping.zendesk_page(body)
    assert (rejected, got.schema) == (want_rejected, want.schema)
    assert _normalise(got) == _normalise(want)
    assert rest == {"meta": {"has_more": False}}
    if arrow:  # and it did not fall back to decoding Python objects
        assert mapping._page_arrow(body, "tickets")[0].equals(got)
    else:
        with pytest.raises(mapping._Fallback):
            mapping._page_arrow(body, "tickets")


def test_arrow_page_mapping_on_simulator_pages_and_fixtures():
    from deskpulse.ingest.simulator import SimConfig, Simulator
    from deskpulse.ingest.sync.connectors.mapping import PageFormatError, zendesk_page

    sim = Simulator(SimConfig(tickets_per_tenant=0))
    sim.tenant("x", 450)
    sim.mutate("x", delete_ids=[3, 4], update_ids=[5], set_fields={"priority": "P1"})
    bodies = [sim.list_page("x", {"page[size]": "200"}, "http://sim"),
              json.dumps(sim.incremental("x", {"start_time": "0"}, "http://sim")).encode()]
    bodies += [p.read_bytes() for p in sorted((FIXTURES / "tickets").glob("*.json"))]
    for body in bodies:
        doc = json.loads(body)
        want, want_rejected = zendesk_tickets(doc.pop("tickets"))
        got, rejected, rest = zendesk_page(body)
        assert rejected == want_rejected and _normalise(got) == _normalise(want)
        assert rest == doc
    for bad in (b"not json", b'{"meta": {}}', b'{"tickets": 3}'):
        with pytest.raises(PageFormatError):
            zendesk_page(bad)
