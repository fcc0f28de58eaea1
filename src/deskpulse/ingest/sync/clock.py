"""Time as a dependency: every piece that waits or compares instants takes a :class:`Clock`.

``SystemClock`` is wall time (epoch seconds, shared by every process on the machine, which
the cross-process rate limit and lock need) and ``asyncio.sleep``. ``ManualClock`` is for tests:
``sleep`` advances the clock instead of waiting, so a 30-second breaker timeout takes no time.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Epoch seconds now, and an awaitable sleep on the same time line."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Wall-clock time and real sleeping."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that only moves when told to, or when sleepers need it to.

    ``sleep`` is a discrete-event simulation: a sleeper whose wake-up time is the earliest of
    all current sleepers moves the clock to it; the others keep waiting for theirs. So
    concurrent sleepers see consistent time, and a 30-second wait takes no real time.
    """

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.t = float(start)
        self.slept: list[float] = []
        self._waiting: list[float] = []

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        target = self.t + max(0.0, seconds)
        self._waiting.append(target)
        try:
            await asyncio.sleep(0)
            while self.t < target:
                if target <= min(self._waiting):
                    self.t = target
                else:
                    await asyncio.sleep(0)
        finally:
            self._waiting.remove(target)


def to_utc(epoch: float) -> datetime:
    """Epoch seconds as the store's naive-UTC datetime (microseconds kept)."""
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


SYSTEM_CLOCK = SystemClock()
