"""The circuit breaker of seed 004 Task 11, written here (no breaker library).

Rules: CLOSED → OPEN when at least ``failures`` (5) of the last ``window`` (10) calls failed;
OPEN → HALF_OPEN once ``open_seconds`` (30) have passed; HALF_OPEN → CLOSED on one success,
→ OPEN on one failure. While OPEN every call fails fast (:class:`CircuitOpenError`) without
touching the network; HALF_OPEN lets one probe through at a time.

:class:`BreakerState` and its transition functions are pure (time is a parameter).
:class:`CircuitBreaker` keeps the state in memory; :class:`StoredBreaker` keeps it in the
``circuit_breakers`` table with an optimistic version check, so every worker process shares one
breaker, ``GET /circuit/notify/status`` answers the same everywhere, and an admin reset reaches
the sender wherever it runs.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from deskpulse.ingest.sync.clock import SYSTEM_CLOCK, Clock, to_utc

T = TypeVar("T")


class State(enum.StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


class CircuitOpenError(Exception):
    """The call was refused without being made: the circuit is open (or probing)."""

    def __init__(self, name: str, retry_at: float | None) -> None:
        super().__init__(f"circuit {name!r} is open")
        self.name = name
        self.retry_at = retry_at


@dataclass(frozen=True)
class Policy:
    failures: int = 5
    window: int = 10
    open_seconds: float = 30.0
    probe_seconds: float = 30.0  # how long a HALF_OPEN probe may take before another is allowed


@dataclass(frozen=True)
class BreakerState:
    """The breaker at one instant: state, the last calls ("1" ok / "0" failed), timings."""

    state: State = State.CLOSED
    results: str = ""
    opened_at: float | None = None
    probe_until: float | None = None

    def failures(self) -> int:
        return self.results.count("0")


def current(s: BreakerState, now: float, p: Policy) -> BreakerState:
    """The state as time alone changes it: OPEN becomes HALF_OPEN after the open period."""
    if s.state is State.OPEN and s.opened_at is not None and now - s.opened_at >= p.open_seconds:
        return replace(s, state=State.HALF_OPEN, probe_until=None)
    return s


def admit(s: BreakerState, now: float, p: Policy) -> tuple[bool, BreakerState]:
    """May a call go out now? Returns the decision and the state to keep."""
    s = current(s, now, p)
    if s.state is State.CLOSED:
        return True, s
    if s.state is State.OPEN:
        return False, s
    if s.probe_until is not None and now < s.probe_until:  # a probe is already out
        return False, s
    return True, replace(s, probe_until=now + p.probe_seconds)


def record(s: BreakerState, ok: bool, now: float, p: Policy) -> BreakerState:
    """The state after a call's outcome."""
    s = current(s, now, p)
    if s.state is State.HALF_OPEN:
        if ok:
            return BreakerState()
        return BreakerState(State.OPEN, "", now, None)
    if s.state is State.OPEN:  # a call admitted before the circuit opened: just note it
        return s
    results = (s.results + ("1" if ok else "0"))[-p.window :]
    if results.count("0") >= p.failures:
        return BreakerState(State.OPEN, results, now, None)
    return replace(s, results=results)


def retry_at(s: BreakerState, p: Policy) -> float | None:
    if s.state is State.OPEN and s.opened_at is not None:
        return s.opened_at + p.open_seconds
    if s.state is State.HALF_OPEN:
        return s.probe_until
    return None


def describe(name: str, s: BreakerState, now: float, p: Policy) -> dict[str, Any]:
    """The status document of ``GET /circuit/{name}/status``."""
    s = current(s, now, p)
    nxt = retry_at(s, p)
    return {
        "name": name,
        "state": s.state.value,
        "failures_in_window": s.failures(),
        "calls_in_window": len(s.results),
        "window": p.window,
        "failure_threshold": p.failures,
        "open_seconds": p.open_seconds,
        "opened_at": to_utc(s.opened_at).isoformat() + "Z" if s.opened_at is not None else None,
        "retry_at": to_utc(nxt).isoformat() + "Z" if nxt is not None else None,
    }


