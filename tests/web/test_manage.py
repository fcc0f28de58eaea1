"""Dashboard management of report schedules and alert rules, and the username/password login.

On both stores, with an app of its own per test (these tests write): a user logs in with a
username and password (one generic message for every failure); an admin lists, creates,
edits, pauses and deletes schedules and alert rules through CSRF-protected forms and sees
their run history and events; a viewer sees them but cannot change them; another tenant's
schedule answers 404; forms without this session's CSRF token or from another origin are
refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from deskpulse.serve.app import create_app
from deskpulse.serve.users import create_user
from deskpulse.serve.web.session import COOKIE
from deskpulse.store import Store
from tests.web.conftest import make_settings

PASSWORD = "s3cret-enough"
SCHEDULE = {"name": "weekly-sla", "cron": "0 8 * * MON", "timezone": "Europe/Berlin", "report": "sla",
            "formats": ["pdf", "xlsx"], "recipients": "lead@example.com, ops@example.com", "days": "7",
            "missed_policy": "send_once", "f_group": "Billing", "enabled": "1"}
RULE = {"name": "billing-risk", "metric": "at_risk_tickets", "op": ">", "threshold": "10", "channel": "email",
        "target": "lead@example.com", "window": "", "quiet_hours": "22:00-07:00", "timezone": "Europe/Berlin",
        "repeat_minutes": "60", "f_group": "Billing", "f_channel": "email", "enabled": "1"}


@pytest.fixture
def site(db_url: str) -> Iterator[tuple[TestClient, Store]]:
    with TestClient(create_app(make_settings(db_url)), follow_redirects=False) as client:
        store: Store = client.app.state.store  # type: ignore[attr-defined]
        create_user(store, "acme", "ada", PASSWORD, "admin")
        create_user(store, "acme", "vic", PASSWORD, "viewer")
        create_user(store, "beta", "bea", PASSWORD, "admin")
        yield client, store


def login(client: TestClient, username: str, password: str = PASSWORD, next_: str = "/ui/schedules") -> None:
    client.cookies.clear()
    resp = client.post("/ui/login", data={"username": username, "password": password, "next": next_})
    assert resp.status_code == 303 and resp.headers["location"] == next_, resp.text
    assert COOKIE in resp.cookies


def csrf(client: TestClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert found, "the page has no CSRF token"
    return found.group(1)


def session_csrf(client: TestClient) -> str:
    """The CSRF token of the client's session, computed as the server does (HMAC of the cookie)."""
    import hashlib
    import hmac

    from tests.web.conftest import SECRET

    cookie = client.cookies.get(COOKIE) or ""
    return hmac.new(SECRET.encode(), b"csrf|" + cookie.encode(), hashlib.sha256).hexdigest()[:40]


def notice(client: TestClient, location: str) -> str:
    page = client.get(location)
    found = re.search(r'data-testid="notice">([^<]*)<', page.text)
    return found.group(1) if found else ""


def test_login_with_a_username_and_password(site: tuple[TestClient, Store]) -> None:
    client, _ = site
    form = client.get("/ui/login")
    assert 'name="username"' in form.text and 'name="password"' in form.text and 'name="token"' in form.text
    login(client, "ADA", next_="/ui/agents?range=7d")
    set_cookie = client.post("/ui/login", data={"username": "ada", "password": PASSWORD, "next": "/ui/"}
                             ).headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie and "path=/ui" in set_cookie
    me = client.get("/ui/schedules")
    assert me.status_code == 200 and "ada" in me.text and ">admin<" in me.text


