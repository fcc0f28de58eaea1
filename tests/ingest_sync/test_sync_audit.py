"""ingestion_logs record every run, failures included; orphaned jobs are marked failed; the
/health hook reports locks, outbox backlog and connector reachability; the CLI syncs."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from deskpulse.ingest.sync.jobs import sweep_orphans
from deskpulse.serve.app import create_app
from deskpulse.settings import Settings
from deskpulse.store import open_store
from tests.ingest_sync.conftest import run_job


def test_failed_run_is_logged_with_its_error_and_frees_the_lock(sim, sync_settings, store_of):
    sim.seed("bad", 200)
    sim.faults("bad", fail_after_pages=2, status=500)
    job = run_job(store_of, sync_settings(sync_max_attempts=3), "bad")
    assert job["status"] == "failed" and "HTTP 500 after 3 attempts" in job["error"]
    assert job["processed_pages"] == 2 and job["tickets"]["new"] == 100  # kept what was written
    log = store_of.execute(
        "SELECT status, pages, tickets_new, errors, finished_at, api_calls FROM ingestion_logs "
        "WHERE tenant_id = 'bad'")[0]
    assert log[0] == "failed" and log[1] == 2 and log[2] == 100 and log[4] is not None
    assert "HTTP 500" in json.loads(log[3])[0]
    assert log[5] >= 1 + 2 + 3  # count + 2 pages + 3 attempts at page 3
    assert store_of.execute("SELECT count(*) FROM ingest_locks")[0][0] == 0
    # no deletion sweep after a failed listing
    assert store_of.execute("SELECT count(*) FROM tickets WHERE deleted_at IS NOT NULL")[0][0] == 0


def test_orphaned_jobs_are_marked_failed(store_of):
    now = datetime(2026, 1, 1, 12)
    for job, tenant, expires in (("dead", "t1", now - timedelta(seconds=1)),
                                 ("live", "t2", now + timedelta(seconds=30))):
        store_of.execute(
            "INSERT INTO ingest_jobs (job_id, tenant_id, connector, status, created_at, processed_pages, "
            "cancel_requested) VALUES ($j, $t, 'simulator', 'running', $now, 0, false)",
            {"j": job, "t": tenant, "now": now})
        store_of.execute(
            "INSERT INTO ingestion_logs (log_id, tenant_id, job_id, connector, started_at, status, pages, "
            "tickets_new, tickets_updated, tickets_unchanged, tickets_deleted, events_new, api_calls) "
            "VALUES ($j, $t, $j, 'simulator', $now, 'running', 0, 0, 0, 0, 0, 0, 0)",
            {"j": job, "t": tenant, "now": now})
        store_of.execute(
            "INSERT INTO ingest_locks VALUES ($t, $j, 'x', $now, $now, $exp)",
            {"t": tenant, "j": job, "now": now, "exp": expires})
    assert sweep_orphans(store_of, now) == 1
    assert dict(store_of.execute("SELECT job_id, status FROM ingest_jobs")) == {"dead": "failed", "live": "running"}
    assert dict(store_of.execute("SELECT log_id, status FROM ingestion_logs")) == {"dead": "failed", "live": "running"}


def test_health_covers_locks_outbox_and_connector(sim, db_url, monkeypatch):
    monkeypatch.setenv("DESKPULSE_HELPDESK_URL", sim.base)
    monkeypatch.setenv("DESKPULSE_NOTIFY_ENABLED", "false")
    app = create_app(Settings(database_url=db_url, jwt_secret="x" * 40))
    with TestClient(app) as client:
        r = client.get("/health")
        assert r.status_code == 200, r.text
        checks = r.json()["checks"]
        assert checks["store"]["ok"]
        assert checks["ingest_locks"]["ok"] and checks["notification_outbox"]["ok"]
        assert checks["connector"]["targets"]["simulator"]["ok"]
        assert checks["notify_circuit"]["state"] == "CLOSED"
        app.state.sync._reach = None
        app.state.sync.settings.helpdesk_url = "http://127.0.0.1:9"  # nothing listens there
        r = client.get("/health")
        assert r.status_code == 503 and not r.json()["checks"]["connector"]["ok"]


def test_cli_sync_runs_the_build(sim, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from deskpulse.cli import app
    from deskpulse.cli.sync import parse_every

    sim.seed("cli", 40)
    monkeypatch.setenv("DESKPULSE_HELPDESK_URL", sim.base)
    monkeypatch.setenv("DESKPULSE_SYNC_RATE_LIMIT", "0")
    db = str(tmp_path / "cli.duckdb")
    res = CliRunner().invoke(app, ["sync", "--db", db, "--tenant", "cli", "--format", "json",
                                   "--notify-wait", "0"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["job"]["status"] == "completed" and out["job"]["tickets"]["new"] == 40
    assert out["build"]["tickets_total"] == 40
    store = open_store(db)
    try:
        assert store.execute("SELECT count(*) FROM ticket_metrics")[0][0] == 40
    finally:
        store.close()
    assert parse_every("5m") == 300 and parse_every("1h30m") == 5400 and parse_every("45") == 45


def test_cli_sync_with_a_bundled_simulator(tmp_path, monkeypatch):
    """`deskpulse sync --simulate N` (what `make demo` runs): no helpdesk needed."""
    from typer.testing import CliRunner

    from deskpulse.cli import app

    monkeypatch.delenv("DESKPULSE_HELPDESK_URL", raising=False)
    db = str(tmp_path / "demo.duckdb")
    res = CliRunner().invoke(app, ["sync", "--db", db, "--tenant", "demo", "--simulate", "150",
                                   "--format", "json", "--notify-wait", "0"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["job"]["status"] == "completed" and out["job"]["tickets"]["new"] == 150
    assert out["build"]["tickets_total"] == 150


def test_scheduled_sync_repeats_and_rebuilds(sim, tmp_path, monkeypatch):
    """`sync --every` (or `sync: {every: …}` in the config): each round syncs, then runs the
    incremental build over what changed."""
    import asyncio

    import pytest

    from deskpulse.cli import sync as cli_sync
    from deskpulse.cli.output import OutFormat
    from deskpulse.config import parse_config
    from deskpulse.errors import ConfigError

    assert cli_sync._sync_config({"every": "5m", "connector": "zendesk"})["every"] == "5m"
    with pytest.raises(ConfigError):
        cli_sync._sync_config({"every": "5m", "colour": "red"})
    sim.seed("sched", 60)
    sim.config(churn=0.05)  # the helpdesk changes after every complete listing
    monkeypatch.setenv("DESKPULSE_SYNC_RATE_LIMIT", "0")
    monkeypatch.setenv("DESKPULSE_NOTIFY_ENABLED", "false")
    rounds: list[dict] = []

    class Enough(Exception):
        pass

    def report(result: dict, fmt: OutFormat) -> None:
        rounds.append(result)
        if len(rounds) == 2:
            raise Enough

    monkeypatch.setattr(cli_sync, "_report", report)
    store = open_store(str(tmp_path / "sched.duckdb"))
    try:
        with pytest.raises(Enough):
            asyncio.run(cli_sync._run(store.tenant("sched"), parse_config({}), "simulator", 0.05,
                                      True, 0.0, OutFormat.json, sim.base))
    finally:
        store.close()
    first, second = rounds
    assert first["job"]["tickets"]["new"] == 60 and first["build"]["mode"] == "full"
    changed = second["job"]["tickets"]
    assert changed["updated"] + changed["deleted"] + changed["new"] > 0
    assert second["build"]["mode"] == "incremental"  # changed (and still open) tickets only
    assert second["build"]["tickets_total"] == 60 + changed["new"] - changed["deleted"]
