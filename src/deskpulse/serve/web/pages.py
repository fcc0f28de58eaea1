"""The dashboard's pages and their CSV exports (server-rendered; mounted at ``/ui``).

========================  ==========================================================================
``/``                     redirects to ``/ui/``
``/ui/login``             paste a token (GET form, POST sets the HttpOnly session cookie)
``/ui/logout``            POST: forget the session
``/ui/``                  Overview: SLA attainment by priority and group, backlog burn-down, arrivals
                          vs completions, aging, SLA debt, at-risk count, the command center (next-
                          best-ticket queue with breach countdowns)
``/ui/agents``            Agents (seed 002): summary cards, sortable table, range selector, 30 s refresh
``/ui/bottlenecks``       Bottlenecks with severities and recommendations
``/ui/forecast``          Arrivals forecast, backlog outlook, staffing (Erlang C) per weekday-hour
``/ui/tickets``           Tickets list: every filter of the API's list in the URL, keyset pages
``/ui/tickets/{id}``      One ticket: fields, events, SLA instances, metrics
``/ui/csv/{name}``        CSV of any table on the pages, with the page's filters
``/ui/static/{file}``     CSS, JS and plotly.min.js (served from the installed plotly package)
========================  ==========================================================================

Drill-down: every chart point and headline number links to ``/ui/tickets`` with the filters
that select the tickets behind it (see :mod:`deskpulse.serve.web.view`). The tickets list
takes the API list's parameters plus three of its own: ``created_weekday`` (ISO 1-7) and
``created_hour`` (0-23), both UTC, and ``due_before`` (an instant: a running SLA clock due by
then and none past due — the at-risk definition of :mod:`deskpulse.analytics.backlog`).
"""

from __future__ import annotations

import csv
import io
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, RedirectResponse, StreamingResponse

from deskpulse.analytics.filters import DIMENSIONS, Filters
from deskpulse.analytics.results import analysis_now, plain
from deskpulse.errors import NotFoundError, UsageError
from deskpulse.serve.auth import AuthError, token_principal
from deskpulse.serve.routes._shared import WHEN_PATTERN, in_list, invalid, parse_when
from deskpulse.serve.routes.tickets import (
    MAX_LIMIT,
    Priority,
    SlaStatus,
    Sort,
    Status,
    TicketQuery,
    Urgency,
    _filters,
    build_as_of,
    get_ticket,
    ticket_history,
    ticket_metrics,
    ticket_page,
    ticket_sla,
)
from deskpulse.serve.web import panels
from deskpulse.serve.web.render import SECURITY_HEADERS, html, iso_utc
from deskpulse.serve.web.session import (
    COOKIE,
    COOKIE_PATH,
    HOME_PATH,
    LOGIN_PATH,
    Page,
    PageContext,
    PageRoute,
    jwt_secret,
    safe_next,
    token_of,
)
from deskpulse.serve.web.view import (
    OPEN_STATUSES,
    RANGE_LABELS,
    SOLVED_STATUSES,
    View,
    tickets_url,
)
from deskpulse.store import TenantStore

log = logging.getLogger(__name__)
router = APIRouter(route_class=PageRoute, include_in_schema=False)

E = TypeVar("E", bound=StrEnum)
PAGE_SIZE: Final = 50
#: Seed 002: the agents page refreshes itself this often (``?refresh=N`` seconds; 0 turns it off).
REFRESH_SECONDS: Final = 30
CSV_MAX_TICKETS: Final = 200_000
STATIC_DIR: Final = Path(__file__).parent / "static"
STATIC_FILES: Final = {"app.css": "text/css", "app.js": "text/javascript", "favicon.svg": "image/svg+xml"}
NAV: Final = (("overview", "/ui/", "Overview"), ("agents", "/ui/agents", "Agents"),
              ("bottlenecks", "/ui/bottlenecks", "Bottlenecks"), ("forecast", "/ui/forecast", "Forecast & staffing"),
              ("tickets", "/ui/tickets", "Tickets"), ("schedules", "/ui/schedules", "Schedules"),
              ("alerts", "/ui/alerts", "Alerts"), ("skills", "/ui/agents/skills", "Skills & routing"))
