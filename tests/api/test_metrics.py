"""Every analytics result as an endpoint, as JSON, CSV and XLSX (issue 6: Metrics, Export).

On both stores: each ``/api/v1/metrics/{name}`` answers what the library computes for the
same filters (JSON = ``as_dict()``, CSV = ``rows()``, XLSX = a sheet per table); seed 002's
``/api/v1/tickets/agents/performance`` is the agents result; the ticket list exports every
match as CSV/XLSX, streamed; answers are cached per tenant and data version.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient

from deskpulse.analytics.filters import Filters
from deskpulse.config import parse_config
from deskpulse.serve.routes.metrics import METRICS, jsonable
from deskpulse.store import open_store
from tests.api.conftest import Seeded, headers

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _library(seeded: Seeded, tenant: str, fn: Any) -> Any:
    store = open_store(seeded.url, migrate=False)
    try:
        return fn(store.tenant(tenant))
    finally:
        store.close()


@pytest.mark.parametrize("name", METRICS)
def test_every_metric_answers_json_csv_and_xlsx(api: TestClient, name: str) -> None:
    h = headers("alpha")
    extra = "&aht=20" if name == "staffing" else ""  # the tiny sample has too few replies to estimate it
    doc = api.get(f"/api/v1/metrics/{name}?days=30{extra}", headers=h)
    assert doc.status_code == 200, doc.text
    assert doc.headers["content-type"].startswith("application/json")
    assert isinstance(doc.json(), dict)
    as_csv = api.get(f"/api/v1/metrics/{name}?days=30&format=csv{extra}", headers=h)
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"]
    as_xlsx = api.get(f"/api/v1/metrics/{name}?days=30&format=xlsx{extra}", headers=h)
    assert as_xlsx.status_code == 200 and as_xlsx.headers["content-type"] == XLSX
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(as_xlsx.content), read_only=True)
    assert wb.sheetnames  # one sheet per table


def test_json_and_csv_are_the_library_result(api: TestClient, seeded: Seeded) -> None:
    from deskpulse.analytics.resolution import resolution

    def compute(repo: Any) -> Any:
        now = repo.scalar("SELECT as_of FROM build_state")
        f = Filters.build(days=7, now=now, group="Billing")
        return resolution(repo, f, parse_config({}).thresholds, by=("priority",))

    expected = _library(seeded, "alpha", compute)
    got = api.get("/api/v1/metrics/resolution?days=7&group=Billing&by=priority", headers=headers("alpha"))
    assert got.json() == jsonable(expected.as_dict())
    rows = _csv(api.get("/api/v1/metrics/resolution?days=7&group=Billing&by=priority&format=csv",
                        headers=headers("alpha")).text)
    lib_rows = expected.rows()
    assert len(rows) == len(lib_rows) and list(rows[0]) == list(lib_rows[0])
    assert [(r["dimension"], r["value"], int(r["tickets"])) for r in rows] == \
        [(r["dimension"], r["value"], r["tickets"]) for r in lib_rows]


def test_seed_002_agent_performance(api: TestClient, seeded: Seeded) -> None:
    from deskpulse.analytics.agents import agent_performance, range_filters

    def compute(repo: Any) -> Any:
        now = repo.scalar("SELECT as_of FROM build_state")
        return agent_performance(repo, range_filters("7d", now), range_name="7d")

    expected = jsonable(_library(seeded, "alpha", compute).as_dict())
    got = api.get("/api/v1/tickets/agents/performance?range=7d", headers=headers("alpha")).json()
    assert got == expected
    assert got["range"] == "7d" and {a["agent_id"] for a in got["agents"]} >= {"agt-1", "agt-2"}
    assert api.get("/api/v1/metrics/agents?range=7d", headers=headers("alpha")).json() == expected
    table = _csv(api.get("/api/v1/tickets/agents/performance?range=7d&format=csv", headers=headers("alpha")).text)
    assert {r["agent_id"] for r in table} == {a["agent_id"] for a in got["agents"]}
    assert api.get("/api/v1/tickets/agents/performance?range=week", headers=headers("alpha")).status_code == 422


def test_metrics_are_the_callers_tenant_only(api: TestClient) -> None:
    alpha = api.get("/api/v1/metrics/agents?range=all", headers=headers("alpha")).json()
    bravo = api.get("/api/v1/metrics/agents?range=all", headers=headers("bravo")).json()
    assert alpha != bravo
    assert "agt-1" not in str(bravo) and "alpha-cust" not in str(bravo)
    for fmt in ("csv", "xlsx"):
        body = api.get(f"/api/v1/metrics/queue?format={fmt}", headers=headers("bravo")).content
        assert b"A-0" not in body and b"alpha" not in body
    assert api.get("/api/v1/metrics/agents?tenant_id=alpha", headers=headers("bravo")).status_code == 404


def test_metric_answers_are_cached_per_data_version(api: TestClient) -> None:
    url = "/api/v1/metrics/bottlenecks?days=30&min_tickets=1"
    first = api.get(url, headers=headers("alpha"))
    again = api.get(url, headers=headers("alpha"))
    assert again.headers["x-metrics-cache"] == "hit" and again.content == first.content
    other = api.get(url, headers=headers("bravo"))  # another tenant: another entry
    assert other.headers["x-metrics-cache"] == "miss"


def test_bad_metric_parameters(api: TestClient) -> None:
    h = headers("alpha")
    assert api.get("/api/v1/metrics/resolution?by=colour", headers=h).status_code == 400
    assert api.get("/api/v1/metrics/resolution?days=0", headers=h).status_code == 422
    assert api.get("/api/v1/metrics/resolution?days=7&from=2026-01-01", headers=h).status_code == 400
    assert api.get("/api/v1/metrics/resolution?format=pdf", headers=h).status_code == 422
    assert api.get("/api/v1/metrics/forecast?format=csv&table=nope", headers=h).status_code == 400
    assert api.get("/api/v1/metrics/nope", headers=h).status_code == 404
    assert api.get("/api/v1/metrics/resolution").status_code == 401


def test_metrics_before_a_build_answer_404(fresh: tuple[TestClient, Any]) -> None:
    client, _ = fresh
    r = client.get("/api/v1/metrics/resolution", headers=headers("alpha"))
    assert r.status_code == 404 and "build" in r.json()["error"]["message"]


def test_the_ticket_list_exports_every_match(api: TestClient) -> None:
    h = headers("alpha")
    params = "status=open&status=new&sort=created_at"
    pages, cursor = [], None
    while True:
        page = api.get(f"/api/v1/tickets?{params}&limit=3" + (f"&cursor={cursor}" if cursor else ""), headers=h).json()
        pages += [t["ticket_id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    as_csv = api.get(f"/api/v1/tickets?{params}&format=csv", headers=h)
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    rows = _csv(as_csv.text)
    assert [r["ticket_id"] for r in rows] == pages and len(pages) > 3
    assert all(r["status"] in ("open", "new") for r in rows)
    assert rows[0]["created_at"].endswith("Z")
    as_xlsx = api.get(f"/api/v1/tickets?{params}&format=xlsx", headers=h)
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(as_xlsx.content), read_only=True)["tickets"]
    values = list(ws.iter_rows(values_only=True))
    assert values[0][0] == "ticket_id" and [v[0] for v in values[1:]] == pages
    bravo = api.get("/api/v1/tickets?format=csv", headers=headers("bravo")).text
    assert "A-0" not in bravo and "zebrafish" not in bravo


def test_the_ticket_list_is_cached_and_follows_writes(fresh: tuple[TestClient, Any]) -> None:
    import pyarrow as pa

    from deskpulse.model import TICKET_SCHEMA
    from deskpulse.pipeline import utcnow
    from tests.api.conftest import ticket_rows

    client, store = fresh
    now = utcnow()
    repo = store.tenant("alpha")
    repo.upsert_tickets(pa.Table.from_pylist(ticket_rows("A", now)[:5], schema=TICKET_SCHEMA), now)
    first = client.get("/api/v1/tickets?limit=50", headers=headers("alpha"))
    again = client.get("/api/v1/tickets?limit=50", headers=headers("alpha"))
    assert again.headers["x-list-cache"] == "hit" and again.json() == first.json()
    repo.upsert_tickets(pa.Table.from_pylist(ticket_rows("A", now)[5:8], schema=TICKET_SCHEMA), now)
    import time

    time.sleep(1.1)  # the cache revalidates its data version at most once a second
    later = client.get("/api/v1/tickets?limit=50", headers=headers("alpha")).json()
    assert len(later["items"]) == len(first.json()["items"]) + 2  # A-006, A-008 (A-007 is soft-deleted)


def test_one_version_read_serves_all_of_a_tenants_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    import deskpulse.serve.routes.stats as stats

    calls: list[str] = []

    class Repo:
        tenant_id = "acme"

        class store:  # noqa: N801 - a stand-in for the store
            url = "memory://versions"

    def slow_version(repo: Any) -> tuple[int, int, int]:
        calls.append(repo.tenant_id)
        time.sleep(0.2)
        return (1, 2, 3)

    monkeypatch.setattr(stats, "data_version", slow_version)
    stats.forget_versions()
    clock = stats.tenant_clock(Repo())  # type: ignore[arg-type]
    assert clock is stats.tenant_clock(Repo())  # type: ignore[arg-type]  # one per tenant and store
    # ten concurrent requests whose cached answers are all due: one read, not ten
    got: list[Any] = []
    threads = [threading.Thread(target=lambda: got.append(clock.current(Repo(), 1.0).value))  # type: ignore[arg-type]
               for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [(1, 2, 3)] * 10 and calls == ["acme"]
    assert clock.current(Repo(), 1.0).value == (1, 2, 3) and calls == ["acme"]  # type: ignore[arg-type]
    clock.state = ((0, 0, 0), time.monotonic() - 0.6)  # older than half the max age: read again
    assert not clock.due(time.monotonic() - 1.0) and clock.due(time.monotonic())
    clock.refresh()  # the memo's background read
    assert clock.state[0] == (1, 2, 3) and calls == ["acme", "acme"]
    assert clock.current(Repo(), 0.0).value == (1, 2, 3) and len(calls) == 3  # type: ignore[arg-type]  # max age 0: always
