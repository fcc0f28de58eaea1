"""API authentication: HS256 JWT bearer tokens carrying a tenant and a role.

``create_token`` issues tokens (``deskpulse token create``, the password login);
``principal`` is the FastAPI dependency that every route uses. The token's tenant is the only
tenant a request can see: a ``tenant_id`` in a path or query that differs answers 404,
exactly like a missing object.

A token issued by a password login (``usr: true``, issued at ``iat_ms``) is a user's session:
it is accepted only while its user exists in its tenant, is not disabled and the token was
issued after the user's ``sessions_valid_after`` (disable, enable, password change). Each
process checks that against a snapshot of the users (:class:`UserSessions`) at most
:data:`SESSIONS_MAX_AGE_SECONDS` old, never with a query per request. Service tokens
(``deskpulse token create``, ``POST /api/v1/tokens``) are not sessions: they live until they
expire (rotate the secret to end them).
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Final, NamedTuple

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from deskpulse.errors import DeskpulseError, NotFoundError, UsageError

log = logging.getLogger(__name__)

ALGORITHM = "HS256"
#: A user's sessions end within this many seconds on every process (the users snapshot's age).
SESSIONS_MAX_AGE_SECONDS: Final = 1.0
#: What a token of an ended session answers (401): the same whether the user was disabled,
#: removed or changed its password.
SESSION_ENDED: Final = "invalid token: this session has ended; log in again"


class Role(enum.StrEnum):
    """viewer reads; agent also sets its own availability; admin manages configuration."""

    viewer = "viewer"
    agent = "agent"
    admin = "admin"


_RANK = {Role.viewer: 0, Role.agent: 1, Role.admin: 2}


class AuthError(DeskpulseError):
    """Missing, malformed, expired or forged credentials."""

    code = "unauthorized"
    exit_code = 2
    http_status = 401


class ForbiddenError(DeskpulseError):
    """Authenticated, but the role does not allow this."""

    code = "forbidden"
    exit_code = 2
    http_status = 403


@dataclass(frozen=True)
class Principal:
    """Who is calling: a subject (user id), a tenant and a role."""

    subject: str
    tenant_id: str
    role: Role

    def require(self, role: Role) -> None:
        if _RANK[self.role] < _RANK[role]:
            raise ForbiddenError(f"this needs the {role.value} role; the token has {self.role.value}")

    def check_tenant(self, tenant_id: str | None) -> None:
        """A tenant_id from the path/query must be the token's own, else 404 (no existence leak)."""
        if tenant_id is not None and tenant_id != self.tenant_id:
            raise NotFoundError(f"tenant {tenant_id!r} not found", tenant_id=tenant_id)


_EPOCH: Final = datetime(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class Session:
    """A login token's user (tenant, username) and the instant it was issued (ms since epoch)."""

    tenant_id: str
    username: str
    issued_at_ms: int
    #: the same instant as naive UTC (what ``users.sessions_valid_after`` holds)
    issued_at: datetime = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "issued_at", _EPOCH + timedelta(milliseconds=self.issued_at_ms))


class VerifiedToken(NamedTuple):
    """A token whose signature and claims were checked: its caller, expiry and session."""

    principal: Principal
    expires_at: float  #: seconds since the epoch
    session: Session | None  #: None: a service token (not a user's login)


def create_token(
    secret: str, *, tenant_id: str, role: Role | str, subject: str | None = None, ttl_seconds: int = 30 * 86400,
    now: float | None = None, user_session: bool = False,
) -> str:
    """Sign a token for ``tenant_id`` with ``role`` (default subject: ``<role>@<tenant>``).

    ``user_session``: a password login's token (``subject`` is the username): it carries
    ``usr: true`` and its issue time in milliseconds (``iat_ms``), and ends with the user's
    sessions (see :class:`UserSessions`)."""
    if not secret:
        raise UsageError("DESKPULSE_JWT_SECRET is not set: tokens need a secret")
    role = Role(role)
    instant = now if now is not None else time.time()
    issued = int(instant)
    claims: dict[str, Any] = {
        "sub": subject or f"{role.value}@{tenant_id}",
        "tenant": tenant_id,
        "role": role.value,
        "iat": issued,
        "exp": issued + ttl_seconds,
        "jti": secrets.token_hex(8),  # unique per token: two sessions never share a token (or a CSRF token)
    }
    if user_session:
        claims["usr"] = True
        claims["iat_ms"] = int(instant * 1000)
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def _session(claims: dict[str, Any], principal: Principal) -> Session | None:
    if claims.get("usr") is not True:
        return None
    issued_ms = claims.get("iat_ms")
    if isinstance(issued_ms, bool) or not isinstance(issued_ms, int):
        iat = claims.get("iat")  # not one of ours: the second it names, else the epoch (ends with any change)
        issued_ms = int(iat) * 1000 if isinstance(iat, int) and not isinstance(iat, bool) else 0
    return Session(principal.tenant_id, principal.subject, issued_ms)


