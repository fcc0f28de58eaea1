"""Dashboard pages that manage report schedules and alert rules (issue 9, items 2 and 4).

========================================  ==========================================================
``/ui/schedules``                         the tenant's schedules; an admin also gets the "new" form
``POST /ui/schedules``                    create (admin)
``/ui/schedules/{ref}``                   one schedule: its settings (an edit form for admins) and
                                          its run history
``POST /ui/schedules/{ref}``              change (admin)
``POST /ui/schedules/{ref}/pause``        pause or resume (admin; ``enabled=0|1``)
``POST /ui/schedules/{ref}/delete``       delete (admin; the run history stays)
``/ui/alerts`` … ``/ui/alerts/{ref}/…``   the same for alert rules, with their events
========================================  ==========================================================

Thin adapters over :mod:`deskpulse.reports.schedules` and :mod:`deskpulse.reports.alerts` —
the same functions the API and the CLI call, so validation and messages are the same. Every
form that changes data is an admin's (403 otherwise), posted from our own origin, carrying
the session's CSRF token (:func:`~deskpulse.serve.web.session.check_csrf`); the session
cookie is ``SameSite=Lax``. A rejected form is shown again with its values and the reason.
After a change the browser is redirected (303) to the list with a notice (post/redirect/get).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Final
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from deskpulse.errors import ConflictError, UsageError
from deskpulse.serve.auth import Role
from deskpulse.serve.web.render import html
from deskpulse.serve.web.session import (
    CSRF_FIELD,
    Page,
    PageContext,
    PageRoute,
    check_csrf,
    csrf_token,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)

FILTER_FIELDS: Final = ("group", "category", "priority", "channel", "region", "agent")
HISTORY_ROWS: Final = 50
NOTICE_MAX: Final = 200


async def form_data(request: Request) -> dict[str, Any]:
    """The urlencoded form of a POST: single values as strings, repeated ones (checkboxes) as lists."""
    from urllib.parse import parse_qs

    body = (await request.body()).decode("utf-8", errors="replace")
    out: dict[str, Any] = {}
    for key, values in parse_qs(body, keep_blank_values=True).items():
        out[key] = values if key == "formats" else values[0]
    return out


Form = Annotated[dict[str, Any], Depends(form_data)]


def _admin_write(ctx: PageContext, form: dict[str, Any]) -> None:
    """Writes need the admin role and this session's CSRF token (403 otherwise)."""
    check_csrf(ctx.request, {CSRF_FIELD: str(form.get(CSRF_FIELD, ""))})
    ctx.principal.require(Role.admin)


def _context(ctx: PageContext, active: str, title: str, **extra: Any) -> dict[str, Any]:
    from deskpulse.serve.web.pages import base_context

    return base_context(ctx, active, title, csrf=csrf_token(ctx.request), is_admin=ctx.principal.role is Role.admin,
                        notice=(ctx.request.query_params.get("notice") or "")[:NOTICE_MAX], **extra)


def _done(path: str, notice: str) -> Response:
    return RedirectResponse(f"{path}?{urlencode({'notice': notice})}", status_code=303)


def _filters(form: dict[str, Any]) -> dict[str, str]:
    """Ticket filters travel as ``f_group`` … (an alert's own ``channel`` is email or webhook)."""
    return {k: str(form[f"f_{k}"]).strip() for k in FILTER_FIELDS if str(form.get(f"f_{k}") or "").strip()}


def _filter_values(filters: dict[str, str]) -> dict[str, str]:
    return {f"f_{k}": v for k, v in filters.items()}


def _list(text: Any) -> list[str]:
    return [p.strip() for p in str(text or "").replace(";", ",").replace("\n", ",").split(",") if p.strip()]


