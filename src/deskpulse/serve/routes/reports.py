"""Reports, schedules and alert rules over HTTP (issue 9), all under ``/api/v1``.

- ``GET /reports/{name}?days=30&format=html|pdf|xlsx|csv`` — one report as a file (``csv``
  answers one table: the report's first, or ``table=NAME``);
- ``GET|POST /schedules``, ``GET|PATCH|DELETE /schedules/{ref}``, ``GET /schedules/{ref}/runs``
  — the tenant's report schedules (``ref``: id or name) and their run history;
- ``GET|POST /alerts``, ``GET|PATCH|DELETE /alerts/{ref}``, ``GET /alerts/{ref}/events`` —
  alert rules and what their checks did.

Reads need any role; creating, changing and deleting need **admin**. Everything is the
token's tenant's only. With ``DESKPULSE_REPORTS_WORKER_IN_SERVE=true`` the router's lifespan
also runs the report worker in a background thread of each server process (the database
claims keep it to one send per due run whatever the number of processes).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel, Field

from deskpulse.errors import UsageError
from deskpulse.serve.auth import CurrentPrincipal, Role
from deskpulse.serve.deps import Repo
from deskpulse.serve.routes._shared import ERROR_RESPONSES, ErrorBody, aware

log = logging.getLogger(__name__)


@asynccontextmanager
async def reports_lifespan(app: Any) -> AsyncIterator[None]:
    """Start the report worker in this process when the settings ask for it."""
    from deskpulse.settings import load_report_settings

    settings = load_report_settings()
    worker = None
    if settings.reports_worker_in_serve and getattr(app.state, "report_worker", None) is None:
        from deskpulse.config import load_config
        from deskpulse.reports.worker import BackgroundWorker

        try:
            worker = BackgroundWorker(app.state.settings.database_url,
                                      load_config(app.state.settings.config), settings)
            worker.start()
            app.state.report_worker = worker
        except Exception:  # the API must come up even when the worker cannot
            log.exception("the report worker did not start")
            worker = None
    try:
        yield
    finally:
        if worker is not None:
            app.state.report_worker = None
            worker.close()


router = APIRouter(tags=["reports"], responses=ERROR_RESPONSES, lifespan=reports_lifespan)
_ADMIN: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorBody, "description": "The caller is not an admin."}
}


def _out(d: dict[str, Any]) -> dict[str, Any]:
    return {k: aware(v) for k, v in d.items()}


# --- reports ----------------------------------------------------------------------------------------


@router.get("/reports/{name}", summary="One report as a file",
            responses={200: {"content": {"text/html": {}, "application/pdf": {}, "text/csv": {}}}})
def get_report(
    request: Request,
    repo: Repo,
    name: str,
    days: Annotated[int, Query(ge=1, le=3660, description="Tickets created in the last N days.")] = 30,
    fmt: Annotated[str, Query(alias="format", pattern="^(html|pdf|xlsx|csv)$")] = "html",
    table: Annotated[str | None, Query(description="csv: which table (default the first).")] = None,
) -> Response:
    """performance, sla, backlog, agents, bottlenecks or dashboard, for the token's tenant."""
    from deskpulse.config import load_config
    from deskpulse.reports.definitions import ReportParams, build_report, check_report
    from deskpulse.reports.render import (
        MIME,
        ReportFormat,
        render_csv,
        render_html,
        render_pdf,
        render_xlsx,
    )

    check_report(name)
    cfg = load_config(request.app.state.settings.config)
    doc = build_report(repo, cfg, name, ReportParams(days=days))
    report_format = ReportFormat(fmt)
    stem = f"{name}-{repo.tenant_id}"
    if report_format is ReportFormat.html:
        body, filename = render_html(doc).encode(), f"{stem}.html"
    elif report_format is ReportFormat.pdf:
        body, filename = render_pdf(doc), f"{stem}.pdf"
    elif report_format is ReportFormat.xlsx:
        body, filename = render_xlsx(doc), f"{stem}.xlsx"
    else:
        names = [t.name for t in doc.tables]
        chosen = table or names[0]
        if chosen not in names:
            raise UsageError(f"report {name} has no table {chosen!r}; use {', '.join(names)}")
        body, filename = render_csv(doc.table(chosen)), f"{stem}_{chosen}.csv"
    disposition = "inline" if report_format is ReportFormat.html else "attachment"
    return Response(body, media_type=MIME[report_format],
                    headers={"Content-Disposition": f'{disposition}; filename="{filename}"'})


# --- schedules --------------------------------------------------------------------------------------


class ScheduleIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    cron: str = Field(description="Five cron fields (minute hour day month weekday) or @daily etc.",
                      examples=["0 8 * * MON"])
    timezone: str = Field("UTC", description="IANA timezone of the cron times.")
    report: str = Field(description="performance, sla, backlog, agents, bottlenecks or dashboard.")
    formats: list[str] = Field(["pdf"], description="Attachments: pdf, xlsx, csv, html.")
    recipients: list[str] = Field(min_length=1)
    days: int | None = Field(30, ge=1, le=3660)
    filters: dict[str, str] = Field(default_factory=dict, description="group, category, priority …")
    missed_policy: str = Field("send_once", description="send_once or skip.")
    enabled: bool = True


class SchedulePatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=100)
    cron: str | None = None
    timezone: str | None = None
    report: str | None = None
    formats: list[str] | None = None
    recipients: list[str] | None = None
    days: int | None = Field(None, ge=1, le=3660)
    filters: dict[str, str] | None = None
    missed_policy: str | None = None
    enabled: bool | None = None


class ScheduleOut(BaseModel):
    schedule_id: str
    name: str
    report: str
    formats: list[str]
    cron: str
    timezone: str
    recipients: list[str]
    days: int | None
    filters: dict[str, str]
    missed_policy: str
    enabled: bool
    next_run_at: datetime
    last_run_at: datetime | None
    last_status: str | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class RunOut(BaseModel):
    run_id: str
    schedule_id: str
    schedule_name: str
    slot_at: datetime
    status: str = Field(description="running, sent, failed or skipped.")
    worker: str | None
    claimed_at: datetime
    finished_at: datetime | None
    attempts: int
    missed: int = Field(description="Earlier slots this run stood for (send_once) or skipped with it.")
    recipients: list[str]
    attachments: list[str]
    size_bytes: int | None
    error: str | None


def _schedule_out(s: Any) -> ScheduleOut:
    d = _out(s.as_dict())
    d["formats"] = s.formats.split(",")
    return ScheduleOut(**d)


@router.get("/schedules", response_model=list[ScheduleOut], summary="Report schedules")
def schedules(repo: Repo) -> list[ScheduleOut]:
    from deskpulse.reports.schedules import list_schedules

    return [_schedule_out(s) for s in list_schedules(repo.store, repo.tenant_id)]


@router.post("/schedules", response_model=ScheduleOut, status_code=201, summary="Add a schedule (admin)",
             responses={**_ADMIN, 409: {"model": ErrorBody, "description": "The name is taken."}})
def create_schedule(repo: Repo, principal: CurrentPrincipal, body: Annotated[ScheduleIn, Body()]) -> ScheduleOut:
    from deskpulse.reports.schedules import ScheduleSpec, add_schedule

    principal.require(Role.admin)
    spec = ScheduleSpec(name=body.name, cron=body.cron, report=body.report, recipients=body.recipients,
                        timezone=body.timezone, formats=",".join(body.formats), days=body.days,
                        filters=body.filters, missed_policy=body.missed_policy, enabled=body.enabled)
    return _schedule_out(add_schedule(repo.store, repo.tenant_id, spec, created_by=principal.subject))


@router.get("/schedules/{ref}", response_model=ScheduleOut, summary="One schedule (id or name)")
def schedule(repo: Repo, ref: str) -> ScheduleOut:
    from deskpulse.reports.schedules import get_schedule

    return _schedule_out(get_schedule(repo.store, repo.tenant_id, ref))


@router.patch("/schedules/{ref}", response_model=ScheduleOut, summary="Change a schedule (admin)",
              responses=_ADMIN)
def patch_schedule(repo: Repo, principal: CurrentPrincipal, ref: str,
                   body: Annotated[SchedulePatch, Body()]) -> ScheduleOut:
    from deskpulse.reports.schedules import update_schedule

    principal.require(Role.admin)
    changes = body.model_dump(exclude_unset=True)
    if "formats" in changes and changes["formats"] is not None:
        changes["formats"] = ",".join(changes["formats"])
    changes = {k: v for k, v in changes.items() if v is not None or k == "days"}
    return _schedule_out(update_schedule(repo.store, repo.tenant_id, ref, changes))


@router.delete("/schedules/{ref}", status_code=204, summary="Delete a schedule (admin)", responses=_ADMIN)
def delete_schedule(repo: Repo, principal: CurrentPrincipal, ref: str) -> Response:
    from deskpulse.reports.schedules import remove_schedule

    principal.require(Role.admin)
    remove_schedule(repo.store, repo.tenant_id, ref)
    return Response(status_code=204)


