"""The connector interface, and the HTTP client every connector talks through.

:class:`HttpClient` is where the outbound rules live: each request first takes a slot from the
global rate limiter; a 429 records its ``Retry-After`` in the shared limiter (every process
waits) and the request is repeated; 5xx answers and network errors are retried with
exponential backoff and jitter up to ``max_attempts``; other 4xx answers fail at once.
Pagination stays in the connectors' own loops (seed 004: no client helper hides it).
"""

from __future__ import annotations

import email.utils
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import pyarrow as pa

from deskpulse.errors import ComponentMissingError, DeskpulseError
from deskpulse.ingest.sync.clock import SYSTEM_CLOCK, Clock
from deskpulse.ingest.sync.ratelimit import RateLimiter, Unlimited
from deskpulse.ingest.sync.retry import Backoff
from deskpulse.settings import SyncSettings

log = logging.getLogger(__name__)

CONNECTORS = ("simulator", "zendesk", "intercom")


class ConnectorError(DeskpulseError):
    """The helpdesk API failed (after retries) or answered something unusable."""

    code = "connector_error"
    exit_code = 6
    http_status = 502


@dataclass
class Page:
    """One page of a source, mapped onto canonical rows."""

    tickets: pa.Table  # model.TICKET_SCHEMA (deleted tickets carry deleted_at)
    events: pa.Table | None = None  # model.EVENT_SCHEMA + seq, or None
    total_pages: int | None = None  # when the source can tell
    state: dict[str, Any] | None = None  # resume position after this page (saved with it)
    rejected: int = 0  # rows that could not be mapped (missing id/created_at …)
    notes: list[str] = field(default_factory=list)


class Connector(Protocol):
    """A source of tickets. ``pages`` loops over the source's pagination itself."""

    name: str
    #: True when a complete run lists every live ticket: the ones it did not list are deleted.
    full_listing: bool

    def pages(self, http: HttpClient, state: dict[str, Any] | None) -> AsyncIterator[Page]: ...

    async def ping(self, http: HttpClient) -> None: ...


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


class HttpClient:
    """Rate-limited, retrying requests (see the module docstring)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        limiter: RateLimiter | None = None,
        backoff: Backoff | None = None,
        max_attempts: int = 5,
        max_throttled: int = 50,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.client = client
        self.limiter: RateLimiter = limiter or Unlimited()
        self.backoff = backoff or Backoff()
        self.max_attempts = max_attempts
        self.max_throttled = max_throttled
        self.clock = clock
        self.calls = 0
        self.throttled = 0
        self.retries = 0

    async def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        failures = 0
        throttled = 0
        while True:
            await self.limiter.acquire()
            self.calls += 1
            try:
                resp = await self.client.request(method, url, **kw)
            except httpx.TransportError as exc:
                failures += 1
                if failures >= self.max_attempts:
                    raise ConnectorError(
                        f"{method} {_safe(url)}: {type(exc).__name__} after {failures} attempts",
                        url=_safe(url),
                    ) from exc
                self.retries += 1
                await self.clock.sleep(self.backoff.delay(failures - 1))
                continue
            if resp.status_code == 429:
                throttled += 1
                self.throttled += 1
                wait = parse_retry_after(resp.headers.get("Retry-After"), self.clock.now())
                wait = wait if wait is not None else self.backoff.delay(throttled - 1)
                log.info("429 from %s: waiting %.2f s", _safe(url), wait)
                if throttled > self.max_throttled:
                    raise ConnectorError(f"{method} {_safe(url)}: still throttled after "
                                         f"{throttled} attempts", url=_safe(url))
                await self.limiter.block_for(wait)  # every process backs off …
                await self.clock.sleep(wait)  # … and so does this request
                continue
            if resp.status_code >= 500:
                failures += 1
                if failures >= self.max_attempts:
                    raise ConnectorError(
                        f"{method} {_safe(url)}: HTTP {resp.status_code} after {failures} attempts",
                        url=_safe(url), status=resp.status_code,
                    )
                self.retries += 1
                await self.clock.sleep(self.backoff.delay(failures - 1))
                continue
            if resp.status_code in (401, 403):
                raise ComponentMissingError(
                    f"{method} {_safe(url)}: HTTP {resp.status_code}: check the API credentials",
                    url=_safe(url), status=resp.status_code,
                )
            if resp.status_code >= 400:
                raise ConnectorError(
                    f"{method} {_safe(url)}: HTTP {resp.status_code}", url=_safe(url),
                    status=resp.status_code,
                )
            return resp

    async def get_json(self, url: str, **kw: Any) -> Any:
        resp = await self.request("GET", url, **kw)
        return _json(resp, url)

    async def get_bytes(self, url: str, **kw: Any) -> bytes:
        """The raw body (for connectors that parse pages off the event loop)."""
        resp = await self.request("GET", url, **kw)
        return resp.content

    async def post_json(self, url: str, body: Any, **kw: Any) -> Any:
        resp = await self.request("POST", url, json=body, **kw)
        return _json(resp, url)


def _json(resp: httpx.Response, url: str) -> Any:
    try:
        return resp.json()
    except ValueError as exc:
        raise ConnectorError(f"GET {_safe(url)}: the answer is not JSON", url=_safe(url)) from exc


def _safe(url: str) -> str:
    """A URL without its query string (cursors can be long; no secret travels in a URL)."""
    return url.split("?", 1)[0]


def make_connector(name: str, settings: SyncSettings, tenant_id: str) -> Connector:
    """The connector ``name`` configured from settings (secrets from the environment)."""
    if name == "simulator":
        from deskpulse.ingest.sync.connectors.simulator import SimulatorConnector

        return SimulatorConnector(settings.helpdesk_url, tenant_id, page_size=settings.sync_page_size,
                                  mode=settings.simulator_pagination)
    if name == "zendesk":
        from deskpulse.ingest.sync.connectors.zendesk import ZendeskConnector

        return ZendeskConnector.from_settings(settings)
    if name == "intercom":
        from deskpulse.ingest.sync.connectors.intercom import IntercomConnector

        return IntercomConnector.from_settings(settings)
    from deskpulse.errors import UsageError

    raise UsageError(f"unknown connector {name!r}: use {', '.join(CONNECTORS)}", connector=name)