FACET_LIMIT: Final = 300
FACET_TTL: Final = 60.0
#: Ticket-list parameters: name -> label, in the order the filter form shows them.
LIST_TEXT_FILTERS: Final = (("group", "Group"), ("assignee", "Assignee"), ("category", "Category"),
                            ("channel", "Channel"), ("region", "Region"), ("brand", "Brand"), ("tier", "Tier"),
                            ("organization", "Organization"), ("requester", "Requester"))


# --- shared page pieces ------------------------------------------------------------------------


def plotly_available() -> bool:
    return _plotly_js() is not None


def _plotly_js() -> Path | None:
    try:
        path = Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))
    except (ModuleNotFoundError, TypeError):
        return None
    return path if path.is_file() else None


_facets: dict[tuple[str, str, Any], tuple[float, dict[str, list[str]]]] = {}
_facets_lock = threading.Lock()


def facets(repo: TenantStore) -> dict[str, list[str]]:
    """Values the filter dropdowns offer (distinct values of the tenant's tickets), kept for
    :data:`FACET_TTL` seconds per tenant and build."""
    key = (repo.store.url, repo.tenant_id, build_as_of(repo))
    now = time.monotonic()
    with _facets_lock:
        hit = _facets.get(key)
    if hit is not None and now - hit[0] < FACET_TTL:
        return hit[1]
    parts = []
    for name, column in DIMENSIONS.items():
        parts.append(
            f"SELECT '{name}' AS dim, CAST(\"{column}\" AS VARCHAR) AS value FROM tickets "  # noqa: S608 - fixed names
            f"WHERE \"{column}\" IS NOT NULL AND deleted_at IS NULL GROUP BY \"{column}\""
        )
    out: dict[str, list[str]] = {name: [] for name in DIMENSIONS}
    for dim, value in repo.rows(" UNION ALL ".join(parts)):
        if len(out[dim]) < FACET_LIMIT and value != "":
            out[dim].append(str(value))
    for values in out.values():
        values.sort(key=str.lower)
    with _facets_lock:
        if len(_facets) > 256:
            _facets.clear()
        _facets[key] = (now, out)
    return out


def base_context(ctx: PageContext, active: str, title: str, **extra: Any) -> dict[str, Any]:
    as_of = build_as_of(ctx.repo)
    return {
        "ctx": ctx, "active": active, "title": title, "nav": NAV, "tz": ctx.timezone,
        "principal": ctx.principal, "as_of": as_of, "plotly": plotly_available(),
        "elapsed_ms": lambda: round((time.perf_counter() - ctx.started) * 1000), **extra,
    }


def no_build(ctx: PageContext, active: str, title: str) -> Response:
    return html(ctx.request, "no_build.html", **base_context(ctx, active, title))


def filter_bar(ctx: PageContext, view: View, path: str, *, ranges: bool = True, dims: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "path": path, "view": view, "ranges": [(n, RANGE_LABELS[n], view.range_url(path, n)) for n in RANGE_LABELS]
        if ranges else [], "dims": list(dims), "facets": facets(ctx.repo) if dims else {},
    }


DEFAULT_DIMS: Final = ("group", "priority", "category", "channel", "region", "agent")


# --- login / logout ------------------------------------------------------------------------------


@router.get("/")
def root(request: Request) -> RedirectResponse:
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(HOME_PATH + query, status_code=307)


@router.get("/ui")
def ui_root() -> RedirectResponse:
    return RedirectResponse(HOME_PATH, status_code=307)


@router.get(LOGIN_PATH)
async def login_form(request: Request) -> Response:
    target = safe_next(request.query_params.get("next"))
    token = token_of(request)
    if token:
        try:
            await token_principal(request, token)
            return RedirectResponse(target, status_code=303)
        except AuthError:
            pass
    return html(request, "login.html", ctx=None, next=target, error=request.query_params.get("reason") or "",
                title="Log in")


