"""Serve a just-validated cached answer again without routing: the API's hot path.

The stats, metrics and ticket-list routes keep their JSON bodies in caches revalidated against
the tenant's data version at most once a second (``routes/stats.py``). A cache hit still cost
the whole request pipeline — routing over a hundred routes, the dependency chain (bearer
token, query validation, a read connection), a thread-pool hop for the ``def`` route — about
0.6–1 ms of CPU for a few hundred bytes already serialised. :class:`AnswerMemo` remembers,
for a short while, the exact answer a route gave to an exact request, and
:class:`AnswerMemoMiddleware` answers a repeat of that request (same caller, path and query
string) directly from it.

Correctness rests on three rules:

- **Only a route can add an answer** (:func:`remember`), after it validated the request and
  authorised the caller, and only 200 answers. The key holds the caller's whole
  :class:`~deskpulse.serve.auth.Principal` (subject, tenant, role), the path and the raw query
  string: a request that differs in any of them goes the normal way (and is validated there).
- **The caller is recognised only from a token already verified** by this process
  (:func:`~deskpulse.serve.auth.known_principal`: signature and claims checked once, expiry
  checked on every use; a login token only while the process's users snapshot, at most a
  second old, shows its session open). An unknown, forged or expired token, or a login token
  whose user was disabled, removed or got a new password, goes the normal way (401).
- **An answer is served only while its cache entry would be fresh**: it was validated
  against a data version of the tenant's clock (``routes/stats.py: TenantClock``), and it
  is valid while the clock still holds that version, read less than the revalidation
  interval ago — so a memo hit lags a write exactly as long as a cache hit could (≤ 1 s),
  never longer. A newer version ends it at once. Whatever the clock says, an answer lives
  at most :data:`MEMO_MAX_AGE_SECONDS` (a config change reaches the metrics within that
  time) and never past a bound the route sets (stats: the hourly trend's hour).

The memo is per process (each worker its own) and bounded; it is cleared when full.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol

from fastapi import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from deskpulse.serve.auth import Principal, known_principal
from deskpulse.settings import Settings

if TYPE_CHECKING:
    from deskpulse.serve.app import Metrics

#: The scope key under which the ``principal`` dependency leaves the authenticated caller.
PRINCIPAL_SCOPE_KEY: Final = "deskpulse.principal"
MEMO_MAX_ENTRIES: Final = 4096
#: A remembered answer is served for at most this long after the route gave it (whatever the
#: data version says: e.g. a changed config file reaches the metrics within this time); after
#: half of it, one request goes through the route again and renews the answer.
MEMO_MAX_AGE_SECONDS: Final = 2.0

_Key = tuple[Principal, str, bytes]


class Clock(Protocol):
    """The data version an answer depends on (``routes/stats.py: TenantClock``)."""

    state: tuple[Any, float]  #: (version, time.monotonic() when its read began)
    max_age: float  #: how long a read stays valid
    scheduled: bool

    def due(self, now: float) -> bool: ...

    def refresh(self) -> None: ...


class Validated(Protocol):
    """What the route's cache found (``routes/stats.py: Lookup``)."""

    @property
    def fresh_until(self) -> float: ...

    @property
    def version(self) -> Any: ...


class _Answer:
    __slots__ = ("status", "headers", "body", "counter", "clock", "version", "fresh_until", "until",
                 "renew_at", "renewing")

    def __init__(self, response: Response, counter: str | None, clock: Clock | None, version: Any,
                 fresh_until: float, until: float, renew_at: float) -> None:
        self.status = response.status_code
        self.headers = list(response.raw_headers)
        self.body = bytes(response.body)
        self.counter = counter
        self.clock = clock
        self.version = version
        self.fresh_until = fresh_until
        self.until = until
        self.renew_at = renew_at
        self.renewing = False

    def valid(self, now: float) -> bool:
        """True while the answer is as fresh as its cache entry would be."""
        if now >= self.until:
            return False
        clock = self.clock
        if clock is None:
            return now < self.fresh_until
        version, read_at = clock.state
        if version != self.version:
            return False  # the data changed since (or the clock was never read): ask the route
        return now < max(self.fresh_until, read_at + clock.max_age)


