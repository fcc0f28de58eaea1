"""Dashboard authentication and tenant isolation: pages need a token exactly like the API.

Without a token every page redirects to the login page (remembering the page asked for);
the login page sets an HttpOnly cookie from a valid token and refuses a bad one; a page
only ever shows the token's tenant, and another tenant's ticket or ``tenant_id`` is a 404.
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from deskpulse.serve.app import iter_routes
from deskpulse.serve.auth import create_token
from deskpulse.serve.web.session import COOKIE
from tests.web.conftest import SECRET, WebStore, bearer, make_settings, token

PAGES = ["/ui/", "/ui/agents", "/ui/bottlenecks", "/ui/forecast", "/ui/tickets", "/ui/tickets/ACME-000001",
         "/ui/csv/tickets", "/ui/csv/agents"]
ACME_MARKERS = ("ACME-", "acme-agt-", "acme-usr-")


def page_routes(web: TestClient) -> list[str]:
    """Every dashboard page template of the live app (static files and login excluded)."""
    return sorted({r.path for r in iter_routes(web.app.routes)  # type: ignore[attr-defined]
                   if r.path.startswith("/ui") and "GET" in r.methods
                   and not r.path.startswith(("/ui/static", "/ui/login")) and r.path != "/ui"})


def test_the_route_table_holds_the_pages_outside_the_api(web: TestClient) -> None:
    routes = page_routes(web)
    assert {"/ui/", "/ui/agents", "/ui/bottlenecks", "/ui/forecast", "/ui/tickets",
            "/ui/tickets/{ticket_id}", "/ui/csv/{name}"} <= set(routes)
    all_paths = {r.path for r in iter_routes(web.app.routes)}  # type: ignore[attr-defined]
    assert not any(p.startswith("/api/v1/ui") for p in all_paths)
    assert not any(p.startswith("/ui") for p in web.get("/openapi.json").json()["paths"])


@pytest.mark.parametrize("path", PAGES)
def test_pages_redirect_to_login_without_a_token(web: TestClient, path: str) -> None:
    resp = web.get(path + "?range=7d")
    assert resp.status_code == 303
    location = resp.headers["location"]
    assert location.startswith("/ui/login?next=")
    assert parse_qs(urlsplit(location).query)["next"] == [path + "?range=7d"]


def test_every_page_route_needs_a_login(web: TestClient) -> None:
    for template in page_routes(web):
        path = template.replace("{ticket_id}", "ACME-000001").replace("{name}", "tickets")
        assert web.get(path).status_code == 303, path


@pytest.mark.parametrize("bad", ["garbage", create_token("another-secret-" + "x" * 30, tenant_id="acme", role="admin"),
                                 create_token(SECRET, tenant_id="acme", role="viewer", ttl_seconds=1, now=time.time() - 60)])
def test_forged_or_expired_tokens_redirect_and_clear_the_cookie(web_store: WebStore, bad: str) -> None:
    from deskpulse.serve.app import create_app

    with TestClient(create_app(make_settings(web_store.url)), follow_redirects=False) as client:
        client.cookies.set(COOKIE, bad, path="/ui")
        resp = client.get("/ui/agents")
        assert resp.status_code == 303
        assert "reason=" in resp.headers["location"]
        assert f'{COOKIE}=""' in resp.headers.get("set-cookie", "") or "Max-Age=0" in resp.headers.get("set-cookie", "")
        assert web_get_status(client, "/ui/agents", {"Authorization": f"Bearer {bad}"}) == 303


def web_get_status(client: TestClient, path: str, headers: dict[str, str]) -> int:
    client.cookies.clear()
    return client.get(path, headers=headers).status_code


def test_login_sets_an_httponly_cookie_and_logout_clears_it(browser_client: TestClient) -> None:
    form = browser_client.get("/ui/login?next=%2Fui%2Fagents%3Frange%3D7d")
    assert form.status_code == 200 and 'name="token"' in form.text and 'value="/ui/agents?range=7d"' in form.text
    resp = browser_client.post("/ui/login", data={"token": token("acme"), "next": "/ui/agents?range=7d"})
    assert resp.status_code == 303 and resp.headers["location"] == "/ui/agents?range=7d"
    cookie = resp.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Path=/ui" in cookie and "Max-Age=" in cookie
    page = browser_client.get("/ui/agents?range=7d")
    assert page.status_code == 200 and "Agent performance" in page.text
    assert browser_client.get("/ui/login").status_code == 303  # already logged in
    out = browser_client.post("/ui/logout")
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert browser_client.get("/ui/agents").status_code == 303


def test_login_refuses_bad_tokens_and_other_sites(browser_client: TestClient) -> None:
    resp = browser_client.post("/ui/login", data={"token": "not-a-token", "next": "/ui/"})
    assert resp.status_code == 401 and 'data-testid="login-error"' in resp.text
    assert "set-cookie" not in resp.headers
    cross = browser_client.post("/ui/login", data={"token": token("acme"), "next": "/ui/"},
                                headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403 and "set-cookie" not in cross.headers


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/api/v1/meta", "javascript:alert(1)"])
def test_login_never_redirects_off_the_dashboard(browser_client: TestClient, target: str) -> None:
    resp = browser_client.post("/ui/login", data={"token": token("acme"), "next": target})
    assert resp.status_code == 303 and resp.headers["location"] == "/ui/"


def test_a_bearer_token_in_the_form_is_accepted(browser_client: TestClient) -> None:
    resp = browser_client.post("/ui/login", data={"token": f"Bearer {token('acme')}\n", "next": "/ui/"})
    assert resp.status_code == 303


def test_root_redirects_to_the_dashboard(web: TestClient) -> None:
    resp = web.get("/")
    assert resp.status_code == 307 and resp.headers["location"] == "/ui/"


# --- tenant isolation --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ui/", "/ui/agents?range=all", "/ui/bottlenecks?range=all", "/ui/forecast?range=all",
                                  "/ui/tickets", "/ui/tickets?assignee=acme-agt-0001", "/ui/csv/tickets",
                                  "/ui/csv/queue", "/ui/csv/agents?range=all", "/ui/csv/bottlenecks?range=all"])
def test_pages_show_only_the_tokens_tenant(web: TestClient, web_store: WebStore, path: str) -> None:
    resp = web.get(path, headers=bearer("beta"))
    assert resp.status_code == 200, resp.text[:300]
    text = resp.text.replace("acme-agt-0001", "")  # what was asked for may be echoed (a filter chip)
    leaked = [m for m in ACME_MARKERS if m in text]
    assert not leaked, f"{path} leaked {leaked}"
    if "assignee=" in path:
        assert "<h2>0 tickets</h2>" in resp.text
    mine = web.get(path.replace("acme-agt-0001", "beta-agt-0001"), headers=bearer("beta")).text
    if path.startswith("/ui/csv/"):
        assert "BETA-" in mine or "beta-agt-" in mine
    else:  # beta's own build, not acme's
        assert f"Data as of {web_store.as_of['beta']:%Y-%m-%d %H:%M}" in mine
        assert f"Data as of {web_store.as_of['acme']:%Y-%m-%d %H:%M}" not in mine


def test_another_tenants_ticket_is_not_found(web: TestClient) -> None:
    for path in ("/ui/tickets/ACME-000001", "/ui/csv/ticket_events?ticket_id=ACME-000001",
                 "/ui/csv/ticket_sla?ticket_id=ACME-000001"):
        resp = web.get(path, headers=bearer("beta"))
        assert resp.status_code == 404, path
        assert not any(m in resp.text for m in ACME_MARKERS[1:]), path
    assert web.get("/ui/tickets/ACME-000001", headers=bearer("acme")).status_code == 200


def test_naming_another_tenant_is_a_404(web: TestClient) -> None:
    for path in ("/ui/", "/ui/agents", "/ui/tickets", "/ui/csv/tickets"):
        assert web.get(f"{path}?tenant_id=acme", headers=bearer("beta")).status_code == 404, path
        assert web.get(f"{path}?tenant_id=beta", headers=bearer("beta")).status_code == 200, path


def test_a_tenant_without_a_build_sees_an_empty_dashboard(web: TestClient) -> None:
    for path in ("/ui/", "/ui/agents", "/ui/bottlenecks", "/ui/forecast"):
        resp = web.get(path, headers=bearer("empty"))
        assert resp.status_code == 200 and "no SLA build yet" in resp.text, path
    assert re.search(r"<h2>0 tickets</h2>", web.get("/ui/tickets", headers=bearer("empty")).text)


def test_the_configured_timezone_is_shown_and_used(web_store: WebStore, tmp_path: object) -> None:
    from pathlib import Path

    from deskpulse.serve.app import create_app
    from tests.web.conftest import DEMO_CONFIG

    cfg = Path(str(tmp_path)) / "deskpulse.yaml"
    cfg.write_text(DEMO_CONFIG.read_text() + "\ndashboard:\n  timezone: Asia/Kolkata\n")
    with TestClient(create_app(make_settings(web_store.url, config=cfg)), follow_redirects=False) as client:
        html = client.get("/ui/tickets/ACME-000001", headers=bearer()).text
        assert "Times in Asia/Kolkata" in html
        # ACME-000001 was created 2026-01-05T04:54:45Z: 10:24 in Kolkata (UTC+05:30)
        assert "2026-01-05 10:24" in html and "2026-01-05 04:54" not in html
