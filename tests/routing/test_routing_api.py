"""The HTTP surface of agents and routing on DuckDB and PostgreSQL: seed 002's exact paths,
role rules, tenant isolation, every error path with its status and error code, and the
dashboard's skills page and header widget (HTML through the TestClient).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import headers, make_app
from tests.routing.conftest import add_tickets

AV = "/api/v1/tickets/agents/availability"


@pytest.fixture(scope="module")
def client(shared_url: str) -> Iterator[TestClient]:
    with TestClient(make_app(shared_url, read_pool=2)) as c:
        yield c


@pytest.fixture
def tn(client: TestClient) -> str:
    """A fresh tenant with tickets N-1..N-3 (new), S-1 (solved), C-1 (closed)."""
    tenant = f"api-{uuid.uuid4().hex[:8]}"
    add_tickets(client.app.state.store.tenant(tenant), [  # type: ignore[attr-defined]
        dict(ticket_id="N-1", category="billing"), dict(ticket_id="N-2", category="billing"),
        dict(ticket_id="N-3", category="network"),
        dict(ticket_id="S-1", status="solved"), dict(ticket_id="C-1", status="closed"),
    ])
    return tenant


def h(tenant: str, role: str = "viewer", subject: str | None = None) -> dict[str, str]:
    return headers(tenant, role, subject=subject)


def err(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"]["code"] == code, body
    return body["error"]  # type: ignore[no-any-return]


def test_availability_endpoints_of_seed_002_with_roles(client: TestClient, tn: str) -> None:
    agent = h(tn, "agent", "agt-1")
    r = client.patch(f"{AV}/me", json={"status": "available", "status_message": "on shift"}, headers=agent)
    assert r.status_code == 200, r.text
    me = r.json()
    assert (me["user_id"], me["status"], me["note"], me["effective_status"]) == ("agt-1", "available", "on shift",
                                                                                 "available")
    assert me["since"].endswith("Z")
    assert client.get(f"{AV}/me", headers=agent).json()["status"] == "available"
    listing = client.get(AV, headers=h(tn)).json()  # a viewer reads; not caught by /tickets/{ticket_id}
    assert [a["user_id"] for a in listing["items"]] == ["agt-1"] and listing["counts"]["available"] == 1
    assert client.get(f"{AV}/agt-1", headers=h(tn)).json()["note"] == "on shift"
    err(client.get(f"{AV}/nobody", headers=h(tn)), 404, "not_found")
    err(client.get(f"{AV}/me", headers=h(tn, "viewer", "v1")), 404, "not_found")
    err(client.patch(f"{AV}/me", json={"status": "busy"}, headers=h(tn)), 403, "forbidden")  # viewer
    err(client.patch(f"{AV}/agt-2", json={"status": "busy"}, headers=agent), 403, "forbidden")  # not its own
    assert client.patch(f"{AV}/agt-2", json={"status": "busy"}, headers=h(tn, "admin")).json()["status"] == "busy"
    err(client.patch(f"{AV}/me", json={"status": "sleeping"}, headers=agent), 422, "validation_error")
    err(client.patch(f"{AV}/me", json={"note": "x"}, headers=agent), 422, "validation_error")
    hist = client.get(f"{AV}/agt-2/history", headers=h(tn)).json()["items"]
    assert [(c["status"], c["changed_by"]) for c in hist] == [("busy", f"admin@{tn}")]
    assert len(client.get(f"{AV}/me/history", headers=agent).json()["items"]) == 1


def test_auto_assign_and_its_error_paths(client: TestClient, tn: str) -> None:
    agent = h(tn, "agent", "agt-1")
    err(client.post("/api/v1/tickets/N-1/assign/auto", headers=agent), 503, "no_agent_available")
    client.patch(f"{AV}/me", json={"status": "available"}, headers=agent)
    client.patch(f"{AV}/me", json={"status": "available"}, headers=h(tn, "agent", "agt-2"))
    r = client.post("/api/v1/tickets/N-1/assign/auto", headers=agent)
    assert r.status_code == 200, r.text
    first = r.json()
    assert (first["assignee_id"], first["rule"], first["workload"], first["candidates"]) == ("agt-1", "round_robin", 0, 2)
    assert client.post("/api/v1/tickets/N-2/assign/auto", headers=agent).json()["assignee_id"] == "agt-2"
    e = err(client.post("/api/v1/tickets/N-1/assign/auto", headers=agent), 409, "conflict")
    assert e["details"]["assignee_id"] == "agt-1"
    again = client.post("/api/v1/tickets/N-1/assign/auto?reassign=true", headers=agent).json()
    assert again["previous_assignee_id"] == "agt-1"
    err(client.post("/api/v1/tickets/NOPE/assign/auto", headers=agent), 404, "not_found")
    err(client.post("/api/v1/tickets/S-1/assign/auto", headers=agent), 409, "conflict")
    err(client.post("/api/v1/tickets/C-1/assign/auto", headers=agent), 409, "conflict")
    err(client.post("/api/v1/tickets/N-3/assign/auto", headers=h(tn)), 403, "forbidden")  # a viewer
    # the decision is in the ticket's history (seed 004's route) and the assignment log
    hist = client.get("/api/v1/tickets/N-2/history", headers=h(tn)).json()
    assert {c["field"] for c in hist["changes"]} == {"assignee_id", "routing"}
    assert any(e["kind"] == "assignee" and e["to_value"] == "agt-2" for e in hist["events"])
    log = client.get("/api/v1/tickets/agents/assignments", headers=h(tn)).json()["items"]
    assert [x["ticket_id"] for x in log] == ["N-1", "N-2", "N-1"]


def test_skills_crud_invalid_level_and_skills_routing(client: TestClient, tn: str) -> None:
    admin = h(tn, "admin")
    base = "/api/v1/tickets/agents/skills"
    for level in (0, 5, "high"):
        err(client.post(base, json={"user_id": "agt-1", "category": "Billing", "level": level}, headers=admin),
            422, "validation_error")
    r = client.post(base, json={"user_id": "agt-1", "category": "Billing", "level": 2}, headers=admin)
    assert r.status_code == 201 and r.json()["category"] == "billing"
    err(client.post(base, json={"user_id": "agt-1", "category": "billing", "level": 3}, headers=admin), 409, "conflict")
    err(client.post(base, json={"user_id": "agt-1", "category": "x", "level": 3}, headers=h(tn, "agent")),
        403, "forbidden")
    client.post(base, json={"user_id": "agt-2", "category": "billing", "level": 4}, headers=admin)
    err(client.patch(f"{base}/agt-1/billing", json={"level": 9}, headers=admin), 422, "validation_error")
    assert client.patch(f"{base}/agt-1/billing", json={"can_handle_escalations": True},
                        headers=admin).json()["can_handle_escalations"] is True
    err(client.patch(f"{base}/agt-1/network", json={"level": 2}, headers=admin), 404, "not_found")
    assert [s["user_id"] for s in client.get(base, headers=h(tn)).json()["items"]] == ["agt-1", "agt-2"]
    assert client.put("/api/v1/tickets/agents/routing", json={"mode": "skills"}, headers=admin).json()["mode"] == "skills"
    err(client.put("/api/v1/tickets/agents/routing", json={"mode": "random"}, headers=admin), 422, "validation_error")
    err(client.put("/api/v1/tickets/agents/routing", json={"mode": "skills"}, headers=h(tn, "agent")), 403, "forbidden")
    for u in ("agt-1", "agt-2", "agt-3"):
        client.patch(f"{AV}/{u}", json={"status": "available"}, headers=admin)
    d = client.post("/api/v1/tickets/N-1/assign/auto", headers=admin).json()
    assert (d["assignee_id"], d["rule"], d["skill_level"]) == ("agt-2", "skills", 4)  # the expert at workload 0
    e = err(client.post("/api/v1/tickets/N-3/assign/auto", headers=admin), 503, "no_agent_available")
    assert "network" in e["message"]
    assert client.delete(f"{base}/agt-1/billing", headers=admin).json()["level"] == 2
    err(client.delete(f"{base}/agt-1/billing", headers=admin), 404, "not_found")


def test_tenant_isolation(client: TestClient, tn: str) -> None:
    other = f"other-{uuid.uuid4().hex[:6]}"
    client.patch(f"{AV}/me", json={"status": "available"}, headers=h(tn, "agent", "agt-1"))
    # another tenant's token: the ticket and the agent do not exist for it
    err(client.post("/api/v1/tickets/N-1/assign/auto", headers=h(other, "admin")), 404, "not_found")
    err(client.get(f"{AV}/agt-1", headers=h(other)), 404, "not_found")
    assert client.get(AV, headers=h(other)).json()["items"] == []
    err(client.get(f"{AV}?tenant_id={tn}", headers=h(other)), 404, "not_found")
    err(client.post(f"/api/v1/tickets/N-1/assign/auto?tenant_id={other}", headers=h(tn, "admin")), 404, "not_found")
    assert client.app.state.store.tenant(tn).scalar(  # type: ignore[attr-defined]
        "SELECT assignee_id FROM tickets WHERE ticket_id = 'N-1'") is None


def test_analytics_endpoints(client: TestClient, tn: str) -> None:
    agent = h(tn, "agent", "agt-1")
    client.patch(f"{AV}/me", json={"status": "available"}, headers=agent)
    client.post("/api/v1/tickets/N-1/assign/auto", headers=agent)
    occ = client.get("/api/v1/tickets/agents/occupancy?days=1", headers=h(tn)).json()
    assert occ["agents"][0]["user_id"] == "agt-1" and occ["window"]["end"].endswith("Z")
    fair = client.get("/api/v1/tickets/agents/fairness?days=1", headers=h(tn)).json()
    assert (fair["assignments"], fair["gini"]) == (1, 0.0)
    cov = client.get("/api/v1/tickets/agents/coverage?days=2", headers=h(tn)).json()
    assert cov["arrivals"] == 0  # the fixture's tickets were created long ago
    cov = client.get("/api/v1/tickets/agents/coverage?from_date=2026-03-02&to_date=2026-03-02", headers=h(tn)).json()
    assert (cov["arrivals"], cov["uncovered"]) == (3, 3) and cov["gaps"][0]["hour"] == "2026-03-02T09:00:00Z"
    err(client.get("/api/v1/tickets/agents/fairness?from_date=2026-03-05&to_date=2026-03-01", headers=h(tn)),
        422, "validation_error")
    err(client.get("/api/v1/tickets/agents/occupancy?days=0", headers=h(tn)), 422, "validation_error")


def test_skills_page_and_header_widget(client: TestClient, tn: str) -> None:
    admin = h(tn, "admin")
    client.patch(f"{AV}/me", json={"status": "away"}, headers=admin)
    client.patch(f"{AV}/agt-1", json={"status": "available"}, headers=admin)
    page = client.get("/ui/agents/skills", headers=admin)
    assert page.status_code == 200
    text = page.text
    assert 'data-testid="availability-widget"' in text and "You: away" in text
    assert 'class="av av-available"' in text and "1 available" in text and 'class="av av-away"' in text
    assert 'data-testid="skill-form"' in text and 'data-testid="routing-form"' in text
    csrf = re.search(r'name="csrf" value="([^"]+)"', text).group(1)  # type: ignore[union-attr]
    r = client.post("/ui/agents/skills", data={"csrf": csrf, "user_id": "agt-1", "category": "Billing", "level": "3",
                                               "escalations": "1"}, headers=admin, follow_redirects=False)
    assert r.status_code == 303 and "notice=" in r.headers["location"]
    r = client.post("/ui/agents/skills", data={"csrf": csrf, "user_id": "agt-1", "category": "x", "level": "7"},
                    headers=admin, follow_redirects=False)
    assert "error=" in r.headers["location"]
    r = client.post("/ui/agents/skills", data={"csrf": "forged", "user_id": "agt-1", "category": "x", "level": "2"},
                    headers=admin)
    assert r.status_code == 403
    text = client.get("/ui/agents/skills", headers=admin).text
    assert 'data-skill="agt-1|billing"' in text and "3 ★" in text
    # a viewer sees the page without the forms; the widget shows on every page
    viewer = client.get("/ui/agents/skills", headers=h(tn)).text
    assert 'data-testid="skill-form"' not in viewer and 'data-testid="status-form"' not in viewer
    assert 'data-testid="availability-widget"' in client.get("/ui/tickets", headers=h(tn)).text
    # an agent sets its own status from the widget and returns where it was
    agent = h(tn, "agent", "agt-1")
    csrf_a = re.search(r'name="csrf" value="([^"]+)"', client.get("/ui/tickets", headers=agent).text).group(1)  # type: ignore[union-attr]
    r = client.post("/ui/agents/availability", data={"csrf": csrf_a, "status": "busy", "back": "/ui/tickets"},
                    headers=agent, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/ui/tickets")
    assert "You: busy" in client.get("/ui/tickets", headers=agent).text
    r = client.post("/ui/agents/availability", data={"csrf": csrf_a, "status": "busy", "user_id": "agt-2"},
                    headers=agent)
    assert r.status_code == 403  # an agent sets only its own status
