"""``GET /tenants/{tenant_id}/stats`` (seed 004, Task 3): tenant statistics computed in the database.

Mounted at the root (seed 004's clients) and under ``/api/v1``. Every figure is an aggregate
query in the store (DuckDB or PostgreSQL); Python only names the results:

- ``total_tickets`` and ``by_status`` (all six statuses, zeros included), soft-deleted
  tickets left out, over ``created_at`` in [from_date, to_date) when given;
- ``urgency_high_ratio``: tickets with urgency ``high`` / tickets in the window. Urgency is
  the ``tickets.urgency`` column (ingestion's classification), else ``extra.urgency`` (an
  input column kept by import). **0 when no ticket has urgency data**; ``urgency.source`` and
  ``urgency.classified_tickets`` tell which case applies;
- ``hourly_trend``: tickets created in each of the 24 hours ending with the current hour
  (or with the last hour before ``to_date``), zeros included (``generate_series``);
- ``top_keywords``: words of subject + description of the newest :data:`KEYWORD_TICKETS`
  tickets of the window (all of them in a window holding fewer), tokenised in SQL
  (lower-cased, split on anything but ASCII letters and digits, ≥ 3 characters, not only
  digits, not in :data:`STOP_WORDS`), counted as occurrences; ``keyword_tickets`` says how
  many tickets were read. The cap keeps the cost of a cold request bounded (tokenising is
  the one expensive figure: about 0.45 s per 100k tickets on DuckDB);
- ``at_risk_customers``: requesters of unsolved tickets with an open SLA instance that is
  breached (``active_breached``) or at risk (``active`` with at most :data:`AT_RISK_SHARE`
  of its target left), as of the last build, most breached first.

Results are cached per tenant, window and hour, and revalidated against the tenant's data
version (:func:`data_version`: newest load — every ticket write sets it —, ticket count, last
build), read at most every half second per tenant and shared by every cached answer of it
(:class:`TenantClock`), so an answer lags the data it describes by at most a second; a
30-second ceiling covers writes that change none of those. ``X-Stats-Cache: hit|miss`` says
which happened. Repeats of a request are answered by the answer memo (``serve/memo.py``)
under the same freshness rule. The caches are per process (each worker keeps its own).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from deskpulse.model import STATUSES
from deskpulse.serve.auth import CurrentPrincipal
from deskpulse.serve.deps import ReadRepo
from deskpulse.serve.memo import remember
from deskpulse.serve.routes._shared import (
    ERROR_RESPONSES,
    WHEN_PATTERN,
    aware,
    check_range,
    parse_when,
    urgency_expr,
    utcnow,
)
from deskpulse.store import TenantStore

log = logging.getLogger(__name__)

root_router = APIRouter(tags=["stats"], responses=ERROR_RESPONSES)

#: An ``active`` SLA instance with at most this share of its target left is "at risk".
AT_RISK_SHARE = 0.25
#: top_keywords reads the newest this-many tickets of the window (bounded cost per request).
KEYWORD_TICKETS = 20_000
CACHE_TTL_SECONDS = 30.0
CACHE_REVALIDATE_SECONDS = 1.0
CACHE_MAX_ENTRIES = 512
#: An entry used in the last fifth of its TTL is recomputed by one caller before it expires.
REFRESH_AHEAD_SHARE = 0.2

#: Words that say nothing about a ticket's topic: English function words and helpdesk
#: pleasantries. Tokens shorter than 3 characters never count, so they are not listed.
STOP_WORDS: frozenset[str] = frozenset({
    "able", "about", "above", "after", "afternoon", "again", "against", "all", "already", "also",
    "always", "and", "any", "anyone", "anything", "appreciate", "appreciated", "are", "aren",
    "asap", "because", "been", "before", "being", "below", "best", "between", "both", "but",
    "can", "cannot", "cheers", "could", "couldn", "dear", "did", "didn", "does", "doesn", "doing",
    "don", "down", "during", "each", "etc", "even", "evening", "ever", "everything", "few", "for",
    "from", "further", "get", "getting", "got", "had", "hadn", "has", "hasn", "have", "haven",
    "having", "hello", "help", "helpful", "her", "here", "hers", "herself", "hey", "him",
    "himself", "his", "hope", "how", "into", "isn", "its", "itself", "just", "kind", "know",
    "let", "like", "lot", "lots", "many", "may", "might", "more", "morning", "most", "much",
    "must", "mustn", "myself", "never", "nor", "not", "nothing", "now", "off", "once", "one",
    "only", "other", "ought", "our", "ours", "ourselves", "out", "over", "own", "per", "please",
    "really", "regards", "same", "see", "seems", "shall", "shan", "she", "should", "shouldn",
    "since", "sincerely", "some", "someone", "something", "still", "such", "support", "sure",
    "team", "than", "thank", "thanks", "that", "the", "their", "theirs", "them", "themselves",
    "then", "there", "these", "they", "thing", "things", "think", "this", "those", "three",
    "through", "thx", "too", "two", "under", "until", "very", "via", "was", "wasn", "way", "well",
    "were", "weren", "what", "when", "where", "which", "while", "who", "whom", "why", "will",
    "with", "won", "would", "wouldn", "yet", "you", "your", "yours", "yourself", "yourselves",
})


# --- response models ------------------------------------------------------------------------


class HourBucket(BaseModel):
    hour: datetime = Field(description="Start of the hour (UTC).")
    count: int


class Keyword(BaseModel):
    keyword: str
    count: int = Field(description="Occurrences in subject + description.")


class AtRiskCustomer(BaseModel):
    requester_id: str
    breached_tickets: int = Field(description="Unsolved tickets with a breached, still open SLA instance.")
    at_risk_tickets: int = Field(description=f"Unsolved tickets with an active instance ≤ {AT_RISK_SHARE:.0%} of target left.")
    next_due_at: datetime | None = Field(None, description="Earliest due_at among those instances.")


class UrgencyInfo(BaseModel):
    source: str | None = Field(description="'column' (tickets.urgency), 'extra' (extra.urgency) or null (no urgency data).")
    classified_tickets: int = Field(description="Tickets in the window that have an urgency value.")
    high_tickets: int


class TenantStats(BaseModel):
    tenant_id: str
    from_date: datetime | None = Field(None, description="Window start (inclusive), UTC.")
    to_date: datetime | None = Field(None, description="Window end (exclusive), UTC.")
    total_tickets: int
    by_status: dict[str, int]
    urgency_high_ratio: float = Field(description="High-urgency share of total_tickets; 0 without urgency data.")
    urgency: UrgencyInfo
    hourly_trend: list[HourBucket] = Field(description="24 hourly buckets, oldest first, zeros included.")
    top_keywords: list[Keyword]
    keyword_tickets: int = Field(description=f"Tickets tokenised for top_keywords: the newest ≤ {KEYWORD_TICKETS:,} of the window.")
    at_risk_customers: list[AtRiskCustomer]
    sla_as_of: datetime | None = Field(None, description="as_of of the build behind at_risk_customers.")
    computed_at: datetime


# --- the cache ------------------------------------------------------------------------------


class Versioned:
    """A data version and the ``time.monotonic()`` instant its read began (what a cached
    answer validated against it is as fresh as)."""

    __slots__ = ("value", "read_at")

    def __init__(self, value: Hashable, read_at: float) -> None:
        self.value = value
        self.read_at = read_at


def _unpack(current: Any, started: float) -> tuple[Any, float]:
    """(version, checked_at) of what a version callable returned (a plain value: read now)."""
    if isinstance(current, Versioned):
        return current.value, current.read_at
    return current, started


class Lookup(NamedTuple):
    """What :meth:`StatsCache.lookup` found (or computed)."""

    value: Any
    hit: bool
    fresh_until: float  #: time.monotonic(): served without asking the version until then
    version: Any  #: the data version the value was validated against
    expires_at: float  #: time.monotonic(): the entry's TTL


class StatsCache:
    """Results by key, valid while the data version matches and for at most ``ttl`` seconds.

    The version (one query) is checked at most every ``revalidate`` seconds per key: within
    that interval a hit costs no database work, and an answer lags a write by at most that
    long. A miss computes under a per-key lock, so concurrent requests for the same
    statistics wait for one computation instead of running it each (no thundering herd).
    An entry still in use in the last :data:`REFRESH_AHEAD_SHARE` of its TTL is recomputed
    by one caller while the others keep getting it, so a busy entry never expires under them.
    """

    def __init__(self, max_entries: int = CACHE_MAX_ENTRIES, ttl: float = CACHE_TTL_SECONDS,
                 revalidate: float = CACHE_REVALIDATE_SECONDS) -> None:
        self.max_entries = max_entries
        self.ttl = ttl
        self.revalidate = revalidate
        self._lock = threading.Lock()
        # key -> [version, checked_at, expires_at, value]
        self._entries: OrderedDict[Hashable, list[Any]] = OrderedDict()
        self._key_locks: dict[Hashable, threading.Lock] = {}
        self._refreshing: set[Hashable] = set()

    def __len__(self) -> int:
        return len(self._entries)

    def _found(self, entry: list[Any], hit: bool) -> Lookup:
        # fresh_until: until when a hit may be served without asking the data version again
        return Lookup(entry[3], hit, float(min(entry[1] + self.revalidate, entry[2])), entry[0], entry[2])

    def _get(self, key: Hashable, version: Callable[[], Hashable]) -> Lookup | None:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[2] < now:
                return None
            self._entries.move_to_end(key)
            if now - entry[1] < self.revalidate:
                return self._found(entry, True)
        current, checked = _unpack(version(), time.monotonic())  # outside the lock: a query
        with self._lock:
            if entry[0] != current:
                return None
            entry[1] = max(entry[1], checked)
            return self._found(entry, True)

    def get_or_compute(
        self, key: Hashable, version: Callable[[], Hashable], compute: Callable[[], Any]
    ) -> tuple[Any, bool]:
        """(value, hit). ``version()`` returns the data version the value depends on."""
        found = self.lookup(key, version, compute)
        return found.value, found.hit

    def lookup(self, key: Hashable, version: Callable[[], Hashable], compute: Callable[[], Any]) -> Lookup:
        """:meth:`get_or_compute`, plus what the answer memo (``serve/memo.py``) needs: the
        version the value was validated against and until when it may be served without
        asking the data version again."""
        found = self._get(key, version)
        if found is not None and not self._claim_refresh(key, found):
            return found
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            if found is None:
                found = self._get(key, version)
                if found is not None:
                    return found
            try:
                current, checked = _unpack(version(), time.monotonic())
                value = compute()
            finally:
                with self._lock:
                    self._refreshing.discard(key)
            entry = [current, checked, time.monotonic() + self.ttl, value]
            with self._lock:
                self._entries[key] = entry
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    old, _ = self._entries.popitem(last=False)
                    self._key_locks.pop(old, None)
            return self._found(entry, False)

    def _claim_refresh(self, key: Hashable, found: Lookup) -> bool:
        """True for the one caller that recomputes an entry in the last :data:`REFRESH_AHEAD_SHARE`
        of its TTL (the others keep getting the current value, which is still valid), so that
        a busy entry is replaced before it expires instead of making every caller wait."""
        if time.monotonic() < found.expires_at - self.ttl * REFRESH_AHEAD_SHARE:
            return False
        with self._lock:
            if key in self._refreshing:
                return False
            self._refreshing.add(key)
            return True

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_cache_lock = threading.Lock()


def get_cache(request: Request) -> StatsCache | None:
    """The app's stats cache (None when the app was created with stats_cache=False)."""
    state = request.app.state
    if not getattr(state, "stats_cache_enabled", True):
        return None
    cache: StatsCache | None = getattr(state, "stats_cache", None)
    if cache is None:
        with _cache_lock:
            cache = getattr(state, "stats_cache", None)
            if cache is None:
                cache = state.stats_cache = StatsCache()
    return cache