def _int(text: Any, name: str, default: int | None) -> int | None:
    raw = str(text or "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise UsageError(f"{name}: a whole number, not {raw!r}") from None


def _float(text: Any, name: str) -> float:
    try:
        return float(str(text or "").strip())
    except ValueError:
        raise UsageError(f"{name}: a number, not {text!r}") from None


def _checked(form: dict[str, Any], name: str) -> bool:
    return str(form.get(name, "")).lower() in ("1", "on", "true", "yes")


def _attempt(render: Callable[[str, int], Response], action: Callable[[], Response]) -> Response:
    """Run a form's action; a rejected form is rendered again with the reason (400 / 409)."""
    try:
        return action()
    except ConflictError as exc:
        return render(exc.message, 409)
    except UsageError as exc:
        return render(exc.message, 400)


# --- schedules ---------------------------------------------------------------------------------------


def _schedule_options() -> dict[str, Any]:
    from deskpulse.reports.definitions import REPORTS
    from deskpulse.reports.render import ReportFormat
    from deskpulse.reports.schedules import MissedPolicy

    return {"reports": list(REPORTS), "formats": [f.value for f in ReportFormat],
            "missed_policies": [m.value for m in MissedPolicy], "filter_fields": FILTER_FIELDS}


def _schedule_form(form: dict[str, Any]) -> dict[str, Any]:
    """A form's fields as the library's schedule fields."""
    formats = form.get("formats") or []
    return {
        "name": str(form.get("name", "")).strip(), "cron": str(form.get("cron", "")).strip(),
        "timezone": str(form.get("timezone") or "UTC").strip(), "report": str(form.get("report", "")),
        "formats": ",".join(formats if isinstance(formats, list) else [formats]) or "pdf",
        "recipients": _list(form.get("recipients")), "days": _int(form.get("days"), "days", 30),
        "filters": _filters(form), "missed_policy": str(form.get("missed_policy") or "send_once"),
        "enabled": _checked(form, "enabled"),
    }


def _schedule_values(s: Any) -> dict[str, Any]:
    """A stored schedule as form values."""
    return {"name": s.name, "cron": s.cron, "timezone": s.timezone, "report": s.report,
            "formats": s.formats.split(","), "recipients": ", ".join(s.recipients), "days": s.days,
            "missed_policy": s.missed_policy, "enabled": s.enabled, **_filter_values(s.filters)}


@router.get("/ui/schedules")
def schedules_page(ctx: Page) -> Response:
    return _schedules(ctx)


def _schedules(ctx: PageContext, error: str = "", status: int = 200, values: dict[str, Any] | None = None) -> Response:
    from deskpulse.reports.schedules import list_runs, list_schedules

    store = ctx.primary.store
    items = list_schedules(store, ctx.tenant_id)
    runs = list_runs(store, ctx.tenant_id, limit=20)
    defaults = {"timezone": ctx.timezone, "formats": ["pdf"], "days": 30, "enabled": True, "missed_policy": "send_once"}
    return html(ctx.request, "schedules.html", status_code=status, **_context(
        ctx, "schedules", "Report schedules", items=items, runs=runs, error=error,
        values=values if values is not None else defaults, **_schedule_options()))


@router.post("/ui/schedules")
def create_schedule_form(ctx: Page, form: Form) -> Response:
    from deskpulse.reports.schedules import ScheduleSpec, add_schedule

    _admin_write(ctx, form)

    def action() -> Response:
        s = add_schedule(ctx.primary.store, ctx.tenant_id, ScheduleSpec(**_schedule_form(form)),
                         created_by=ctx.principal.subject)
        return _done("/ui/schedules", f"Schedule {s.name} created; next run {s.next_run_at:%Y-%m-%d %H:%M} UTC.")

    return _attempt(lambda msg, status: _schedules(ctx, msg, status, form), action)


@router.get("/ui/schedules/{ref}")
def schedule_page(ctx: Page, ref: str) -> Response:
    return _schedule(ctx, ref)


def _schedule(ctx: PageContext, ref: str, error: str = "", status: int = 200,
              values: dict[str, Any] | None = None) -> Response:
    from deskpulse.reports.schedules import get_schedule, list_runs

    store = ctx.primary.store
    s = get_schedule(store, ctx.tenant_id, ref)
    runs = list_runs(store, ctx.tenant_id, s.schedule_id, limit=HISTORY_ROWS)
    return html(ctx.request, "schedule.html", status_code=status, **_context(
        ctx, "schedules", f"Schedule {s.name}", s=s, runs=runs, error=error,
        values=values if values is not None else _schedule_values(s), **_schedule_options()))


@router.post("/ui/schedules/{ref}")
def update_schedule_form(ctx: Page, ref: str, form: Form) -> Response:
    from deskpulse.reports.schedules import update_schedule

    _admin_write(ctx, form)

    def action() -> Response:
        s = update_schedule(ctx.primary.store, ctx.tenant_id, ref, _schedule_form(form))
        return _done(f"/ui/schedules/{quote(s.schedule_id)}", f"Schedule {s.name} saved.")

    return _attempt(lambda msg, status: _schedule(ctx, ref, msg, status, form), action)


@router.post("/ui/schedules/{ref}/pause")
def pause_schedule_form(ctx: Page, ref: str, form: Form) -> Response:
    from deskpulse.reports.schedules import update_schedule

    _admin_write(ctx, form)
    s = update_schedule(ctx.primary.store, ctx.tenant_id, ref, {"enabled": _checked(form, "enabled")})
    return _done("/ui/schedules", f"Schedule {s.name} {'resumed' if s.enabled else 'paused'}.")


@router.post("/ui/schedules/{ref}/delete")
def delete_schedule_form(ctx: Page, ref: str, form: Form) -> Response:
    from deskpulse.reports.schedules import remove_schedule

    _admin_write(ctx, form)
    s = remove_schedule(ctx.primary.store, ctx.tenant_id, ref)
    return _done("/ui/schedules", f"Schedule {s.name} deleted (its run history stays).")


# --- alert rules ------------------------------------------------------------------------------------


def _alert_options() -> dict[str, Any]:
    from deskpulse.analytics.agents import RANGES
    from deskpulse.reports.alerts import METRIC_WORDS, OPS, AlertMetric, Channel

    return {"metrics": [(m.value, METRIC_WORDS[m]) for m in AlertMetric], "ops": list(OPS),
            "channels": [c.value for c in Channel], "windows": [w for w in RANGES if w != "all"],
            "filter_fields": FILTER_FIELDS}


def _rule_form(form: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": str(form.get("name", "")).strip(), "metric": str(form.get("metric", "")),
        "op": str(form.get("op") or ">"), "threshold": _float(form.get("threshold"), "threshold"),
        "channel": str(form.get("channel", "")), "target": _list(form.get("target")), "filters": _filters(form),
        "window": str(form.get("window") or "") or None, "quiet_hours": str(form.get("quiet_hours") or "") or None,
        "timezone": str(form.get("timezone") or "UTC").strip(),
        "repeat_minutes": _int(form.get("repeat_minutes"), "repeat minutes", 0) or 0,
        "enabled": _checked(form, "enabled"),
    }


def _rule_values(r: Any) -> dict[str, Any]:
    return {"name": r.name, "metric": r.metric, "op": r.op, "threshold": f"{r.threshold:g}", "channel": r.channel,
            "target": ", ".join(r.target), "window": r.window or "", "quiet_hours": r.quiet_hours or "",
            "timezone": r.timezone, "repeat_minutes": r.repeat_minutes, "enabled": r.enabled,
            **_filter_values(r.filters)}


@router.get("/ui/alerts")
def alerts_page(ctx: Page) -> Response:
    return _alerts(ctx)


def _alerts(ctx: PageContext, error: str = "", status: int = 200, values: dict[str, Any] | None = None) -> Response:
    from deskpulse.reports.alerts import list_events, list_rules

    store = ctx.primary.store
    defaults = {"timezone": ctx.timezone, "op": ">", "channel": "email", "enabled": True, "repeat_minutes": 0}
    return html(ctx.request, "alerts.html", status_code=status, **_context(
        ctx, "alerts", "Alert rules", items=list_rules(store, ctx.tenant_id),
        events=list_events(store, ctx.tenant_id, None, limit=20), error=error,
        values=values if values is not None else defaults, **_alert_options()))


@router.post("/ui/alerts")
def create_alert_form(ctx: Page, form: Form) -> Response:
    from deskpulse.reports.alerts import RuleSpec, add_rule

    _admin_write(ctx, form)

    def action() -> Response:
        r = add_rule(ctx.primary.store, ctx.tenant_id, RuleSpec(**_rule_form(form)), created_by=ctx.principal.subject)
        return _done("/ui/alerts", f"Alert rule {r.name} created: {r.condition}.")

    return _attempt(lambda msg, status: _alerts(ctx, msg, status, form), action)


@router.get("/ui/alerts/{ref}")
def alert_page(ctx: Page, ref: str) -> Response:
    return _alert(ctx, ref)


def _alert(ctx: PageContext, ref: str, error: str = "", status: int = 200,
           values: dict[str, Any] | None = None) -> Response:
    from deskpulse.reports.alerts import get_rule, list_events

    store = ctx.primary.store
    r = get_rule(store, ctx.tenant_id, ref)
    return html(ctx.request, "alert.html", status_code=status, **_context(
        ctx, "alerts", f"Alert rule {r.name}", r=r, events=list_events(store, ctx.tenant_id, r.rule_id,
                                                                        limit=HISTORY_ROWS),
        error=error, values=values if values is not None else _rule_values(r), **_alert_options()))


@router.post("/ui/alerts/{ref}")
def update_alert_form(ctx: Page, ref: str, form: Form) -> Response:
    from deskpulse.reports.alerts import update_rule

    _admin_write(ctx, form)

    def action() -> Response:
        r = update_rule(ctx.primary.store, ctx.tenant_id, ref, _rule_form(form))
        return _done(f"/ui/alerts/{quote(r.rule_id)}", f"Alert rule {r.name} saved.")

    return _attempt(lambda msg, status: _alert(ctx, ref, msg, status, form), action)


@router.post("/ui/alerts/{ref}/pause")
def pause_alert_form(ctx: Page, ref: str, form: Form) -> Response:
    from deskpulse.reports.alerts import update_rule

    _admin_write(ctx, form)
    r = update_rule(ctx.primary.store, ctx.tenant_id, ref, {"enabled": _checked(form, "enabled")})
    return _done("/ui/alerts", f"Alert rule {r.name} {'resumed' if r.enabled else 'paused'}.")


@router.post("/ui/alerts/{ref}/delete")
def delete_alert_form(ctx: Page, ref: str, form: Form) -> Response:
    from deskpulse.reports.alerts import remove_rule

    _admin_write(ctx, form)
    r = remove_rule(ctx.primary.store, ctx.tenant_id, ref)
    return _done("/ui/alerts", f"Alert rule {r.name} deleted (its events stay).")