class AnswerMemo:
    """(caller, path, query string) -> a 200 answer and how long it stays valid."""

    def __init__(self, max_entries: int = MEMO_MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: dict[_Key, _Answer] = {}
        self._lock = threading.Lock()
        self.hits = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: _Key, now: float | None = None) -> _Answer | None:
        """The answer for ``key`` while it is valid (None otherwise)."""
        answer = self._entries.get(key)
        if answer is None:
            return None
        if not answer.valid(time.monotonic() if now is None else now):
            self._entries.pop(key, None)
            return None
        return answer

    def put(self, key: _Key, answer: _Answer) -> None:
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = answer

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def remember(request: Request, body: bytes, headers: Mapping[str, str], found: Validated | None,
             clock: Clock | None, *, until: float | None = None, counter: str | None = None) -> None:
    """Offer a route's 200 JSON answer to the memo: repeats of this exact request (same caller,
    path, query string) get ``body`` with ``headers`` while the answer is as fresh as the
    route's cache entry ``found`` (validated against ``found.version`` of ``clock``), for at
    most :data:`MEMO_MAX_AGE_SECONDS` and never past ``until`` (time.monotonic()).
    ``counter``: a Prometheus counter (``Metrics.inc``) to count each memo hit under."""
    memo: AnswerMemo | None = getattr(request.app.state, "answer_memo", None)
    caller = request.scope.get(PRINCIPAL_SCOPE_KEY)
    if memo is None or found is None or not isinstance(caller, Principal):
        return
    now = time.monotonic()
    limit = now + MEMO_MAX_AGE_SECONDS
    if until is not None:
        limit = min(limit, until)
    response = Response(body, media_type="application/json", headers=dict(headers))
    answer = _Answer(response, counter, clock, found.version, found.fresh_until, limit,
                     now + MEMO_MAX_AGE_SECONDS / 2)
    if answer.valid(now):
        memo.put((caller, request.scope["path"], request.scope.get("query_string", b"")), answer)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token else None
    return None


class AnswerMemoMiddleware:
    """Pure ASGI middleware: a GET whose answer is in the memo is answered from it.

    Two things keep answers valid under steady load without making any request wait: a hit
    on an answer whose tenant clock is half-way to stale schedules one background read of
    the data version, and the first request after an answer's ``renew_at`` goes through the
    route (which remembers a new answer) while the others are still served the current one.
    """

    def __init__(self, app: ASGIApp, memo: AnswerMemo, settings: Settings, metrics: Metrics | None = None) -> None:
        self.app = app
        self.memo = memo
        self.settings = settings
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and len(self.memo):
            token = _bearer(scope)
            secret = self.settings.jwt_secret.get_secret_value() if token else ""
            caller = known_principal(secret, token, scope.get("app")) if token and secret else None
            if caller is not None:
                now = time.monotonic()
                answer = self.memo.get((caller, scope["path"], scope.get("query_string", b"")), now)
                if answer is not None and (now < answer.renew_at or answer.renewing):
                    await self._serve(answer, now, send)
                    return
                if answer is not None:
                    answer.renewing = True  # this request renews it; the next ones are served
        await self.app(scope, receive, send)

    async def _serve(self, answer: _Answer, now: float, send: Send) -> None:
        self.memo.hits += 1
        if self.metrics is not None:
            self.metrics.inc("answer_memo_hits")
            if answer.counter is not None:
                self.metrics.inc(answer.counter)
        clock = answer.clock
        if clock is not None and clock.due(now):
            clock.scheduled = True  # on the event loop: one background read at a time
            asyncio.get_running_loop().run_in_executor(None, clock.refresh)
        await send({"type": "http.response.start", "status": answer.status, "headers": answer.headers})
        await send({"type": "http.response.body", "body": answer.body, "more_body": False})
