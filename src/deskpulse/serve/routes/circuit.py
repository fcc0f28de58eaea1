"""Circuit breaker endpoints of seed 004 Task 11, at the root and under /api/v1.

``GET /circuit/{name}/status`` (``notify`` is the notification service's breaker) shows the
state shared by every worker process; ``POST /circuit/{name}/reset`` (admin) closes it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request

from deskpulse.serve.auth import CurrentPrincipal, Role
from deskpulse.serve.routes.ingest import TenantQuery, service

root_router = APIRouter(tags=["circuit"])


@root_router.get("/circuit/{name}/status")
async def circuit_status(request: Request, principal: CurrentPrincipal, name: str,
                         tenant_id: TenantQuery = None) -> dict[str, Any]:
    """State (CLOSED, OPEN, HALF_OPEN), failures among the last calls, when it may retry."""
    principal.check_tenant(tenant_id)
    breaker = service(request).breaker_named(name)
    result: dict[str, Any] = await asyncio.to_thread(breaker.status_sync)
    return result


@root_router.post("/circuit/{name}/reset")
async def circuit_reset(request: Request, principal: CurrentPrincipal, name: str,
                        tenant_id: TenantQuery = None) -> dict[str, Any]:
    """Close the circuit and forget its recent failures (admin)."""
    principal.check_tenant(tenant_id)
    principal.require(Role.admin)
    breaker = service(request).breaker_named(name)
    result: dict[str, Any] = await asyncio.to_thread(breaker.reset_sync)
    return result