def _same_origin(request: Request) -> bool:
    """A form post from our own pages (blocks login CSRF from other sites)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return origin.rstrip("/") == f"{request.url.scheme}://{request.url.netloc}"


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


#: Lifetime of a session started with a username and password (a token login keeps the token's).
SESSION_HOURS: Final = 12


def _login_page(request: Request, target: str, status: int, error: str, username: str = "") -> Response:
    return html(request, "login.html", status_code=status, ctx=None, next=target, error=error, title="Log in",
                username=username)


def _session(request: Request, token: str, target: str, max_age: int | None) -> Response:
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(COOKIE, token, max_age=max_age, path=COOKIE_PATH, httponly=True, samesite="lax",
                    secure=request.url.scheme == "https")
    return resp


@router.post(LOGIN_PATH)
async def login(request: Request) -> Response:
    """Start a session from a username and password (a dashboard user) or from a pasted token."""
    from starlette.concurrency import run_in_threadpool

    from deskpulse.serve.routes.auth import login_token, password_login
    from deskpulse.serve.users import LoginThrottled

    form = await _form(request)
    target = safe_next(form.get("next"))
    if not _same_origin(request):
        return _login_page(request, target, 403, "This form must be posted from the dashboard itself.")
    username = form.get("username", "").strip()
    if username:
        try:
            issued = time.time()  # before the check, as the API's login does (routes/auth.py)
            principal = await run_in_threadpool(password_login, request, username, form.get("password", ""))
        except LoginThrottled as exc:
            return _login_page(request, target, 429, exc.message, username)
        except AuthError:
            return _login_page(request, target, 401, "Invalid username or password.", username)
        ttl = SESSION_HOURS * 3600
        token = login_token(jwt_secret(request), principal, ttl, now=issued)  # a user session
        log.info("dashboard login: user %s, tenant %s", principal.subject, principal.tenant_id)
        return _session(request, token, target, ttl)
    token = "".join(form.get("token", "").split())
    if token.lower().startswith("bearer"):
        token = token[6:]
    try:
        caller = await token_principal(request, token) if token else None
    except AuthError:
        caller = None
    if caller is None:
        return _login_page(request, target, 401, "That token is not valid (forged, expired, or for another server).")
    import jwt

    exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    max_age = max(int(exp - time.time()), 0) if isinstance(exp, int | float) else None
    log.info("dashboard login: subject %s, tenant %s", caller.subject, caller.tenant_id)
    return _session(request, token, target, max_age)


@router.post("/ui/logout")
def logout() -> Response:
    resp = RedirectResponse(LOGIN_PATH, status_code=303)
    resp.delete_cookie(COOKIE, path=COOKIE_PATH)
    return resp


# --- static files --------------------------------------------------------------------------------


@router.get("/ui/static/{name:path}")
def static(name: str) -> Response:
    headers = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
    if name == "plotly.min.js":
        path = _plotly_js()
        if path is None:
            raise NotFoundError("plotly is not installed: charts are not available")
        return FileResponse(path, media_type="text/javascript", headers=headers)
    media = STATIC_FILES.get(name)
    if media is None:
        raise NotFoundError("no such static file")
    return FileResponse(STATIC_DIR / name, media_type=media, headers=headers)


# --- overview --------------------------------------------------------------------------------------


@router.get("/ui/")
def overview_page(ctx: Page) -> Response:
    view = View.from_request(ctx.request)
    now = analysis_now(ctx.repo)
    if now is None:
        return no_build(ctx, "overview", "Overview")
    f = view.filters(now)
    ov = panels.overview(ctx.repo, ctx.primary, ctx.config, now, f)
    return html(ctx.request, "overview.html", **base_context(
        ctx, "overview", "Overview", view=view, filters=f, ov=ov, cards=panels.overview_cards(ov),
        bar=filter_bar(ctx, view, "/ui/", dims=DEFAULT_DIMS), csv=lambda name: view.url(f"/ui/csv/{name}"),
        tickets_url=tickets_url, open_statuses=list(OPEN_STATUSES)))


# --- agents ---------------------------------------------------------------------------------------


@router.get("/ui/agents")
def agents_page(ctx: Page) -> Response:
    view = View.from_request(ctx.request)
    now = analysis_now(ctx.repo)
    if now is None:
        return no_build(ctx, "agents", "Agents")
    f = view.filters(now)
    rep = panels.agents_report(ctx.repo, f, "custom" if view.custom else view.range)
    refresh = _int(ctx.request, "refresh", 0, 3600)
    refresh = REFRESH_SECONDS if refresh is None else refresh
    extra: dict[str, Any] = {}
    if rep.value is not None:
        extra = {"cards": panels.agent_cards(rep.value, f),
                 "urls": {a.agent_id: panels.agent_urls(f, a.agent_id) for a in rep.value.agents},
                 "figure": panels.agents_figure(rep.value, f)}
    return html(ctx.request, "agents.html", **base_context(
        ctx, "agents", "Agents", view=view, filters=f, rep=rep, refresh_seconds=refresh,
        rendered_at=datetime.now(UTC),
        bar=filter_bar(ctx, view, "/ui/agents", dims=("group", "priority", "category", "channel", "region")),
        csv=view.url("/ui/csv/agents"), **extra))


# --- bottlenecks ----------------------------------------------------------------------------------


def _min_tickets(request: Request) -> int:
    raw = request.query_params.get("min_tickets") or "10"
    if not raw.isdigit() or not 1 <= int(raw) <= 100_000:
        raise invalid("query.min_tickets", "a whole number from 1 to 100000", raw)
    return int(raw)


@router.get("/ui/bottlenecks")
def bottlenecks_page(ctx: Page) -> Response:
    view = View.from_request(ctx.request)
    now = analysis_now(ctx.repo)
    if now is None:
        return no_build(ctx, "bottlenecks", "Bottlenecks")
    f = view.filters(now)
    min_tickets = _min_tickets(ctx.request)
    rep = panels.bottleneck_report(ctx.repo, ctx.config, f, min_tickets)
    findings, urls = [], []
    if rep.value is not None:
        findings = rep.value.findings
        urls = [panels.finding_url(f, x, now, ctx.config.thresholds.resolution_hours) for x in findings]
    counts = {s: sum(1 for x in findings if x.severity == s) for s in ("critical", "high", "medium", "low")}
    return html(ctx.request, "bottlenecks.html", **base_context(
        ctx, "bottlenecks", "Bottlenecks", view=view, filters=f, rep=rep, rows=list(zip(findings, urls, strict=True)),
        counts=counts, figure=panels.bottleneck_figure(findings, urls) if findings else None,
        min_tickets=min_tickets, bar=filter_bar(ctx, view, "/ui/bottlenecks", dims=DEFAULT_DIMS),
        csv=view.url("/ui/csv/bottlenecks", min_tickets=min_tickets), tickets_url=tickets_url))


# --- forecast & staffing --------------------------------------------------------------------------


def _number(request: Request, name: str, default: float, lo: float, hi: float) -> float:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise invalid(f"query.{name}", "a number", raw) from exc
    if not lo <= value <= hi:
        raise invalid(f"query.{name}", f"between {lo:g} and {hi:g}", raw)
    return value


def _outlook_params(request: Request) -> dict[str, float]:
    return {
        "horizon": _number(request, "horizon", 14, 1, 90),
        "target": _number(request, "sl_target", 0.8, 0.01, 0.99),
        "within": _number(request, "sl_within", 60, 1, 10_080),
        "shrinkage": _number(request, "shrinkage", 0.3, 0, 0.95),
    }


@router.get("/ui/forecast")
def forecast_page(ctx: Page) -> Response:
    view = View.from_request(ctx.request, default_range="90d")
    now = analysis_now(ctx.repo)
    if now is None:
        return no_build(ctx, "forecast", "Forecast & staffing")
    f = view.filters(now)
    p = _outlook_params(ctx.request)
    out = panels.outlook(ctx.repo, f, horizon=int(p["horizon"]), tz=ctx.timezone, target=p["target"],
                         within=p["within"], shrinkage=p["shrinkage"])
    busy = out.staffing.value.rows(busy_only=True) if out.staffing.value is not None else []
    extra = {k: v for k, v in ctx.request.query_params.items() if k in ("horizon", "sl_target", "sl_within", "shrinkage")}
    return html(ctx.request, "forecast.html", **base_context(
        ctx, "forecast", "Forecast & staffing", view=view, filters=f, out=out, params=p, busy=busy,
        bar=filter_bar(ctx, view, "/ui/forecast", dims=("group", "priority", "category", "channel", "region")),
        csv=lambda name: view.url(f"/ui/csv/{name}", **extra), tickets_url=tickets_url))


# --- tickets ----------------------------------------------------------------------------------


def _enums(request: Request, name: str, kind: type[E]) -> list[E] | None:
    values = [v for v in request.query_params.getlist(name) if v != ""]
    out = []
    for v in values:
        try:
            out.append(kind(v))
        except ValueError as exc:
            raise invalid(f"query.{name}", f"use one of {', '.join(m.value for m in kind)}", v) from exc
    return out or None


def _strings(request: Request, name: str) -> list[str] | None:
    values = [v.strip() for v in request.query_params.getlist(name) if v.strip()]
    return values or None


def _when(request: Request, name: str) -> str | None:
    import re

    value = (request.query_params.get(name) or "").strip() or None
    if value is not None and not re.match(WHEN_PATTERN, value):
        raise invalid(f"query.{name}", "a date (YYYY-MM-DD) or an ISO 8601 instant", value)
    return value


def _int(request: Request, name: str, lo: int, hi: int) -> int | None:
    raw = (request.query_params.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise invalid(f"query.{name}", f"a whole number from {lo} to {hi}", raw)
    return int(raw)


def ticket_query(request: Request, repo: TenantStore) -> TicketQuery:
    """The ticket list's filters from the URL: the API list's, plus the dashboard's own."""
    q = _filters(
        repo,
        status=_enums(request, "status", Status), priority=_enums(request, "priority", Priority),
        urgency=_enums(request, "urgency", Urgency), group=_strings(request, "group"),
        assignee=_strings(request, "assignee"), requester=_strings(request, "requester"),
        channel=_strings(request, "channel"), category=_strings(request, "category"),
        brand=_strings(request, "brand"), region=_strings(request, "region"), tier=_strings(request, "tier"),
        organization=_strings(request, "organization"), sla_status=_enums(request, "sla_status", SlaStatus),
        created_from=_when(request, "created_from"), created_to=_when(request, "created_to"),
        include_deleted=request.query_params.get("include_deleted") in ("1", "true", "on"),
    )
    weekday = _int(request, "created_weekday", 1, 7)
    if weekday is not None:
        q.add("CAST(extract(isodow FROM created_at) AS INTEGER) = $created_weekday", created_weekday=weekday)
    hour = _int(request, "created_hour", 0, 23)
    if hour is not None:
        q.add("CAST(extract(hour FROM created_at) AS INTEGER) = $created_hour", created_hour=hour)
    policy = _strings(request, "policy")
    if policy:  # the SLA policy the build matched (drill-down of the overview's policy table)
        values = in_list("m.policy", "pol", policy, q.params)  # placeholders only, values bound
        q.add(f"EXISTS (SELECT 1 FROM ticket_metrics m WHERE m.ticket_id = tickets.ticket_id AND {values})")  # noqa: S608
    due = _when(request, "due_before")
    if due is not None:
        q.add(
            "EXISTS (SELECT 1 FROM ticket_sla s WHERE s.ticket_id = tickets.ticket_id AND s.status = 'active' "
            "AND s.stopped_at IS NULL AND s.due_at <= $due_before) AND NOT EXISTS (SELECT 1 FROM ticket_sla s2 "
            "WHERE s2.ticket_id = tickets.ticket_id AND s2.status = 'active_breached' AND s2.stopped_at IS NULL)",
            due_before=parse_when(due, "query.due_before"),
        )
    return q


