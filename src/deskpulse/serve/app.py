"""The FastAPI application factory: settings, store, error shape, routers, health, metrics.

Errors always answer ``{"error": {"code", "message", "details"}}`` — library errors, HTTP
errors and validation errors alike. Routers are discovered in :mod:`deskpulse.serve.routes`:
every module exposing ``router`` is mounted under ``/api/v1``; ``root_router`` is mounted at
the root and under ``/api/v1`` (seed 004's paths).

**Route order.** Starlette dispatches to the first route that matches, so a parameter route
(``/api/v1/tickets/{ticket_id}``) listed before a static one (``/api/v1/tickets/agents``)
would swallow it. :func:`_mount_routers` therefore orders the routers itself: a router whose
parameter route would catch a path of another router's route is included after it (static
segments win, whatever the module names). Two routers that would catch each other's paths
are a programming error and stop the app at start-up. Inside one module, declare static
paths before parameter paths (``tests/api/test_routing.py`` checks the whole table).

Outside ``/api/v1`` the app serves only ``/health``, ``/metrics`` (Prometheus text format),
the OpenAPI docs and whatever the dashboard adds.
"""

from __future__ import annotations

import importlib
import itertools
import logging
import pkgutil
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deskpulse import __version__
from deskpulse.errors import DeskpulseError
from deskpulse.serve.memo import AnswerMemo, AnswerMemoMiddleware
from deskpulse.settings import Settings, get_settings
from deskpulse.store import Store, open_store

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
#: Paths that answer without a bearer token (everything else needs one).
PUBLIC_PATHS: frozenset[str] = frozenset(
    {"/health", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc",
     "/api/v1/auth/token"}  # a username/password login: how a user gets a token
)
#: Store connections per process that serve read-only API requests (round robin).
DEFAULT_READ_POOL = 2

