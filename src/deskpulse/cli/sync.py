"""Ingestion commands: ``deskpulse simulate-helpdesk`` and ``deskpulse sync``.

``simulate-helpdesk`` serves the bundled helpdesk simulator (:mod:`deskpulse.ingest.simulator`).
``sync`` runs one ingest for the tenant through a connector — under the same per-tenant lock,
audit log and rate limit as ``POST /ingest/run`` — then the incremental SLA build, then sends
due notifications for a little while. ``--every 5m`` (or ``sync.every`` in the config file)
repeats it on a schedule, with the notification sender running in between. ``--simulate N``
syncs from a simulator started in this process on a loopback port with N tickets for the
tenant (``make demo`` uses it: no helpdesk account needed).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from deskpulse.cli.main import ConfigOpt, DbOpt, TenantOpt, app, handle_errors, open_repo, resolve
from deskpulse.cli.output import OutFormat, console, emit_json, err_console
from deskpulse.errors import ComponentMissingError, ConfigError, UsageError


class ConnectorName(enum.StrEnum):
    simulator = "simulator"
    zendesk = "zendesk"
    intercom = "intercom"


_DURATION = re.compile(r"^\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*$")


def parse_every(text: str) -> float:
    """``5m``, ``30s``, ``1h30m`` or plain seconds → seconds (> 0)."""
    t = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", t):
        seconds = float(t)
    else:
        m = _DURATION.match(t)
        if not m or not any(m.groups()):
            raise UsageError(f"invalid interval {text!r}: use e.g. 30s, 5m or 1h")
        h, mi, s = (int(g) if g else 0 for g in m.groups())
        seconds = float(h * 3600 + mi * 60 + s)
    if seconds <= 0:
        raise UsageError(f"invalid interval {text!r}: must be positive")
    return seconds


@app.command("simulate-helpdesk")
@handle_errors
def simulate_helpdesk(
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port.")] = 9000,
    host: Annotated[str, typer.Option("--host", help="Interface (loopback by default).")] = "127.0.0.1",
    tickets: Annotated[int, typer.Option("--tickets", min=0, help="Tickets per tenant.")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the generated tickets.")] = 7,
    rate_limit: Annotated[int, typer.Option("--rate-limit", min=0, help="Calls per window (0 = none).")] = 60,
    rate_window: Annotated[float, typer.Option("--rate-window", min=0.1, help="Window in seconds.")] = 60.0,
    page_latency: Annotated[float, typer.Option("--page-latency", min=0, help="Seconds per ticket page.")] = 0.0,
    notify_fail_rate: Annotated[float, typer.Option("--notify-fail-rate", min=0, max=1,
                                                    help="Share of POST /notify answering 503.")] = 0.2,
    notify_latency: Annotated[float, typer.Option("--notify-latency", min=0, help="Seconds per /notify.")] = 0.0,
    churn: Annotated[float, typer.Option("--churn", min=0, max=1,
                                         help="Share of tickets changed after each full listing.")] = 0.02,
) -> None:
    """Serve a Zendesk/Intercom-style helpdesk API on loopback (for demos and tests)."""
    import uvicorn

    from deskpulse.ingest.simulator import SimConfig, create_simulator_app

    cfg = SimConfig(tickets_per_tenant=tickets, seed=seed, rate_limit=rate_limit,
                    rate_window=rate_window, page_latency=page_latency,
                    notify_fail_rate=notify_fail_rate, notify_latency=notify_latency, churn=churn)
    err_console.print(f"helpdesk simulator on http://{host}:{port} "
                      f"(tenant APIs under /t/<tenant>/api/v2, POST /notify)")
    uvicorn.run(create_simulator_app(cfg), host=host, port=port, log_level="warning")


def _sync_config(section: Any) -> dict[str, Any]:
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ConfigError("sync: must be a mapping (every, connector)", path="sync")
    bad = set(section) - {"every", "connector"}
    if bad:
        raise ConfigError(f"sync.{sorted(bad)[0]}: unknown key (allowed: every, connector)",
                          path=f"sync.{sorted(bad)[0]}")
    return dict(section)


@app.command("sync")
@handle_errors
def sync(
    every: Annotated[str | None, typer.Option("--every", help="Repeat on this interval (e.g. 5m).")] = None,
    connector: Annotated[ConnectorName | None, typer.Option("--connector", help="Where tickets come from.")] = None,
    build: Annotated[bool, typer.Option("--build/--no-build", help="Run the incremental build after a sync.")] = True,
    notify_wait: Annotated[float, typer.Option("--notify-wait", min=0,
                                               help="Seconds to send due notifications after a one-off sync.")] = 10.0,
    fmt: Annotated[OutFormat, typer.Option("--format", help="Summary as table or json.")] = OutFormat.table,
    simulate: Annotated[int | None, typer.Option(
        "--simulate", min=1, help="Sync from a simulator run in this process with N tickets.")] = None,
    db: DbOpt = None,
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Fetch new and changed tickets for the tenant, then rebuild what changed.

    Examples: `deskpulse sync` (once, from the simulator at DESKPULSE_HELPDESK_URL),
    `deskpulse sync --every 5m --connector zendesk` (ZENDESK_* from the environment).
    """
    from deskpulse.config import load_config

    ctx = resolve(db, tenant, config)
    cfg = load_config(ctx.config)
    section = _sync_config(cfg.sections.get("sync"))
    interval = parse_every(every or section["every"]) if (every or section.get("every")) else None
    name = connector.value if connector else section.get("connector")
    repo = open_repo(ctx)
    with _simulator(simulate, repo.tenant_id) as url:
        if url is not None:
            name = "simulator"
        results = asyncio.run(_run(repo, cfg, name, interval, build, notify_wait, fmt, url))
    failed = [r for r in results if r["job"]["status"] == "failed"]
    if failed and interval is None:
        raise ComponentMissingError(f"sync failed: {failed[-1]['job'].get('error')}",
                                    job_id=failed[-1]["job"]["job_id"])