def _sort(request: Request) -> Sort:
    raw = request.query_params.get("sort") or Sort.newest.value
    try:
        return Sort(raw)
    except ValueError as exc:
        raise invalid("query.sort", f"use one of {', '.join(s.value for s in Sort)}", raw) from exc


#: Ticket-list parameters that are filters (kept in links; ``cursor`` is not).
LIST_FILTER_NAMES: Final = ("status", "priority", "urgency", "sla_status", "group", "assignee", "requester",
                            "channel", "category", "brand", "region", "tier", "organization", "created_from",
                            "created_to", "include_deleted", "created_weekday", "created_hour", "due_before",
                            "policy")


CHIP_LABELS: Final = {"created_to": "created before", "created_weekday": "weekday (UTC, 1 = Mon)",
                      "created_hour": "hour (UTC)", "due_before": "SLA due before", "sla_status": "SLA"}


def list_params(request: Request) -> list[tuple[str, str]]:
    return [(k, v) for k, v in request.query_params.multi_items() if k in LIST_FILTER_NAMES and v != ""]


@router.get("/ui/tickets")
def tickets_page(ctx: Page) -> Response:
    request = ctx.request
    q = ticket_query(request, ctx.repo)
    sort = _sort(request)
    cursor = request.query_params.get("cursor") or None
    page = ticket_page(ctx.repo, q, sort=sort, limit=PAGE_SIZE, cursor=cursor, page=None, include_total=True)
    params = list_params(request)
    chips = []
    for i, (k, v) in enumerate(params):
        rest = [p for j, p in enumerate(params) if j != i] + [("sort", sort.value)]
        chips.append((CHIP_LABELS.get(k, k.replace("_", " ")), v, "/ui/tickets?" + urlencode(rest)))
    keep = urlencode([*params, ("sort", sort.value)])
    return html(request, "tickets.html", **base_context(
        ctx, "tickets", "Tickets", page=page, sort=sort, sorts=[s.value for s in Sort], params=params,
        chips=chips, selected={k: [v for kk, v in params if kk == k] for k in LIST_FILTER_NAMES},
        next_url=f"/ui/tickets?{keep}&cursor={page.next_cursor}" if page.next_cursor else None,
        first_url=f"/ui/tickets?{keep}" if cursor else None,
        csv="/ui/csv/tickets?" + keep, statuses=[s.value for s in Status], priorities=[p.value for p in Priority],
        sla_statuses=[s.value for s in SlaStatus], text_filters=LIST_TEXT_FILTERS, facets=facets(ctx.repo),
        open_statuses=list(OPEN_STATUSES), solved_statuses=list(SOLVED_STATUSES)))


