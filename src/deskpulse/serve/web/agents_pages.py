"""Dashboard pages of agents and routing (issue 8): the skills & routing page and the header's
availability widget.

================================  ==================================================================
``/ui/agents/skills``             agents with coloured status badges, the skills matrix (agents ×
                                  categories, level and escalations), the routing mode, recent
                                  automatic assignments; admins get the forms that change them
``POST /ui/agents/skills``        add or replace a skill (admin)
``POST /ui/agents/skills/remove`` remove a skill (admin)
``POST /ui/agents/routing``       set the routing mode and fallback (admin)
``POST /ui/agents/availability``  set my status (agent or admin); an admin may name another agent
================================  ==================================================================

The header widget (``templates/agent_status_widget.html``, included by ``base.html``) shows the
caller's own status and the team's counts per status as coloured badges (available green, busy
red, away yellow, offline grey) with a form to change one's own status. It reads through
:func:`status_widget`, a Jinja global registered here: a page never fails because of it (a
store error hides the widget).

Thin adapters over :mod:`deskpulse.routing`. Every form carries the session's CSRF token and
comes from our own origin (:func:`~deskpulse.serve.web.session.check_csrf`); after a change the
browser is redirected (303) back with a notice; a rejected form shows the reason.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Final
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from deskpulse.errors import DeskpulseError
from deskpulse.routing.availability import (
    get_availability,
    list_availability,
    set_availability,
    status_counts,
)
from deskpulse.routing.mode import get_routing_settings, set_routing_settings
from deskpulse.routing.model import LEVEL_NAMES, AgentStatus, RoutingMode, parse_mode, parse_status
from deskpulse.routing.skills import add_skill, known_categories, list_skills, remove_skill
from deskpulse.serve.auth import Role
from deskpulse.serve.web.render import environment, html
from deskpulse.serve.web.session import (
    CSRF_FIELD,
    Page,
    PageContext,
    PageRoute,
    check_csrf,
    csrf_token,
)

log = logging.getLogger(__name__)
router = APIRouter(route_class=PageRoute, include_in_schema=False)

SKILLS_PATH: Final = "/ui/agents/skills"
NOTICE_MAX: Final = 200
RECENT_DECISIONS: Final = 20
#: Badge colours of seed 002's statuses (CSS classes of the widget and the page).
STATUS_CLASSES: Final = {"available": "av-available", "busy": "av-busy", "away": "av-away", "offline": "av-offline"}


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


Form = Annotated[dict[str, str], Depends(_form)]


def _back(path: str, notice: str = "", error: str = "") -> Response:
    query = {k: v for k, v in (("notice", notice), ("error", error)) if v}
    return RedirectResponse(f"{path}?{urlencode(query)}" if query else path, status_code=303)


def _safe_back(target: str | None) -> str:
    """Where a widget form returns to: a dashboard path of ours, never another site."""
    if not target or not target.startswith("/ui/") or target.startswith("//") or "\\" in target:
        return SKILLS_PATH
    return target.split("?", 1)[0]


def _write(ctx: PageContext, form: dict[str, str], role: Role) -> None:
    check_csrf(ctx.request, {CSRF_FIELD: form.get(CSRF_FIELD, "")})
    ctx.principal.require(role)


# --- the header widget ---------------------------------------------------------------------------------


def status_widget(ctx: Any) -> dict[str, Any] | None:
    """What the header widget shows for a page context; None hides it (no login, or an error)."""
    if ctx is None or not isinstance(ctx, PageContext):
        return None
    try:
        me = get_availability(ctx.repo, ctx.principal.subject)
        return {
            "me": me, "counts": status_counts(ctx.repo), "statuses": [s.value for s in AgentStatus],
            "can_set": ctx.principal.role in (Role.agent, Role.admin), "csrf": csrf_token(ctx.request),
            "classes": STATUS_CLASSES, "back": ctx.request.url.path, "manage": SKILLS_PATH,
        }
    except DeskpulseError as exc:  # the widget never takes a page down
        log.warning("availability widget: %s", exc.message)
        return None


environment().globals["agent_status_widget"] = status_widget


# --- the skills & routing page -------------------------------------------------------------------------


@router.get(SKILLS_PATH)
def skills_page(ctx: Page) -> Response:
    from deskpulse.serve.web.pages import base_context

    repo = ctx.repo
    skills = list_skills(repo)
    agents = list_availability(repo)
    names = sorted({a.user_id for a in agents} | {s.user_id for s in skills})
    categories = sorted({s.category for s in skills})
    matrix = {(s.user_id, s.category): s for s in skills}
    decisions = repo.query(
        "SELECT decided_at, ticket_id, user_id, rule, reason FROM routing_decisions "
        "ORDER BY decided_at DESC LIMIT $n", n=RECENT_DECISIONS,
    ).to_pylist()
    q = ctx.request.query_params
    return html(ctx.request, "agents_skills.html", **base_context(
        ctx, "skills", "Skills & routing",
        agents=agents, by_user={a.user_id: a for a in agents}, names=names, categories=categories,
        matrix=matrix, skills=skills, routing=get_routing_settings(repo), modes=[m.value for m in RoutingMode],
        levels=LEVEL_NAMES, statuses=[s.value for s in AgentStatus], classes=STATUS_CLASSES,
        known_categories=known_categories(repo), decisions=decisions, csrf=csrf_token(ctx.request),
        is_admin=ctx.principal.role is Role.admin, can_set=ctx.principal.role in (Role.agent, Role.admin),
        notice=(q.get("notice") or "")[:NOTICE_MAX], error=(q.get("error") or "")[:NOTICE_MAX],
    ))


@router.post(SKILLS_PATH)
def skills_add_form(ctx: Page, form: Form) -> Response:
    _write(ctx, form, Role.admin)
    try:
        level = int(form.get("level", "").strip() or "0")
    except ValueError:
        return _back(SKILLS_PATH, error=f"level: a whole number 1-4, not {form.get('level')!r}")
    try:
        s = add_skill(ctx.primary, form.get("user_id", ""), form.get("category", ""), level,
                      can_handle_escalations=form.get("escalations", "") in ("1", "on", "true"),
                      by=ctx.principal.subject, replace=True)
    except DeskpulseError as exc:
        if exc.http_status >= 500:
            raise
        return _back(SKILLS_PATH, error=exc.message)
    return _back(SKILLS_PATH, notice=f"{s.user_id}: {s.category} level {s.level} saved")


@router.post(SKILLS_PATH + "/remove")
def skills_remove_form(ctx: Page, form: Form) -> Response:
    _write(ctx, form, Role.admin)
    try:
        s = remove_skill(ctx.primary, form.get("user_id", ""), form.get("category", ""))
    except DeskpulseError as exc:
        if exc.http_status >= 500:
            raise
        return _back(SKILLS_PATH, error=exc.message)
    return _back(SKILLS_PATH, notice=f"{s.user_id}: {s.category} removed")


@router.post("/ui/agents/routing")
def routing_form(ctx: Page, form: Form) -> Response:
    _write(ctx, form, Role.admin)
    try:
        r = set_routing_settings(ctx.primary, mode=parse_mode(form.get("mode", "")),
                                 fallback_to_any=form.get("fallback", "") in ("1", "on", "true"),
                                 by=ctx.principal.subject)
    except DeskpulseError as exc:
        if exc.http_status >= 500:
            raise
        return _back(SKILLS_PATH, error=exc.message)
    return _back(SKILLS_PATH, notice=f"routing mode {r.mode.value}"
                                     f"{' with fallback to any agent' if r.fallback_to_any else ''}")


@router.post("/ui/agents/availability")
def availability_form(ctx: Page, form: Form) -> Response:
    """Set my status (or, for an admin, the named agent's)."""
    _write(ctx, form, Role.agent)
    back = _safe_back(form.get("back"))
    user = (form.get("user_id") or "").strip() or ctx.principal.subject
    if user != ctx.principal.subject:
        ctx.principal.require(Role.admin)
    try:
        a = set_availability(ctx.primary, user, parse_status(form.get("status", "")),
                             note=form.get("note") or None, changed_by=ctx.principal.subject)
    except DeskpulseError as exc:
        if exc.http_status >= 500:
            raise
        return _back(SKILLS_PATH, error=exc.message)  # the page that shows form errors
    # other pages take filters from their query: back there without a notice
    return _back(back, notice=f"{a.user_id} is {a.status.value}") if back == SKILLS_PATH else _back(back)
