"""Notifications: the outbox sender's retries (exponential backoff with jitter), at-least-once
delivery with an idempotency key, every circuit-breaker transition with injected time, and
ingestion never waiting for the notification service."""

from __future__ import annotations

import asyncio
import random
import time

import httpx
import pytest

from deskpulse.ingest.sync import breaker as cb
from deskpulse.ingest.sync.breaker import (
    CircuitBreaker,
    CircuitOpenError,
    Policy,
    State,
    StoredBreaker,
)
from deskpulse.ingest.sync.clock import ManualClock
from deskpulse.ingest.sync.outbox import NotificationSender
from deskpulse.ingest.sync.retry import Backoff, RetryError, retry_async
from deskpulse.store import open_store

T0 = 1_767_225_600.0


def test_backoff_is_exponential_with_bounded_jitter():
    b = Backoff(base=1.0, cap=60.0, rng=random.Random(3))
    assert [b.ceiling(i) for i in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    for attempt in range(10):
        delays = [b.delay(attempt) for _ in range(200)]
        assert all(0.5 <= d <= b.ceiling(attempt) for d in delays)
        assert len({round(d, 6) for d in delays}) > 100  # jittered, not a fixed schedule


def test_retry_async_waits_through_the_clock():
    clock = ManualClock()
    calls = []

    async def flaky() -> str:
        calls.append(clock.now())
        if len(calls) < 4:
            raise ConnectionError("down")
        return "ok"

    b = Backoff(base=1.0, cap=10.0, rng=random.Random(1))
    assert asyncio.run(retry_async(flaky, attempts=5, backoff=b, clock=clock,
                                   retry_if=lambda e: isinstance(e, ConnectionError))) == "ok"
    gaps = [b - a for a, b in zip(calls, calls[1:], strict=False)]
    assert len(gaps) == 3 and all(g > 0 for g in gaps)
    with pytest.raises(RetryError):
        asyncio.run(retry_async(_always_fails, attempts=3, backoff=b, clock=clock,
                                retry_if=lambda e: True))
    with pytest.raises(ValueError):  # not retryable: raised at once
        asyncio.run(retry_async(_bad_value, attempts=3, backoff=b, clock=clock,
                                retry_if=lambda e: isinstance(e, ConnectionError)))


async def _always_fails() -> None:
    raise ConnectionError("down")


async def _bad_value() -> None:
    raise ValueError("bad")


def test_breaker_transitions_pure():
    p = Policy(failures=5, window=10, open_seconds=30.0)
    s = cb.BreakerState()
    for ok in (True, False, True, False, False, True, False):  # 4 failures in 7
        s = cb.record(s, ok, T0, p)
    assert s.state is State.CLOSED
    s = cb.record(s, False, T0, p)  # the 5th failure among the last 10
    assert s.state is State.OPEN and s.opened_at == T0
    assert cb.admit(s, T0 + 29.9, p)[0] is False  # fail fast while open
    ok, s2 = cb.admit(s, T0 + 30.0, p)
    assert ok and s2.state is State.HALF_OPEN
    assert cb.admit(s2, T0 + 30.1, p)[0] is False  # one probe at a time
    assert cb.record(s2, True, T0 + 31, p).state is State.CLOSED
    reopened = cb.record(s2, False, T0 + 31, p)
    assert reopened.state is State.OPEN and reopened.opened_at == T0 + 31
    # failures slide out of the window: 4 old failures then 10 successes never open it
    s = cb.BreakerState()
    for ok in [False] * 4 + [True] * 10 + [False] * 4:
        s = cb.record(s, ok, T0, p)
    assert s.state is State.CLOSED and s.failures() == 4


def test_breaker_fails_fast_without_calling():
    clock = ManualClock(T0)
    br = CircuitBreaker("notify", Policy(), clock)
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("down")

    async def up() -> str:
        nonlocal calls
        calls += 1
        return "ok"

    async def scenario() -> None:
        for _ in range(5):
            with pytest.raises(httpx.ConnectError):
                await br.call(down)
        assert br.status()["state"] == "OPEN"
        with pytest.raises(CircuitOpenError) as e:
            await br.call(up)
        assert calls == 5 and e.value.retry_at == T0 + 30
        clock.advance(30)
        assert br.status()["state"] == "HALF_OPEN"
        assert await br.call(up) == "ok"
        assert br.status()["state"] == "CLOSED"

    asyncio.run(scenario())


def test_stored_breaker_is_shared_and_resettable(db_url):
    store = open_store(db_url)
    clock = ManualClock(T0)
    a = StoredBreaker(store, "notify", clock=clock)
    b = StoredBreaker(store, "notify", clock=clock)  # another worker process
    for _ in range(5):
        a.record_sync(False)
    assert b.status_sync()["state"] == "OPEN"
    assert b.admit_sync() == (False, T0 + 30)
    clock.advance(30)
    assert b.admit_sync()[0] is True  # b's probe …
    assert a.admit_sync()[0] is False  # … and a waits for it
    assert a.status_sync()["state"] == "HALF_OPEN"
    b.record_sync(False)
    assert a.status_sync()["state"] == "OPEN"
    assert a.reset_sync()["state"] == "CLOSED"
    assert b.status_sync()["failures_in_window"] == 0
    store.close()


def _queue(store, n: int, tenant: str = "n1") -> list[str]:
    keys = [f"{tenant}:{i}:urgent_ticket:1" for i in range(n)]
    for i, k in enumerate(keys):
        store.execute(
            "INSERT INTO notification_outbox (idempotency_key, tenant_id, ticket_id, kind, subject, "
            "rule, job_id, status, attempts, next_attempt_at, created_at) VALUES ($k, $t, $i, "
            "'urgent_ticket', 'refund', 'refund', 'j', 'pending', 0, $at, now())",
            {"k": k, "t": tenant, "i": str(i), "at": T0})
    return keys


def test_sender_retries_with_backoff_until_delivered(sim, db_url):
    store = open_store(db_url)
    clock = ManualClock(T0)
    keys = _queue(store, 1)
    sim.fail_next_notify(3)
    sender = NotificationSender(store, StoredBreaker(store, "notify", clock=clock),
                                f"{sim.base}/notify", clock=clock,
                                backoff=Backoff(2.0, 60.0, random.Random(5)), poll=0.01)

    async def scenario() -> list[tuple[int, float]]:
        seen = []
        while True:
            handled = await sender.run_once()
            row = store.execute("SELECT status, attempts, next_attempt_at FROM notification_outbox")[0]
            if row[0] == "sent":
                return seen
            if handled:
                seen.append((int(row[1]), float(row[2]) - clock.now()))
            clock.advance(1.0)

    waits = asyncio.run(scenario())
    assert [a for a, _ in waits] == [1, 2, 3]
    for attempt, wait in waits:  # the k-th retry waits within (base/2, base * 2**(k-1)]
        assert 1.0 <= wait <= 2.0 * 2 ** (attempt - 1)
    log = sim.notify_log()
    assert log["attempts"] == 4 and log["delivered"] == {keys[0]: 1}
    row = store.execute("SELECT status, attempts, sent_at FROM notification_outbox")[0]
    assert row[0] == "sent" and row[1] == 4 and row[2] is not None
    store.close()


def test_open_circuit_postpones_without_spending_attempts_and_resumes(sim, db_url):
    store = open_store(db_url)
    clock = ManualClock(T0)
    _queue(store, 8)
    sim.config(notify_fail_rate=1.0)
    br = StoredBreaker(store, "notify", clock=clock)
    sender = NotificationSender(store, br, f"{sim.base}/notify", clock=clock, batch=8,
                                backoff=Backoff(1.0, 5.0, random.Random(2)))
    asyncio.run(sender.run_once())
    assert br.status_sync()["state"] == "OPEN"
    assert sim.notify_log()["attempts"] == 5  # the other 3 failed fast, never sent
    rows = store.execute("SELECT attempts, next_attempt_at FROM notification_outbox ORDER BY attempts")
    assert [r[0] for r in rows] == [0, 0, 0, 1, 1, 1, 1, 1]
    assert all(r[1] == T0 + 30 for r in rows if r[0] == 0)
    sim.config(notify_fail_rate=0.0)
    clock.advance(30)
    asyncio.run(sender.run_once())  # the half-open probe succeeds, then the rest go out
    assert br.status_sync()["state"] == "CLOSED"
    for _ in range(3):
        clock.advance(10)
        asyncio.run(sender.run_once())
    assert store.execute("SELECT count(*) FROM notification_outbox WHERE status = 'sent'")[0][0] == 8
    store.close()


def test_at_least_once_with_idempotency_key(sim, db_url):
    store = open_store(db_url)
    clock = ManualClock(T0)
    keys = _queue(store, 2)
    sender = NotificationSender(store, StoredBreaker(store, "notify", clock=clock),
                                f"{sim.base}/notify", clock=clock, lease=5.0)
    rows = sender.claim(clock.now())  # a sender claims, posts, then dies before marking

    async def post_only() -> None:
        async with httpx.AsyncClient() as c:
            for r in rows:
                await sender._post(c, r)

    asyncio.run(post_only())
    assert sender.claim(clock.now()) == []  # leased: nobody else sends it meanwhile
    clock.advance(6)  # the lease expires: another sender re-sends
    asyncio.run(sender.run_once())
    log = sim.notify_log()
    assert log["delivered"] == {keys[0]: 2, keys[1]: 2}  # the receiver sees the same key twice
    assert store.execute("SELECT count(*) FROM notification_outbox WHERE status = 'sent'")[0][0] == 2
    store.close()


def test_ingestion_does_not_wait_for_notifications(sim, sync_settings, db_url):
    sim.seed("fast", 100)
    sim.mutate("fast", update_ids=list(range(1, 40)), set={"subject": "Refund now, urgent"})
    sim.config(notify_latency=2.0)
    store = open_store(db_url)

    async def go() -> tuple[float, int]:
        from deskpulse.ingest.sync.service import SyncService

        svc = SyncService(store, sync_settings(notify_enabled=True, notify_poll=0.05))
        await svc.start()
        try:
            t = time.monotonic()
            job = await asyncio.to_thread(svc.runner.start, "fast", None)
            await svc.runner.run(job)
            took = time.monotonic() - t
            pending = (await asyncio.to_thread(svc.sender.backlog))["pending"]
            return took, pending
        finally:
            await svc.stop()

    took, pending = asyncio.run(go())
    assert took < 2.0  # 39+ notifications at 2 s each are still queued, the ingest is done
    assert pending >= 30
    store.close()