def _back_to_list(request: Request) -> str | None:
    """The ticket list the visitor came from (same site only), for the "« Tickets" link."""
    referer = urlsplit(request.headers.get("referer") or "")
    if referer.netloc == request.url.netloc and referer.path == "/ui/tickets":
        return "/ui/tickets" + (f"?{referer.query}" if referer.query else "")
    return None


@router.get("/ui/tickets/{ticket_id}")
def ticket_page_detail(ctx: Page, ticket_id: str) -> Response:
    tenant = ctx.tenant_id
    ticket = get_ticket(repo=ctx.repo, _tenant=tenant, ticket_id=ticket_id)
    history = ticket_history(repo=ctx.repo, _tenant=tenant, ticket_id=ticket_id)
    sla = ticket_sla(repo=ctx.repo, ticket_id=ticket_id)
    metrics = ticket_metrics(repo=ctx.repo, ticket_id=ticket_id)
    fields = [(k, v) for k, v in ticket.model_dump().items()
              if k not in ("ticket_id", "subject", "description", "extra") and v not in (None, "")]
    return html(ctx.request, "ticket.html", **base_context(
        ctx, "tickets", f"Ticket {ticket_id}", ticket=ticket, fields=fields, history=history, sla=sla,
        metrics=metrics.metrics.model_dump() if metrics.metrics else None,
        back=_back_to_list(ctx.request),
        csv=lambda name: f"/ui/csv/{name}?{urlencode({'ticket_id': ticket_id})}"))


