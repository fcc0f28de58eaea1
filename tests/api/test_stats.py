"""``GET /tenants/{tenant_id}/stats`` on DuckDB and PostgreSQL: every figure against an
independent Python computation, the window, the tenant check, the cache and its invalidation."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from deskpulse.model import STATUSES, TICKET_SCHEMA
from deskpulse.serve.routes import _shared
from deskpulse.serve.routes.stats import AT_RISK_SHARE, STOP_WORDS, StatsCache
from deskpulse.store import open_store
from tests.api.conftest import Seeded, headers, ticket_rows

ALPHA = headers("alpha")


def iso(dt: datetime) -> str:
    return dt.replace(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def visible(seeded: Seeded) -> list[dict[str, Any]]:
    return [r for r in ticket_rows("A", seeded.now) if r.get("deleted_at") is None]


def keywords(rows: list[dict[str, Any]], top: int = 10) -> list[dict[str, Any]]:
    """The documented tokenisation, in Python."""
    words: Counter[str] = Counter()
    for r in rows:
        text = f"{r.get('subject') or ''} {r.get('description') or ''}".lower()
        for w in re.split(r"[^a-z0-9]+", text):
            if len(w) >= 3 and not w.isdigit() and w not in STOP_WORDS:
                words[w] += 1
    ranked = sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [{"keyword": w, "count": n} for w, n in ranked]


def stats(api: TestClient, path: str = "/tenants/alpha/stats", **params: Any) -> dict[str, Any]:
    r = api.get(path, params=params, headers=ALPHA)
    assert r.status_code == 200, r.text
    return dict(r.json())


@pytest.mark.parametrize("path", ["/tenants/alpha/stats", "/api/v1/tenants/alpha/stats"])
def test_figures(api: TestClient, seeded: Seeded, path: str) -> None:
    rows = visible(seeded)
    s = stats(api, path)
    assert s["tenant_id"] == "alpha" and s["from_date"] is None and s["to_date"] is None
    assert s["total_tickets"] == len(rows) == 30
    assert s["by_status"] == {st: sum(r["status"] == st for r in rows) for st in STATUSES}
    assert s["urgency"]["classified_tickets"] == 4 and s["urgency"]["high_tickets"] == 2
    assert s["urgency"]["source"] in ("column", "extra")
    assert s["urgency_high_ratio"] == pytest.approx(2 / 30)
    assert s["top_keywords"] == keywords(rows)
    assert s["keyword_tickets"] == 30
    assert s["sla_as_of"] == iso(seeded.now)


def test_hourly_trend_has_24_buckets_ending_with_this_hour(api: TestClient, seeded: Seeded) -> None:
    s = stats(api)
    now = datetime.now(UTC).replace(tzinfo=None)
    last = now.replace(minute=0, second=0, microsecond=0)
    hours = [last - timedelta(hours=23 - i) for i in range(24)]
    created = Counter(r["created_at"].replace(minute=0, second=0, microsecond=0) for r in visible(seeded))
    assert [b["hour"] for b in s["hourly_trend"]] == [iso(h) for h in hours]
    assert [b["count"] for b in s["hourly_trend"]] == [created.get(h, 0) for h in hours]
    assert sum(b["count"] for b in s["hourly_trend"]) >= 4  # A-001/2/3/6 and more are recent


def test_at_risk_customers_match_the_rule(api: TestClient, seeded: Seeded) -> None:
    store = open_store(seeded.url, migrate=False)
    try:
        sla = store.tenant("alpha").query(
            "SELECT s.ticket_id, s.status, s.margin_minutes, s.target_minutes, s.due_at, t.requester_id "
            "FROM ticket_sla s JOIN tickets t ON t.ticket_id = s.ticket_id "
            "WHERE t.deleted_at IS NULL AND t.status NOT IN ('solved', 'closed')").to_pylist()
    finally:
        store.close()
    breached: dict[str, set[str]] = {}
    risky: dict[str, set[str]] = {}
    due: dict[str, datetime] = {}
    for r in sla:
        if r["status"] == "active_breached":
            breached.setdefault(r["requester_id"], set()).add(r["ticket_id"])
        elif r["status"] == "active" and r["margin_minutes"] <= AT_RISK_SHARE * r["target_minutes"]:
            risky.setdefault(r["requester_id"], set()).add(r["ticket_id"])
        else:
            continue
        due[r["requester_id"]] = min(due.get(r["requester_id"], r["due_at"]), r["due_at"])
    rows: list[tuple[int, int, str]] = sorted(
        (-len(breached.get(c, ())), -len(risky.get(c, ())), c) for c in set(breached) | set(risky))
    expected = [{"requester_id": c, "breached_tickets": -b, "at_risk_tickets": -k, "next_due_at": iso(due[c])}
                for b, k, c in rows[:10]]
    got = stats(api)["at_risk_customers"]
    assert got == expected
    assert any(c["at_risk_tickets"] for c in got)  # resolution with < 25 % left
    assert got[0]["requester_id"].startswith("alpha-cust-")


def test_window(api: TestClient, seeded: Seeded) -> None:
    rows = visible(seeded)
    day = (seeded.now - timedelta(days=5)).date()
    s = stats(api, from_date=day.isoformat(), to_date=day.isoformat())
    in_day = [r for r in rows if r["created_at"].date() == day]
    assert s["total_tickets"] == len(in_day) >= 1
    assert s["from_date"] == f"{day.isoformat()}T00:00:00Z"
    assert s["to_date"] == f"{(day + timedelta(days=1)).isoformat()}T00:00:00Z"
    assert s["hourly_trend"][-1]["hour"] == f"{day.isoformat()}T23:00:00Z"
    assert sum(b["count"] for b in s["hourly_trend"]) == len(in_day)
    assert s["top_keywords"] == keywords(in_day)
    since = seeded.now - timedelta(hours=4)
    recent = stats(api, from_date=iso(since))
    assert recent["total_tickets"] == sum(r["created_at"] >= since for r in rows)
    assert stats(api, top=3)["top_keywords"] == keywords(rows, 3)


def test_other_tenant_is_not_found(api: TestClient) -> None:
    a = api.get("/tenants/bravo/stats", headers=ALPHA)
    b = api.get("/api/v1/tenants/nobody/stats", headers=ALPHA)
    assert a.status_code == b.status_code == 404
    assert a.text.replace("bravo", "X") == b.text.replace("nobody", "X")
    assert a.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("params", [{"from_date": "2026-02-30"}, {"to_date": "soon"}, {"top": 0}, {"top": 51},
                                    {"from_date": "2026-05-02", "to_date": "2026-05-01"}])
def test_validation(api: TestClient, params: dict[str, Any]) -> None:
    r = api.get("/tenants/alpha/stats", params=params, headers=ALPHA)
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"


def _ticket(ticket_id: str, created: datetime, **kw: Any) -> dict[str, Any]:
    return {"ticket_id": ticket_id, "created_at": created, "updated_at": created, "status": "open", **kw}


def test_empty_tenant_and_cache_invalidation(fresh: tuple[TestClient, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    client, store = fresh
    monkeypatch.setattr(StatsCache, "__init__", _no_revalidation_delay)
    empty = client.get("/tenants/alpha/stats", headers=ALPHA)
    body = empty.json()
    assert body["total_tickets"] == 0 and body["urgency_high_ratio"] == 0 and body["urgency"]["source"] is None
    assert body["top_keywords"] == [] and body["at_risk_customers"] == [] and body["sla_as_of"] is None
    assert len(body["hourly_trend"]) == 24 and not any(b["count"] for b in body["hourly_trend"])
    assert body["by_status"] == dict.fromkeys(STATUSES, 0)

    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    repo = store.tenant("alpha")
    repo.upsert_tickets(pa.Table.from_pylist([_ticket("C-1", now - timedelta(hours=1), subject="Refund")],
                                             schema=TICKET_SCHEMA), now)
    first = client.get("/tenants/alpha/stats", headers=ALPHA)
    assert first.headers["X-Stats-Cache"] == "miss" and first.json()["total_tickets"] == 1
    again = client.get("/tenants/alpha/stats", headers=ALPHA)
    assert again.headers["X-Stats-Cache"] == "hit" and again.json() == first.json()
    repo.upsert_tickets(pa.Table.from_pylist([_ticket("C-2", now, subject="Refund again")], schema=TICKET_SCHEMA),
                        now + timedelta(seconds=1))
    after = client.get("/tenants/alpha/stats", headers=ALPHA)
    assert after.headers["X-Stats-Cache"] == "miss" and after.json()["total_tickets"] == 2
    assert after.json()["top_keywords"][0] == {"keyword": "refund", "count": 2}
    metrics = client.get("/metrics").text
    assert "deskpulse_stats_cache_hits_total 1" in metrics


_cache_init = StatsCache.__init__


def _no_revalidation_delay(self: StatsCache, *args: Any, **kwargs: Any) -> None:
    _cache_init(self, *args, **kwargs)
    self.revalidate = 0.0


def test_urgency_from_extra_when_there_is_no_column(fresh: tuple[TestClient, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    client, store = fresh
    real = _shared.table_columns
    monkeypatch.setattr(_shared, "table_columns",
                        lambda s, t: real(s, t) - {"urgency"} if t == "tickets" else real(s, t))
    now = datetime(2026, 3, 1, 9)
    store.tenant("alpha").upsert_tickets(pa.Table.from_pylist([
        _ticket("X-1", now, extra='{"urgency": "HIGH"}'), _ticket("X-2", now, extra='{"urgency": "low"}'),
        _ticket("X-3", now), _ticket("X-4", now, extra='{"other": 1}')], schema=TICKET_SCHEMA), now)
    s = client.get("/tenants/alpha/stats", headers=ALPHA).json()
    assert s["urgency"] == {"source": "extra", "classified_tickets": 2, "high_tickets": 1}
    assert s["urgency_high_ratio"] == 0.25
    listed = client.get("/api/v1/tickets", params={"urgency": "high"}, headers=ALPHA).json()["items"]
    assert [t["ticket_id"] for t in listed] == ["X-1"]
    assert listed[0]["extra"] == {"urgency": "HIGH"}


def test_uncached_app(seeded: Seeded) -> None:
    from tests.api.conftest import make_app

    with TestClient(make_app(seeded.url, stats_cache=False)) as client:
        for _ in range(2):
            r = client.get("/tenants/alpha/stats", headers=ALPHA)
            assert r.status_code == 200 and r.headers["X-Stats-Cache"] == "miss"


def test_cache_computes_once_for_concurrent_misses() -> None:
    cache = StatsCache(ttl=60)
    calls: list[int] = []

    def compute() -> dict[str, int]:
        calls.append(1)
        time.sleep(0.05)
        return {"n": 1}

    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_compute("k", lambda: 1, compute)))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and sorted(hit for _, hit in results) == [False] + [True] * 7
    # within the revalidation interval the version is not even asked
    assert cache.get_or_compute("k", lambda: 2, compute) == ({"n": 1}, True)
    cache.revalidate = 0.0
    assert cache.get_or_compute("k", lambda: 2, compute) == ({"n": 1}, False)  # a new version recomputes
    assert len(calls) == 2
    expiring = StatsCache(ttl=0.0)
    expiring.get_or_compute("k", lambda: 1, compute)
    assert expiring.get_or_compute("k", lambda: 1, compute)[1] is False
    small = StatsCache(max_entries=2)
    for k in range(3):
        small.get_or_compute(k, lambda: 1, compute)
    assert len(small) == 2


def test_a_busy_entry_is_recomputed_before_it_expires() -> None:
    cache = StatsCache(ttl=0.5)
    computed: list[int] = []

    def compute() -> int:
        computed.append(1)
        return len(computed)

    assert cache.get_or_compute("k", lambda: 1, compute) == (1, False)
    assert cache.get_or_compute("k", lambda: 1, compute) == (1, True)
    time.sleep(0.42)  # in the last fifth of the TTL
    cache._refreshing.add("k")  # another caller is recomputing it: this one gets the current value
    assert cache.get_or_compute("k", lambda: 1, compute) == (1, True)
    cache._refreshing.discard("k")
    assert cache.get_or_compute("k", lambda: 1, compute) == (2, False)  # this caller recomputes
    assert cache.get_or_compute("k", lambda: 1, compute) == (2, True) and not cache._refreshing
    time.sleep(0.2)  # past the old entry's TTL, within the new one's
    assert cache.get_or_compute("k", lambda: 1, compute) == (2, True)
