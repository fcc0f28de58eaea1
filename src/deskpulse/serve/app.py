"""The FastAPI application factory: settings, store, error shape, routers, health.

Errors always answer ``{"error": {"code", "message", "details"}}`` — library errors, HTTP
errors and validation errors alike. Routers are discovered in :mod:`deskpulse.serve.routes`.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from deskpulse import __version__
from deskpulse.errors import DeskpulseError
from deskpulse.settings import Settings, get_settings
from deskpulse.store import open_store

log = logging.getLogger(__name__)


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DeskpulseError)
    async def _deskpulse(_: Request, exc: DeskpulseError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.http_status)

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


def _mount_routers(app: FastAPI) -> None:
    import deskpulse.serve.routes as routes

    for info in sorted(pkgutil.iter_modules(routes.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{routes.__name__}.{info.name}")
        if hasattr(module, "router"):
            app.include_router(module.router, prefix="/api/v1")
        if hasattr(module, "root_router"):
            app.include_router(module.root_router)
            app.include_router(module.root_router, prefix="/api/v1")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the store opens at start-up and closes at shutdown."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = open_store(settings.database_url)
        try:
            yield
        finally:
            app.state.store.close()

    app = FastAPI(title="deskpulse", version=__version__, lifespan=lifespan,
                  description="Support-operations analytics: SLA clocks, backlog, bottlenecks, staffing.")
    app.state.settings = settings
    _install_error_handlers(app)

    @app.get("/health", tags=["ops"])
    def health(request: Request) -> JSONResponse:
        """200 when every dependency answers; 503 with per-dependency detail otherwise."""
        checks: dict[str, dict[str, Any]] = {}
        try:
            request.app.state.store.execute("SELECT 1")
            checks["store"] = {"ok": True, "dialect": request.app.state.store.dialect}
        except DeskpulseError as exc:
            checks["store"] = {"ok": False, "error": exc.message}
        ok = all(c["ok"] for c in checks.values())
        return JSONResponse({"status": "ok" if ok else "degraded", "checks": checks}, status_code=200 if ok else 503)

    _mount_routers(app)
    return app
