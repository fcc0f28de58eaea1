"""Retries written with asyncio: exponential backoff with jitter, no retry library.

``Backoff.delay(attempt)`` is "full jitter" over an exponential ceiling:
``uniform(0, min(cap, base * 2**attempt))`` with at least ``base / 2`` (so retries never
hammer the peer back-to-back). :func:`retry_async` runs a coroutine factory until it succeeds,
an error is not retryable, or the attempts run out; waiting goes through the injected clock.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from deskpulse.ingest.sync.clock import SYSTEM_CLOCK, Clock

T = TypeVar("T")


@dataclass
class Backoff:
    """Exponential backoff with full jitter (``rng`` injectable for deterministic tests)."""

    base: float = 0.5
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def ceiling(self, attempt: int) -> float:
        """The largest delay after ``attempt`` failures (attempt 0 = the first retry)."""
        return float(min(self.cap, self.base * (2 ** min(attempt, 60))))

    def delay(self, attempt: int) -> float:
        top = self.ceiling(attempt)
        return max(min(self.base / 2, top), self.rng.uniform(0.0, top))


class RetryError(Exception):
    """Every attempt failed; ``last`` is the final error."""

    def __init__(self, attempts: int, last: BaseException) -> None:
        super().__init__(f"gave up after {attempts} attempt(s): {last}")
        self.attempts = attempts
        self.last = last


async def retry_async(
    fn: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    backoff: Backoff,
    retry_if: Callable[[BaseException], bool],
    clock: Clock = SYSTEM_CLOCK,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> T:
    """Await ``fn()`` until it returns; retry errors for which ``retry_if`` holds."""
    for attempt in range(attempts):
        try:
            return await fn()
        except Exception as exc:
            if not retry_if(exc) or attempt == attempts - 1:
                if attempt == attempts - 1 and retry_if(exc):
                    raise RetryError(attempts, exc) from exc
                raise
            wait = backoff.delay(attempt)
            if on_retry is not None:
                on_retry(attempt + 1, exc, wait)
            await clock.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
