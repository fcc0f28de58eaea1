"""Dashboard sessions: the token cookie, the page principal and HTML-first error handling.

Pages authenticate exactly like the API — an HS256 JWT carrying a tenant and a role — but a
browser keeps the token in an HttpOnly cookie set by the login page (``Authorization:
Bearer`` works too, for scripts and tests). Without a valid token a page answers 303 to the
login page, remembering where the visitor wanted to go. A ``tenant_id`` in the query that is
not the token's answers 404, like the API (CONTRACT §7). The only store a page can reach is
the caller's tenant: :class:`PageContext` hands out :class:`~deskpulse.store.TenantStore`
objects bound to the principal's tenant and nothing else.

:class:`PageRoute` is the route class of every page: it turns a missing login into the
redirect and library errors into an HTML error page (the JSON error shape is for the API).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from deskpulse.config import AppConfig, load_config
from deskpulse.errors import DeskpulseError
from deskpulse.serve.auth import AuthError, Principal, token_principal
from deskpulse.serve.deps import get_read_store, get_store
from deskpulse.store import Store, TenantStore

log = logging.getLogger(__name__)

#: The cookie holding the session's token (HttpOnly, SameSite=Lax, path /ui).
COOKIE = "deskpulse_session"
COOKIE_PATH = "/ui"
LOGIN_PATH = "/ui/login"
HOME_PATH = "/ui/"
DEFAULT_TIMEZONE = "UTC"

class LoginRequired(Exception):
    """No valid token: the visitor must log in (``reason`` is shown on the login page)."""

    def __init__(self, reason: str = "", *, clear_cookie: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.clear_cookie = clear_cookie


def safe_next(target: str | None) -> str:
    """A local dashboard path to go to after login (never another site: no open redirect)."""
    if not target or not target.startswith("/ui") or target.startswith("//") or "\\" in target:
        return HOME_PATH
    return target


def login_url(request: Request, reason: str = "") -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = f"{LOGIN_PATH}?next={quote(safe_next(here), safe='')}"
    return url + (f"&reason={quote(reason, safe='')}" if reason else "")


def token_of(request: Request) -> str | None:
    """The session cookie's token, else an ``Authorization: Bearer`` header's."""
    token = request.cookies.get(COOKIE)
    if token:
        return token
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def jwt_secret(request: Request) -> str:
    secret: str = request.app.state.settings.jwt_secret.get_secret_value()
    return secret


async def page_principal(request: Request) -> Principal:
    """FastAPI dependency of every page: the logged-in caller, or :class:`LoginRequired`."""
    token = token_of(request)
    if token is None:
        raise LoginRequired()
    try:
        caller = await token_principal(request, token)  # a login token only while its user's session is open
    except AuthError as exc:
        raise LoginRequired("Your session has expired or its token is not valid: log in again.",
                            clear_cookie=True) from exc
    caller.check_tenant(request.path_params.get("tenant_id"))
    for value in request.query_params.getlist("tenant_id"):
        caller.check_tenant(value)
    return caller


PagePrincipal = Annotated[Principal, Depends(page_principal)]


# --- config (thresholds, SLA policies, the dashboard's timezone) -------------------------------

_config_cache: dict[str, tuple[float, AppConfig]] = {}


def app_config(path: Path | str | None) -> AppConfig:
    """The config file, re-read when it changes (missing file: the built-in defaults)."""
    key = str(path)
    try:
        mtime = Path(key).stat().st_mtime if path is not None else 0.0
    except OSError:
        mtime = -1.0
    cached = _config_cache.get(key)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    cfg = load_config(path)
    _config_cache[key] = (mtime, cfg)
    return cfg


def dashboard_timezone(cfg: AppConfig) -> str:
    """``dashboard.timezone`` of the config (an IANA name), UTC when absent or invalid."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    section = cfg.sections.get("dashboard")
    name = section.get("timezone") if isinstance(section, dict) else None
    if not isinstance(name, str) or not name:
        return DEFAULT_TIMEZONE
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("dashboard.timezone %r is not a known timezone; showing UTC", name)
        return DEFAULT_TIMEZONE
    return name


