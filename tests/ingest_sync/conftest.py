"""Fixtures of the ingestion-service tests: the helpdesk simulator, stores, API servers.

* ``sim`` — the simulator in its own process on a loopback port (``deskpulse
  simulate-helpdesk``), reset before every test; :class:`Sim` drives its control endpoints.
* ``sync_settings(**overrides)`` — :class:`SyncSettings` pointing at it (rate limit lifted).
* ``run_job(store, tenant, ...)`` — one ingest through a :class:`SyncService`.
* ``api_server(db_url, workers=…, **env)`` — ``uvicorn --workers N`` serving deskpulse on a
  loopback port (the store is migrated first), with a token maker; stopped after the test.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from deskpulse.ingest.sync.service import SyncService
from deskpulse.serve.auth import create_token
from deskpulse.settings import SyncSettings
from deskpulse.store import Store, open_store

SECRET = "sync-test-secret-" + "s" * 40
CLI = "from deskpulse.cli.main import run; import deskpulse.cli; run()"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode() if proc.stdout else ""
            raise RuntimeError(f"server exited early ({proc.returncode}): {out[-2000:]}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


class Sim:
    """Control client of a running simulator."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.Client(base_url=base, timeout=30)

    def reset(self, **config: Any) -> None:
        self.http.post("/_sim/reset", json={"tickets_per_tenant": 0, "churn": 0.0, "rate_limit": 0,
                                            **config}).raise_for_status()

    def config(self, **config: Any) -> dict[str, Any]:
        r = self.http.post("/_sim/config", json=config)
        r.raise_for_status()
        return dict(r.json())

    def seed(self, tenant: str, tickets: int, seed: int = 1) -> None:
        self.http.post(f"/_sim/tenants/{tenant}/seed", json={"tickets": tickets, "seed": seed}).raise_for_status()

    def mutate(self, tenant: str, **body: Any) -> dict[str, Any]:
        r = self.http.post(f"/_sim/tenants/{tenant}/mutate", json=body)
        r.raise_for_status()
        return dict(r.json())

    def tickets(self, tenant: str) -> dict[str, Any]:
        return dict(self.http.get(f"/_sim/tenants/{tenant}/tickets").json())

    def calls(self) -> list[tuple[float, str, int, str]]:
        return [tuple(c) for c in self.http.get("/_sim/calls").json()["calls"]]  # type: ignore[misc]

    def notify_log(self) -> dict[str, Any]:
        return dict(self.http.get("/_sim/notify").json())

    def fail_next_notify(self, n: int) -> None:
        self.http.post("/_sim/notify", json={"fail_next": n}).raise_for_status()

    def faults(self, tenant: str, **f: int) -> None:
        self.http.post("/_sim/faults", json={"tenant": tenant, **f}).raise_for_status()


@pytest.fixture(scope="session")
def _sim_process() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, "simulate-helpdesk", "--port", str(port), "--tickets", "0",
         "--rate-limit", "0", "--churn", "0", "--notify-fail-rate", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/health", proc)
    yield base
    proc.terminate()
    proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()


@pytest.fixture
def sim(_sim_process: str) -> Iterator[Sim]:
    s = Sim(_sim_process)
    s.reset()
    yield s
    s.http.close()


@pytest.fixture
def sync_settings(sim: Sim) -> Callable[..., SyncSettings]:
    def make(**overrides: Any) -> SyncSettings:
        values: dict[str, Any] = {"helpdesk_url": sim.base, "sync_rate_limit": 0,
                                  "sync_page_size": 50, "notify_enabled": False,
                                  "sync_heartbeat": 0.5, "sync_backoff_base": 0.01,
                                  "sync_backoff_cap": 0.05}
        values.update(overrides)
        return SyncSettings(**values)

    return make


def run_job(store: Store, settings: SyncSettings, tenant: str, connector: str = "simulator"
            ) -> dict[str, Any]:
    """One ingest (start + run) through a fresh SyncService; returns its progress document."""

    async def go() -> dict[str, Any]:
        svc = SyncService(store, settings)
        await svc.start(sender=False)
        try:
            job = await asyncio.to_thread(svc.runner.start, tenant, connector)
            await svc.runner.run(job)
            return await asyncio.to_thread(svc.runner.progress, tenant, job.job_id)
        finally:
            await svc.stop()

    return asyncio.run(go())


@pytest.fixture
def store_of(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    yield s
    s.close()


@dataclass
class Api:
    base: str
    proc: subprocess.Popen[bytes]
    url: str

    def token(self, tenant: str, role: str = "admin") -> str:
        return create_token(SECRET, tenant_id=tenant, role=role)

    def headers(self, tenant: str, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(tenant, role)}"}

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=30)

    def wait(self) -> Api:
        wait_http(f"{self.base}/health", self.proc, timeout=90)
        return self

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


@pytest.fixture
def api_server(sim: Sim) -> Iterator[Callable[..., Api]]:
    started: list[Api] = []

    def start(db_url: str, workers: int = 1, wait: bool = True, **env: Any) -> Api:
        open_store(db_url).close()  # migrate once, before the workers start
        port = free_port()
        environ = {**os.environ, "DESKPULSE_DATABASE_URL": db_url, "DESKPULSE_JWT_SECRET": SECRET,
                   "DESKPULSE_HELPDESK_URL": sim.base, "DESKPULSE_SYNC_RATE_LIMIT": "0",
                   "DESKPULSE_SYNC_PAGE_SIZE": "20", "DESKPULSE_NOTIFY_ENABLED": "false"}
        environ.update({k: str(v) for k, v in env.items()})
        cmd = [sys.executable, "-m", "uvicorn", "--factory", "deskpulse.serve.app:create_app",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        if workers > 1:
            cmd += ["--workers", str(workers)]
        proc = subprocess.Popen(cmd, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        api = Api(f"http://127.0.0.1:{port}", proc, db_url)
        started.append(api)
        return api.wait() if wait else api

    yield start
    for api in started:
        if api.proc.stdout is not None:
            api.proc.stdout.close()
        if api.proc.poll() is None:
            os.killpg(api.proc.pid, signal.SIGTERM)
            try:
                api.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(api.proc.pid, signal.SIGKILL)
                api.proc.wait(5)
