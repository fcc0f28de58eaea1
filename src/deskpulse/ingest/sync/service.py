"""The sync service wired together: one per process (the HTTP app's lifespan, or the CLI).

On PostgreSQL the service opens a control connection of its own (locks, heartbeats, rate-limit
slots, breaker, outbox) and one connection per running job for page writes, so neither waits
for the other or for API requests on the app's connection. On DuckDB (embedded, one process)
everything shares the app's store, whose lock serialises statements.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import httpx

from deskpulse.errors import DeskpulseError, NotFoundError
from deskpulse.ingest.sync.breaker import Policy, StoredBreaker
from deskpulse.ingest.sync.clock import SYSTEM_CLOCK, Clock, to_utc
from deskpulse.ingest.sync.jobs import JobRunner, sweep_orphans
from deskpulse.ingest.sync.outbox import NotificationSender
from deskpulse.ingest.sync.ratelimit import RateLimiter, StoreRateLimiter, Unlimited
from deskpulse.ingest.sync.retry import Backoff
from deskpulse.settings import SyncSettings, get_sync_settings
from deskpulse.store import Store

log = logging.getLogger(__name__)

NOTIFY_BREAKER = "notify"


class SyncService:
    """Job runner, rate limiter, breaker and notification sender of one process."""

    def __init__(self, store: Store, settings: SyncSettings | None = None, *,
                 clock: Clock = SYSTEM_CLOCK, owner: str | None = None) -> None:
        self.store = store
        self.settings = s = settings or get_sync_settings()
        self.clock = clock
        self._own_control = store.dialect == "postgresql"
        self.control: Store = Store(store.url) if self._own_control else store
        self.limiter: RateLimiter = (
            StoreRateLimiter(self.control, limit=s.sync_rate_limit, window=s.sync_rate_window,
                             margin=s.sync_rate_margin, clock=clock)
            if s.sync_rate_limit > 0 else Unlimited()
        )
        self.breaker = StoredBreaker(
            self.control, NOTIFY_BREAKER,
            Policy(s.breaker_failures, s.breaker_window, s.breaker_open_seconds), clock)
        self.runner = JobRunner(
            self.control, s,
            data_store=self._open_data_store, release_data_store=self._close_data_store,
            limiter=self.limiter, clock=clock, owner=owner,
        )
        self.sender = NotificationSender(
            self.control, self.breaker, s.notify_target, clock=clock,
            backoff=Backoff(s.notify_backoff_base, s.notify_backoff_cap), batch=s.notify_batch,
            poll=s.notify_poll, timeout=s.notify_timeout, max_attempts=s.notify_max_attempts,
        )
        self._stop: asyncio.Event | None = None
        self._sender_task: asyncio.Task[None] | None = None
        self._reach: tuple[float, dict[str, Any]] | None = None

    def _open_data_store(self) -> Store:
        return Store(self.store.url) if self._own_control else self.store

    def _close_data_store(self, s: Store) -> None:
        if s is not self.store:
            s.close()

    def breaker_named(self, name: str) -> StoredBreaker:
        if name != NOTIFY_BREAKER:
            raise NotFoundError(f"no circuit named {name!r} (known: {NOTIFY_BREAKER})", name=name)
        return self.breaker

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self, *, sender: bool | None = None) -> None:
        """Mark orphaned jobs failed and start the notification sender."""
        await asyncio.to_thread(sweep_orphans, self.control, to_utc(self.clock.now()))
        if sender if sender is not None else self.settings.notify_enabled:
            self._stop = asyncio.Event()
            self._sender_task = asyncio.create_task(self.sender.run_forever(self._stop),
                                                    name="notification-sender")

    async def stop(self) -> None:
        """Stop the sender, interrupt running jobs (they record ``failed``), close."""
        if self._stop is not None:
            self._stop.set()
        if self._sender_task is not None:
            self._sender_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender_task
            self._sender_task = None
        tasks = [j.task for j in list(self.runner.jobs.values()) if j.task is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self._own_control:
            self.control.close()

    # --- health ------------------------------------------------------------------------------

    def health(self) -> dict[str, dict[str, Any]]:
        """The /health entries of the sync service (each with ``ok``)."""
        checks: dict[str, dict[str, Any]] = {}
        now = self.clock.now()
        try:
            held, expired = self.control.execute(
                "SELECT count(*) FILTER (WHERE expires_at >= $now), "
                "count(*) FILTER (WHERE expires_at < $now) FROM ingest_locks",
                {"now": to_utc(now)},
            )[0]
            checks["ingest_locks"] = {"ok": True, "held": int(held), "expired": int(expired)}
        except DeskpulseError as exc:
            checks["ingest_locks"] = {"ok": False, "error": exc.message}
        try:
            backlog = self.sender.backlog(now)
            max_age = self.settings.notify_backlog_max_age
            checks["notification_outbox"] = {
                "ok": backlog["oldest_pending_seconds"] <= max_age, **backlog,
                "max_pending_age_seconds": max_age}
        except DeskpulseError as exc:
            checks["notification_outbox"] = {"ok": False, "error": exc.message}
        try:
            checks["notify_circuit"] = {"ok": True, **self.breaker.status_sync()}
        except DeskpulseError as exc:
            checks["notify_circuit"] = {"ok": False, "error": exc.message}
        checks["connector"] = self._reachability()
        return checks

    def _reachability(self) -> dict[str, Any]:
        """Can we reach the configured helpdesk API? (cached for 10 s; costs no rate-limit slot)."""
        s = self.settings
        configured = "helpdesk_url" in s.model_fields_set
        targets: dict[str, str] = {}
        if configured:
            targets["simulator"] = s.helpdesk_url.rstrip("/") + "/health"
        if s.zendesk_url or s.zendesk_subdomain:
            targets["zendesk"] = s.zendesk_url or f"https://{s.zendesk_subdomain}.zendesk.com"
        if s.intercom_token is not None:
            targets["intercom"] = s.intercom_url
        if not targets:
            return {"ok": True, "configured": False}
        if self._reach is not None and time.monotonic() - self._reach[0] < 10.0:
            return self._reach[1]
        result: dict[str, Any] = {"ok": True, "configured": True, "targets": {}}
        for name, url in targets.items():
            try:
                resp = httpx.get(url, timeout=s.health_connector_timeout)
                up = resp.status_code < 500
                result["targets"][name] = {"ok": up, "status": resp.status_code}
            except httpx.HTTPError as exc:
                up = False
                result["targets"][name] = {"ok": False, "error": type(exc).__name__}
            result["ok"] = result["ok"] and up
        self._reach = (time.monotonic(), result)
        return result
