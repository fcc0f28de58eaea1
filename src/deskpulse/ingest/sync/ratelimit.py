"""The global outbound rate limit: at most N calls in any window, across tenants and processes.

A sliding log in the store (``rate_limit_calls``), serialised by a row lock on the limiter's
``rate_limits`` row: each acquisition opens a transaction whose first statement is an UPDATE of
that row (PostgreSQL holds its lock until commit, so concurrent acquirers — in any process —
queue there), counts the calls of the last ``window + margin`` seconds and either logs a new
call or answers how long to wait. A 429's ``Retry-After`` is recorded as ``blocked_until`` on
the same row, so every process backs off, not only the one that was refused. The margin
covers the time between our decision and the request reaching the server.

On DuckDB (embedded, one process) the same statements run; the store's lock serialises them.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from deskpulse.ingest.sync.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)


class RateLimiter(Protocol):
    async def acquire(self) -> float: ...

    async def block_for(self, seconds: float) -> None: ...


class Unlimited:
    """No limit (the simulator's limit lifted, e.g. for benchmarks)."""

    calls = 0

    async def acquire(self) -> float:
        self.calls += 1
        return 0.0

    async def block_for(self, seconds: float) -> None:
        return None


@dataclass
class Decision:
    allowed: bool
    wait: float
    at: float = 0.0  # when the call was logged (allowed decisions)


class StoreRateLimiter:
    """Sliding-window limit shared through the store (see the module docstring)."""

    def __init__(
        self,
        store: Any,
        name: str = "helpdesk",
        *,
        limit: int = 60,
        window: float = 60.0,
        margin: float = 0.5,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1 (use Unlimited for no limit)")
        self.store = store
        self.name = name
        self.limit = limit
        self.window = window
        self.margin = margin
        self.clock = clock
        self.calls = 0
        self._ready = False

    def _ensure_row(self) -> None:
        if not self._ready:
            self.store.execute(
                "INSERT INTO rate_limits (name, blocked_until) VALUES ($n, 0) "
                "ON CONFLICT (name) DO NOTHING",
                {"n": self.name},
            )
            self._ready = True

    def try_acquire(self, now: float | None = None) -> Decision:
        """One atomic attempt: log a call and allow it, or say how long to wait."""
        span = self.window + self.margin
        self._ensure_row()
        with self.store.transaction():
            row = self.store.execute(
                "UPDATE rate_limits SET blocked_until = blocked_until WHERE name = $n "
                "RETURNING blocked_until",
                {"n": self.name},
            )
            # read the clock only now that we hold the row: decisions are then in time order
            now = self.clock.now() if now is None else now
            blocked_until = float(row[0][0]) if row else 0.0
            if now < blocked_until:
                return Decision(False, blocked_until - now)
            self.store.execute(  # keep a second window of history: clocks of processes differ
                "DELETE FROM rate_limit_calls WHERE name = $n AND called_at <= $old",
                {"n": self.name, "old": now - 2 * span},
            )
            count, oldest = self.store.execute(
                "SELECT count(*), min(called_at) FROM rate_limit_calls "
                "WHERE name = $n AND called_at > $since",
                {"n": self.name, "since": now - span},
            )[0]
            if int(count) >= self.limit:
                # the oldest logged calls must leave the window before another may start
                excess = int(count) - self.limit + 1
                edge = self.store.execute(
                    "SELECT called_at FROM rate_limit_calls WHERE name = $n AND called_at > $since "
                    "ORDER BY called_at LIMIT 1 OFFSET $k",
                    {"n": self.name, "since": now - span, "k": excess - 1},
                )
                first = float(edge[0][0]) if edge else float(oldest)
                return Decision(False, max(0.001, first + span - now))
            self.store.execute(
                "INSERT INTO rate_limit_calls (name, called_at) VALUES ($n, $at)",
                {"n": self.name, "at": now},
            )
        self.calls += 1
        return Decision(True, 0.0, now)

    async def acquire(self) -> float:
        """Wait until a call may go out; returns the instant its slot was logged at."""
        while True:
            d = await asyncio.to_thread(self.try_acquire)
            if d.allowed:
                return d.at
            await self.clock.sleep(min(d.wait, self.window + self.margin))

    def block_sync(self, seconds: float, now: float | None = None) -> None:
        now = self.clock.now() if now is None else now
        self._ensure_row()
        self.store.execute(
            "UPDATE rate_limits SET blocked_until = greatest(blocked_until, $until) WHERE name = $n",
            {"n": self.name, "until": now + max(0.0, seconds)},
        )
        log.info("rate limit %s: blocked for %.1f s (Retry-After)", self.name, seconds)

    async def block_for(self, seconds: float) -> None:
        """Every process waits ``seconds`` from now (a 429's Retry-After)."""
        await asyncio.to_thread(self.block_sync, seconds)
