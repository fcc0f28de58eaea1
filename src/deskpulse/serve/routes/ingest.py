"""Seed 004's ingestion endpoints, at the root and under /api/v1 (CONTRACT §7).

* ``POST /ingest/run?tenant_id=…[&connector=…]`` → 202 ``{job_id, status: running}``; 409 with
  ``details.job_id`` when the tenant already has a running ingest (any worker process);
* ``GET /ingest/status?tenant_id=…`` → running or idle, the lock, the last job;
* ``GET /ingest/progress/{job_id}`` → status, progress %, total_pages, processed_pages, counts;
* ``DELETE /ingest/{job_id}`` → 202 ``{status: cancelling}``; the job stops after the page in
  hand, keeps what it wrote and ends ``cancelled``;
* ``GET /ingest/logs?tenant_id=…`` → the tenant's ingestion_logs (audit).

Running and cancelling need the agent role; reads need any role. The router's lifespan starts
the process's :class:`~deskpulse.ingest.sync.service.SyncService` (orphan sweep, notification
sender) once the app's store is open, and stops it at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from deskpulse.errors import ComponentMissingError
from deskpulse.ingest.sync.service import SyncService
from deskpulse.serve.auth import CurrentPrincipal, Role

log = logging.getLogger(__name__)


@asynccontextmanager
async def sync_lifespan(app: Any) -> AsyncIterator[None]:
    """Start the sync service once per app (this router is mounted twice)."""
    if getattr(app.state, "sync", None) is not None or getattr(app.state, "_sync_starting", False):
        yield
        return
    app.state._sync_starting = True
    service: SyncService | None = None
    try:
        service = SyncService(app.state.store, getattr(app.state, "sync_settings", None))
        await service.start()
        app.state.sync = service
    except Exception:  # the API must come up even when the sync service cannot
        log.exception("the sync service did not start; ingest endpoints answer 503")
        service = None
    try:
        yield
    finally:
        app.state._sync_starting = False
        if service is not None:
            app.state.sync = None
            await service.stop()


root_router = APIRouter(tags=["ingest"], lifespan=sync_lifespan)


def service(request: Request) -> SyncService:
    svc: SyncService | None = getattr(request.app.state, "sync", None)
    if svc is None:
        raise ComponentMissingError("the ingestion service is not running")
    return svc


def plain(value: Any) -> Any:
    """JSON-ready values: datetimes as UTC ISO 8601 with Z."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S") + (
            f".{value.microsecond:06d}" if value.microsecond else "") + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


TenantQuery = Annotated[str | None, Query(description="The tenant (default: the token's).")]


@root_router.post("/ingest/run", status_code=202)
async def run_ingest(
    request: Request,
    principal: CurrentPrincipal,
    tenant_id: TenantQuery = None,
    connector: Annotated[str | None, Query(description="simulator, zendesk or intercom")] = None,
) -> JSONResponse:
    """Start an ingest for the tenant: 202 with the job id, or 409 when one is running."""
    principal.check_tenant(tenant_id)
    principal.require(Role.agent)
    svc = service(request)
    tenant = tenant_id or principal.tenant_id
    job = await asyncio.to_thread(svc.runner.start, tenant, connector)
    svc.runner.launch(job)
    return JSONResponse(
        {"job_id": job.job_id, "tenant_id": tenant, "connector": job.connector, "status": "running"},
        status_code=202,
    )


@root_router.get("/ingest/status")
async def ingest_status(request: Request, principal: CurrentPrincipal,
                        tenant_id: TenantQuery = None) -> dict[str, Any]:
    """Whether an ingest runs for the tenant (and which), plus the last job."""
    principal.check_tenant(tenant_id)
    svc = service(request)
    result = await asyncio.to_thread(svc.runner.status, tenant_id or principal.tenant_id)
    return dict(plain(result))


@root_router.get("/ingest/progress/{job_id}")
async def ingest_progress(request: Request, principal: CurrentPrincipal, job_id: str,
                          tenant_id: TenantQuery = None) -> dict[str, Any]:
    """Status, progress %, total_pages and processed_pages of one job of the caller's tenant."""
    principal.check_tenant(tenant_id)
    svc = service(request)
    result = await asyncio.to_thread(svc.runner.progress, principal.tenant_id, job_id)
    return dict(plain(result))


@root_router.get("/ingest/logs")
async def ingest_logs(
    request: Request, principal: CurrentPrincipal, tenant_id: TenantQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> list[dict[str, Any]]:
    """The tenant's ingestion runs, newest first (ingestion_logs)."""
    from deskpulse.ingest.sync.jobs import read_logs

    principal.check_tenant(tenant_id)
    svc = service(request)
    rows = await asyncio.to_thread(read_logs, svc.control, tenant_id or principal.tenant_id, limit)
    return list(plain(rows))


@root_router.delete("/ingest/{job_id}", status_code=202)
async def cancel_ingest(request: Request, principal: CurrentPrincipal, job_id: str,
                        tenant_id: TenantQuery = None) -> JSONResponse:
    """Cancel a running job gracefully: it keeps what it wrote and ends ``cancelled``."""
    principal.check_tenant(tenant_id)
    principal.require(Role.agent)
    svc = service(request)
    result = await asyncio.to_thread(svc.runner.cancel, principal.tenant_id, job_id)
    return JSONResponse(result, status_code=202)