# --- CSV ---------------------------------------------------------------------------------------


def _csv_rows(rows: Iterable[dict[str, Any]], columns: Sequence[str] | None = None) -> Iterator[bytes]:
    buf = io.StringIO()
    writer: csv.DictWriter[str] | None = None
    for n, row in enumerate(rows):
        flat = {k: _cell(v) for k, v in row.items()}
        if writer is None:
            writer = csv.DictWriter(buf, fieldnames=list(columns or flat), extrasaction="ignore")
            writer.writeheader()
        writer.writerow(flat)
        if n % 500 == 499:
            yield buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
    if writer is None and columns:
        csv.writer(buf).writerow(columns)
    yield buf.getvalue().encode()


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return plain(value)


def csv_response(name: str, rows: Iterable[dict[str, Any]], columns: Sequence[str] | None = None) -> Response:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="deskpulse-{name}-{stamp}.csv"'}
    return StreamingResponse(_csv_rows(rows, columns), media_type="text/csv; charset=utf-8", headers=headers)


def _all_tickets(repo: TenantStore, q: TicketQuery, sort: Sort) -> Iterator[dict[str, Any]]:
    cursor: str | None = None
    sent = 0
    while sent < CSV_MAX_TICKETS:
        page = ticket_page(repo, q, sort=sort, limit=MAX_LIMIT, cursor=cursor, page=None, include_total=False)
        for item in page.items:
            yield item.model_dump(exclude={"extra"})
        sent += len(page.items)
        if not page.next_cursor:
            return
        cursor = page.next_cursor