@dataclass(frozen=True)
class PageContext:
    """Everything a page may use: who is asking, their tenant's stores, config, timezone."""

    request: Request
    principal: Principal
    repo: TenantStore  # a read connection (taken in turn)
    primary: TenantStore  # the primary connection (pages whose library calls may write caches)
    config: AppConfig
    timezone: str
    started: float

    @property
    def tenant_id(self) -> str:
        return self.principal.tenant_id


async def page_context(request: Request, principal: PagePrincipal) -> PageContext:
    """The caller's tenant on the app's store, by construction (no other tenant is reachable)."""
    read: Store = await get_read_store(request)  # the API's read connections, taken in turn
    cfg = app_config(request.app.state.settings.config)
    return PageContext(
        request=request,
        principal=principal,
        repo=read.tenant(principal.tenant_id),
        primary=get_store(request).tenant(principal.tenant_id),
        config=cfg,
        timezone=dashboard_timezone(cfg),
        started=time.perf_counter(),
    )


Page = Annotated[PageContext, Depends(page_context)]


# --- the route class ------------------------------------------------------------------------------


def _error_page(request: Request, status: int, title: str, message: str) -> Response:
    from deskpulse.serve.web.render import render_error

    return render_error(request, status, title, message)


class PageRoute(APIRoute):
    """A page: no login → 303 to the login page; errors → an HTML page with the right status."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired as exc:
                resp = RedirectResponse(login_url(request, exc.reason), status_code=303)
                if exc.clear_cookie:
                    resp.delete_cookie(COOKIE, path=COOKIE_PATH)
                return resp
            except DeskpulseError as exc:
                if exc.http_status >= 500:
                    log.warning("page %s failed: %s: %s", request.url.path, exc.code, exc.message)
                    return _error_page(request, exc.http_status, "The data store is unavailable",
                                       "Try again in a moment.")
                title = {404: "Not found", 403: "Not allowed"}.get(exc.http_status, "Cannot show this page")
                return _error_page(request, exc.http_status, title, exc.message)
            except RequestValidationError as exc:
                errors = exc.errors()
                first: dict[str, Any] = errors[0] if errors else {}
                where = ".".join(str(p) for p in first.get("loc", ()))
                return _error_page(request, 422, "Invalid filter", f"{where}: {first.get('msg', 'invalid')}")

        return route


# --- CSRF ---------------------------------------------------------------------------------------

CSRF_FIELD = "csrf"


def csrf_token(request: Request) -> str:
    """The CSRF token of the current session: an HMAC of its token under the server secret.

    Stateless (nothing stored) and bound to the session: a new login gets a new one, and a
    page of another session cannot forge it. Forms that change data carry it in a hidden
    ``csrf`` field; :func:`check_csrf` compares it in constant time. With the session
    cookie's ``SameSite=Lax`` and the same-origin check this is defence in depth.
    """
    import hashlib
    import hmac

    token = token_of(request) or ""
    return hmac.new(jwt_secret(request).encode(), b"csrf|" + token.encode(), hashlib.sha256).hexdigest()[:40]


def check_csrf(request: Request, form: dict[str, str]) -> None:
    """ForbiddenError unless the form carries this session's CSRF token and comes from our origin."""
    import hmac

    from deskpulse.serve.auth import ForbiddenError

    origin = request.headers.get("origin")
    if origin is not None and origin.rstrip("/") != f"{request.url.scheme}://{request.url.netloc}":
        raise ForbiddenError("this form must be posted from the dashboard itself")
    if not hmac.compare_digest(form.get(CSRF_FIELD, ""), csrf_token(request)):
        raise ForbiddenError("the form expired or did not come from this session: reload the page and try again")