@router.get("/schedules/{ref}/runs", response_model=list[RunOut], summary="A schedule's run history")
def schedule_runs(repo: Repo, ref: str,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[RunOut]:
    from deskpulse.reports.schedules import get_schedule, list_runs

    s = get_schedule(repo.store, repo.tenant_id, ref)
    return [RunOut(**_out(r.as_dict())) for r in list_runs(repo.store, repo.tenant_id, s.schedule_id,
                                                           limit=limit)]


# --- alerts -----------------------------------------------------------------------------------------


class RuleIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    when: str | None = Field(None, description="METRIC OP NUMBER, e.g. 'at_risk_tickets > 10' "
                                               "(instead of metric/op/threshold).")
    metric: str | None = Field(None, description="at_risk_tickets, breached_tickets, "
                                                 "sla_attainment_pct or breach_within.")
    op: str | None = Field(None, description=">, >=, < or <=.")
    threshold: float | None = None
    channel: str = Field(description="email or webhook.")
    target: list[str] = Field(min_length=1, description="Addresses, or the one webhook URL.")
    filters: dict[str, str] = Field(default_factory=dict)
    window: str | None = Field(None, description="sla_attainment_pct: today, 7d, 30d or 90d.")
    quiet_hours: str | None = Field(None, description="HH:MM-HH:MM local to timezone.")
    timezone: str = "UTC"
    repeat_minutes: int = Field(0, ge=0)
    enabled: bool = True


class RulePatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=100)
    metric: str | None = None
    op: str | None = None
    threshold: float | None = None
    channel: str | None = None
    target: list[str] | None = None
    filters: dict[str, str] | None = None
    window: str | None = None
    quiet_hours: str | None = None
    timezone: str | None = None
    repeat_minutes: int | None = Field(None, ge=0)
    enabled: bool | None = None


class RuleOut(BaseModel):
    rule_id: str
    name: str
    condition: str
    metric: str
    op: str
    threshold: float
    filters: dict[str, str]
    window: str | None
    channel: str
    target: list[str]
    quiet_hours: str | None
    timezone: str
    repeat_minutes: int
    enabled: bool
    last_checked_at: datetime | None
    last_value: float | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class EventOut(BaseModel):
    event_id: str
    rule_id: str
    rule_name: str
    event_at: datetime
    status: str = Field(description="sent, failed, suppressed, deferred or resolved.")
    keys: list[str]
    value: float | None
    message: str | None
    error: str | None


def _rule_out(r: Any) -> RuleOut:
    return RuleOut(**_out(r.as_dict()))


@router.get("/alerts", response_model=list[RuleOut], summary="Alert rules")
def alert_rules(repo: Repo) -> list[RuleOut]:
    from deskpulse.reports.alerts import list_rules

    return [_rule_out(r) for r in list_rules(repo.store, repo.tenant_id)]


@router.post("/alerts", response_model=RuleOut, status_code=201, summary="Add an alert rule (admin)",
             responses={**_ADMIN, 409: {"model": ErrorBody, "description": "The name is taken."}})
def create_alert(repo: Repo, principal: CurrentPrincipal, body: Annotated[RuleIn, Body()]) -> RuleOut:
    from deskpulse.reports.alerts import RuleSpec, add_rule, parse_when

    principal.require(Role.admin)
    if body.when:
        metric, op, threshold = parse_when(body.when)
        metric_name = metric.value
    elif body.metric and body.threshold is not None:
        metric_name, op, threshold = body.metric, body.op or ">", body.threshold
    else:
        raise UsageError("give `when` ('at_risk_tickets > 10') or metric, op and threshold")
    spec = RuleSpec(name=body.name, metric=metric_name, op=op, threshold=threshold,
                    channel=body.channel, target=body.target, filters=body.filters,
                    window=body.window, quiet_hours=body.quiet_hours, timezone=body.timezone,
                    repeat_minutes=body.repeat_minutes, enabled=body.enabled)
    return _rule_out(add_rule(repo.store, repo.tenant_id, spec, created_by=principal.subject))


@router.get("/alerts/{ref}", response_model=RuleOut, summary="One alert rule (id or name)")
def alert_rule(repo: Repo, ref: str) -> RuleOut:
    from deskpulse.reports.alerts import get_rule

    return _rule_out(get_rule(repo.store, repo.tenant_id, ref))


@router.patch("/alerts/{ref}", response_model=RuleOut, summary="Change an alert rule (admin)",
              responses=_ADMIN)
def patch_alert(repo: Repo, principal: CurrentPrincipal, ref: str,
                body: Annotated[RulePatch, Body()]) -> RuleOut:
    from deskpulse.reports.alerts import update_rule

    principal.require(Role.admin)
    changes = body.model_dump(exclude_unset=True)
    changes = {k: v for k, v in changes.items()
               if v is not None or k in ("quiet_hours", "window")}
    return _rule_out(update_rule(repo.store, repo.tenant_id, ref, changes))


@router.delete("/alerts/{ref}", status_code=204, summary="Delete an alert rule (admin)", responses=_ADMIN)
def delete_alert(repo: Repo, principal: CurrentPrincipal, ref: str) -> Response:
    from deskpulse.reports.alerts import remove_rule

    principal.require(Role.admin)
    remove_rule(repo.store, repo.tenant_id, ref)
    return Response(status_code=204)


@router.get("/alerts/{ref}/events", response_model=list[EventOut], summary="What a rule's checks did")
def alert_events(repo: Repo, ref: str,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[EventOut]:
    from deskpulse.reports.alerts import get_rule, list_events

    r = get_rule(repo.store, repo.tenant_id, ref)
    return [EventOut(**_out(e.as_dict())) for e in list_events(repo.store, repo.tenant_id, r.rule_id,
                                                               limit=limit)]
