"""Ending a user's sessions (migration 0011): disabling, removing a user or changing its
password ends its login tokens on every authenticated request — the answer memo's fast path
included — within a second on every process; enabling it again revives none of them; a new
login works. Service tokens (`deskpulse token create`) are not sessions and keep working.

On both stores. Changes made through ``deskpulse.serve.users`` in this process apply at once;
a change made by another process (the CLI, another worker) is emulated by the same library
call without this process's change signal, and must show within about a second.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import jwt
import pytest
from fastapi.testclient import TestClient

import deskpulse.serve.users as users
from deskpulse.serve.auth import (
    SESSIONS_MAX_AGE_SECONDS,
    Session,
    UserSessions,
    create_token,
    decode_token,
    sessions_changed,
)
from deskpulse.serve.memo import AnswerMemo
from deskpulse.serve.users import create_user, remove_user, set_disabled, set_password
from deskpulse.store import Store
from tests.api.conftest import SECRET
from tests.api.test_auth import assert_401

PASSWORD = "correct horse battery"
NEW_PASSWORD = "tr0ub4dor & 3 more words"
STATS = "/tenants/acme/stats"


def login(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    r = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def status(client: TestClient, h: dict[str, str], url: str = "/api/v1/me") -> int:
    return client.get(url, headers=h).status_code


def memo_of(client: TestClient) -> AnswerMemo:
    memo = client.app.state.answer_memo  # type: ignore[attr-defined]
    assert isinstance(memo, AnswerMemo)
    return memo


def sessions_of(client: TestClient) -> UserSessions:
    sessions = client.app.state.user_sessions  # type: ignore[attr-defined]
    assert isinstance(sessions, UserSessions)
    return sessions


@pytest.fixture
def acme(fresh: tuple[TestClient, Store]) -> Iterator[tuple[TestClient, Store]]:
    """A fresh app whose tenant acme has two users: kim (admin) and lee (viewer)."""
    client, store = fresh
    create_user(store, "acme", "kim", PASSWORD, "admin")
    create_user(store, "acme", "lee", PASSWORD, "viewer")
    yield client, store


@pytest.fixture
def elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Changes made through ``serve.users`` from here on look like another process's: this
    process's snapshots learn of them only by reading the users again."""
    monkeypatch.setattr(users, "sessions_changed", lambda: None)


def test_login_tokens_are_marked_and_service_tokens_are_not(acme: tuple[TestClient, Store]) -> None:
    client, _ = acme
    before_ms = int(time.time() * 1000)
    token = login(client, "kim")["Authorization"][7:]
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["usr"] is True and claims["sub"] == "kim" and claims["tenant"] == "acme"
    assert before_ms <= claims["iat_ms"] <= int(time.time() * 1000) and claims["iat"] == claims["iat_ms"] // 1000
    service = jwt.decode(create_token(SECRET, tenant_id="acme", role="admin"), SECRET, algorithms=["HS256"])
    assert "usr" not in service and "iat_ms" not in service
    issued = client.post("/api/v1/tokens", json={"role": "viewer"}, headers={"Authorization": f"Bearer {token}"})
    assert issued.status_code == 201 and "usr" not in jwt.decode(issued.json()["token"], SECRET, algorithms=["HS256"])


def test_disable_ends_the_sessions_and_enable_revives_none(acme: tuple[TestClient, Store]) -> None:
    client, store = acme
    kim, lee = login(client, "kim"), login(client, "lee")
    service = {"Authorization": f"Bearer {create_token(SECRET, tenant_id='acme', role='admin', subject='kim')}"}
    memo = memo_of(client)
    for _ in range(3):  # the third is answered from the memo
        assert status(client, kim, STATS) == 200
    hits = memo.hits
    assert status(client, kim, STATS) == 200 and memo.hits == hits + 1

    set_disabled(store, "acme", "kim", True)
    assert_401(client.get("/api/v1/me", headers=kim), "disabled user")
    hits = memo.hits
    assert_401(client.get(STATS, headers=kim), "disabled user, memoised path")
    assert memo.hits == hits, "a revoked caller was answered from the memo"
    assert client.get("/api/v1/me", headers=kim).json() == client.get(STATS, headers=kim).json()
    # the others are not affected: another user of the tenant, a service token named like the user
    assert status(client, lee) == 200 and status(client, lee, STATS) == 200
    assert status(client, service) == 200 and status(client, service, STATS) == 200
    assert client.post("/api/v1/auth/token", json={"username": "kim", "password": PASSWORD}).status_code == 401

    set_disabled(store, "acme", "kim", False)
    assert status(client, kim) == 401 and status(client, kim, STATS) == 401  # not resurrected
    again = login(client, "kim")
    assert status(client, again) == 200 and status(client, again, STATS) == 200
    assert client.get("/api/v1/me", headers=again).json()["subject"] == "kim"
    set_disabled(store, "acme", "kim", False)  # enabling an enabled user ends nothing
    assert status(client, again) == 200 and status(client, lee) == 200