def verify_token(secret: str, token: str) -> VerifiedToken:
    """Verify a token (signature, expiry, claims); AuthError when it is missing, forged or expired.
    Whether a login token's session is still open is not checked here (:func:`principal`)."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
        caller = Principal(subject=str(claims["sub"]), tenant_id=str(claims["tenant"]), role=Role(claims["role"]))
        return VerifiedToken(caller, float(claims["exp"]), _session(claims, caller))
    except (jwt.PyJWTError, KeyError, ValueError, TypeError, OverflowError) as exc:
        raise AuthError(f"invalid token: {exc}") from exc


def decode_token(secret: str, token: str) -> Principal:
    """Verify a token; AuthError when it is missing, forged or expired (sessions not checked)."""
    return verify_token(secret, token).principal


#: Verified tokens: (secret, token) -> what :func:`verify_token` found. A client sends the same
#: token with every request; verifying it once (signature, claims) and then only checking the
#: expiry (and a login token's session) saves the HMAC and JSON work of each later request.
#: Bounded; cleared when full.
_VERIFIED: dict[tuple[str, str], VerifiedToken] = {}
_VERIFIED_MAX = 4096


def verified_token(secret: str, token: str) -> VerifiedToken:
    """:func:`verify_token`, remembering valid tokens until they expire."""
    key = (secret, token)
    hit = _VERIFIED.get(key)
    if hit is not None:
        if hit.expires_at > time.time():
            return hit
        _VERIFIED.pop(key, None)
    found = verify_token(secret, token)
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED[key] = found
    return found


# --- users' sessions ---------------------------------------------------------------------------

#: (tenant, username) -> the instant (naive UTC) a login token must be issued after;
#: ``datetime.max`` for a disabled user, ``datetime.min`` when no session was ever ended.
#: Missing: no such user.
SessionTable = dict[tuple[str, str], datetime]

#: Bumped by every change to a user's sessions made in this process (``serve/users.py``):
#: the process's snapshots are read again before the next login token is accepted.
_generation = 0


def sessions_changed() -> None:
    """A user was created, disabled, enabled, removed or got a new password in this process."""
    global _generation
    _generation += 1


def _admits(table: SessionTable, session: Session) -> bool:
    not_before = table.get((session.tenant_id, session.username))
    return not_before is not None and session.issued_at > not_before


class _Snapshot(NamedTuple):
    table: SessionTable | None
    read_at: float  #: time.monotonic() when the read began
    read_at_us: float  #: the same instant, µs since the epoch (to compare with a token's issue time)
    generation: int


class UserSessions:
    """This process's view of the users whose login tokens may be accepted.

    A snapshot of every user's (tenant, username, disabled, sessions_valid_after), read with
    ``load`` and used while younger than ``max_age`` seconds; like ``TenantClock``
    (``routes/stats.py``), requests re-read it in the background once it is half that old, so
    under steady load no request waits for it, and a request waits (in the thread pool) only
    after an idle second. A change made by this process (``serve/users.py``) makes it stale at
    once; one made by another process (the CLI, another worker) shows within ``max_age``.
    A token issued after the snapshot was read and refused by it (a user created or enabled
    since) gets one fresh read before the answer is no.
    """

    def __init__(self, load: Callable[[], SessionTable], max_age: float = SESSIONS_MAX_AGE_SECONDS) -> None:
        self.load = load
        self.max_age = max_age
        self.state = _Snapshot(None, -1e18, -1e18, -1)  # replaced whole
        self.reading = False
        self.scheduled = False  # a background read is queued (set on the event loop)
        self.reads = 0
        self._lock = threading.Lock()

    def verdict(self, session: Session, now: float) -> bool | None:
        """True: the session is open; False: it has ended; None: read the users first
        (:meth:`decide`). ``now``: time.monotonic()."""
        state = self.state
        if state.table is None or now - state.read_at >= self.max_age or state.generation != _generation:
            return None
        if _admits(state.table, session):
            return True
        return False if session.issued_at_ms * 1000 < state.read_at_us else None

    def decide(self, session: Session) -> bool:
        """Whether the session is open, reading the users when the snapshot cannot tell
        (blocking: call it from a worker thread). One thread reads, the others wait for it."""
        with self._lock:
            verdict = self.verdict(session, time.monotonic())
            if verdict is not None:
                return verdict
            return _admits(self._read(), session)

    def _read(self) -> SessionTable:
        """Read the users (the caller holds the lock)."""
        self.reading = True
        try:
            generation = _generation
            started, started_us = time.monotonic(), time.time() * 1e6
            table = self.load()
            self.state = _Snapshot(table, started, started_us, generation)
            self.reads += 1
        finally:
            self.reading = False
        return table

    def keep_fresh(self, now: float) -> None:
        """On the event loop: schedule one background read once the snapshot is half-way to stale."""
        if self.scheduled or self.reading or now - self.state.read_at < self.max_age / 2:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self.scheduled = True
        loop.run_in_executor(None, self.refresh)

    def refresh(self) -> None:
        """Read the users now, unless another reader is at it (then its answer will do)."""
        try:
            if self._lock.acquire(blocking=False):
                try:
                    self._read()
                finally:
                    self._lock.release()
        except Exception as exc:  # a background read: the next request reads it itself
            log.warning("background read of the users' sessions failed: %s", exc)
        finally:
            self.scheduled = False


_sessions_lock = threading.Lock()
_turn = itertools.count()


def user_sessions(app: Any) -> UserSessions:
    """The :class:`UserSessions` of a FastAPI app (created on first use; reads its users from
    the app's read connections in turn, else its store)."""
    state = app.state
    sessions: UserSessions | None = getattr(state, "user_sessions", None)
    if sessions is None:
        with _sessions_lock:
            sessions = getattr(state, "user_sessions", None)
            if sessions is None:
                def load() -> SessionTable:
                    from deskpulse.serve.users import session_table

                    pool = getattr(state, "read_stores", None) or [state.store]
                    return session_table(pool[next(_turn) % len(pool)])

                sessions = state.user_sessions = UserSessions(load)
    return sessions


def known_principal(secret: str, token: str, app: Any = None) -> Principal | None:
    """The caller of a token this process has already verified, that has not expired and —
    a login token — whose session the current users snapshot of ``app`` shows open; None
    otherwise (the caller must then go through :func:`principal`). No signature work, no
    I/O: the answer memo (``serve/memo.py``) uses it on its hot path."""
    hit = _VERIFIED.get((secret, token))
    if hit is None or hit.expires_at <= time.time():
        return None
    if hit.session is not None:
        if app is None:
            return None
        sessions = user_sessions(app)
        now = time.monotonic()
        if sessions.verdict(hit.session, now) is not True:
            return None
        sessions.keep_fresh(now)
    return hit.principal


async def check_session(app: Any, session: Session) -> None:
    """AuthError (401) unless the login session is open (see :class:`UserSessions`)."""
    sessions = user_sessions(app)
    now = time.monotonic()
    verdict = sessions.verdict(session, now)
    if verdict is None:
        from starlette.concurrency import run_in_threadpool

        verdict = await run_in_threadpool(sessions.decide, session)
    else:
        sessions.keep_fresh(now)
    if not verdict:
        raise AuthError(SESSION_ENDED)


async def token_principal(request: Request, token: str) -> Principal:
    """The caller of a bearer ``token`` on this app: verified (401 when missing, forged or
    expired) and, for a login token, only while its session is open (401 otherwise)."""
    secret: str = request.app.state.settings.jwt_secret.get_secret_value()
    if not secret:
        raise AuthError("the server has no DESKPULSE_JWT_SECRET: no token can be verified")
    found = verified_token(secret, token)
    if found.session is not None:
        await check_session(request.app, found.session)
    return found.principal


_bearer = HTTPBearer(auto_error=False)

# The dependencies below are ``async``: FastAPI runs ``def`` dependencies in its thread pool,
# one hop each; these are cheap enough for the event loop (a login token's rare users read
# goes to the thread pool).


async def principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """FastAPI dependency: the authenticated caller (401 without a valid bearer token or with
    a login token whose session has ended; 404 when the request names another tenant in a
    ``tenant_id`` path or query parameter)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthError("a bearer token is required (Authorization: Bearer …)")
    caller = await token_principal(request, credentials.credentials)
    # CONTRACT §7: a tenant_id in the path or query that is not the token's answers 404, on
    # every route that authenticates, whether or not the route itself reads the parameter.
    caller.check_tenant(request.path_params.get("tenant_id"))
    for value in request.query_params.getlist("tenant_id"):
        caller.check_tenant(value)
    request.scope["deskpulse.principal"] = caller  # serve/memo.py: whose answer a route remembers
    return caller


CurrentPrincipal = Annotated[Principal, Depends(principal)]


def require_role(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets through callers holding at least ``role`` (403 otherwise)."""

    async def dependency(caller: CurrentPrincipal) -> Principal:
        caller.require(role)
        return caller

    dependency.__name__ = f"require_{role.value}"
    return dependency


AdminPrincipal = Annotated[Principal, Depends(require_role(Role.admin))]
AgentPrincipal = Annotated[Principal, Depends(require_role(Role.agent))]
