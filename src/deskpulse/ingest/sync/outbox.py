"""High-urgency notifications: the outbox table and the background sender (seed 004 Task 4).

Ingestion only *inserts* outbox rows (in the page's transaction, see :mod:`.apply`); it never
waits for the notification service. :class:`NotificationSender` runs beside it as an asyncio
task: it claims due rows with a lease (a conditional UPDATE, so several worker processes never
send the same row at once), posts each through the circuit breaker with the row's key as the
``Idempotency-Key`` header, marks successes ``sent``, and reschedules failures with exponential
backoff and jitter (``next_attempt_at``). While the breaker is open nothing is sent and rows
wait for it to half-open, without spending attempts. Delivery is at least once: a sender that
dies after posting but before marking re-sends after the lease expires, and the key lets the
receiver drop the duplicate. After ``max_attempts`` a row is ``failed`` (reported by /health).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC
from typing import Any

import httpx

from deskpulse.ingest.sync.breaker import CircuitOpenError, StoredBreaker
from deskpulse.ingest.sync.clock import SYSTEM_CLOCK, Clock, to_utc
from deskpulse.ingest.sync.retry import Backoff

log = logging.getLogger(__name__)

_COLS = ("idempotency_key", "tenant_id", "ticket_id", "kind", "subject", "rule", "job_id",
         "attempts", "created_at")


class DeliveryError(Exception):
    """The notification service did not accept the notification."""


class NotificationSender:
    def __init__(
        self,
        store: Any,
        breaker: StoredBreaker,
        url: str,
        *,
        clock: Clock = SYSTEM_CLOCK,
        backoff: Backoff | None = None,
        batch: int = 20,
        poll: float = 1.0,
        timeout: float = 5.0,
        max_attempts: int = 12,
        lease: float = 60.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.store = store
        self.breaker = breaker
        self.url = url
        self.clock = clock
        self.backoff = backoff or Backoff(1.0, 300.0)
        self.batch = batch
        self.poll = poll
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.lease = lease
        self._client = client
        self.sent = 0
        self.failed_attempts = 0

    # --- database steps (run in a worker thread) ---------------------------------------------

    def claim(self, now: float) -> list[dict[str, Any]]:
        """Lease up to ``batch`` due rows to this sender (atomic: a conditional UPDATE)."""
        free = "(lease_until IS NULL OR lease_until < $now)"
        rows = self.store.execute(
            f"UPDATE notification_outbox SET lease_until = $until WHERE idempotency_key IN ("  # noqa: S608
            f"SELECT idempotency_key FROM notification_outbox WHERE status = 'pending' "
            f"AND next_attempt_at <= $now AND {free} ORDER BY next_attempt_at LIMIT $n) "
            f"AND status = 'pending' AND {free} RETURNING {', '.join(_COLS)}",  # noqa: S608
            {"now": now, "until": now + self.lease, "n": self.batch},
        )
        return [dict(zip(_COLS, r, strict=True)) for r in rows]

    def mark_sent(self, key: str, now: float) -> None:
        self.store.execute(
            "UPDATE notification_outbox SET status = 'sent', sent_at = $at, lease_until = NULL, "
            "attempts = attempts + 1, last_error = NULL WHERE idempotency_key = $k",
            {"k": key, "at": to_utc(now)},
        )

    def mark_failed(self, key: str, attempts: int, error: str, now: float) -> None:
        if attempts >= self.max_attempts:
            self.store.execute(
                "UPDATE notification_outbox SET status = 'failed', attempts = $a, "
                "lease_until = NULL, last_error = $e WHERE idempotency_key = $k",
                {"k": key, "a": attempts, "e": error[:500]},
            )
            return
        self.store.execute(
            "UPDATE notification_outbox SET attempts = $a, next_attempt_at = $next, "
            "lease_until = NULL, last_error = $e WHERE idempotency_key = $k",
            {"k": key, "a": attempts, "next": now + self.backoff.delay(attempts - 1),
             "e": error[:500]},
        )

    def postpone(self, key: str, until: float) -> None:
        """The breaker is open: wait for it without spending an attempt."""
        self.store.execute(
            "UPDATE notification_outbox SET next_attempt_at = $next, lease_until = NULL "
            "WHERE idempotency_key = $k",
            {"k": key, "next": until},
        )

    def backlog(self, now: float | None = None) -> dict[str, Any]:
        """Counts by status and the age of the oldest pending row (for /health)."""
        now = self.clock.now() if now is None else now
        rows = self.store.execute(
            "SELECT status, count(*), min(created_at) FROM notification_outbox GROUP BY status"
        )
        counts = {str(s): int(n) for s, n, _ in rows}
        oldest = next((m for s, _, m in rows if s == "pending"), None)
        age = max(0.0, now - oldest.replace(tzinfo=UTC).timestamp()) if oldest else 0.0
        return {"pending": counts.get("pending", 0), "sent": counts.get("sent", 0),
                "failed": counts.get("failed", 0), "oldest_pending_seconds": round(age, 1)}

    # --- sending -------------------------------------------------------------------------------

    async def _post(self, client: httpx.AsyncClient, row: dict[str, Any]) -> None:
        body = {
            "idempotency_key": row["idempotency_key"],
            "kind": row["kind"],
            "tenant_id": row["tenant_id"],
            "ticket_id": row["ticket_id"],
            "subject": row["subject"],
            "urgency": "high",
            "rule": row["rule"],
        }
        try:
            resp = await client.post(self.url, json=body, timeout=self.timeout,
                                     headers={"Idempotency-Key": row["idempotency_key"]})
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}") from exc
        if resp.status_code >= 300:
            raise DeliveryError(f"HTTP {resp.status_code}")

    async def send_one(self, client: httpx.AsyncClient, row: dict[str, Any]) -> bool:
        key = row["idempotency_key"]
        attempts = int(row["attempts"]) + 1
        try:
            await self.breaker.call(lambda: self._post(client, row))
        except CircuitOpenError as exc:
            until = exc.retry_at if exc.retry_at is not None else self.clock.now() + 1.0
            await asyncio.to_thread(self.postpone, key, until)
            return False
        except DeliveryError as exc:
            self.failed_attempts += 1
            log.info("notification %s: attempt %d failed: %s", key, attempts, exc)
            await asyncio.to_thread(self.mark_failed, key, attempts, str(exc), self.clock.now())
            return False
        await asyncio.to_thread(self.mark_sent, key, self.clock.now())
        self.sent += 1
        return True

    async def run_once(self) -> int:
        """Claim and send one batch; returns how many rows were handled."""
        rows = await asyncio.to_thread(self.claim, self.clock.now())
        if not rows:
            return 0
        if self._client is not None:
            for row in rows:
                await self.send_one(self._client, row)
        else:
            async with httpx.AsyncClient() as client:
                for row in rows:
                    await self.send_one(client, row)
        return len(rows)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Send until ``stop`` is set; never raises (errors are logged and retried)."""
        while not stop.is_set():
            try:
                handled = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the sender must outlive a database or network hiccup
                log.exception("notification sender: batch failed")
                handled = 0
            if handled == 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.poll)

    async def drain(self, timeout: float) -> int:
        """Send due rows for at most ``timeout`` seconds (the CLI's one-shot sync)."""
        deadline = self.clock.now() + timeout
        total = 0
        while self.clock.now() < deadline:
            handled = await self.run_once()
            total += handled
            if handled == 0:
                pending = await asyncio.to_thread(self.backlog)
                if not pending["pending"]:
                    break
                await self.clock.sleep(min(self.poll, max(0.0, deadline - self.clock.now())))
        return total

