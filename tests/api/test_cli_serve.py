"""``deskpulse token create`` and ``deskpulse serve`` through Typer's CliRunner (uvicorn stubbed)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from deskpulse.cli import app
from deskpulse.serve.auth import decode_token
from tests.api.conftest import SECRET, env_secret

runner = CliRunner()


def test_token_create(monkeypatch: pytest.MonkeyPatch) -> None:
    env_secret(monkeypatch)
    result = runner.invoke(app, ["token", "create", "--tenant", "acme", "--role", "admin"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert "\n" not in token
    p = decode_token(SECRET, token)
    assert (p.tenant_id, p.role.value, p.subject) == ("acme", "admin", "admin@acme")


def test_token_create_options_and_json(monkeypatch: pytest.MonkeyPatch) -> None:
    env_secret(monkeypatch)
    result = runner.invoke(app, ["--tenant", "globex", "token", "create", "--role", "viewer", "--subject", "kim",
                                 "--ttl-days", "2", "--format", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["tenant_id"], out["role"], out["subject"]) == ("globex", "viewer", "kim")
    assert out["expires_at"].endswith("Z")
    import jwt

    claims = jwt.decode(out["token"], SECRET, algorithms=["HS256"])
    assert abs(claims["exp"] - (time.time() + 2 * 86400)) < 60
    assert decode_token(SECRET, out["token"]).subject == "kim"


def test_token_create_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKPULSE_JWT_SECRET", "")
    no_secret = runner.invoke(app, ["token", "create", "--tenant", "acme", "--role", "viewer"])
    assert no_secret.exit_code == 2 and "DESKPULSE_JWT_SECRET" in no_secret.output
    env_secret(monkeypatch)
    assert runner.invoke(app, ["token", "create", "--role", "root"]).exit_code == 2
    assert runner.invoke(app, ["token", "create"]).exit_code == 2  # --role is required
    assert runner.invoke(app, ["token", "create", "--role", "viewer", "--ttl-days", "0"]).exit_code == 2


@pytest.fixture
def uvicorn_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, dict[str, Any]]]:
    import uvicorn

    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **kw: calls.append((target, kw)))
    return calls


def test_serve_on_duckdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         uvicorn_calls: list[tuple[Any, dict[str, Any]]]) -> None:
    env_secret(monkeypatch)
    db = str(tmp_path / "s.duckdb")
    result = runner.invoke(app, ["--db", db, "serve", "--port", "8123"])
    assert result.exit_code == 0, result.output
    (target, kw), = uvicorn_calls
    assert isinstance(target, FastAPI)
    assert (kw["host"], kw["port"]) == ("127.0.0.1", 8123) and "workers" not in kw
    assert Path(db).exists()  # migrated before the server starts
    several = runner.invoke(app, ["--db", db, "serve", "--workers", "2"])
    assert several.exit_code == 2 and "DuckDB" in several.output


def test_serve_takes_the_global_db_tenant_and_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     uvicorn_calls: list[tuple[Any, dict[str, Any]]]) -> None:
    """`deskpulse --config X serve` serves with X (thresholds, policies, the dashboard timezone)."""
    env_secret(monkeypatch)
    monkeypatch.delenv("DESKPULSE_CONFIG", raising=False)
    cfg = tmp_path / "custom.yaml"
    cfg.write_text("dashboard: {timezone: Europe/Berlin}\nthresholds: {first_response_minutes: 7}\n")
    db = str(tmp_path / "s.duckdb")
    result = runner.invoke(app, ["--db", db, "--tenant", "acme", "--config", str(cfg), "serve"])
    assert result.exit_code == 0, result.output
    (target, _), = uvicorn_calls
    settings = target.state.settings
    assert (settings.database_url, settings.tenant, settings.config) == (db, "acme", cfg)
    from deskpulse.serve.web.session import app_config, dashboard_timezone

    loaded = app_config(settings.config)
    assert dashboard_timezone(loaded) == "Europe/Berlin" and loaded.thresholds.first_response_minutes == 7
    # the command's own options work too, and a named config that does not exist is refused
    again = runner.invoke(app, ["serve", "--db", db, "--config", str(cfg)])
    assert again.exit_code == 0 and uvicorn_calls[-1][0].state.settings.config == cfg
    missing = runner.invoke(app, ["--db", db, "--config", str(tmp_path / "nope.yaml"), "serve"])
    assert missing.exit_code == 4 and "nope.yaml" in missing.output


def test_serve_needs_a_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              uvicorn_calls: list[tuple[Any, dict[str, Any]]]) -> None:
    monkeypatch.setenv("DESKPULSE_JWT_SECRET", "")
    result = runner.invoke(app, ["--db", str(tmp_path / "s.duckdb"), "serve"])
    assert result.exit_code == 4 and "DESKPULSE_JWT_SECRET" in result.output
    assert uvicorn_calls == []


@pytest.mark.postgres
def test_serve_on_postgres_runs_workers(pg_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                        uvicorn_calls: list[tuple[Any, dict[str, Any]]]) -> None:
    import deskpulse.cli.serve as serve_cli

    env_secret(monkeypatch)
    monkeypatch.setenv("DESKPULSE_DATABASE_URL", "unused")  # restored afterwards; serve sets it for workers
    monkeypatch.setenv("DESKPULSE_TENANT", "unused")
    runs: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(serve_cli, "run_workers", lambda app_path, **kw: runs.append((app_path, kw)))
    result = runner.invoke(app, ["--db", pg_url, "serve", "--host", "0.0.0.0", "--workers", "3"])
    assert result.exit_code == 0, result.output
    (target, kw), = runs
    assert target == "deskpulse.serve.app:create_app" and kw["workers"] == 3 and kw["host"] == "0.0.0.0"
    import os

    assert os.environ["DESKPULSE_DATABASE_URL"] == pg_url
    default = runner.invoke(app, ["--db", pg_url, "serve"])
    assert default.exit_code == 0 and runs[-1][1]["workers"] >= 2
    cfg = tmp_path / f"dp-serve-{os.getpid()}.yaml"
    cfg.write_text("thresholds: {first_response_minutes: 9}\n")
    monkeypatch.setenv("DESKPULSE_CONFIG", "unused")  # restored afterwards
    with_config = runner.invoke(app, ["--db", pg_url, "--tenant", "acme", "--config", str(cfg), "serve"])
    assert with_config.exit_code == 0, with_config.output
    assert os.environ["DESKPULSE_CONFIG"] == str(cfg) and os.environ["DESKPULSE_TENANT"] == "acme"
    assert uvicorn_calls == []


def test_worker_socket_says_tcp() -> None:
    """Without IPPROTO_TCP on the shared socket, asyncio skips TCP_NODELAY (+40 ms a response)."""
    import socket

    from deskpulse.serve.app import TcpConfig

    config = TcpConfig("deskpulse.serve.app:create_app", factory=True, host="127.0.0.1", port=0, workers=2)
    sock = config.bind_socket()
    try:
        assert sock.proto == socket.IPPROTO_TCP and sock.family == socket.AF_INET
        assert sock.get_inheritable()
    finally:
        sock.close()
