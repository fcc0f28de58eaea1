"""API authentication: HS256 JWT bearer tokens carrying a tenant and a role.

``create_token`` issues tokens (``deskpulse token create``); ``principal`` is the FastAPI
dependency that every route uses. The token's tenant is the only tenant a request can see:
a ``tenant_id`` in a path or query that differs answers 404, exactly like a missing object.
"""

from __future__ import annotations

import enum
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from deskpulse.errors import DeskpulseError, NotFoundError, UsageError

ALGORITHM = "HS256"


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


def create_token(
    secret: str, *, tenant_id: str, role: Role | str, subject: str | None = None, ttl_seconds: int = 30 * 86400,
    now: float | None = None,
) -> str:
    """Sign a token for ``tenant_id`` with ``role`` (default subject: ``<role>@<tenant>``)."""
    if not secret:
        raise UsageError("DESKPULSE_JWT_SECRET is not set: tokens need a secret")
    role = Role(role)
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "sub": subject or f"{role.value}@{tenant_id}",
        "tenant": tenant_id,
        "role": role.value,
        "iat": issued,
        "exp": issued + ttl_seconds,
        "jti": secrets.token_hex(8),  # unique per token: two sessions never share a token (or a CSRF token)
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str) -> Principal:
    """Verify a token; AuthError when it is missing, forged or expired."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
        return Principal(subject=str(claims["sub"]), tenant_id=str(claims["tenant"]), role=Role(claims["role"]))
    except (jwt.PyJWTError, KeyError, ValueError) as exc:
        raise AuthError(f"invalid token: {exc}") from exc


#: Verified tokens: (secret, token) -> (principal, exp). A client sends the same token with
#: every request; verifying it once (signature, claims) and then only checking the expiry
#: saves the HMAC and JSON work of each later request. Bounded; cleared when full.
_VERIFIED: dict[tuple[str, str], tuple[Principal, float]] = {}
_VERIFIED_MAX = 4096


def verified_principal(secret: str, token: str) -> Principal:
    """:func:`decode_token`, remembering valid tokens until they expire."""
    key = (secret, token)
    hit = _VERIFIED.get(key)
    if hit is not None:
        if hit[1] > time.time():
            return hit[0]
        _VERIFIED.pop(key, None)
    caller = decode_token(secret, token)
    exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    if isinstance(exp, int | float):
        if len(_VERIFIED) >= _VERIFIED_MAX:
            _VERIFIED.clear()
        _VERIFIED[key] = (caller, float(exp))
    return caller


def known_principal(secret: str, token: str) -> Principal | None:
    """The caller of a token this process has already verified and that has not expired yet;
    None otherwise (the caller must then go through :func:`verified_principal`). No signature
    work: the answer memo (``serve/memo.py``) uses it on its hot path."""
    hit = _VERIFIED.get((secret, token))
    if hit is None or hit[1] <= time.time():
        return None
    return hit[0]


_bearer = HTTPBearer(auto_error=False)

# The dependencies below are ``async`` although they do no I/O: FastAPI runs ``def``
# dependencies in its thread pool, one hop each; these are cheap enough for the event loop.


async def principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """FastAPI dependency: the authenticated caller (401 without a valid bearer token; 404 when
    the request names another tenant in a ``tenant_id`` path or query parameter)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthError("a bearer token is required (Authorization: Bearer …)")
    secret: str = request.app.state.settings.jwt_secret.get_secret_value()
    if not secret:
        raise AuthError("the server has no DESKPULSE_JWT_SECRET: no token can be verified")
    caller = verified_principal(secret, credentials.credentials)
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
