"""FastAPI dependencies: the store and the caller's tenant-bound repository."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from deskpulse.serve.auth import CurrentPrincipal
from deskpulse.store import Store, TenantStore


def get_store(request: Request) -> Store:
    """The process's store (opened by the app factory)."""
    store: Store = request.app.state.store
    return store


def get_repo(principal: CurrentPrincipal, store: Annotated[Store, Depends(get_store)]) -> TenantStore:
    """The caller's tenant, by construction: the only repository a route can get."""
    return store.tenant(principal.tenant_id)


Repo = Annotated[TenantStore, Depends(get_repo)]
