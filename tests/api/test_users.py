"""Dashboard users: scrypt hashes, `deskpulse user create`, `POST /api/v1/auth/token`, lockout.

On both stores (migration 0007): a user belongs to one tenant and role; a password login
gives the same kind of token as `deskpulse token create`, for that tenant only; every
failure answers one generic message (no user enumeration); repeated failures lock the user
(in the store) and throttle the client address (429).
"""

from __future__ import annotations

import time
from datetime import UTC, timedelta

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from deskpulse.cli import app as cli
from deskpulse.serve.auth import decode_token
from deskpulse.serve.users import (
    GENERIC_FAILURE,
    LOCK_AFTER,
    LoginThrottle,
    LoginThrottled,
    authenticate,
    create_user,
    hash_password,
    list_users,
    lock_seconds,
    verify_password,
)
from deskpulse.store import Store
from tests.api.conftest import SECRET

runner = CliRunner()
PASSWORD = "correct horse battery"


def test_hashes_are_salted_scrypt_and_verify_in_constant_time() -> None:
    a, b = hash_password(PASSWORD), hash_password(PASSWORD)
    assert a != b and a.startswith("scrypt$16384$8$1$")  # a fresh salt each time
    assert verify_password(PASSWORD, a) and verify_password(PASSWORD, b)
    assert not verify_password(PASSWORD + "!", a)
    assert not verify_password(PASSWORD, "md5$abc") and not verify_password(PASSWORD, "garbage")
    assert PASSWORD not in a


def test_lockout_grows_and_is_capped() -> None:
    assert [lock_seconds(n) for n in range(LOCK_AFTER)] == [0] * LOCK_AFTER
    assert lock_seconds(LOCK_AFTER) == 30 and lock_seconds(LOCK_AFTER + 1) == 60
    assert lock_seconds(100) == 15 * 60


def test_create_and_authenticate(store: Store) -> None:
    user = create_user(store, "acme", "Alice@Example.com", PASSWORD, "agent", created_by="test")
    assert (user.username, user.tenant_id, user.role) == ("alice@example.com", "acme", "agent")
    p = authenticate(store, " ALICE@example.com ", PASSWORD)
    assert (p.subject, p.tenant_id, p.role.value) == ("alice@example.com", "acme", "agent")
    assert list_users(store, "acme")[0].last_login_at is not None
    assert list_users(store, "other") == []  # scoped to the tenant
    from deskpulse.errors import ConflictError, UsageError

    with pytest.raises(ConflictError):  # usernames are unique on the server, whatever the tenant
        create_user(store, "other", "alice@example.com", PASSWORD, "viewer")
    with pytest.raises(UsageError):
        create_user(store, "acme", "bob", "short", "viewer")
    with pytest.raises(UsageError):
        create_user(store, "acme", "bad name", PASSWORD, "viewer")
    with pytest.raises(ValueError):
        create_user(store, "acme", "carol", PASSWORD, "root")


def test_failures_say_the_same_thing_and_lock_the_user(store: Store) -> None:
    from deskpulse.serve.auth import AuthError

    create_user(store, "acme", "dave", PASSWORD, "viewer")
    messages = set()
    for name, password in (("nobody", PASSWORD), ("dave", "wrong password"), ("", ""), ("x" * 500, "p")):
        with pytest.raises(AuthError) as exc:
            authenticate(store, name, password)
        messages.add(exc.value.message)
    assert messages == {GENERIC_FAILURE}
    for _ in range(LOCK_AFTER):
        with pytest.raises(AuthError):
            authenticate(store, "dave", "wrong password")
    with pytest.raises(AuthError) as locked:  # the right password while locked: the same answer
        authenticate(store, "dave", PASSWORD)
    assert locked.value.message == GENERIC_FAILURE
    from deskpulse.pipeline import utcnow

    later = utcnow() + timedelta(hours=1)
    assert authenticate(store, "dave", PASSWORD, now=later).subject == "dave"  # the lock expires
    row = store.execute("SELECT failed_logins, locked_until FROM users WHERE username = 'dave'")[0]
    assert row == (0, None)  # a success resets the count


def test_unknown_users_cost_as_much_as_known_ones(store: Store) -> None:
    """No timing oracle: an unknown username still runs one scrypt verification."""
    create_user(store, "acme", "erin", PASSWORD, "viewer")
    from deskpulse.serve.auth import AuthError

    def cost(name: str) -> float:
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            with pytest.raises(AuthError):
                authenticate(store, name, "wrong password")
            best = min(best, time.perf_counter() - t)
        return best

    known, unknown = cost("erin"), cost("nobody-here")
    assert unknown > 0.3 * known  # both dominated by one scrypt run (tens of ms)


def test_the_address_throttle() -> None:
    now = [1000.0]
    t = LoginThrottle(limit=3, window=60, clock=lambda: now[0])
    for _ in range(3):
        t.check("1.2.3.4")
        t.failed("1.2.3.4")
    with pytest.raises(LoginThrottled) as exc:
        t.check("1.2.3.4")
    assert exc.value.http_status == 429 and exc.value.details["retry_after"] == 61
    t.check("5.6.7.8")  # another address is not affected
    now[0] += 61
    t.check("1.2.3.4")


