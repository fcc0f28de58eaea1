"""Who am I, what the store holds, and token issuing for admins (all under ``/api/v1``).

- ``GET /api/v1/me``: the token's subject, tenant and role;
- ``GET /api/v1/meta``: version, store dialect and schema revision, the tenant's last build,
  and the enumerations the other routes accept (for clients and the dashboard's filters);
- ``POST /api/v1/tokens`` (**admin**): a signed token for the admin's own tenant — the same
  as ``deskpulse token create``, for a login page or an integration.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, Field

from deskpulse import __version__
from deskpulse.model import PRIORITIES, STATUSES
from deskpulse.serve.auth import AdminPrincipal, CurrentPrincipal, Role, create_token
from deskpulse.serve.deps import ReadRepo
from deskpulse.serve.routes._shared import ERROR_RESPONSES, ErrorBody, aware
from deskpulse.serve.routes.exports import ExportFormat, ExportTable
from deskpulse.serve.routes.tickets import SlaStatus, Sort, Urgency

router = APIRouter(tags=["meta"], responses=ERROR_RESPONSES)

MAX_TTL_DAYS = 365


class Me(BaseModel):
    subject: str
    tenant_id: str
    role: str


class BuildInfo(BaseModel):
    as_of: datetime
    built_at: datetime
    tickets: int


class Meta(BaseModel):
    version: str
    dialect: str
    schema_version: str | None
    tenant_id: str
    tickets: int = Field(description="Stored tickets of the tenant (soft-deleted ones included).")
    build: BuildInfo | None = Field(None, description="The tenant's last SLA build; null before the first.")
    statuses: list[str]
    priorities: list[str]
    urgencies: list[str]
    sla_statuses: list[str]
    ticket_sorts: list[str]
    export_tables: list[str]
    export_formats: list[str]


class TokenRequest(BaseModel):
    role: Role = Field(description="viewer reads; agent also sets its own availability; admin manages configuration.")
    subject: str | None = Field(None, min_length=1, max_length=200, description="Default: <role>@<tenant>.")
    ttl_days: int = Field(30, ge=1, le=MAX_TTL_DAYS)


class TokenResponse(BaseModel):
    token: str
    tenant_id: str
    role: str
    subject: str
    expires_at: datetime


@router.get("/me", response_model=Me, summary="The caller")
def me(principal: CurrentPrincipal) -> Me:
    """The subject, tenant and role of the bearer token."""
    return Me(subject=principal.subject, tenant_id=principal.tenant_id, role=principal.role.value)


@router.get("/meta", response_model=Meta, summary="Store and API facts")
def meta(repo: ReadRepo) -> Meta:
    """Version, store, the tenant's last build and the values the filters accept."""
    build = repo.rows("SELECT as_of, built_at, tickets FROM build_state")
    return Meta(
        version=__version__,
        dialect=repo.store.dialect,
        schema_version=repo.store.schema_version(),
        tenant_id=repo.tenant_id,
        tickets=repo.count("tickets"),
        build=BuildInfo(as_of=aware(build[0][0]), built_at=aware(build[0][1]), tickets=int(build[0][2]))
        if build else None,
        statuses=list(STATUSES),
        priorities=list(PRIORITIES),
        urgencies=[u.value for u in Urgency],
        sla_statuses=[s.value for s in SlaStatus],
        ticket_sorts=[s.value for s in Sort],
        export_tables=[t.value for t in ExportTable],
        export_formats=[f.value for f in ExportFormat],
    )


@router.post("/tokens", response_model=TokenResponse, status_code=201, summary="Issue a token (admin)",
             responses={403: {"model": ErrorBody, "description": "The caller is not an admin."}})
def issue_token(request: Request, admin: AdminPrincipal, body: Annotated[TokenRequest, Body()]) -> TokenResponse:
    """A token for the admin's own tenant (never another one)."""
    secret: str = request.app.state.settings.jwt_secret.get_secret_value()
    now = int(time.time())
    subject = body.subject or f"{body.role.value}@{admin.tenant_id}"
    token = create_token(secret, tenant_id=admin.tenant_id, role=body.role, subject=subject,
                         ttl_seconds=body.ttl_days * 86400, now=now)
    return TokenResponse(token=token, tenant_id=admin.tenant_id, role=body.role.value, subject=subject,
                         expires_at=datetime.fromtimestamp(now + body.ttl_days * 86400, UTC))