def test_set_password_ends_the_sessions(acme: tuple[TestClient, Store]) -> None:
    client, store = acme
    kim, lee = login(client, "kim"), login(client, "lee")
    assert status(client, kim) == 200
    set_password(store, "acme", "kim", NEW_PASSWORD)
    assert_401(client.get("/api/v1/me", headers=kim), "password changed")
    assert status(client, kim, STATS) == 401
    assert status(client, lee) == 200
    assert client.post("/api/v1/auth/token", json={"username": "kim", "password": PASSWORD}).status_code == 401
    assert status(client, login(client, "kim", NEW_PASSWORD)) == 200


def test_remove_ends_the_sessions_and_a_new_user_of_that_name_gets_none(acme: tuple[TestClient, Store]) -> None:
    client, store = acme
    kim, lee = login(client, "kim"), login(client, "lee")
    for _ in range(3):
        assert status(client, kim, STATS) == 200
    remove_user(store, "acme", "kim")
    assert_401(client.get("/api/v1/me", headers=kim), "removed user")
    assert_401(client.get(STATS, headers=kim), "removed user, memoised path")
    assert status(client, lee) == 200
    create_user(store, "acme", "kim", PASSWORD, "viewer")  # the same name again: a new user
    assert status(client, kim) == 401
    assert client.get("/api/v1/me", headers=login(client, "kim")).json()["role"] == "viewer"