def test_failed_logins_say_one_thing(site: tuple[TestClient, Store]) -> None:
    client, _ = site
    answers = [client.post("/ui/login", data={"username": u, "password": p, "next": "/ui/"})
               for u, p in (("ada", "wrong-password"), ("nobody", PASSWORD))]
    assert [a.status_code for a in answers] == [401, 401]
    errors = {re.search(r'data-testid="login-error">([^<]*)<', a.text).group(1) for a in answers}  # type: ignore[union-attr]
    assert errors == {"Invalid username or password."}
    assert all(COOKIE not in a.cookies for a in answers)
    assert PASSWORD not in answers[1].text and "wrong-password" not in answers[0].text
    cross = client.post("/ui/login", data={"username": "ada", "password": PASSWORD, "next": "/ui/"},
                        headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403 and COOKIE not in cross.cookies


def test_an_admin_manages_schedules(site: tuple[TestClient, Store]) -> None:
    client, store = site
    login(client, "ada")
    token = csrf(client, "/ui/schedules")
    made = client.post("/ui/schedules", data={**SCHEDULE, "csrf": token})
    assert made.status_code == 303, made.text
    assert notice(client, made.headers["location"]).startswith("Schedule weekly-sla created")
    from deskpulse.reports.schedules import get_schedule

    s = get_schedule(store, "acme", "weekly-sla")
    assert (s.cron, s.timezone, s.report, s.formats, s.days) == ("0 8 * * MON", "Europe/Berlin", "sla", "pdf,xlsx", 7)
    assert s.recipients == ["lead@example.com", "ops@example.com"] and s.filters == {"group": "Billing"}
    assert s.created_by == "ada"
    listed = client.get("/ui/schedules").text
    assert "weekly-sla" in listed and "lead@example.com" in listed

    # a rejected form comes back with its values and the reason
    bad = client.post("/ui/schedules", data={**SCHEDULE, "name": "other", "cron": "61 * * * *", "csrf": token})
    assert bad.status_code == 400 and 'value="other"' in bad.text and 'data-testid="form-error"' in bad.text
    taken = client.post("/ui/schedules", data={**SCHEDULE, "csrf": token})
    assert taken.status_code == 409

    # edit: a new cron recomputes the next run
    edit_page = client.get(f"/ui/schedules/{s.schedule_id}")
    assert 'value="0 8 * * MON"' in edit_page.text
    saved = client.post(f"/ui/schedules/{s.schedule_id}", data={**SCHEDULE, "cron": "30 9 * * *", "csrf": token})
    assert saved.status_code == 303
    s2 = get_schedule(store, "acme", "weekly-sla")
    assert s2.cron == "30 9 * * *" and s2.next_run_at != s.next_run_at

    # pause and resume
    paused = client.post(f"/ui/schedules/{s.schedule_id}/pause", data={"enabled": "0", "csrf": token})
    assert paused.status_code == 303 and not get_schedule(store, "acme", "weekly-sla").enabled
    assert client.post(f"/ui/schedules/{s.schedule_id}/pause", data={"enabled": "1", "csrf": token}).status_code == 303
    assert get_schedule(store, "acme", "weekly-sla").enabled

    # run history, as the worker records it
    store.execute(
        "INSERT INTO report_runs (tenant_id, schedule_id, slot_at, run_id, schedule_name, status, worker, claimed_at, "
        "lease_until, finished_at, attempts, missed, recipients, attachments, size_bytes, error) VALUES ('acme', $id, "
        "$at, 'r1', 'weekly-sla', 'failed', 'w', $at, NULL, $at, 4, 0, '[]', $files, 10, 'SMTP 421 busy')",
        {"id": s.schedule_id, "at": datetime(2026, 11, 23, 7, 0), "files": json.dumps(["sla.pdf"])})
    history = client.get(f"/ui/schedules/{s.schedule_id}").text
    assert "SMTP 421 busy" in history and "sla.pdf" in history and "2026-11-23 07:00" in history

    # the API sees what the dashboard did
    from tests.web.conftest import bearer

    api = client.get("/api/v1/schedules", headers=bearer("acme", "viewer"))
    assert [x["name"] for x in api.json()] == ["weekly-sla"]

    deleted = client.post(f"/ui/schedules/{s.schedule_id}/delete", data={"csrf": token})
    assert deleted.status_code == 303 and "deleted" in notice(client, deleted.headers["location"])
    assert client.get(f"/ui/schedules/{s.schedule_id}").status_code == 404


def test_an_admin_manages_alert_rules(site: tuple[TestClient, Store]) -> None:
    client, store = site
    login(client, "ada", next_="/ui/alerts")
    token = csrf(client, "/ui/alerts")
    made = client.post("/ui/alerts", data={**RULE, "csrf": token})
    assert made.status_code == 303, made.text
    from deskpulse.reports.alerts import get_rule

    r = get_rule(store, "acme", "billing-risk")
    assert (r.metric, r.op, r.threshold, r.channel, r.target) == ("at_risk_tickets", ">", 10.0, "email",
                                                                   ["lead@example.com"])
    # the ticket filter "channel" and the rule's channel (email/webhook) do not mix
    assert r.filters == {"group": "Billing", "channel": "email"}
    assert (r.quiet_hours, r.timezone, r.repeat_minutes) == ("22:00-07:00", "Europe/Berlin", 60)
    bad = client.post("/ui/alerts", data={**RULE, "name": "hook", "channel": "webhook", "target": "ftp://x",
                                          "csrf": token})
    assert bad.status_code == 400 and "http" in bad.text
    saved = client.post(f"/ui/alerts/{r.rule_id}", data={**RULE, "threshold": "5", "csrf": token})
    assert saved.status_code == 303 and get_rule(store, "acme", "billing-risk").threshold == 5.0
    assert client.post(f"/ui/alerts/{r.rule_id}/pause", data={"enabled": "0", "csrf": token}).status_code == 303
    assert not get_rule(store, "acme", "billing-risk").enabled
    store.execute(
        "INSERT INTO alert_events (tenant_id, event_id, rule_id, rule_name, event_at, status, keys, value, message, "
        "error) VALUES ('acme', 'e1', $id, 'billing-risk', $at, 'suppressed', '[\"rule\"]', 12, "
        "'quiet hours 22:00-07:00 (Europe/Berlin): held back', NULL)",
        {"id": r.rule_id, "at": datetime(2026, 11, 23, 22, 30)})
    assert "held back" in client.get(f"/ui/alerts/{r.rule_id}").text
    assert "held back" in client.get("/ui/alerts").text
    assert client.post(f"/ui/alerts/{r.rule_id}/delete", data={"csrf": token}).status_code == 303
    assert client.get(f"/ui/alerts/{r.rule_id}").status_code == 404


def test_writes_need_the_csrf_token_and_our_origin(site: tuple[TestClient, Store]) -> None:
    client, store = site
    login(client, "ada")
    token = csrf(client, "/ui/schedules")
    assert token == session_csrf(client)
    assert client.post("/ui/schedules", data=SCHEDULE).status_code == 403
    assert client.post("/ui/schedules", data={**SCHEDULE, "csrf": "0" * 40}).status_code == 403
    other = client.post("/ui/schedules", data={**SCHEDULE, "csrf": token}, headers={"Origin": "https://evil.example"})
    assert other.status_code == 403
    assert client.post("/ui/alerts", data={**RULE, "csrf": token}).status_code == 303  # the real one works
    # another session (a new login) has another token
    login(client, "ada")
    assert client.post("/ui/schedules", data={**SCHEDULE, "csrf": token}).status_code == 403
    from deskpulse.reports.schedules import list_schedules

    assert list_schedules(store, "acme") == []


def test_viewers_read_but_do_not_write(site: tuple[TestClient, Store]) -> None:
    client, store = site
    login(client, "ada")
    token = csrf(client, "/ui/schedules")
    assert client.post("/ui/schedules", data={**SCHEDULE, "csrf": token}).status_code == 303
    login(client, "vic")
    page = client.get("/ui/schedules")
    assert page.status_code == 200 and "weekly-sla" in page.text
    assert 'data-testid="schedule-form"' not in page.text and "Only administrators" in page.text
    vtoken = session_csrf(client)  # a viewer's pages carry no forms; a forged post has the right token
    refused = client.post("/ui/schedules", data={**SCHEDULE, "name": "mine", "csrf": vtoken})
    assert refused.status_code == 403
    assert client.post("/ui/schedules/weekly-sla/delete", data={"csrf": vtoken}).status_code == 403
    assert client.get("/ui/alerts").status_code == 200


def test_another_tenants_schedule_is_not_found(site: tuple[TestClient, Store]) -> None:
    client, _ = site
    login(client, "ada")
    token = csrf(client, "/ui/schedules")
    client.post("/ui/schedules", data={**SCHEDULE, "csrf": token})
    login(client, "bea")
    assert 'data-schedule="weekly-sla"' not in client.get("/ui/schedules").text
    assert client.get("/ui/schedules/weekly-sla").status_code == 404
    btoken = csrf(client, "/ui/schedules")
    assert client.post("/ui/schedules/weekly-sla/delete", data={"csrf": btoken}).status_code == 404
    assert client.post("/ui/schedules/weekly-sla", data={**SCHEDULE, "csrf": btoken}).status_code == 404


def test_management_pages_need_a_login(site: tuple[TestClient, Store]) -> None:
    client, _ = site
    client.cookies.clear()
    for path in ("/ui/schedules", "/ui/alerts", "/ui/schedules/x", "/ui/alerts/x"):
        resp = client.get(path)
        assert resp.status_code == 303 and resp.headers["location"].startswith("/ui/login?next=")
    assert client.post("/ui/schedules", data=SCHEDULE).status_code == 303