def cached(request: Request, attr: str, key: Hashable, repo: TenantStore,
           compute: Callable[[], bytes], ttl: float = 300.0) -> tuple[bytes, bool, Lookup | None]:
    """``compute()`` through the app's cache named ``attr`` (one per kind of answer), keyed by
    ``key`` and revalidated against the tenant's :func:`data_version` (``ttl`` only bounds how
    long unused answers stay in memory); (body, hit, the :class:`Lookup` — None without
    caching: ``create_app(stats_cache=False)`` always computes)."""
    state = request.app.state
    if not getattr(state, "stats_cache_enabled", True):
        return compute(), False, None
    cache: StatsCache | None = getattr(state, attr, None)
    if cache is None:
        with _cache_lock:
            cache = getattr(state, attr, None)
            if cache is None:
                cache = StatsCache(ttl=ttl)
                setattr(state, attr, cache)
    clock = tenant_clock(repo)
    found = cache.lookup(key, lambda: clock.current(repo, cache.revalidate), compute)
    return found.value, found.hit, found


# --- the queries ----------------------------------------------------------------------------


def data_version(repo: TenantStore) -> tuple[Any, ...]:
    """What changes whenever the tenant's tickets or SLA tables change (one cheap query)."""
    # Every ticket write (import, ingestion upserts, soft deletes) sets loaded_at; a build
    # sets built_at; the count catches removals. Scalar subqueries: index lookups on PostgreSQL.
    rows = repo.rows(
        "SELECT (SELECT max(loaded_at) FROM tickets), (SELECT count(*) FROM tickets), "
        "(SELECT max(built_at) FROM build_state)"
    )
    return tuple(rows[0])


