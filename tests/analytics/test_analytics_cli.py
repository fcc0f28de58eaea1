"""The analytics commands end to end on the golden dataset (DuckDB and PostgreSQL): formats,
filters, the empty window ("no tickets in range", exit 0) and a store never built."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deskpulse.cli import app

try:
    from .analytics_helpers import GOLDEN
except ImportError:  # pragma: no cover - rootdir-relative import
    from analytics_helpers import GOLDEN  # type: ignore[no-redef]

AS_OF = "2026-03-04T12:00:00Z"
runner = CliRunner()


def dp(db: str, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, ["--db", db, "--tenant", "acme", "--config", str(GOLDEN / "deskpulse.yaml"), *args])
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def golden_db(db_url: str) -> str:
    dp(db_url, "import", str(GOLDEN / "tickets.csv"), str(GOLDEN / "events.csv"))
    dp(db_url, "build", "--as-of", AS_OF)
    return db_url


def test_response_times_and_resolution(golden_db: str) -> None:
    data = json.loads(dp(golden_db, "response-times", "--format", "json"))
    assert data["tickets"] == 3 and data["message"] is None
    assert data["overall"]["first_reply_mean_business_minutes"] == 70
    assert data["window"]["as_of"] == "2026-03-04T12:00:00Z"
    assert [r["value"] for r in data["breakdowns"]["agent"]] == ["(unassigned)", "agent1"]
    out = dp(golden_db, "resolution", "--category", "billing", "--by", "group", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["dimension"], r["value"], r["tickets"], r["resolved"]) for r in rows] == [
        ("all", "all", "1", "1"), ("group", "Billing", "1", "1")
    ]
    by_policy = json.loads(dp(golden_db, "resolution", "--by", "policy", "--by", "priority", "--format", "json"))
    assert list(by_policy["breakdowns"]) == ["policy", "priority"]
    assert {r["value"]: r["resolution_sla_compliance_pct"] for r in by_policy["breakdowns"]["policy"]} == {
        "std": 50.0, "urgent": 0.0}
    table = dp(golden_db, "resolution", "--days", "3")
    assert "Resolution" in table and "overall" in table
    assert "Response times" in dp(golden_db, "response-times")


def test_relative_windows_count_back_from_the_build(golden_db: str) -> None:
    # as_of Wed 12:00: tickets were created Mon 09:00-16:30
    assert json.loads(dp(golden_db, "response-times", "--days", "3", "--format", "json"))["tickets"] == 3
    one_day = json.loads(dp(golden_db, "response-times", "--days", "1", "--format", "json"))
    assert one_day["tickets"] == 0 and one_day["message"] == "no tickets in range"


@pytest.mark.parametrize(
    "command",
    [
        ["response-times"], ["resolution"], ["bottlenecks"], ["volume"], ["backlog"],
    ],
)
def test_empty_window_exits_zero(golden_db: str, command: list[str]) -> None:
    window = ["--from", "2030-01-01", "--to", "2030-02-01"]
    out = dp(golden_db, *command, *window)
    assert "no tickets in range" in out
    data = json.loads(dp(golden_db, *command, *window, "--format", "json"))
    assert data["message"] == "no tickets in range"
    result = runner.invoke(app, ["--db", golden_db, "--tenant", "acme", *command, *window, "--format", "csv"])
    assert result.exit_code == 0


def test_agents_performance(golden_db: str) -> None:
    data = json.loads(dp(golden_db, "agents", "performance", "--range", "all", "--format", "json"))
    agents = {a["agent_id"]: a for a in data["agents"]}
    assert agents["agent2"]["assigned"] == 0 and agents["agent1"]["resolved"] == 1
    assert data["unassigned_tickets"] == 2
    today = dp(golden_db, "agents", "performance", "--range", "today")
    assert "no tickets in range" in today
    assert "Agent performance" in dp(golden_db, "agents", "performance", "--range", "7d")
    out = dp(golden_db, "agents", "performance", "--range", "all", "--format", "csv")
    assert out.splitlines()[0].startswith("agent_id,assigned,resolved,open")
    bad = dp(golden_db, "agents", "performance", "--range", "1y", code=2)
    assert "unknown range" in bad


def test_backlog_volume_bottlenecks(golden_db: str) -> None:
    data = json.loads(dp(golden_db, "backlog", "--format", "json"))
    assert data["rebuilt"] is False  # `deskpulse build` already wrote backlog_daily
    assert [(d["date"], d["open_count"], d["arrivals"]) for d in data["days"]] == [
        ("2026-03-02", 3, 3), ("2026-03-03", 2, 0), ("2026-03-04", 2, 0)
    ]
    assert data["green"]["red_tickets"] == 2 and data["green"]["breached_tickets"] == 2
    text = dp(golden_db, "backlog", "--dimension", "group")
    assert "minutes to green" in text and "burn-down" in text
    assert json.loads(dp(golden_db, "backlog", "--format", "json"))["rebuilt"] is False
    assert "unknown backlog dimension" in dp(golden_db, "backlog", "--dimension", "colour", code=2)
    vol = json.loads(dp(golden_db, "volume", "--period", "week", "--format", "json"))
    assert [(p["period_start"], p["tickets"]) for p in vol["periods"]] == [("2026-03-02", 3)]
    bn = json.loads(dp(golden_db, "bottlenecks", "--min-tickets", "1", "--format", "json"))
    assert bn["tickets"] == 3 and bn["findings"]
    assert {f["severity"] for f in bn["findings"]} <= {"critical", "high", "medium"}
    assert "Bottlenecks" in dp(golden_db, "bottlenecks", "--min-tickets", "1", "--limit", "2")


def test_not_built_is_a_usage_error(db_url: str, tmp_path: Path) -> None:
    dp(db_url, "import", str(GOLDEN / "tickets.csv"), str(GOLDEN / "events.csv"))
    out = dp(db_url, "response-times", code=2)
    assert "deskpulse build" in out
    fresh = str(tmp_path / "empty.duckdb")
    assert "no tickets in range" in dp(fresh, "agents", "performance")


def test_analytics_commands_start_without_pandas(tmp_path: Path) -> None:
    """Process start: a first analytics command (``--days``, no ``--from``) imports neither
    pandas nor the SLA package (≈ 0.4 CPU-s per process); a fresh interpreter checks it."""
    import subprocess
    import sys

    db = tmp_path / "start.duckdb"
    code = (
        "import sys\n"
        "from deskpulse.cli.main import run\n"
        f"sys.argv = ['deskpulse', '--db', {str(db)!r}, '--tenant', 'acme', '--config', "
        f"{str(GOLDEN / 'deskpulse.yaml')!r}, 'resolution', '--days', '30', '--format', 'json']\n"
        "try:\n    run()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "bad = sorted(m for m in sys.modules if m == 'pandas' or m.startswith('deskpulse.sla'))\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
