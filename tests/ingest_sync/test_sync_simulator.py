"""The helpdesk simulator itself (in process, injected clock): both paginations, the rate
limit with Retry-After, churn between runs, the unstable /notify; and the circuit routes."""

from __future__ import annotations

from fastapi.testclient import TestClient
from starlette.testclient import TestClient as StarletteClient

from deskpulse.ingest.simulator import SimConfig, create_simulator_app
from deskpulse.serve.app import create_app
from deskpulse.serve.auth import create_token
from deskpulse.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.t = 1_767_225_600.0

    def __call__(self) -> float:
        return self.t


def test_cursor_and_page_pagination_cover_every_ticket():
    app = create_simulator_app(SimConfig(tickets_per_tenant=95, rate_limit=0))
    with StarletteClient(app) as c:
        ids, after = [], None
        while True:
            q = {"page[size]": 20, **({"page[after]": after} if after else {})}
            doc = c.get("/t/a/api/v2/tickets.json", params=q).json()
            ids += [t["id"] for t in doc["tickets"]]
            if not doc["meta"]["has_more"]:
                break
            after = doc["meta"]["after_cursor"]
        assert ids == list(range(1, 96))
        pages, page = [], 1
        while page:
            doc = c.get("/t/a/api/v2/tickets.json", params={"page": page, "per_page": 40}).json()
            pages.append(len(doc["tickets"]))
            assert doc["count"] == 95
            page = page + 1 if doc["next_page"] else 0
        assert pages == [40, 40, 15]
        assert c.get("/t/a/api/v2/tickets/count.json").json()["count"]["value"] == 95
        t = c.get("/t/a/api/v2/tickets.json", params={"page": 1, "per_page": 1}).json()["tickets"][0]
        assert {"id", "created_at", "updated_at", "status", "subject", "via"} <= set(t)


def test_rate_limit_answers_429_with_retry_after():
    clock = Clock()
    app = create_simulator_app(SimConfig(tickets_per_tenant=5, rate_limit=60, rate_window=60), clock)
    with StarletteClient(app) as c:
        for i in range(60):
            clock.t += 0.5
            assert c.get("/t/a/api/v2/tickets/count.json").status_code == 200, i
        r = c.get("/t/a/api/v2/tickets/count.json")
        assert r.status_code == 429 and int(r.headers["Retry-After"]) == 31  # first call at +0.5 s
        assert c.get("/health").status_code == 200  # control paths are not limited
        clock.t += 31
        assert c.get("/t/a/api/v2/tickets/count.json").status_code == 200


def test_updates_deletions_and_churn_between_runs():
    clock = Clock()
    app = create_simulator_app(SimConfig(tickets_per_tenant=100, rate_limit=0, churn=0.1), clock)
    sim = app.state.sim
    with StarletteClient(app) as c:
        before = {t["id"]: t["updated_at"] for t in
                  c.get("/t/a/api/v2/tickets.json", params={"page": 1, "per_page": 100}).json()["tickets"]}
        clock.t += 10
        after = {t["id"]: t["updated_at"] for t in
                 c.get("/t/a/api/v2/tickets.json", params={"page": 1, "per_page": 200}).json()["tickets"]}
    assert len(set(before) - set(after)) == 2  # a quarter of 10 % deleted
    assert len(set(after) - set(before)) == 5  # half of 10 % created
    assert sum(1 for k in before if k in after and after[k] > before[k]) >= 8
    inc = sim.incremental("a", {"start_time": "0"}, "x")["tickets"]
    assert sum(1 for t in inc if t["status"] == "deleted") == 4  # the second listing churned too


def test_notify_failure_rate_and_idempotency_keys():
    app = create_simulator_app(SimConfig(notify_fail_rate=0.5))
    with StarletteClient(app) as c:
        codes = [c.post("/notify", json={}, headers={"Idempotency-Key": f"k{i}"}).status_code
                 for i in range(200)]
        assert 60 < codes.count(503) < 140 and set(codes) == {200, 503}
        c.post("/_sim/config", json={"notify_fail_rate": 0})
        assert c.post("/notify", json={}, headers={"Idempotency-Key": "dup"}).json()["duplicate"] is False
        assert c.post("/notify", json={}, headers={"Idempotency-Key": "dup"}).json()["duplicate"] is True


def test_circuit_routes(tmp_path, monkeypatch):
    monkeypatch.setenv("DESKPULSE_NOTIFY_ENABLED", "false")
    secret = "c" * 40
    app = create_app(Settings(database_url=str(tmp_path / "c.duckdb"), jwt_secret=secret))
    admin = {"Authorization": "Bearer " + create_token(secret, tenant_id="t", role="admin")}
    viewer = {"Authorization": "Bearer " + create_token(secret, tenant_id="t", role="viewer")}
    with TestClient(app) as c:
        for _ in range(5):
            app.state.sync.breaker.record_sync(False)
        for prefix in ("", "/api/v1"):
            st = c.get(f"{prefix}/circuit/notify/status", headers=viewer).json()
            assert st["state"] == "OPEN" and st["failures_in_window"] == 5
        assert c.get("/circuit/notify/status").status_code == 401
        assert c.post("/circuit/notify/reset", headers=viewer).status_code == 403
        assert c.post("/circuit/other/reset", headers=admin).status_code == 404
        r = c.post("/circuit/notify/reset", headers=admin)
        assert r.status_code == 200 and r.json()["state"] == "CLOSED"
        assert c.get("/circuit/notify/status", headers=viewer).json()["state"] == "CLOSED"
