"""Schedules and alert rules through the HTTP API (admin writes, any role reads, tenant
isolation) and the CLI (`schedule …`, `alerts …`, `worker --once`), plus reports over HTTP."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from deskpulse.serve.app import create_app
from deskpulse.serve.auth import create_token
from deskpulse.settings import Settings
from tests.reports.conftest import DEMO_CONFIG, TENANT, Built, SmtpServer

SECRET = "reports-test-secret-" + "y" * 40


def _h(role: str = "viewer", tenant: str = TENANT) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(SECRET, tenant_id=tenant, role=role)}"}


@pytest.fixture(scope="module")
def api(built: Built) -> Iterator[TestClient]:
    settings = Settings(database_url=built.url, jwt_secret=SECRET, config=DEMO_CONFIG)  # type: ignore[call-arg]
    with TestClient(create_app(settings, read_pool=1)) as client:
        yield client


def test_schedule_crud_roles_and_isolation(api: TestClient) -> None:
    body = {"name": "weekly-sla", "cron": "0 8 * * MON", "timezone": "Europe/Berlin", "report": "sla",
            "formats": ["pdf", "csv"], "recipients": ["lead@example.com"], "days": 7,
            "filters": {"group": "Billing"}, "missed_policy": "skip"}
    assert api.post("/api/v1/schedules", json=body, headers=_h("viewer")).status_code == 403
    assert api.post("/api/v1/schedules", json=body).status_code == 401
    r = api.post("/api/v1/schedules", json=body, headers=_h("admin"))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["formats"] == ["pdf", "csv"] and created["next_run_at"].endswith("Z")
    assert created["missed_policy"] == "skip" and created["created_by"] == f"admin@{TENANT}"
    assert api.post("/api/v1/schedules", json=body, headers=_h("admin")).status_code == 409
    bad = api.post("/api/v1/schedules", json={**body, "name": "x", "cron": "every monday"}, headers=_h("admin"))
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "usage_error"
    listed = api.get("/api/v1/schedules", headers=_h()).json()
    assert [s["name"] for s in listed] == ["weekly-sla"]
    assert api.get("/api/v1/schedules", headers=_h(tenant="other")).json() == []
    assert api.get(f"/api/v1/schedules/{created['schedule_id']}", headers=_h(tenant="other")).status_code == 404
    assert api.get("/api/v1/schedules/weekly-sla", headers=_h()).json()["schedule_id"] == created["schedule_id"]
    patched = api.patch("/api/v1/schedules/weekly-sla", json={"cron": "0 9 * * *", "enabled": False},
                        headers=_h("admin"))
    assert patched.status_code == 200 and patched.json()["cron"] == "0 9 * * *"
    assert patched.json()["enabled"] is False
    assert api.patch("/api/v1/schedules/weekly-sla", json={"days": 3}, headers=_h("agent")).status_code == 403
    assert api.get("/api/v1/schedules/weekly-sla/runs", headers=_h()).json() == []
    assert api.delete("/api/v1/schedules/weekly-sla", headers=_h("viewer")).status_code == 403
    assert api.delete("/api/v1/schedules/weekly-sla", headers=_h("admin")).status_code == 204
    assert api.get("/api/v1/schedules/weekly-sla", headers=_h()).status_code == 404


def test_alert_crud_and_events(api: TestClient) -> None:
    body = {"name": "billing-risk", "when": "at_risk_tickets > 10", "channel": "email",
            "target": ["lead@example.com"], "filters": {"group": "Billing"},
            "quiet_hours": "22:00-07:00", "timezone": "Europe/Berlin"}
    assert api.post("/api/v1/alerts", json=body, headers=_h("agent")).status_code == 403
    r = api.post("/api/v1/alerts", json=body, headers=_h("admin"))
    assert r.status_code == 201, r.text
    rule = r.json()
    assert rule["condition"] == "at_risk_tickets > 10 · group=Billing"
    r2 = api.post("/api/v1/alerts", json={"name": "soon", "metric": "breach_within", "threshold": 15,
                                          "channel": "webhook", "target": ["https://hooks.example.com/x"]},
                  headers=_h("admin"))
    assert r2.status_code == 201 and r2.json()["op"] == "<="
    assert api.post("/api/v1/alerts", json={**body, "name": "x", "when": "mood > 1"},
                    headers=_h("admin")).status_code == 400
    assert sorted(a["name"] for a in api.get("/api/v1/alerts", headers=_h()).json()) == ["billing-risk", "soon"]
    assert api.get("/api/v1/alerts/billing-risk", headers=_h(tenant="other")).status_code == 404
    p = api.patch("/api/v1/alerts/billing-risk", json={"threshold": 3, "quiet_hours": None}, headers=_h("admin"))
    assert p.status_code == 200 and p.json()["threshold"] == 3 and p.json()["quiet_hours"] is None
    assert api.get("/api/v1/alerts/billing-risk/events", headers=_h()).json() == []
    assert api.delete("/api/v1/alerts/soon", headers=_h("admin")).status_code == 204
    assert api.delete("/api/v1/alerts/billing-risk", headers=_h("admin")).status_code == 204


def test_reports_over_http(api: TestClient) -> None:
    r = api.get("/api/v1/reports/dashboard", params={"days": 30}, headers=_h())
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "Support performance dashboard" in r.text
    c = api.get("/api/v1/reports/sla", params={"format": "csv", "table": "sla_daily"}, headers=_h())
    assert c.status_code == 200 and "sla_daily.csv" in c.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(c.text)))
    assert len(rows) == 30 and "sla_debt_minutes" in rows[0]
    assert api.get("/api/v1/reports/nope", headers=_h()).status_code == 400
    assert api.get("/api/v1/reports/sla", params={"format": "csv", "table": "x"}, headers=_h()).status_code == 400


def test_cli_schedules_alerts_and_worker(built: Built, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from deskpulse.cli import app

    monkeypatch.setenv("DESKPULSE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("DESKPULSE_SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("DESKPULSE_SMTP_SECURITY", "none")
    monkeypatch.setenv("DESKPULSE_SMTP_SENDER", "cli@deskpulse.test")
    base = ["--db", built.url, "--tenant", "cli-tenant", "--config", str(DEMO_CONFIG)]
    runner = CliRunner()

    def run(*args: str) -> Any:
        result = runner.invoke(app, [*base, *args])
        assert result.exit_code == 0, result.output
        return result

    run("schedule", "add", "daily-backlog", "--cron", "0 7 * * *", "--tz", "UTC", "--report", "backlog",
        "--format", "csv", "--to", "lead@example.com", "--days", "7", "--now", "2026-03-05T08:00:00Z")
    listed = json.loads(run("schedule", "list", "--format", "json").stdout)
    assert [s["name"] for s in listed] == ["daily-backlog"]
    assert listed[0]["next_run_at"] == "2026-03-06T07:00:00Z"
    assert "no runs due" in run("schedule", "run-due", "--now", "2026-03-06T06:59:00Z").stdout
    due = json.loads(run("schedule", "run-due", "--now", "2026-03-06T07:00:30Z", "--format", "json").stdout)
    assert [(r["schedule_name"], r["status"]) for r in due] == [("daily-backlog", "sent")]
    assert [m["X-Deskpulse-Schedule"] for m in smtp.parsed()] == ["daily-backlog"]
    assert smtp.messages[0].mail_from == "cli@deskpulse.test"
    history = json.loads(run("schedule", "history", "daily-backlog", "--format", "json").stdout)
    assert history[0]["status"] == "sent"
    run("alerts", "add", "breached", "--when", "breached_tickets > 0", "--email", "oncall@example.com")
    assert "breached_tickets > 0" in run("alerts", "list", "--format", "csv").stdout
    checks = json.loads(run("alerts", "check", "--format", "json", "--now", "2026-03-06T12:00:00Z").stdout)
    assert [(c["rule"], c["status"]) for c in checks] == [("breached", "ok")]  # cli-tenant has no data
    once = json.loads(run("worker", "--once", "--format", "json").stdout)
    assert set(once) == {"runs", "alerts"}
    bad = runner.invoke(app, [*base, "alerts", "add", "x", "--when", "breached_tickets > 0"])
    assert bad.exit_code == 2  # neither --email nor --webhook
    run("alerts", "remove", "breached")
    run("schedule", "remove", "daily-backlog")
    assert "no schedules" in run("schedule", "list").stdout


def test_serve_can_run_the_worker(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKPULSE_REPORTS_WORKER_IN_SERVE", "true")
    monkeypatch.setenv("DESKPULSE_REPORTS_POLL_SECONDS", "3600")
    settings = Settings(database_url=str(tmp_path / "serve.duckdb"), jwt_secret=SECRET)  # type: ignore[call-arg]
    app = create_app(settings, read_pool=1)
    with TestClient(app) as client:
        worker = app.state.report_worker
        assert worker is not None and worker.thread is not None and worker.thread.is_alive()
        assert client.get("/api/v1/schedules", headers=_h()).json() == []
    assert not worker.thread.is_alive()
    assert app.state.report_worker is None