class TenantClock:
    """One tenant's data version as last read, shared by every cached answer of the tenant
    (stats, ticket list pages, metrics) in this process.

    :meth:`current` reads it at most once per half ``max_age`` and never lets concurrent
    callers read it side by side (one reads, the others wait for its answer, or take the
    previous one while it is younger than ``max_age``). :meth:`refresh` is the answer memo's
    background read (``serve/memo.py``): under steady load the version is re-read before the
    memo's answers must be revalidated, so no request waits for it.
    """

    def __init__(self) -> None:
        self.state: tuple[Any, float] = (None, -1e18)  # (version, read_at); replaced whole
        self.max_age = CACHE_REVALIDATE_SECONDS
        self.repo: TenantStore | None = None
        self.reading = False
        self.scheduled = False  # a background refresh is queued (set on the event loop)
        self._lock = threading.Lock()

    def current(self, repo: TenantStore, max_age: float) -> Versioned:
        self.repo, self.max_age = repo, max_age
        value, read_at = self.state
        age = time.monotonic() - read_at
        if age < max_age / 2 or (self.reading and age < max_age):
            return Versioned(value, read_at)
        with self._lock:
            value, read_at = self.state
            if time.monotonic() - read_at < max_age / 2:
                return Versioned(value, read_at)
            return self._read(repo)

    def _read(self, repo: TenantStore) -> Versioned:
        """Read the version (the caller holds the lock)."""
        self.reading = True
        try:
            started = time.monotonic()
            value = data_version(repo)
            self.state = (value, started)
        finally:
            self.reading = False
        return Versioned(value, started)

    def due(self, now: float) -> bool:
        """True when a background read would keep the version fresh (nobody is at it)."""
        return not self.scheduled and not self.reading and now - self.state[1] >= self.max_age / 2

    def refresh(self) -> None:
        """Read the version now, unless another reader is at it (then its answer will do)."""
        try:
            repo = self.repo
            if repo is not None and self._lock.acquire(blocking=False):
                try:
                    self._read(repo)
                finally:
                    self._lock.release()
        except Exception as exc:  # a background read: the next request reads it itself
            log.warning("background read of the data version failed: %s", exc)
        finally:
            self.scheduled = False