def test_user_cli_reads_the_password_from_env_or_a_hidden_prompt(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKPULSE_USER_PASSWORD", PASSWORD)
    made = runner.invoke(cli, ["--db", db_url, "user", "create", "--tenant", "acme", "--role", "admin", "Frank"])
    assert made.exit_code == 0, made.output
    assert "frank" in made.output and PASSWORD not in made.output
    monkeypatch.delenv("DESKPULSE_USER_PASSWORD")
    prompted = runner.invoke(cli, ["--db", db_url, "--tenant", "acme", "user", "create", "--role", "viewer", "grace"],
                             input=f"{PASSWORD}\n{PASSWORD}\n")
    assert prompted.exit_code == 0, prompted.output
    assert PASSWORD not in prompted.output  # hidden input: never echoed
    taken = runner.invoke(cli, ["--db", db_url, "user", "create", "--tenant", "other", "--role", "viewer", "grace"],
                          input=f"{PASSWORD}\n{PASSWORD}\n")
    assert taken.exit_code == 3 and "taken" in taken.output
    short = runner.invoke(cli, ["--db", db_url, "user", "create", "--tenant", "acme", "--role", "viewer", "hank"],
                          input="short\nshort\n")
    assert short.exit_code == 2
    listed = runner.invoke(cli, ["--db", db_url, "user", "list", "--tenant", "acme", "--format", "json"])
    assert listed.exit_code == 0 and "scrypt" not in listed.output
    import json

    assert [u["username"] for u in json.loads(listed.output)] == ["frank", "grace"]
    assert runner.invoke(cli, ["--db", db_url, "user", "disable", "--tenant", "acme", "grace"]).exit_code == 0
    assert runner.invoke(cli, ["--db", db_url, "user", "remove", "--tenant", "acme", "frank"]).exit_code == 0
    assert runner.invoke(cli, ["--db", db_url, "user", "remove", "--tenant", "acme", "frank"]).exit_code == 3


def test_password_login_over_http(fresh: tuple[TestClient, Store]) -> None:
    client, store = fresh
    create_user(store, "acme", "ivy", PASSWORD, "admin")
    create_user(store, "globex", "jack", PASSWORD, "viewer")
    ok = client.post("/api/v1/auth/token", json={"username": "IVY", "password": PASSWORD, "ttl_hours": 2})
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert (body["tenant_id"], body["role"], body["subject"], body["token_type"]) == ("acme", "admin", "ivy", "bearer")
    p = decode_token(SECRET, body["access_token"])
    assert (p.tenant_id, p.role.value) == ("acme", "admin")
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json() == {"subject": "ivy", "tenant_id": "acme", "role": "admin"}
    # another tenant's data stays out of reach: the token is acme's
    assert client.get("/api/v1/tenants/globex/stats",
                      headers={"Authorization": f"Bearer {body['access_token']}"}).status_code == 404
    bad = [client.post("/api/v1/auth/token", json={"username": u, "password": pw})
           for u, pw in (("ivy", "nope-nope"), ("nobody", PASSWORD))]
    assert [r.status_code for r in bad] == [401, 401]
    assert bad[0].json() == bad[1].json() == {"error": {"code": "unauthorized", "message": GENERIC_FAILURE,
                                                        "details": {}}}
    assert client.post("/api/v1/auth/token", json={"username": "ivy"}).status_code == 422


def test_the_login_route_throttles_an_address(fresh: tuple[TestClient, Store]) -> None:
    client, store = fresh
    create_user(store, "acme", "kate", PASSWORD, "viewer")
    client.app.state.login_throttle = LoginThrottle(limit=3, window=300)  # type: ignore[attr-defined]
    codes = [client.post("/api/v1/auth/token", json={"username": f"guess{i}", "password": "x" * 9}).status_code
             for i in range(4)]
    assert codes == [401, 401, 401, 429]
    late = client.post("/api/v1/auth/token", json={"username": "kate", "password": PASSWORD})
    assert late.status_code == 429 and late.json()["error"]["code"] == "too_many_attempts"


def test_the_users_table_is_a_tenant_table(store: Store) -> None:
    from deskpulse.store.schema import TENANT_TABLES

    assert "users" in TENANT_TABLES
    create_user(store, "acme", "liam", PASSWORD, "viewer")
    create_user(store, "globex", "mia", PASSWORD, "viewer")
    assert store.tenant("acme").rows("SELECT username FROM users") == [("liam",)]  # scoped reads
    assert store.execute("SELECT count(*) FROM users WHERE tenant_id IS NULL")[0][0] == 0


def test_session_changes_stamp_sessions_valid_after(store: Store) -> None:
    """Migration 0011: create, disable, enable and a new password stamp the instant (to the
    microsecond) before which the user's login tokens are refused; enabling an enabled user or
    a failed login changes nothing."""
    from datetime import datetime

    from deskpulse.serve.auth import AuthError
    from deskpulse.serve.users import get_user, session_table, set_disabled, set_password

    before = datetime.now(UTC).replace(tzinfo=None)
    made = create_user(store, "acme", "nora", PASSWORD, "viewer")
    assert made.sessions_valid_after is not None and made.sessions_valid_after >= before
    at = datetime(2026, 5, 4, 3, 2, 1, 654321)
    assert set_disabled(store, "acme", "nora", True, now=at).sessions_valid_after == at
    later = at + timedelta(milliseconds=1)
    assert set_disabled(store, "acme", "nora", False, now=later).sessions_valid_after == later
    assert set_disabled(store, "acme", "nora", False, now=later + timedelta(seconds=5)).sessions_valid_after == later
    with pytest.raises(AuthError):
        authenticate(store, "nora", "wrong password")
    assert get_user(store, "acme", "nora").sessions_valid_after == later
    assert set_password(store, "acme", "nora", PASSWORD + "!").sessions_valid_after > later
    create_user(store, "globex", "omar", PASSWORD, "viewer")
    set_disabled(store, "globex", "omar", True)
    table = session_table(store)
    assert table[("globex", "omar")] == datetime.max and ("acme", "omar") not in table
    assert table[("acme", "nora")] == get_user(store, "acme", "nora").sessions_valid_after
