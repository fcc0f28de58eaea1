"""``deskpulse agents …`` end to end on DuckDB and PostgreSQL: availability, assign, skills,
routing mode and the analytics, with JSON output and the CONTRACT §6 exit codes."""

from __future__ import annotations

import json
import uuid

import pytest
import typer.testing
from typer.main import get_command
from typer.testing import CliRunner

from deskpulse.cli import app
from deskpulse.store import Store
from tests.routing.conftest import add_tickets

runner = CliRunner()
#: The click command built once: typer rebuilds the whole command tree on every invoke otherwise.
COMMAND = get_command(app)


@pytest.fixture(autouse=True)
def _built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(typer.testing, "_get_command", lambda _app: COMMAND)


def dp(url: str, tenant: str, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, ["--db", url, "--tenant", tenant, "agents", *args])
    assert result.exit_code == code, result.output
    return result.output


def test_agents_commands(shared_url: str, shared_store: Store) -> None:
    t = f"cli-{uuid.uuid4().hex[:6]}"
    add_tickets(shared_store.tenant(t), [dict(ticket_id="N-1", category="billing"), dict(ticket_id="N-2"),
                                         dict(ticket_id="S-1", status="solved")])
    dp(url := shared_url, t, "assign", "N-1", code=3)  # nobody available
    out = json.loads(dp(url, t, "availability", "set", "agt-1", "available", "--note", "hi", "--format", "json"))
    assert (out["user_id"], out["status"], out["note"]) == ("agt-1", "available", "hi")
    dp(url, t, "availability", "set", "agt-2", "sleeping", code=3)  # unknown status: bad input
    listing = json.loads(dp(url, t, "availability", "list", "--format", "json"))
    assert listing["counts"]["available"] == 1 and listing["items"][0]["user_id"] == "agt-1"
    assert "agt-1" in dp(url, t, "availability", "list")
    hist = json.loads(dp(url, t, "availability", "history", "--user", "agt-1", "--format", "json"))
    assert [h["status"] for h in hist] == ["available"]
    d = json.loads(dp(url, t, "assign", "N-1", "--format", "json"))
    assert (d["ticket_id"], d["user_id"], d["rule"]) == ("N-1", "agt-1", "round_robin")
    assert "N-2 → agt-1" in dp(url, t, "assign", "N-2")
    dp(url, t, "assign", "N-1", code=3)  # already assigned: conflict
    dp(url, t, "assign", "S-1", code=3)  # solved
    dp(url, t, "assign", "NOPE", code=3)  # unknown
    dp(url, t, "skills", "add", "agt-1", "Billing", "--level", "5", code=3)  # invalid level
    s = json.loads(dp(url, t, "skills", "add", "agt-1", "Billing", "--level", "3", "--escalations", "--format", "json"))
    assert (s["category"], s["level"], s["can_handle_escalations"]) == ("billing", 3, True)
    dp(url, t, "skills", "add", "agt-1", "billing", "--level", "2", code=3)  # exists
    dp(url, t, "skills", "add", "agt-1", "billing", "--level", "2", "--replace")
    assert json.loads(dp(url, t, "skills", "list", "--format", "json"))[0]["level"] == 2
    assert json.loads(dp(url, t, "routing-mode", "get", "--format", "json"))["mode"] == "round_robin"
    m = json.loads(dp(url, t, "routing-mode", "set", "skills", "--fallback", "--format", "json"))
    assert (m["mode"], m["fallback_to_any"]) == ("skills", True)
    dp(url, t, "routing-mode", "set", "random", code=3)
    dp(url, t, "skills", "remove", "agt-1", "billing")
    dp(url, t, "skills", "remove", "agt-1", "billing", code=3)
    fair = json.loads(dp(url, t, "fairness", "--days", "1", "--format", "json"))
    assert fair["assignments"] == 2 and fair["gini"] == 0.0
    occ = json.loads(dp(url, t, "occupancy", "--days", "1", "--format", "json"))
    assert occ["agents"][0]["user_id"] == "agt-1"
    cov = json.loads(dp(url, t, "coverage", "--from", "2026-03-02", "--to", "2026-03-03", "--format", "json"))
    assert (cov["arrivals"], cov["uncovered"]) == (1, 1)
    assert "gap hour" in dp(url, t, "coverage", "--days", "3")
    assert "performance" in dp(url, t, "--help")  # the other helper's command still there