CSV_NAMES: Final = ("tickets", "sla_priority", "sla_group", "sla_policy", "backlog", "queue", "agents", "bottlenecks",
                    "forecast", "forecast_weeks", "backtest", "staffing", "ticket_events", "ticket_sla")


@router.get("/ui/csv/{name}")
def csv_export(ctx: Page, name: str) -> Response:
    """Any table of the dashboard as CSV, for the same filters as its page."""
    if name not in CSV_NAMES:
        raise NotFoundError(f"no CSV named {name!r}")
    request = ctx.request
    if name == "tickets":
        q = ticket_query(request, ctx.repo)
        from deskpulse.serve.routes.tickets import Ticket

        columns = [c for c in Ticket.model_fields if c != "extra"]
        return csv_response(name, _all_tickets(ctx.repo, q, _sort(request)), columns)
    if name in ("ticket_events", "ticket_sla"):
        ticket_id = request.query_params.get("ticket_id") or ""
        if name == "ticket_events":
            h = ticket_history(repo=ctx.repo, _tenant=ctx.tenant_id, ticket_id=ticket_id)
            return csv_response(f"{ticket_id}-events", [e.model_dump() for e in h.events])
        s = ticket_sla(repo=ctx.repo, ticket_id=ticket_id)
        return csv_response(f"{ticket_id}-sla", [i.model_dump() for i in s.instances])
    view = View.from_request(request, default_range="90d" if name in ("forecast", "forecast_weeks", "backtest", "staffing") else "30d")
    now = analysis_now(ctx.repo)
    if now is None:
        raise UsageError("no SLA build for this tenant yet: run `deskpulse build` first")
    f = view.filters(now)
    cfg = ctx.config
    rows: list[dict[str, Any]]
    if name in ("sla_priority", "sla_group", "sla_policy", "backlog", "queue"):
        if name == "queue":
            queue = panels.work_queue(ctx.repo, cfg, now, Filters(values=dict(f.values)), panels.CSV_QUEUE_ROWS)
            rows = queue.rows()
        elif name == "backlog":
            rows = _value(panels.backlog_panel(ctx.primary, f)).rows()
        else:
            rows = [r.as_dict() for r in _value(panels.sla_breakdown(ctx.repo, cfg, f, name.removeprefix("sla_")))]
    elif name == "agents":
        rows = _value(panels.agents_report(ctx.repo, f, "custom" if view.custom else view.range)).rows()
    elif name == "bottlenecks":
        rows = _value(panels.bottleneck_report(ctx.repo, cfg, f, _min_tickets(request))).rows()
    else:
        p = _outlook_params(request)
        out = panels.outlook(ctx.repo, f, horizon=int(p["horizon"]), tz=ctx.timezone, target=p["target"],
                             within=p["within"], shrinkage=p["shrinkage"])
        if name == "staffing":
            rows = _value(out.staffing).rows()
        else:
            d = _value(out.forecast).as_dict()
            rows = d["days"] if name == "forecast" else d["weeks"] if name == "forecast_weeks" else d["backtest"]
    return csv_response(name, rows)


T = TypeVar("T")


def _value(panel: panels.Panel[T]) -> T:
    if panel.value is None:
        raise UsageError(panel.error or "nothing to export")
    return panel.value

