"""The answer memo (``serve/memo.py``): a repeated request is answered from the memo, byte for
byte as the route answered it, only for the same caller, path and query string, only with a
token already verified and not expired, and never longer than its cache entry is fresh."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from deskpulse.model import TICKET_SCHEMA
from deskpulse.serve.auth import create_token
from deskpulse.serve.memo import AnswerMemo
from deskpulse.serve.routes.stats import StatsCache
from tests.api.conftest import SECRET, Seeded, headers, make_app

ALPHA = headers("alpha")
BRAVO = headers("bravo")


def _memo(client: TestClient) -> AnswerMemo:
    memo = client.app.state.answer_memo  # type: ignore[attr-defined]
    assert isinstance(memo, AnswerMemo)
    return memo


@pytest.fixture
def client(seeded: Seeded) -> Any:
    """An app of its own (an empty memo) on the seeded store."""
    with TestClient(make_app(seeded.url)) as c:
        yield c


@pytest.mark.parametrize("url", [
    "/tenants/alpha/stats",
    "/api/v1/tenants/alpha/stats?top=5",
    "/api/v1/metrics/bottlenecks?days=30&min_tickets=1",
    "/api/v1/metrics/overview?days=30",
    "/api/v1/tickets?limit=5&status=open",
])
def test_a_repeat_is_answered_from_the_memo_with_the_same_bytes(client: TestClient, url: str) -> None:
    memo = _memo(client)
    first = client.get(url, headers=ALPHA)
    second = client.get(url, headers=ALPHA)  # a cache hit through the route: remembered
    assert first.status_code == second.status_code == 200
    hits = memo.hits
    third = client.get(url, headers=ALPHA)
    assert memo.hits == hits + 1, "the repeat did not come from the memo"
    assert third.content == second.content == first.content
    assert dict(third.headers) == dict(second.headers)  # X-*-Cache: hit, content-type, length
    assert third.headers["content-type"] == "application/json"


def test_the_memo_never_crosses_tenants_roles_or_queries(client: TestClient) -> None:
    memo = _memo(client)
    url = "/tenants/alpha/stats"
    for _ in range(2):
        alpha = client.get(url, headers=ALPHA)
    assert len(memo) >= 1
    hits = memo.hits
    # bravo asking for alpha's statistics: 404 as always, not alpha's remembered answer
    other = client.get(url, headers=BRAVO)
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    assert client.get("/tenants/bravo/stats?tenant_id=alpha", headers=BRAVO).status_code == 404
    own = client.get("/tenants/bravo/stats", headers=BRAVO)
    assert own.status_code == 200 and own.json()["tenant_id"] == "bravo"
    # the same tenant with another token (another subject or role) is a different caller
    admin = client.get(url, headers=headers("alpha", role="admin"))
    assert admin.status_code == 200 and admin.json()["tenant_id"] == "alpha"
    # another query string is another request, validated by the route
    assert client.get(url + "?top=0", headers=ALPHA).status_code == 422
    assert client.get(url + "?top=3", headers=ALPHA).json()["tenant_id"] == "alpha"
    assert memo.hits == hits, "a different caller or query was answered from the memo"
    assert client.get(url, headers=ALPHA).content == alpha.content


def test_unknown_forged_or_expired_tokens_are_not_answered_from_the_memo(client: TestClient) -> None:
    url = "/tenants/alpha/stats"
    for _ in range(2):
        assert client.get(url, headers=ALPHA).status_code == 200
    memo = _memo(client)
    hits = memo.hits
    forged = ALPHA["Authorization"][:-4] + ("AAAA" if not ALPHA["Authorization"].endswith("AAAA") else "BBBB")
    assert client.get(url, headers={"Authorization": forged}).status_code == 401
    assert client.get(url).status_code == 401
    assert client.get(url, headers={"Authorization": "Basic " + ALPHA["Authorization"][7:]}).status_code == 401
    # a token verified while valid, then expired: 401, not the remembered answer
    short = create_token(SECRET, tenant_id="alpha", role="viewer", ttl_seconds=2, now=time.time() - 0.5)
    h = {"Authorization": f"Bearer {short}"}
    for _ in range(2):
        assert client.get(url, headers=h).status_code == 200
    hits = memo.hits  # (the same caller as ALPHA's token: its answer may come from the memo)
    time.sleep(2.0)
    assert client.get(url, headers=h).status_code == 401
    assert memo.hits == hits


def test_the_memo_does_not_outlive_the_cache_revalidation(fresh: tuple[TestClient, Any],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    client, store = fresh
    real_init = StatsCache.__init__

    def quick(self: StatsCache, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        self.revalidate = 0.3

    monkeypatch.setattr(StatsCache, "__init__", quick)
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    repo = store.tenant("alpha")

    def add(ticket_id: str, loaded_at: datetime) -> None:
        row = {"ticket_id": ticket_id, "created_at": now - timedelta(minutes=5), "updated_at": now, "status": "open"}
        repo.upsert_tickets(pa.Table.from_pylist([row], schema=TICKET_SCHEMA), loaded_at)

    add("M-1", now)
    url = "/tenants/alpha/stats"
    for _ in range(3):
        assert client.get(url, headers=ALPHA).json()["total_tickets"] == 1
    add("M-2", now + timedelta(seconds=1))
    time.sleep(0.4)  # past the entry's revalidation: the route asks the data version again
    after = client.get(url, headers=ALPHA)
    assert after.headers["X-Stats-Cache"] == "miss" and after.json()["total_tickets"] == 2


def test_memo_hits_are_counted_like_cache_hits(client: TestClient) -> None:
    url = "/tenants/alpha/stats?top=4"
    for _ in range(4):
        assert client.get(url, headers=ALPHA).status_code == 200
    text = client.get("/metrics").text
    assert "deskpulse_stats_cache_hits_total 3" in text  # route hit + two memo hits
    assert 'route="/tenants/{tenant_id}/stats",status="200"} 4' in text


def test_no_memo_without_the_cache(seeded: Seeded) -> None:
    with TestClient(make_app(seeded.url, stats_cache=False)) as c:
        assert c.app.state.answer_memo is None  # type: ignore[attr-defined]
        for _ in range(3):
            r = c.get("/tenants/alpha/stats", headers=ALPHA)
            assert r.status_code == 200 and r.headers["X-Stats-Cache"] == "miss"


def test_memo_entries_follow_the_clock_and_stay_bounded() -> None:
    from starlette.responses import Response

    from deskpulse.serve.auth import Principal, Role
    from deskpulse.serve.memo import _Answer
    from deskpulse.serve.routes.stats import TenantClock

    now = time.monotonic()
    clock = TenantClock()
    clock.state = ("v1", now - 0.2)
    ok = _Answer(Response(b"{}"), None, clock, "v1", now - 0.2 + 1.0, now + 2.0, now + 1.0)
    assert ok.valid(now) and ok.valid(now + 0.7) and not ok.valid(now + 0.9)  # read 0.2 s ago, 1 s max age
    clock.state = ("v1", now + 0.5)  # a later read of the same version extends it …
    assert ok.valid(now + 1.4) and not ok.valid(now + 2.0)  # … up to the answer's own limit
    clock.state = ("v2", now + 0.6)  # the data changed: the answer is over at once
    assert not ok.valid(now + 0.6)
    memo = AnswerMemo(max_entries=2)
    who = Principal("s", "t", Role.viewer)
    for i in range(3):
        memo.put((who, f"/p{i}", b""), _Answer(Response(b"{}"), None, None, None, now + 60, now + 60, now + 30))
    assert len(memo) <= 2 and memo.get((who, "/p2", b"")) is not None
    memo.put((who, "/old", b""), _Answer(Response(b"{}"), None, None, None, now - 1, now + 60, now + 30))
    assert memo.get((who, "/old", b"")) is None


def test_stats_without_to_date_are_not_remembered_past_the_hour(seeded: Seeded,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The hourly trend ends with the current hour: an answer is remembered at most until the
    hour ends (here: the clock says it ends in 0.5 s)."""
    import deskpulse.serve.routes.stats as stats

    real_init = StatsCache.__init__

    def slow(self: StatsCache, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        self.revalidate = 30.0

    monkeypatch.setattr(StatsCache, "__init__", slow)
    fake_now = datetime.now(UTC).replace(tzinfo=None, minute=59, second=59, microsecond=500_000)
    monkeypatch.setattr(stats, "_wall_now", lambda: fake_now)
    monkeypatch.setattr(stats, "utcnow", lambda: fake_now.replace(microsecond=0))
    with TestClient(make_app(seeded.url)) as c:
        for url in ("/tenants/alpha/stats", "/tenants/alpha/stats?to_date=2026-01-01"):
            for _ in range(2):
                assert c.get(url, headers=ALPHA).status_code == 200
        entries = _memo(c)._entries
        now = time.monotonic()
        left = {k[2]: a.until - now for k, a in entries.items()}
        assert left[b""] <= 0.5  # bounded by the hour
        assert left[b"to_date=2026-01-01"] > 1.5  # a fixed window: the memo's own limit (2 s)


def test_one_request_renews_an_answer_while_the_others_are_served(client: TestClient) -> None:
    memo = _memo(client)
    url = "/api/v1/metrics/overview?days=7"
    for _ in range(2):
        assert client.get(url, headers=ALPHA).status_code == 200
    (key, answer), = ((k, a) for k, a in memo._entries.items() if k[1] == "/api/v1/metrics/overview")
    answer.renew_at = 0.0  # due for renewal
    hits = memo.hits
    renewed = client.get(url, headers=ALPHA)  # goes through the route, which remembers anew
    assert renewed.status_code == 200 and memo.hits == hits
    assert memo._entries[key] is not answer
    assert client.get(url, headers=ALPHA).content == renewed.content and memo.hits == hits + 1