_clocks: dict[tuple[str, str], TenantClock] = {}
_clocks_lock = threading.Lock()


def tenant_clock(repo: TenantStore) -> TenantClock:
    """The process's :class:`TenantClock` of ``repo``'s tenant (per store URL)."""
    key = (repo.store.url, repo.tenant_id)
    clock = _clocks.get(key)
    if clock is None:
        with _clocks_lock:
            if len(_clocks) > 10_000:
                _clocks.clear()
            clock = _clocks.setdefault(key, TenantClock())
    return clock


def forget_versions() -> None:
    """Drop every remembered data version (tests)."""
    with _clocks_lock:
        _clocks.clear()


def _window(start: datetime | None, stop: datetime | None, alias: str = "") -> tuple[str, dict[str, Any]]:
    p = f"{alias}." if alias else ""
    parts = [f"{p}deleted_at IS NULL"]
    params: dict[str, Any] = {}
    if start is not None:
        parts.append(f"{p}created_at >= $w_from")
        params["w_from"] = start
    if stop is not None:
        parts.append(f"{p}created_at < $w_to")
        params["w_to"] = stop
    return " AND ".join(parts), params


def compute_stats(
    repo: TenantStore, *, start: datetime | None, stop: datetime | None, trend_last: datetime, top: int
) -> dict[str, Any]:
    """Every figure of :class:`TenantStats`, each from one aggregate query."""
    where, params = _window(start, stop)
    expr, source = urgency_expr(repo)
    status_rows = repo.rows(
        "SELECT status, count(*), count(u), count(*) FILTER (WHERE u = 'high') "  # noqa: S608 - fixed SQL
        f"FROM (SELECT status, {expr or 'CAST(NULL AS VARCHAR)'} AS u FROM tickets WHERE {where}) x "
        "GROUP BY status",
        **params,
    )
    by_status = dict.fromkeys(STATUSES, 0)
    total = classified = high = 0
    for status, n, c, h in status_rows:
        by_status[str(status)] = int(n)
        total, classified, high = total + int(n), classified + int(c), high + int(h)

    first = trend_last - timedelta(hours=23)
    trend = repo.rows(
        "SELECT g.h, coalesce(c.n, 0) FROM generate_series(CAST($t_first AS TIMESTAMP), "
        "CAST($t_last AS TIMESTAMP), INTERVAL 1 HOUR) AS g(h) LEFT JOIN ("
        "SELECT date_trunc('hour', created_at) AS h, count(*) AS n FROM tickets "
        "WHERE deleted_at IS NULL AND created_at >= $t_first AND created_at < $t_end GROUP BY 1"
        ") AS c ON c.h = g.h ORDER BY g.h",
        t_first=first, t_last=trend_last, t_end=trend_last + timedelta(hours=1),
    )

    keywords = repo.rows(
        "SELECT word, count(*) AS n FROM ("  # noqa: S608 - fixed SQL
        "SELECT unnest(regexp_split_to_array(lower(coalesce(subject, '') || ' ' || "
        "coalesce(description, '')), '[^a-z0-9]+')) AS word FROM ("
        f"SELECT subject, description FROM tickets WHERE {where} "
        "ORDER BY created_at DESC NULLS FIRST, ticket_id DESC NULLS FIRST LIMIT $kw_tickets) r) w "
        "WHERE length(word) >= 3 AND translate(word, '0123456789', '') <> '' "
        "AND NOT list_contains($stop_words, word) "
        "GROUP BY word ORDER BY n DESC, word LIMIT $top",
        stop_words=sorted(STOP_WORDS), kw_tickets=KEYWORD_TICKETS, top=top, **params,
    )

    t_where, t_params = _window(start, stop, "t")
    at_risk = repo.rows(
        "SELECT t.requester_id, "  # noqa: S608 - fixed SQL
        "count(DISTINCT t.ticket_id) FILTER (WHERE s.status = 'active_breached') AS breached, "
        "count(DISTINCT t.ticket_id) FILTER (WHERE s.status = 'active') AS risky, "
        "min(s.due_at) AS next_due "
        "FROM ticket_sla s JOIN tickets t ON t.ticket_id = s.ticket_id "
        f"WHERE {t_where} AND t.requester_id IS NOT NULL AND t.status NOT IN ('solved', 'closed') "
        "AND (s.status = 'active_breached' OR (s.status = 'active' AND s.target_minutes > 0 "
        "AND s.margin_minutes <= $risk_share * s.target_minutes)) "
        "GROUP BY t.requester_id ORDER BY breached DESC, risky DESC, t.requester_id LIMIT $top",
        risk_share=AT_RISK_SHARE, top=top, **t_params,
    )
    built = repo.rows("SELECT as_of FROM build_state")

    return {
        "tenant_id": repo.tenant_id,
        "from_date": aware(start),
        "to_date": aware(stop),
        "total_tickets": total,
        "by_status": by_status,
        "urgency_high_ratio": high / total if total and classified else 0.0,
        "urgency": {"source": source if classified else None, "classified_tickets": classified, "high_tickets": high},
        "hourly_trend": [{"hour": aware(h), "count": int(n)} for h, n in trend],
        "top_keywords": [{"keyword": str(w), "count": int(n)} for w, n in keywords],
        "keyword_tickets": min(total, KEYWORD_TICKETS),
        "at_risk_customers": [
            {"requester_id": str(r), "breached_tickets": int(b), "at_risk_tickets": int(k), "next_due_at": aware(d)}
            for r, b, k, d in at_risk
        ],
        "sla_as_of": aware(built[0][0]) if built else None,
        "computed_at": aware(utcnow()),
    }


