"""Dashboard users: username/password logins bound to one tenant and one role.

A user is a row of ``users`` (migration 0007): a server-wide unique, lower-cased
``username``, the tenant it belongs to, a role (admin, agent, viewer) and a salted scrypt
hash of the password (:func:`hash_password`, standard library only). Logging in
(:func:`authenticate`) yields a :class:`~deskpulse.serve.auth.Principal`; the caller turns it
into the same JWT a token login uses (``POST /api/v1/auth/token``, the dashboard's login form).

Guessing is made slow and unrewarding:

- every failure answers the same generic :class:`~deskpulse.serve.auth.AuthError` ("invalid
  username or password") whether the user exists, is disabled, is locked or typed a wrong
  password — and an unknown username still costs one scrypt run (against a fixed dummy
  hash), so the answer time does not tell either;
- hashes are compared with :func:`hmac.compare_digest`;
- after :data:`LOCK_AFTER` consecutive failures a user is locked for a time that doubles with
  each further failure (:data:`LOCK_SECONDS` up to :data:`LOCK_MAX_SECONDS`), stored in the
  row so every server process sees it;
- :class:`LoginThrottle` limits failures per client address in this process (429), which also
  covers guessing over many usernames.

Ending sessions: creating, disabling, enabling a user and changing its password set
``sessions_valid_after`` (migration 0011) to that instant; a login token issued before it, or
whose user is disabled or removed, answers 401 on every server process within a second
(:class:`~deskpulse.serve.auth.UserSessions` reads :func:`session_table`).

Passwords are never logged or echoed; the CLI reads them from a prompt or
``DESKPULSE_USER_PASSWORD``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from deskpulse.errors import ConflictError, DeskpulseError, NotFoundError, UsageError
from deskpulse.serve.auth import AuthError, Principal, Role, SessionTable, sessions_changed
from deskpulse.store import Store

log = logging.getLogger(__name__)

#: scrypt cost: N = 2**14, r = 8, p = 1 (16 MiB, ≈ 50 ms here) — the values RFC 7914 and
#: OWASP name for interactive logins.
SCRYPT_N: Final = 2**14
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
SALT_BYTES: Final = 16
HASH_BYTES: Final = 32
MIN_PASSWORD_LENGTH: Final = 8
MAX_PASSWORD_LENGTH: Final = 1024
LOCK_AFTER: Final = 5
LOCK_SECONDS: Final = 30
LOCK_MAX_SECONDS: Final = 15 * 60
GENERIC_FAILURE: Final = "invalid username or password"
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,99}$")


class LoginThrottled(DeskpulseError):
    """Too many failed logins from one client address: try again later (HTTP 429)."""

    code = "too_many_attempts"
    exit_code = 2
    http_status = 429


# --- password hashing ------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P,
                  salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` (URL-safe base64) of ``password`` with a fresh random salt."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=HASH_BYTES,
                            maxmem=256 * 1024 * 1024)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """Does ``password`` match the stored hash? (constant-time comparison; False when malformed)"""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        actual = hashlib.scrypt(password.encode("utf-8"), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
                                dklen=len(expected), maxmem=256 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


#: Verified instead of a real hash when the username is unknown: the same cost either way.
_DUMMY_HASH: Final = hash_password("not-a-real-password", salt=b"\0" * SALT_BYTES)


# --- users -----------------------------------------------------------------------------------


def normalize_username(username: str) -> str:
    name = username.strip().lower()
    if not _USERNAME.match(name):
        raise UsageError("a username is 1-100 characters: letters, digits and . _ @ + - "
                         "(starting with a letter or digit)")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UsageError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UsageError(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    return password


@dataclass(frozen=True)
class User:
    """A stored user (never with its password hash)."""

    tenant_id: str
    username: str
    role: str
    disabled: bool
    failed_logins: int
    locked_until: datetime | None
    last_login_at: datetime | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    #: login tokens issued before this instant are refused (naive UTC, microseconds)
    sessions_valid_after: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


_COLS: Final = ("tenant_id", "username", "role", "disabled", "failed_logins", "locked_until",
                "last_login_at", "created_by", "created_at", "updated_at", "sessions_valid_after")


def _user(row: tuple[Any, ...]) -> User:
    d = dict(zip(_COLS, row, strict=True))
    d["disabled"] = bool(d["disabled"])
    d["failed_logins"] = int(d["failed_logins"])
    return User(**d)


def _now() -> datetime:
    from deskpulse.pipeline import utcnow

    return utcnow()


def _instant() -> datetime:
    """Now as naive UTC with microseconds: when sessions end (a token carries milliseconds)."""
    return datetime.now(UTC).replace(tzinfo=None)


def session_table(store: Store) -> SessionTable:
    """Every user's session state, for :class:`~deskpulse.serve.auth.UserSessions`:
    (tenant, username) -> the instant (naive UTC) a login token must be issued after
    (``datetime.max`` when disabled, ``datetime.min`` when no session was ever ended). One
    query over all tenants; no conversion per row (≈ 1 ms per thousand users)."""
    rows = store.execute("SELECT tenant_id, username, disabled, sessions_valid_after FROM users")
    ended, never = datetime.max, datetime.min
    return {(tenant, name): ended if disabled else after or never for tenant, name, disabled, after in rows}


def create_user(store: Store, tenant: str, username: str, password: str, role: Role | str, *,
                created_by: str | None = None, now: datetime | None = None) -> User:
    """Store a new user of ``tenant``; ConflictError when the username is taken (on any tenant)."""
    name = normalize_username(username)
    role = Role(role)
    check_password(password)
    now = now or _now()
    if store.execute("SELECT 1 FROM users WHERE username = $u", {"u": name}):
        raise ConflictError(f"the username {name!r} is taken", username=name)
    # A username removed and created again must not revive the old user's tokens.
    store.execute(
        "INSERT INTO users (tenant_id, username, password_hash, role, disabled, failed_logins, "
        "locked_until, last_login_at, created_by, created_at, updated_at, sessions_valid_after) "
        "VALUES ($t, $u, $h, $r, false, 0, NULL, NULL, $by, $now, $now, $valid_after)",
        {"t": tenant, "u": name, "h": hash_password(password), "r": role.value, "by": created_by, "now": now,
         "valid_after": _instant()},
    )
    sessions_changed()
    log.info("user %s created (tenant %s, role %s)", name, tenant, role.value)
    return get_user(store, tenant, name)


def get_user(store: Store, tenant: str, username: str) -> User:
    """A user of ``tenant`` (NotFoundError for another tenant's, like a missing one)."""
    rows = store.execute(
        f"SELECT {', '.join(_COLS)} FROM users WHERE tenant_id = $t AND username = $u",  # noqa: S608
        {"t": tenant, "u": username.strip().lower()},
    )
    if not rows:
        raise NotFoundError(f"user {username!r} not found", username=username)
    return _user(rows[0])


def list_users(store: Store, tenant: str) -> list[User]:
    rows = store.execute(
        f"SELECT {', '.join(_COLS)} FROM users WHERE tenant_id = $t ORDER BY username",  # noqa: S608
        {"t": tenant},
    )
    return [_user(r) for r in rows]


def set_password(store: Store, tenant: str, username: str, password: str, *, now: datetime | None = None) -> User:
    """Replace a user's password (and lift any lockout); the user's login tokens end (``now``:
    the instant they end, default the current one to the microsecond)."""
    user = get_user(store, tenant, username)
    check_password(password)
    ended = now or _instant()
    store.execute(
        "UPDATE users SET password_hash = $h, failed_logins = 0, locked_until = NULL, updated_at = $now, "
        "sessions_valid_after = $ended WHERE tenant_id = $t AND username = $u",
        {"h": hash_password(password), "now": now or _now(), "ended": ended, "t": tenant, "u": user.username},
    )
    sessions_changed()
    return get_user(store, tenant, user.username)


def set_disabled(store: Store, tenant: str, username: str, disabled: bool, *, now: datetime | None = None) -> User:
    """Disable a user (its login tokens end; it cannot log in) or enable it again. Enabling a
    disabled user ends its sessions once more, so no token from before comes back (a login
    that raced the disable included); enabling an enabled user changes nothing."""
    user = get_user(store, tenant, username)
    if disabled or user.disabled:
        store.execute(
            "UPDATE users SET disabled = $d, updated_at = $now, sessions_valid_after = $ended "
            "WHERE tenant_id = $t AND username = $u",
            {"d": disabled, "now": now or _now(), "ended": now or _instant(), "t": tenant, "u": user.username})
        sessions_changed()
    return get_user(store, tenant, user.username)


def remove_user(store: Store, tenant: str, username: str) -> User:
    """Delete a user: its login tokens end (their user no longer exists)."""
    user = get_user(store, tenant, username)
    store.execute("DELETE FROM users WHERE tenant_id = $t AND username = $u", {"t": tenant, "u": user.username})
    sessions_changed()
    return user


def lock_seconds(failures: int) -> int:
    """How long a user stays locked after ``failures`` consecutive failed logins (0: not locked)."""
    if failures < LOCK_AFTER:
        return 0
    return int(min(LOCK_MAX_SECONDS, LOCK_SECONDS * 2 ** (failures - LOCK_AFTER)))


def authenticate(store: Store, username: str, password: str, *, now: datetime | None = None) -> Principal:
    """The principal of a correct username/password; AuthError (one generic message) otherwise."""
    now = now or _now()
    name = username.strip().lower()
    rows = []
    if _USERNAME.match(name) and len(password) <= MAX_PASSWORD_LENGTH:
        rows = store.execute(
            "SELECT tenant_id, role, password_hash, disabled, failed_logins, locked_until "
            "FROM users WHERE username = $u", {"u": name})
    if not rows:
        verify_password(password[:MAX_PASSWORD_LENGTH], _DUMMY_HASH)  # same cost as a real check
        raise AuthError(GENERIC_FAILURE)
    tenant, role, encoded, disabled, failures, locked_until = rows[0]
    ok = verify_password(password, str(encoded))
    if disabled or (locked_until is not None and locked_until > now):
        log.info("login refused for %s (tenant %s): %s", name, tenant, "disabled" if disabled else "locked")
        raise AuthError(GENERIC_FAILURE)
    if not ok:
        failures = int(failures) + 1
        wait = lock_seconds(failures)
        store.execute(
            "UPDATE users SET failed_logins = $f, locked_until = $until WHERE tenant_id = $t AND username = $u",
            {"f": failures, "until": now + timedelta(seconds=wait) if wait else None, "t": tenant, "u": name})
        log.info("failed login for %s (tenant %s), %d in a row", name, tenant, failures)
        raise AuthError(GENERIC_FAILURE)
    store.execute(
        "UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = $now "
        "WHERE tenant_id = $t AND username = $u", {"now": now, "t": tenant, "u": name})
    return Principal(subject=name, tenant_id=str(tenant), role=Role(str(role)))


# --- per-address throttle ----------------------------------------------------------------------


class LoginThrottle:
    """At most ``limit`` failed logins per client address within ``window`` seconds (per process).

    :meth:`check` raises :class:`LoginThrottled` while an address is over the limit;
    :meth:`failed` records a failure; a success does not reset the window (a guesser who
    knows one password must not get a fresh budget by logging in with it).
    """

    def __init__(self, limit: int = 20, window: float = 300.0, clock: Any = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, address: str, now: float) -> deque[float]:
        q = self._failures.setdefault(address, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def check(self, address: str) -> None:
        now = self.clock()
        with self._lock:
            q = self._recent(address, now)
            if len(q) >= self.limit:
                retry = max(1, int(q[0] + self.window - now) + 1)
                raise LoginThrottled(f"too many failed logins from this address; try again in {retry} s",
                                     retry_after=retry)
            if not q:
                self._failures.pop(address, None)

    def failed(self, address: str) -> None:
        now = self.clock()
        with self._lock:
            self._recent(address, now).append(now)
            if len(self._failures) > 10_000:  # bounded memory: forget idle addresses
                for key in [k for k, v in self._failures.items() if not v or v[-1] <= now - self.window]:
                    self._failures.pop(key, None)


def login(store: Store, throttle: LoginThrottle, address: str, username: str, password: str) -> Principal:
    """:func:`authenticate` behind the per-address throttle (what both login routes call)."""
    throttle.check(address)
    try:
        return authenticate(store, username, password)
    except AuthError:
        throttle.failed(address)
        raise
