"""``POST /api/v1/auth/token``: a username and password (a dashboard user) for a bearer token.

The one API route that needs no token (it is how a user gets one). The answer is an HS256
JWT like the one ``deskpulse token create`` prints, for the user's own tenant and role, with
the username as subject, marked as a user's session (``usr``, ``iat_ms``): it stops working
when the user is disabled, removed or gets a new password (``deskpulse.serve.auth``). Failures answer 401 with one generic message whatever went wrong
(unknown user, wrong password, disabled or locked user: no user enumeration); too many
failures from one client address answer 429 (``deskpulse.serve.users``).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, Field

from deskpulse.serve.auth import AuthError, Principal, create_token
from deskpulse.serve.routes._shared import ErrorBody
from deskpulse.serve.users import LoginThrottle, login

router = APIRouter(tags=["meta"])

#: Token lifetime for a password login (hours); the request may ask for less or more.
DEFAULT_TTL_HOURS = 12
MAX_TTL_HOURS = 24 * 30
_throttle_lock = threading.Lock()


class PasswordLogin(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1024)
    ttl_hours: int = Field(DEFAULT_TTL_HOURS, ge=1, le=MAX_TTL_HOURS)


class AccessToken(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    tenant_id: str
    role: str
    subject: str


def login_throttle(request: Request) -> LoginThrottle:
    """The process's per-address throttle of failed logins (shared by the API and the dashboard)."""
    state = request.app.state
    throttle: LoginThrottle | None = getattr(state, "login_throttle", None)
    if throttle is None:
        with _throttle_lock:
            throttle = getattr(state, "login_throttle", None)
            if throttle is None:
                throttle = state.login_throttle = LoginThrottle()
    return throttle


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def login_token(secret: str, caller: Principal, ttl_seconds: int, *, now: float | None = None) -> str:
    """The token of a password login (a user's session, see ``auth.UserSessions``); the
    dashboard's login form issues the same. ``now``: the issue time (default: now)."""
    return create_token(secret, tenant_id=caller.tenant_id, role=caller.role, subject=caller.subject,
                        ttl_seconds=ttl_seconds, now=now, user_session=True)


def password_login(request: Request, username: str, password: str) -> Principal:
    """Check a username/password against the store (throttled); AuthError / LoginThrottled."""
    secret: str = request.app.state.settings.jwt_secret.get_secret_value()
    if not secret:
        raise AuthError("the server has no DESKPULSE_JWT_SECRET: no token can be issued")
    return login(request.app.state.store, login_throttle(request), client_address(request), username, password)


@router.post(
    "/auth/token", response_model=AccessToken, summary="Log in with a username and password",
    responses={401: {"model": ErrorBody, "description": "Invalid username or password (one message for every cause)."},
               429: {"model": ErrorBody, "description": "Too many failed logins from this address."},
               422: {"model": ErrorBody, "description": "A field failed validation."}},
)
def token_for_password(request: Request, body: Annotated[PasswordLogin, Body()]) -> AccessToken:
    """A bearer token for a dashboard user (`deskpulse user create`), for its tenant and role."""
    # The issue time is taken before the password check: a password change the check did not
    # see is then stamped later than the token and ends it too (unless that change's stamp and
    # commit straddle this instant: milliseconds). A disable ends it whatever the times.
    issued = time.time()
    caller = password_login(request, body.username, body.password)
    secret: str = request.app.state.settings.jwt_secret.get_secret_value()
    ttl = body.ttl_hours * 3600
    token = login_token(secret, caller, ttl, now=issued)
    return AccessToken(access_token=token, expires_at=datetime.fromtimestamp(int(issued) + ttl, UTC),
                       tenant_id=caller.tenant_id, role=caller.role.value, subject=caller.subject)