def test_the_user_cli_ends_sessions(acme: tuple[TestClient, Store], db_url: str,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`deskpulse user disable | set-password | remove` (what the admin types)."""
    from typer.testing import CliRunner

    from deskpulse.cli import app as cli

    client, store = acme
    create_user(store, "acme", "max", PASSWORD, "viewer")
    kim, lee, max_ = login(client, "kim"), login(client, "lee"), login(client, "max")
    runner = CliRunner()

    def run(*args: str) -> None:
        result = runner.invoke(cli, ["--db", db_url, "user", *args, "--tenant", "acme"])
        assert result.exit_code == 0, result.output

    run("disable", "kim")
    assert status(client, kim) == 401 and status(client, lee) == 200
    monkeypatch.setenv("DESKPULSE_USER_PASSWORD", NEW_PASSWORD)
    run("set-password", "lee")
    assert status(client, lee) == 401 and status(client, max_) == 200
    run("remove", "max")
    assert status(client, max_) == 401
    run("disable", "kim", "--enable")
    assert status(client, kim) == 401 and status(client, login(client, "kim")) == 200


def test_a_token_names_its_tenant_and_user(acme: tuple[TestClient, Store]) -> None:
    """A login token is a session of (tenant, username): the same name in another tenant's
    token (signed with the server's secret, e.g. by an older build) is not that user."""
    client, _ = acme
    forged_tenant = create_token(SECRET, tenant_id="globex", role="viewer", subject="kim", user_session=True)
    assert status(client, {"Authorization": f"Bearer {forged_tenant}"}) == 401
    unknown = create_token(SECRET, tenant_id="acme", role="viewer", subject="nobody", user_session=True)
    assert status(client, {"Authorization": f"Bearer {unknown}"}) == 401
    issued_before_kim = create_token(SECRET, tenant_id="acme", role="admin", subject="kim", user_session=True,
                                     now=time.time() - 60)
    assert status(client, {"Authorization": f"Bearer {issued_before_kim}"}) == 401  # created after it


def test_the_same_second_is_told_apart_by_milliseconds(acme: tuple[TestClient, Store]) -> None:
    """A disable 300 ms after a login (same second) ends it; a login 200 ms after the enable
    (same second again) is accepted."""
    client, store = acme
    second = int(time.time()) - 5

    def at(ms: int) -> datetime:
        return datetime.fromtimestamp(second + ms / 1000, UTC).replace(tzinfo=None)

    def token(ms: int) -> dict[str, str]:
        t = create_token(SECRET, tenant_id="acme", role="admin", subject="kim", user_session=True,
                         now=second + ms / 1000, ttl_seconds=3600)
        return {"Authorization": f"Bearer {t}"}

    early = token(200)
    assert status(client, early) == 401  # kim was created just now: after this token
    store.execute("UPDATE users SET sessions_valid_after = NULL WHERE username = 'kim'")
    sessions_changed()  # (a raw UPDATE: tell this process to read the users again)
    assert status(client, early) == 200
    set_disabled(store, "acme", "kim", True, now=at(500))
    assert status(client, early) == 401
    set_disabled(store, "acme", "kim", False, now=at(700))
    assert status(client, early) == 401 and status(client, token(700)) == 401  # not after the enable
    assert status(client, token(900)) == 200


def test_another_process_change_shows_within_a_second(acme: tuple[TestClient, Store], elsewhere: None) -> None:
    client, store = acme
    kim, lee = login(client, "kim"), login(client, "lee")
    for _ in range(3):
        assert status(client, kim, STATS) == 200
    set_disabled(store, "acme", "kim", True)  # as the CLI would, from another process
    changed = time.monotonic()
    while status(client, kim, STATS) == 200 or status(client, kim) == 200:
        assert time.monotonic() - changed <= SESSIONS_MAX_AGE_SECONDS + 0.5, "the disable did not show in time"
        time.sleep(0.05)
    assert status(client, kim) == 401 and status(client, kim, STATS) == 401 and status(client, lee) == 200
    set_disabled(store, "acme", "kim", False)
    time.sleep(SESSIONS_MAX_AGE_SECONDS + 0.1)
    assert status(client, kim) == 401  # not resurrected
    assert status(client, login(client, "kim")) == 200  # a new login, at once
    # a user created (or enabled) elsewhere after this process's snapshot: its first token works
    create_user(store, "acme", "max", PASSWORD, "viewer")
    assert status(client, login(client, "max")) == 200
    set_password(store, "acme", "lee", NEW_PASSWORD)
    time.sleep(SESSIONS_MAX_AGE_SECONDS + 0.1)
    assert status(client, lee) == 401


def test_no_query_per_request(acme: tuple[TestClient, Store], elsewhere: None) -> None:
    client, _ = acme
    service = {"Authorization": f"Bearer {create_token(SECRET, tenant_id='acme', role='viewer')}"}
    for _ in range(20):
        assert status(client, service) == 200
    assert getattr(client.app.state, "user_sessions", None) is None  # service tokens: never looked at
    kim = login(client, "kim")
    started = time.monotonic()
    for _ in range(100):
        assert status(client, kim) == 200 and status(client, kim, STATS) == 200
    elapsed = time.monotonic() - started
    reads = sessions_of(client).reads
    assert 1 <= reads <= 2 + elapsed / (SESSIONS_MAX_AGE_SECONDS / 2), (reads, elapsed)


def test_decoding_a_login_token_still_gives_its_principal(acme: tuple[TestClient, Store]) -> None:
    """``decode_token`` checks signature and claims only (the dashboard's page check and the
    CLI use it); sessions are the API's check."""
    client, store = acme
    token = login(client, "lee")["Authorization"][7:]
    set_disabled(store, "acme", "lee", True)
    p = decode_token(SECRET, token)
    assert (p.subject, p.tenant_id, p.role.value) == ("lee", "acme", "viewer")


def test_users_snapshot_bookkeeping() -> None:
    """The snapshot alone: fresh for max_age, a change in this process makes it stale, a token
    newer than the snapshot is not refused without a fresh read."""
    loaded = [{("t", "a"): datetime.min, ("t", "d"): datetime.max, ("t", "b"): datetime(2026, 1, 1, 0, 0, 0, 500)}]
    s = UserSessions(lambda: loaded[0], max_age=1.0)
    old = Session("t", "a", int(time.time() * 1000) - 10_000)
    assert s.verdict(old, time.monotonic()) is None  # never read
    assert s.decide(old) is True and s.reads == 1
    now = time.monotonic()
    assert s.verdict(old, now) is True and s.verdict(old, now + 0.9) is True and s.verdict(old, now + 1.0) is None
    assert s.verdict(Session("t", "d", old.issued_at_ms), now) is False
    assert s.verdict(Session("u", "a", old.issued_at_ms), now) is False  # another tenant's "a"
    b = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
    assert s.verdict(Session("t", "b", b), now) is False and s.verdict(Session("t", "b", b + 1), now) is True
    newer = Session("t", "new", int(time.time() * 1000) + 5)
    assert s.verdict(newer, now) is None  # issued after the read: read again before saying no
    loaded[0] = {**loaded[0], ("t", "new"): datetime.min}
    assert s.decide(newer) is True and s.reads == 2
    sessions_changed()
    assert s.verdict(old, time.monotonic()) is None
