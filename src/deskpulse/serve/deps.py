"""FastAPI dependencies: the store, the caller's tenant-bound repository, the tenant check.

``get_store``/``get_repo`` stay plain functions (callable directly); the read-side ones are
``async`` because they do no I/O and a ``def`` dependency costs a thread-pool hop per request.
Routes that query the store are plain ``def`` and run in the thread pool.

``Repo`` is the caller's tenant on the process's primary store (reads and writes).
``ReadRepo`` is the caller's tenant on one of the read connections, taken in turn, for
read-only routes: reads then run side by side instead of queueing on one connection
(DuckDB connections of one process share the database; on PostgreSQL each is a session).
``TenantParam`` is the optional ``tenant_id`` query parameter of seed 004's routes: a value
other than the token's tenant answers 404, like a missing object.
"""

from __future__ import annotations

import itertools
from typing import Annotated

from fastapi import Depends, Query, Request

from deskpulse.serve.auth import CurrentPrincipal
from deskpulse.store import Store, TenantStore

_turn = itertools.count()


def get_store(request: Request) -> Store:
    """The process's store (opened by the app factory)."""
    store: Store = request.app.state.store
    return store


def get_repo(principal: CurrentPrincipal, store: Annotated[Store, Depends(get_store)]) -> TenantStore:
    """The caller's tenant, by construction: the only repository a route can get."""
    return store.tenant(principal.tenant_id)


Repo = Annotated[TenantStore, Depends(get_repo)]


async def get_read_store(request: Request) -> Store:
    """One of the read connections, in turn (the primary store when there is no pool)."""
    pool: list[Store] | None = getattr(request.app.state, "read_stores", None)
    if not pool:
        store: Store = request.app.state.store
        return store
    return pool[next(_turn) % len(pool)]


async def get_read_repo(principal: CurrentPrincipal, store: Annotated[Store, Depends(get_read_store)]) -> TenantStore:
    """The caller's tenant on a read connection (for routes that never write)."""
    return store.tenant(principal.tenant_id)


ReadRepo = Annotated[TenantStore, Depends(get_read_repo)]


async def tenant_param(
    principal: CurrentPrincipal,
    tenant_id: Annotated[
        str | None,
        Query(description="Seed 004 compatibility: must be the token's tenant when given (else 404)."),
    ] = None,
) -> str:
    """The tenant of the request: the token's; a different ``tenant_id`` answers 404."""
    principal.check_tenant(tenant_id)
    return principal.tenant_id


TenantParam = Annotated[str, Depends(tenant_param)]
