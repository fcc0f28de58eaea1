"""The CLI end to end on the hand-checked golden dataset, on DuckDB and PostgreSQL."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deskpulse.cli import app

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
AS_OF = "2026-03-04T12:00:00Z"
runner = CliRunner()


def dp(db: str, *args: str) -> str:
    result = runner.invoke(app, ["--db", db, "--config", str(GOLDEN / "deskpulse.yaml"), *args])
    assert result.exit_code == 0, result.output
    return result.output


def sla_rows(db: str, tmp_path: Path) -> dict[tuple[str, str, str], dict[str, str]]:
    out = tmp_path / "sla.csv"
    dp(db, "export", "ticket_sla", "--format", "csv", "--out", str(out))
    with out.open() as fh:
        return {(r["ticket_id"], r["metric"], r["instance"]): r for r in csv.DictReader(fh)}


def test_import_build_export_golden(db_url: str, tmp_path: Path) -> None:
    out = dp(db_url, "import", str(GOLDEN / "tickets.csv"), str(GOLDEN / "events.csv"), "--output", "json")
    summary = json.loads(out)
    assert (summary["tickets_inserted"], summary["events_inserted"], summary["rejected"]) == (3, 9, 0)
    built = json.loads(dp(db_url, "build", "--as-of", AS_OF, "--format", "json"))
    assert built["mode"] == "full" and built["tickets_total"] == 3
    rows = sla_rows(db_url, tmp_path)
    a_fr = rows[("A", "first_response", "1")]
    assert a_fr["status"] == "breached"
    assert float(a_fr["elapsed_business_minutes"]) == 70
    assert a_fr["due_at"] == "2026-03-03T09:30:00Z" and a_fr["breached_at"] == "2026-03-03T09:30:00Z"
    assert float(a_fr["margin_minutes"]) == -10
    a_nr = rows[("A", "next_response", "1")]
    assert (a_nr["status"], float(a_nr["elapsed_business_minutes"]), a_nr["due_at"]) == ("met", 60, "2026-03-03T13:00:00Z")
    a_res = rows[("A", "resolution", "1")]
    assert a_res["status"] == "met"
    assert float(a_res["elapsed_business_minutes"]) == 130 and float(a_res["paused_business_minutes"]) == 80
    assert a_res["due_at"] == "2026-03-04T09:50:00Z" and a_res["stopped_at"] == "2026-03-03T12:00:00Z"
    b_fr = rows[("B", "first_response", "1")]
    assert (b_fr["status"], float(b_fr["elapsed_business_minutes"])) == ("active_breached", 1080)
    assert rows[("B", "resolution", "1")]["due_at"] == "2026-03-03T10:00:00Z"
    c_fr = rows[("C", "first_response", "1")]
    assert (c_fr["policy"], c_fr["status"], float(c_fr["elapsed_business_minutes"])) == ("urgent", "active_breached", 3060)
    assert ("A", "next_response", "2") not in rows

    metrics_out = tmp_path / "m.jsonl"
    dp(db_url, "export", "ticket_metrics", "--format", "jsonl", "--out", str(metrics_out))
    m = {r["ticket_id"]: r for r in map(json.loads, metrics_out.read_text().splitlines())}
    assert m["A"]["first_reply_at"] == "2026-03-03T09:40:00Z"
    assert (m["A"]["first_reply_calendar_minutes"], m["A"]["first_reply_business_minutes"]) == (1030, 70)
    assert (m["A"]["full_resolution_calendar_minutes"], m["A"]["full_resolution_business_minutes"]) == (1170, 210)
    assert (m["A"]["requester_wait_business_minutes"], m["A"]["agent_wait_business_minutes"], m["A"]["replies"]) == (130, 80, 2)
    assert m["B"]["first_reply_at"] is None and m["B"]["solved_at"] is None


def test_import_twice_changes_nothing(db_url: str, tmp_path: Path) -> None:
    args = ["import", str(GOLDEN / "tickets.csv"), str(GOLDEN / "events.csv"), "--output", "json"]
    dp(db_url, *args)
    first = tmp_path / "t1.csv"
    dp(db_url, "export", "tickets", "--format", "csv", "--out", str(first))
    again = json.loads(dp(db_url, *args))
    assert (again["tickets_inserted"], again["tickets_updated"], again["events_inserted"]) == (0, 0, 0)
    assert (again["tickets_unchanged"], again["events_unchanged"]) == (3, 9)
    second = tmp_path / "t2.csv"
    dp(db_url, "export", "tickets", "--format", "csv", "--out", str(second))
    assert first.read_bytes() == second.read_bytes()


def test_strict_with_one_bad_row_writes_nothing(db_url: str, tmp_path: Path) -> None:
    dp(db_url, "import", str(GOLDEN / "tickets.csv"), str(GOLDEN / "events.csv"))
    before = tmp_path / "before.csv"
    dp(db_url, "export", "ticket_events", "--format", "csv", "--out", str(before))
    bad = tmp_path / "tickets.csv"
    shutil.copy(GOLDEN / "tickets.csv", bad)
    with bad.open("a") as fh:
        fh.write("D,not-a-date,,open,,,,,,,,,,\nE,2026-03-05T10:00:00Z,,open,,,,,,,,,,\n")
    result = runner.invoke(app, ["--db", db_url, "import", str(bad), "--strict", "--rejects", str(tmp_path / "rej.csv")])
    assert result.exit_code == 3, result.output
    assert "created_at" in result.output
    after = tmp_path / "after.csv"
    dp(db_url, "export", "ticket_events", "--format", "csv", "--out", str(after))
    assert before.read_bytes() == after.read_bytes()
    tickets = tmp_path / "tickets_after.csv"
    dp(db_url, "export", "tickets", "--format", "csv", "--out", str(tickets))
    assert "E," not in tickets.read_text()
    # without --strict the good row loads and the bad one is reported
    result = runner.invoke(app, ["--db", db_url, "import", str(bad), "--rejects", str(tmp_path / "rej.csv")])
    assert result.exit_code == 0, result.output
    with (tmp_path / "rej.csv").open() as fh:
        rejects = list(csv.DictReader(fh))
    assert [(r["row"], r["column"], r["value"]) for r in rejects] == [("4", "created_at", "not-a-date")]


def test_incremental_build_equals_full(db_url: str, tmp_path: Path) -> None:
    dp(db_url, "import", str(GOLDEN / "tickets.csv"), str(GOLDEN / "events.csv"))
    dp(db_url, "build", "--as-of", "2026-03-03T10:00:00Z")
    inc = json.loads(dp(db_url, "build", "--as-of", AS_OF, "--format", "json"))
    assert inc["mode"] == "incremental"
    incremental = sla_rows(db_url, tmp_path)
    full = json.loads(dp(db_url, "build", "--as-of", AS_OF, "--full", "--format", "json"))
    assert full["mode"] == "full"
    assert sla_rows(db_url, tmp_path) == incremental


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["import", "/nonexistent/tickets.csv"], 3),
        (["export", "nope", "--out", "x.csv"], 2),
        (["build", "--as-of", "not-a-time"], 2),
    ],
)
def test_errors_have_exit_codes_and_no_traceback(tmp_path: Path, args: list[str], code: int) -> None:
    result = runner.invoke(app, ["--db", str(tmp_path / "s.duckdb"), *args])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output


def test_bad_config_names_file_path_and_reason(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("policies:\n  - name: x\n    calendar: nowhere\n    targets: {first_response: 1h}\n")
    result = runner.invoke(app, ["--db", str(tmp_path / "s.duckdb"), "--config", str(cfg), "build"])
    assert result.exit_code == 4
    assert "bad.yaml" in result.output and "policies[0].calendar" in result.output and "nowhere" in result.output


def test_sla_backtest_compares_current_and_proposed(db_url: str, tmp_path: Path) -> None:
    dp(db_url, "import", str(GOLDEN / "tickets.csv"), str(GOLDEN / "events.csv"))
    proposed = tmp_path / "proposed.yaml"
    proposed.write_text((GOLDEN / "deskpulse.yaml").read_text().replace("first_response: 1h", "first_response: 2h"))
    out = json.loads(dp(db_url, "sla", "backtest", str(proposed), "--as-of", AS_OF, "--format", "json"))
    rows = {(r["policy"], r["metric"]): r for r in out["rows"]}
    fr = rows[("std", "first_response")]
    # A (70 min) turns from breached to met; B (no public reply, 1080 min) stays breached
    assert (fr["current_instances"], fr["current_attainment_pct"]) == (2, 0.0)
    assert (fr["proposed_instances"], fr["proposed_attainment_pct"], fr["delta_pct_points"]) == (2, 50.0, 50.0)
    assert out["tickets"] == 3


def test_root_cause_names_the_holder_of_a_breach(db_url: str, tmp_path: Path) -> None:
    dp(db_url, "import", str(GOLDEN / "tickets.csv"), str(GOLDEN / "events.csv"))
    dp(db_url, "build", "--as-of", AS_OF)
    rows = sla_rows(db_url, tmp_path)
    a_fr = rows[("A", "first_response", "1")]
    # before due_at the ticket sat in status new the whole time
    assert (a_fr["root_cause_kind"], a_fr["root_cause_value"], float(a_fr["root_cause_share"])) == ("status", "new", 1.0)
    assert rows[("A", "resolution", "1")]["root_cause_kind"] == ""  # met: no cause