@root_router.get("/tenants/{tenant_id}/stats", response_model=TenantStats, summary="Tenant statistics")
def tenant_stats(
    request: Request,
    principal: CurrentPrincipal,
    repo: ReadRepo,
    tenant_id: str,
    from_date: Annotated[str | None, Query(pattern=WHEN_PATTERN, description="Window start: YYYY-MM-DD or an ISO 8601 instant (UTC unless an offset is given).")] = None,
    to_date: Annotated[str | None, Query(pattern=WHEN_PATTERN, description="Window end (exclusive instant; a date includes that whole day). Also ends the hourly trend.")] = None,
    top: Annotated[int, Query(ge=1, le=50, description="How many keywords and customers.")] = 10,
) -> Response:
    """Tenant statistics for a dashboard (seed 004 Task 3), computed in the database."""
    principal.check_tenant(tenant_id)
    start = parse_when(from_date, "query.from_date")
    stop = parse_when(to_date, "query.to_date", end=True)
    check_range(start, stop, "query.to_date")
    anchor = stop if stop is not None else utcnow() + timedelta(seconds=1)
    trend_last = (anchor - timedelta(microseconds=1)).replace(minute=0, second=0, microsecond=0)

    def compute() -> bytes:
        result = compute_stats(repo, start=start, stop=stop, trend_last=trend_last, top=top)
        return TenantStats(**result).model_dump_json().encode()

    cache = get_cache(request)
    if cache is None:
        body, hit = compute(), False
    else:
        key = (repo.store.url, repo.tenant_id, start, stop, trend_last, top)
        clock = tenant_clock(repo)
        found = cache.lookup(key, lambda: clock.current(repo, cache.revalidate), compute)
        body, hit = found.value, found.hit
        request.app.state.metrics.inc("stats_cache_hits" if hit else "stats_cache_misses")
        until = found.expires_at  # 30 s: writes the data version does not see
        if stop is None:  # the hourly trend ends with the current hour: not past its end
            next_hour_seconds = (trend_last + timedelta(hours=1) - _wall_now()).total_seconds()
            until = min(until, time.monotonic() + next_hour_seconds)
        remember(request, body, {"X-Stats-Cache": "hit"}, found, clock, until=until, counter="stats_cache_hits")
    # The cache holds the validated, serialised answer: a hit costs no model work at all.
    return Response(body, media_type="application/json", headers={"X-Stats-Cache": "hit" if hit else "miss"})


def _wall_now() -> datetime:
    """Now as naive UTC with microseconds (``utcnow`` truncates to whole seconds)."""
    return datetime.now(UTC).replace(tzinfo=None)