@contextlib.contextmanager
def _simulator(tickets: int | None, tenant: str) -> Iterator[str | None]:
    """The helpdesk simulator served from a thread on a free loopback port (or nothing)."""
    if tickets is None:
        yield None
        return
    import uvicorn

    from deskpulse.ingest.simulator import SimConfig, create_simulator_app

    app = create_simulator_app(SimConfig(tickets_per_tenant=tickets, churn=0.0))
    app.state.sim.tenant(tenant, tickets)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="helpdesk-simulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ComponentMissingError("the helpdesk simulator did not start", port=port)
        time.sleep(0.02)
    err_console.print(f"helpdesk simulator on http://127.0.0.1:{port} ({tickets} tickets)")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


async def _run(repo: Any, cfg: Any, connector: str | None, interval: float | None, build: bool,
               notify_wait: float, fmt: OutFormat, helpdesk_url: str | None = None
               ) -> list[dict[str, Any]]:
    from deskpulse.ingest.sync.service import SyncService
    from deskpulse.settings import get_sync_settings

    svc = SyncService(repo.store, get_sync_settings(helpdesk_url=helpdesk_url))
    await svc.start(sender=interval is not None)
    results: list[dict[str, Any]] = []
    try:
        while True:
            result = await _once(svc, repo, cfg, connector, build)
            if interval is None:
                result["notifications_sent"] = await svc.sender.drain(notify_wait)
            _report(result, fmt)
            results.append(result)
            if interval is None:
                return results
            await asyncio.sleep(interval)
    finally:
        await svc.stop()


async def _once(svc: Any, repo: Any, cfg: Any, connector: str | None, build: bool) -> dict[str, Any]:
    from deskpulse.sla.build import build as run_build

    job = await asyncio.to_thread(svc.runner.start, repo.tenant_id, connector)
    status = await svc.runner.run(job)
    result: dict[str, Any] = {"job": await asyncio.to_thread(svc.runner.progress, repo.tenant_id,
                                                             job.job_id)}
    if build and status in ("completed", "cancelled"):
        from deskpulse.analytics.facts import build_analytics_marts

        summary = await asyncio.to_thread(run_build, repo, cfg)
        marts = await asyncio.to_thread(build_analytics_marts, repo, as_of=summary.as_of)
        result["build"] = {**summary.as_dict(), "marts": marts.as_dict()}
    return result


def _report(result: dict[str, Any], fmt: OutFormat) -> None:
    if fmt is OutFormat.json:
        emit_json(result)
        return
    j = result["job"]
    t = j["tickets"]
    console.print(
        f"sync {j['job_id']} ({j['connector']}, tenant {j['tenant_id']}): {j['status']} · "
        f"pages {j['processed_pages']} · new {t['new']} · updated {t['updated']} · "
        f"unchanged {t['unchanged']} · deleted {t['deleted']} · api calls {j['api_calls']}"
    )
    if j.get("error"):
        err_console.print(f"error: {j['error']}")
    if "build" in result:
        b = result["build"]
        console.print(f"build: {b['mode']}, {b['tickets_recomputed']:,} of {b['tickets_total']:,} "
                      f"tickets recomputed in {b['seconds']:.2f} s")
    if "notifications_sent" in result:
        console.print(f"notifications sent: {result['notifications_sent']}")