class CircuitBreaker:
    """An in-memory breaker around awaitables (one process)."""

    def __init__(self, name: str, policy: Policy | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.name = name
        self.policy = policy or Policy()
        self.clock = clock
        self.state = BreakerState()

    def status(self) -> dict[str, Any]:
        return describe(self.name, self.state, self.clock.now(), self.policy)

    def reset(self) -> None:
        self.state = BreakerState()

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        ok, self.state = admit(self.state, self.clock.now(), self.policy)
        if not ok:
            raise CircuitOpenError(self.name, retry_at(self.state, self.policy))
        try:
            result = await fn()
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                self.state = record(self.state, False, self.clock.now(), self.policy)
            raise
        self.state = record(self.state, True, self.clock.now(), self.policy)
        return result


class StoredBreaker:
    """A breaker whose state lives in the ``circuit_breakers`` table (shared by processes).

    Reads and writes go through ``store`` (a :class:`deskpulse.store.Store`); every change is
    a compare-and-set on ``version``, retried on a lost race, so concurrent senders never lose
    an outcome. Blocking database calls run in a worker thread.
    """

    def __init__(self, store: Any, name: str, policy: Policy | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.store = store
        self.name = name
        self.policy = policy or Policy()
        self.clock = clock

    # --- synchronous core (callable from threads) ------------------------------------------

    def load(self) -> tuple[BreakerState, int]:
        rows = self.store.execute(
            "SELECT state, results, opened_at, probe_until, version FROM circuit_breakers "
            "WHERE name = $n",
            {"n": self.name},
        )
        if not rows:
            self.store.execute(
                "INSERT INTO circuit_breakers (name, state, results, opened_at, probe_until, "
                "version, updated_at) VALUES ($n, 'CLOSED', '', NULL, NULL, 0, $now) "
                "ON CONFLICT (name) DO NOTHING",
                {"n": self.name, "now": to_utc(self.clock.now())},
            )
            return BreakerState(), 0
        st, res, opened, probe, version = rows[0]
        return BreakerState(State(st), res or "", opened, probe), int(version)

    def _save(self, s: BreakerState, version: int) -> bool:
        rows = self.store.execute(
            "UPDATE circuit_breakers SET state = $s, results = $r, opened_at = $o, "
            "probe_until = $p, version = version + 1, updated_at = $now "
            "WHERE name = $n AND version = $v RETURNING version",
            {"s": s.state.value, "r": s.results, "o": s.opened_at, "p": s.probe_until,
             "now": to_utc(self.clock.now()), "n": self.name, "v": version},
        )
        return bool(rows)

    def _update(self, fn: Callable[[BreakerState], tuple[Any, BreakerState]]) -> Any:
        for _ in range(100):
            s, version = self.load()
            out, new = fn(s)
            if new == s or self._save(new, version):
                return out
        raise RuntimeError(f"circuit {self.name!r}: too much contention")  # pragma: no cover

    def admit_sync(self) -> tuple[bool, float | None]:
        now = self.clock.now()

        def step(s: BreakerState) -> tuple[tuple[bool, float | None], BreakerState]:
            ok, new = admit(s, now, self.policy)
            return (ok, retry_at(new, self.policy)), new

        result: tuple[bool, float | None] = self._update(step)
        return result

    def record_sync(self, ok: bool) -> None:
        now = self.clock.now()
        self._update(lambda s: (None, record(s, ok, now, self.policy)))

    def status_sync(self) -> dict[str, Any]:
        s, _ = self.load()
        return describe(self.name, s, self.clock.now(), self.policy)

    def reset_sync(self) -> dict[str, Any]:
        self._update(lambda s: (None, BreakerState()))
        return self.status_sync()

    # --- async API -----------------------------------------------------------------------------

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        ok, when = await asyncio.to_thread(self.admit_sync)
        if not ok:
            raise CircuitOpenError(self.name, when)
        try:
            result = await fn()
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                await asyncio.to_thread(self.record_sync, False)
            raise
        await asyncio.to_thread(self.record_sync, True)
        return result