OPENAPI_TAGS = [
    {"name": "tickets", "description": "Tickets, their history, SLA instances and metrics."},
    {"name": "stats", "description": "Tenant statistics computed in the database (seed 004)."},
    {"name": "export", "description": "Streamed CSV/XLSX exports of the stored tables."},
    {"name": "meta", "description": "Who am I, what is stored, token issuing (admin)."},
    {"name": "ops", "description": "Health and Prometheus metrics (no token needed)."},
]


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DeskpulseError)
    async def _deskpulse(_: Request, exc: DeskpulseError) -> JSONResponse:
        body = exc.to_dict()
        if exc.http_status >= 500:
            log.warning("%s: %s", exc.code, exc.message)
            # The failing statement stays in the log; clients get the reason, not our SQL.
            body["error"]["details"] = {k: v for k, v in exc.details.items() if k != "sql"}
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
        return JSONResponse(body, status_code=exc.http_status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"])
        return JSONResponse(error_body("validation_error", f"{where}: {first['msg']}", {"errors": errors}),
                            status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(error_body("internal_error", "internal server error"), status_code=500)


# --- the route table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteInfo:
    """One dispatchable route with its full path (prefixes applied), in dispatch order."""

    path: str
    methods: frozenset[str]
    name: str
    endpoint: Callable[..., Any] | None
    include_in_schema: bool


def iter_routes(routes: Sequence[BaseRoute]) -> list[RouteInfo]:
    """Flatten a route list into :class:`RouteInfo` rows, in the order Starlette tries them.

    FastAPI ≥ 0.137 keeps included routers as opaque entries in ``app.routes``;
    ``fastapi.routing.iter_route_contexts`` resolves them. Older versions list routes flat.
    """
    import fastapi.routing as fr

    iter_contexts = getattr(fr, "iter_route_contexts", None)
    items: Iterable[Any] = iter_contexts(list(routes)) if iter_contexts is not None else routes
    out: list[RouteInfo] = []
    for r in items:
        path = getattr(r, "path", None)
        if not path:
            continue
        out.append(RouteInfo(
            path=str(path),
            methods=frozenset(getattr(r, "methods", None) or ()),
            name=str(getattr(r, "name", "") or ""),
            endpoint=getattr(r, "endpoint", None),
            include_in_schema=bool(getattr(r, "include_in_schema", True)),
        ))
    return out


_PARAM = re.compile(r"{([^}:]+)(?::([^}]+))?}")


def sample_path(template: str) -> str:
    """A concrete path for a route template (parameters replaced by plausible values)."""

    def value(m: re.Match[str]) -> str:
        conv = m.group(2)
        return {"int": "1", "float": "1.5", "path": "p/q", "uuid": "00000000-0000-0000-0000-000000000000"}.get(
            conv or "", "p9"
        )

    return _PARAM.sub(value, template)


def shadows(first: RouteInfo, later: RouteInfo) -> bool:
    """True when ``first``, tried before ``later``, would answer a request meant for ``later``."""
    if first.path == later.path or not (first.methods & later.methods):
        return False
    regex, _, _ = compile_path(first.path)
    return regex.match(sample_path(later.path)) is not None


@dataclass
class _Unit:
    """One router to include with one prefix."""

    label: str
    router: APIRouter
    prefix: str
    routes: list[RouteInfo] = field(default_factory=list)


def _order_units(units: list[_Unit]) -> list[_Unit]:
    """Order routers so that no router's routes are shadowed by a router included earlier.

    ``a`` must precede ``b`` when a route of ``b`` would catch a path of a route of ``a``.
    Otherwise discovery order (module name) is kept. A cycle raises RuntimeError.
    """
    n = len(units)
    before: dict[int, set[int]] = {i: set() for i in range(n)}  # j -> the units that must precede j
    for i, j in itertools.permutations(range(n), 2):
        if any(shadows(rb, ra) for ra in units[i].routes for rb in units[j].routes):
            before[j].add(i)
    ordered: list[int] = []
    remaining = set(range(n))
    while remaining:
        ready = sorted(j for j in remaining if not (before[j] & remaining))
        if not ready:
            names = ", ".join(units[j].label for j in sorted(remaining))
            raise RuntimeError(f"routers shadow each other's paths, fix their routes: {names}")
        ordered.append(ready[0])
        remaining.discard(ready[0])
    return [units[i] for i in ordered]


def _discover_units() -> list[_Unit]:
    import deskpulse.serve.routes as routes

    units: list[_Unit] = []
    for info in sorted(pkgutil.iter_modules(routes.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{routes.__name__}.{info.name}")
        if isinstance(getattr(module, "router", None), APIRouter):
            units.append(_Unit(f"{info.name}.router", module.router, API_PREFIX))
        if isinstance(getattr(module, "root_router", None), APIRouter):
            units.append(_Unit(f"{info.name}.root_router", module.root_router, ""))
            units.append(_Unit(f"{info.name}.root_router@{API_PREFIX}", module.root_router, API_PREFIX))
    return units


def _mount_routers(app: FastAPI, units: list[_Unit] | None = None) -> None:
    units = _discover_units() if units is None else units
    for u in units:
        u.routes = [
            RouteInfo(u.prefix + r.path, r.methods, r.name, r.endpoint, r.include_in_schema)
            for r in iter_routes(u.router.routes)
        ]
    for u in _order_units(units):
        app.include_router(u.router, prefix=u.prefix)


# --- Prometheus metrics --------------------------------------------------------------------------

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """In-process request counters and latency histograms (per process: each worker its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = {}
        self.latency: dict[tuple[str, str], list[float]] = {}  # bucket counts..., sum, count
        self.in_progress = 0
        self.counters: dict[str, int] = {}
        self.started = time.time()

    def inc(self, name: str, by: int = 1) -> None:
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + by

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            key = (method, route, str(status))
            self.requests[key] = self.requests.get(key, 0) + 1
            h = self.latency.setdefault((method, route), [0.0] * (len(_BUCKETS) + 2))
            for i, bound in enumerate(_BUCKETS):
                if seconds <= bound:
                    h[i] += 1
            h[-2] += seconds
            h[-1] += 1

    def render(self, gauges: dict[str, tuple[str, list[tuple[dict[str, str], float]]]]) -> str:
        """The text exposition format; ``gauges``: name -> (help, [(labels, value)])."""
        lines: list[str] = []

        def labels(d: dict[str, str]) -> str:
            return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in d.items()) + "}" if d else ""

        with self._lock:
            lines += ["# HELP deskpulse_http_requests_total HTTP requests by method, route template and status.",
                      "# TYPE deskpulse_http_requests_total counter"]
            for (m, r, s), n in sorted(self.requests.items()):
                lines.append(f"deskpulse_http_requests_total{labels({'method': m, 'route': r, 'status': s})} {n}")
            lines += ["# HELP deskpulse_http_request_duration_seconds Request latency by method and route template.",
                      "# TYPE deskpulse_http_request_duration_seconds histogram"]
            for (m, r), h in sorted(self.latency.items()):
                base = {"method": m, "route": r}
                for i, bound in enumerate(_BUCKETS):
                    lines.append(f"deskpulse_http_request_duration_seconds_bucket{labels({**base, 'le': repr(bound)})} {int(h[i])}")
                lines.append(f"deskpulse_http_request_duration_seconds_bucket{labels({**base, 'le': '+Inf'})} {int(h[-1])}")
                lines.append(f"deskpulse_http_request_duration_seconds_sum{labels(base)} {h[-2]:.6f}")
                lines.append(f"deskpulse_http_request_duration_seconds_count{labels(base)} {int(h[-1])}")
            lines += ["# HELP deskpulse_http_requests_in_progress Requests being served now.",
                      "# TYPE deskpulse_http_requests_in_progress gauge",
                      f"deskpulse_http_requests_in_progress {self.in_progress}"]
            for name, n in sorted(self.counters.items()):
                lines += [f"# TYPE deskpulse_{name}_total counter", f"deskpulse_{name}_total {n}"]
        lines += ["# HELP deskpulse_process_start_time_seconds Start of this process (Unix time).",
                  "# TYPE deskpulse_process_start_time_seconds gauge",
                  f"deskpulse_process_start_time_seconds {self.started:.3f}"]
        for name, (help_text, samples) in gauges.items():
            lines += [f"# HELP deskpulse_{name} {help_text}", f"# TYPE deskpulse_{name} gauge"]
            lines += [f"deskpulse_{name}{labels(lbl)} {value:g}" for lbl, value in samples]
        return "\n".join(lines) + "\n"


class _RouteResolver:
    """Request path -> route template (a bounded label set for the metrics).

    Matching walks the whole route table (over a hundred regular expressions), so answers
    are remembered per path; the memo is bounded (paths carry ticket ids) and simply
    cleared when full.
    """

    MEMO_SIZE = 4096

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._table: list[tuple[re.Pattern[str], str]] | None = None
        self._memo: dict[str, str] = {}

    def __call__(self, path: str) -> str:
        found = self._memo.get(path)
        if found is not None:
            return found
        if self._table is None:
            self._table = [(compile_path(r.path)[0], r.path) for r in iter_routes(self.app.routes)]
        found = "<unmatched>"
        for regex, template in self._table:
            if regex.match(path):
                found = template
                break
        if len(self._memo) >= self.MEMO_SIZE:
            self._memo.clear()
        self._memo[path] = found
        return found


class MetricsMiddleware:
    """Pure ASGI middleware: counts and times every HTTP request (streaming bodies included)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, resolve: Callable[[str], str]) -> None:
        self.app = app
        self.metrics = metrics
        self.resolve = resolve

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        self.metrics.in_progress += 1
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.in_progress -= 1
            self.metrics.observe(scope["method"], self.resolve(scope["path"]), status,
                                 time.perf_counter() - started)


# --- serving ------------------------------------------------------------------------------------


class TcpConfig(uvicorn.Config):
    """uvicorn's Config, binding the shared socket of its workers with its real protocol.

    For several workers uvicorn creates that socket as ``socket.socket(AF_INET)`` (protocol
    0), and asyncio sets TCP_NODELAY only on connections whose socket says IPPROTO_TCP.
    Without it every response of a worker (headers and body: two writes) waits for the
    client's delayed ACK — about 40 ms per request on Linux, measured with bench/bench_api.py.
    One worker is not affected (asyncio binds it and knows the protocol). Module level: the
    config is pickled to the worker processes.
    """

    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.proto != socket.IPPROTO_TCP:
            sock = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
        return sock


# --- the app ------------------------------------------------------------------------------------


def _check_store(store: Store) -> dict[str, Any]:
    try:
        store.execute("SELECT 1")
        return {"ok": True, "dialect": store.dialect, "schema": store.schema_version()}
    except DeskpulseError as exc:
        return {"ok": False, "dialect": store.dialect, "error": exc.message}


def _close_store(store: Store) -> None:
    """Close a store at shutdown, after any statement still running on it.

    A thread started by a service (``asyncio.to_thread``) can outlive the task that awaited it;
    closing a DuckDB connection under a running statement raises. The store's own lock
    serialises its statements, so holding it waits for the last one.
    """
    lock = getattr(store, "_lock", None)
    try:
        if lock is None:
            store.close()
        else:
            with lock:
                store.close()
    except Exception as exc:  # shutdown goes on; the process is ending anyway
        log.warning("closing the store %s failed: %s", store.safe_url, exc)


def create_app(
    settings: Settings | None = None, *, read_pool: int = DEFAULT_READ_POOL, stats_cache: bool = True
) -> FastAPI:
    """Build the app; the store opens at start-up and closes at shutdown.

    ``read_pool``: store connections (the primary included) that the read-only routes use in
    turn, so reads do not queue behind one connection. ``stats_cache``: keep computed tenant
    statistics until the tenant's data changes (see ``routes/stats.py``).
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = open_store(settings.database_url)
        extra: list[Store] = []
        try:
            for _ in range(max(read_pool, 1) - 1):
                extra.append(open_store(settings.database_url, migrate=False))
            app.state.read_stores = [app.state.store, *extra]
            yield
        finally:
            for s in [*extra, app.state.store]:
                _close_store(s)

    app = FastAPI(title="deskpulse", version=__version__, lifespan=lifespan, openapi_tags=OPENAPI_TAGS,
                  description="Support-operations analytics: SLA clocks, backlog, bottlenecks, staffing.\n\n"
                              "Every route under `/api/v1` needs `Authorization: Bearer <token>` "
                              "(`deskpulse token create`); errors are `{\"error\": {code, message, details}}`.")
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.stats_cache_enabled = stats_cache
    _install_error_handlers(app)
    # Inner to the metrics middleware (added first): memo hits are counted and timed too.
    app.state.answer_memo = AnswerMemo() if stats_cache else None
    if app.state.answer_memo is not None:
        app.add_middleware(AnswerMemoMiddleware, memo=app.state.answer_memo, settings=settings,
                           metrics=app.state.metrics)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics, resolve=_RouteResolver(app))

    @app.get("/health", tags=["ops"])
    def health(request: Request) -> JSONResponse:
        """200 when every dependency answers; 503 with per-dependency detail otherwise."""
        state = request.app.state
        checks: dict[str, dict[str, Any]] = {"store": _check_store(state.store)}
        pool = getattr(state, "read_stores", [])[1:]
        if pool:
            bad = [c for c in (_check_store(s) for s in pool) if not c["ok"]]
            checks["read_pool"] = {"ok": not bad, "size": len(pool) + 1, **({"error": bad[0]["error"]} if bad else {})}
        # Services started by routers report their own dependencies (issue 7: ingest locks,
        # outbox backlog, notify circuit, connector) as {name: {"ok": bool, ...}}.
        from deskpulse.ingest.sync.health import extend_health

        try:
            checks.update(extend_health(request.app))
        except Exception as exc:  # a failing check is a failed dependency, not a 500
            log.warning("health check of the sync service failed: %s", exc)
            checks["sync"] = {"ok": False, "error": type(exc).__name__}
        ok = all(c["ok"] for c in checks.values())
        return JSONResponse({"status": "ok" if ok else "degraded", "version": __version__, "checks": checks},
                            status_code=200 if ok else 503)

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    def metrics(request: Request) -> PlainTextResponse:
        """Prometheus text format: request counts and latency per route template, store up."""
        store: Store = request.app.state.store
        up = 1.0 if _check_store(store)["ok"] else 0.0
        cache = getattr(request.app.state, "stats_cache", None)
        gauges = {
            "store_up": ("1 when the store answers SELECT 1.", [({"dialect": store.dialect}, up)]),
            "build_info": ("deskpulse version.", [({"version": __version__}, 1.0)]),
        }
        if cache is not None:
            gauges["stats_cache_entries"] = ("Tenant statistics held in the cache.", [({}, float(len(cache)))])
        return PlainTextResponse(request.app.state.metrics.render(gauges),
                                 media_type="text/plain; version=0.0.4; charset=utf-8")

    _mount_routers(app)
    # The dashboard's pages live outside /api/v1 (CONTRACT §7): included here, not discovered.
    from deskpulse.serve.web import router as web_router

    app.include_router(web_router)
    return app
