"""Agents and routing (seed 002, issue 8): availability, skills, routing mode, auto-assignment,
routing analytics.

Seed 002's paths are kept exactly: ``GET /api/v1/tickets/agents/availability``,
``GET|PATCH /api/v1/tickets/agents/availability/me``,
``GET /api/v1/tickets/agents/availability/{user_id}`` and
``POST /api/v1/tickets/{ticket_id}/assign/auto``. The rest lives next to them under
``/api/v1/tickets/agents/…`` (skills, routing, occupancy, fairness, coverage, assignments).
Static paths are declared before parameter paths here, and the app orders routers across
modules so that ``/api/v1/tickets/{ticket_id}…`` never catches ``/tickets/agents/…``.

Roles: a viewer reads; an agent also sets its own availability and auto-assigns tickets; an
admin manages everything (anyone's availability, the skills matrix, the routing mode). The
caller's user id is the token's subject. Everything is scoped to the token's tenant: another
tenant's ticket answers 404 like a missing one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from pydantic import AliasChoices, BaseModel, Field

from deskpulse.routing import analytics as ra
from deskpulse.routing.assign import auto_assign
from deskpulse.routing.availability import (
    availability_history,
    list_availability,
    require_availability,
    set_availability,
    status_counts,
)
from deskpulse.routing.mode import get_routing_settings, set_routing_settings
from deskpulse.routing.model import (
    MAX_LEVEL,
    MAX_NOTE_LENGTH,
    MIN_LEVEL,
    AgentStatus,
    Availability,
    AvailabilityChange,
    RoutingMode,
    Skill,
)
from deskpulse.routing.skills import add_skill, list_skills, remove_skill, update_skill
from deskpulse.serve.auth import AdminPrincipal, AgentPrincipal, CurrentPrincipal, Role
from deskpulse.serve.deps import ReadRepo, Repo
from deskpulse.serve.routes._shared import (
    ERROR_RESPONSES,
    WHEN_PATTERN,
    ErrorBody,
    aware,
    check_range,
    parse_when,
)

router = APIRouter(tags=["agents"], responses=ERROR_RESPONSES)

_403: dict[int | str, dict[str, Any]] = {403: {"model": ErrorBody, "description": "The token's role does not allow this."}}
_409: dict[int | str, dict[str, Any]] = {409: {"model": ErrorBody, "description": "Conflicts with the current state."}}
_503: dict[int | str, dict[str, Any]] = {503: {"model": ErrorBody, "description": "No agent can take the ticket (code no_agent_available), "
                                               "or the store is unavailable."}}
UserId = Annotated[str, Path(min_length=1, max_length=200, pattern=r".*\S.*", description="An agent's user id "
                                                                                          "(the token subject).")]
Category = Annotated[str, Path(min_length=1, max_length=200, pattern=r".*\S.*", description="A ticket category.")]


# --- models ---------------------------------------------------------------------------------------


class AvailabilityOut(BaseModel):
    """An agent's availability; ``effective_status`` is offline once ``until`` has passed."""

    user_id: str
    status: AgentStatus
    effective_status: AgentStatus
    is_expired: bool
    since: datetime
    until: datetime | None = None
    note: str | None = None
    last_activity_at: datetime | None = Field(None, description="The last automatic assignment (rotation key).")
    updated_at: datetime | None = None
    updated_by: str | None = None

    @classmethod
    def of(cls, a: Availability) -> AvailabilityOut:
        return cls(**{k: aware(v) for k, v in a.as_dict().items()})


class AvailabilityList(BaseModel):
    items: list[AvailabilityOut]
    counts: dict[str, int] = Field(description="Agents per effective status.")


class AvailabilityPatch(BaseModel):
    """A new status (seed 002's ``status_message`` is accepted for ``note``)."""

    status: AgentStatus
    until: datetime | None = Field(None, description="When the status ends (afterwards: offline).")
    note: str | None = Field(None, max_length=MAX_NOTE_LENGTH,
                             validation_alias=AliasChoices("note", "status_message"))


class AvailabilityChangeOut(BaseModel):
    change_id: str
    user_id: str
    status: AgentStatus
    previous_status: AgentStatus | None = None
    since: datetime
    until: datetime | None = None
    note: str | None = None
    changed_at: datetime
    changed_by: str | None = None

    @classmethod
    def of(cls, c: AvailabilityChange) -> AvailabilityChangeOut:
        return cls(**{k: aware(v) for k, v in c.as_dict().items()})


class AvailabilityHistory(BaseModel):
    items: list[AvailabilityChangeOut]


class SkillOut(BaseModel):
    user_id: str
    category: str
    level: int = Field(ge=MIN_LEVEL, le=MAX_LEVEL)
    level_name: str
    can_handle_escalations: bool
    created_at: datetime
    updated_at: datetime
    updated_by: str | None = None

    @classmethod
    def of(cls, s: Skill) -> SkillOut:
        return cls(**{k: aware(v) for k, v in s.as_dict().items()})


class SkillList(BaseModel):
    items: list[SkillOut]


class SkillIn(BaseModel):
    user_id: str = Field(min_length=1, max_length=200, pattern=r".*\S.*")
    category: str = Field(min_length=1, max_length=200, pattern=r".*\S.*")
    level: int = Field(ge=MIN_LEVEL, le=MAX_LEVEL, description="1 beginner … 4 expert.")
    can_handle_escalations: bool = False


class SkillPatch(BaseModel):
    level: int | None = Field(None, ge=MIN_LEVEL, le=MAX_LEVEL)
    can_handle_escalations: bool | None = None


class RoutingOut(BaseModel):
    mode: RoutingMode
    fallback_to_any: bool = Field(description="Skills mode: route to any available agent when none is skilled.")
    updated_at: datetime | None = None
    updated_by: str | None = None


class RoutingIn(BaseModel):
    mode: RoutingMode | None = None
    fallback_to_any: bool | None = None


class AssignmentOut(BaseModel):
    """Where the ticket went and why (also recorded in the ticket's history)."""

    decision_id: str
    ticket_id: str
    assignee_id: str
    previous_assignee_id: str | None = None
    decided_at: datetime
    mode: RoutingMode
    rule: str = Field(description="round_robin, skills, fallback or no_category.")
    category: str | None = None
    is_escalation: bool
    workload: int = Field(description="The agent's unsolved tickets before this one.")
    skill_level: int | None = None
    candidates: int
    reason: str
    decided_by: str | None = None


class AssignmentList(BaseModel):
    items: list[AssignmentOut]


def _routing(s: Any) -> RoutingOut:
    return RoutingOut(mode=s.mode, fallback_to_any=s.fallback_to_any, updated_at=aware(s.updated_at),
                      updated_by=s.updated_by)


def _json(value: Any) -> Any:
    """An analytics result for JSON: naive UTC datetimes become aware (``Z``), recursively."""
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return aware(value)


def _window(from_date: str | None, to_date: str | None, days: int | None) -> ra.Window:
    start = parse_when(from_date, "query.from_date")
    end = parse_when(to_date, "query.to_date", end=True)
    check_range(start, end, "query.to_date")
    return ra.window(start, end, days=days)


FromDate = Annotated[str | None, Query(pattern=WHEN_PATTERN, description="Window start (date or instant, UTC).")]
ToDate = Annotated[str | None, Query(pattern=WHEN_PATTERN, description="Window end (a date includes that day).")]
Days = Annotated[int | None, Query(ge=1, le=366, description="Without from_date: the last N days (default 7).")]


# --- availability (seed 002) -------------------------------------------------------------------------


@router.get("/tickets/agents/availability", response_model=AvailabilityList, summary="Every agent's availability")
def availability_list(repo: ReadRepo, status: Annotated[AgentStatus | None, Query()] = None) -> AvailabilityList:
    """All agents of the tenant with their status (``status`` filters on the effective status)."""
    items = list_availability(repo, status=status)
    return AvailabilityList(items=[AvailabilityOut.of(a) for a in items], counts=status_counts(repo))


@router.get("/tickets/agents/availability/me", response_model=AvailabilityOut, summary="My availability")
def availability_me(repo: ReadRepo, caller: CurrentPrincipal) -> AvailabilityOut:
    """The caller's availability (404 until it set one)."""
    return AvailabilityOut.of(require_availability(repo, caller.subject))


@router.patch("/tickets/agents/availability/me", response_model=AvailabilityOut, responses=_403,
              summary="Set my availability")
def availability_set_me(repo: Repo, caller: AgentPrincipal,
                        body: Annotated[AvailabilityPatch, Body()]) -> AvailabilityOut:
    """Set the caller's status (agent or admin); the change is kept in the history."""
    return AvailabilityOut.of(set_availability(repo, caller.subject, body.status, until=body.until,
                                               note=body.note, changed_by=caller.subject))


@router.get("/tickets/agents/availability/me/history", response_model=AvailabilityHistory,
            summary="My availability history")
def availability_history_me(repo: ReadRepo, caller: CurrentPrincipal, from_date: FromDate = None,
                            to_date: ToDate = None,
                            limit: Annotated[int, Query(ge=1, le=10000)] = 1000) -> AvailabilityHistory:
    start, end = parse_when(from_date, "query.from_date"), parse_when(to_date, "query.to_date", end=True)
    check_range(start, end, "query.to_date")
    items = availability_history(repo, user_id=caller.subject, start=start, end=end, limit=limit)
    return AvailabilityHistory(items=[AvailabilityChangeOut.of(c) for c in items])


@router.get("/tickets/agents/availability/{user_id}", response_model=AvailabilityOut,
            summary="One agent's availability")
def availability_one(repo: ReadRepo, user_id: UserId) -> AvailabilityOut:
    return AvailabilityOut.of(require_availability(repo, user_id))


@router.patch("/tickets/agents/availability/{user_id}", response_model=AvailabilityOut, responses=_403,
              summary="Set an agent's availability")
def availability_set(repo: Repo, caller: AgentPrincipal, user_id: UserId,
                     body: Annotated[AvailabilityPatch, Body()]) -> AvailabilityOut:
    """An admin sets anyone's status; an agent only its own."""
    if user_id != caller.subject:
        caller.require(Role.admin)
    return AvailabilityOut.of(set_availability(repo, user_id, body.status, until=body.until, note=body.note,
                                               changed_by=caller.subject))


@router.get("/tickets/agents/availability/{user_id}/history", response_model=AvailabilityHistory,
            summary="One agent's availability history")
def availability_history_one(repo: ReadRepo, user_id: UserId, from_date: FromDate = None, to_date: ToDate = None,
                             limit: Annotated[int, Query(ge=1, le=10000)] = 1000) -> AvailabilityHistory:
    """Every change of the agent's status, newest first."""
    start, end = parse_when(from_date, "query.from_date"), parse_when(to_date, "query.to_date", end=True)
    check_range(start, end, "query.to_date")
    items = availability_history(repo, user_id=user_id, start=start, end=end, limit=limit)
    return AvailabilityHistory(items=[AvailabilityChangeOut.of(c) for c in items])


# --- skills --------------------------------------------------------------------------------------------


@router.get("/tickets/agents/skills", response_model=SkillList, summary="The skills matrix")
def skills_list(repo: ReadRepo,
                user_id: Annotated[str | None, Query(max_length=200)] = None,
                category: Annotated[str | None, Query(max_length=200)] = None) -> SkillList:
    return SkillList(items=[SkillOut.of(s) for s in list_skills(repo, user_id=user_id, category=category)])


@router.post("/tickets/agents/skills", response_model=SkillOut, status_code=201, responses={**_403, **_409},
             summary="Add a skill (admin)")
def skills_add(repo: Repo, caller: AdminPrincipal, body: Annotated[SkillIn, Body()]) -> SkillOut:
    """Give an agent a skill in a category (409 when it has it already: PATCH it)."""
    return SkillOut.of(add_skill(repo, body.user_id, body.category, body.level,
                                 can_handle_escalations=body.can_handle_escalations, by=caller.subject))


@router.get("/tickets/agents/skills/{user_id}", response_model=SkillList, summary="One agent's skills")
def skills_of(repo: ReadRepo, user_id: UserId) -> SkillList:
    return SkillList(items=[SkillOut.of(s) for s in list_skills(repo, user_id=user_id)])


@router.patch("/tickets/agents/skills/{user_id}/{category}", response_model=SkillOut, responses=_403,
              summary="Change a skill (admin)")
def skills_update(repo: Repo, caller: AdminPrincipal, user_id: UserId, category: Category,
                  body: Annotated[SkillPatch, Body()]) -> SkillOut:
    return SkillOut.of(update_skill(repo, user_id, category, level=body.level,
                                    can_handle_escalations=body.can_handle_escalations, by=caller.subject))


@router.delete("/tickets/agents/skills/{user_id}/{category}", response_model=SkillOut, responses=_403,
               summary="Remove a skill (admin)")
def skills_remove(repo: Repo, caller: AdminPrincipal, user_id: UserId, category: Category) -> SkillOut:
    """Removes the skill and answers what was removed."""
    return SkillOut.of(remove_skill(repo, user_id, category))


# --- routing mode ---------------------------------------------------------------------------------------


@router.get("/tickets/agents/routing", response_model=RoutingOut, summary="The tenant's routing mode")
def routing_get(repo: ReadRepo) -> RoutingOut:
    return _routing(get_routing_settings(repo))


@router.put("/tickets/agents/routing", response_model=RoutingOut, responses=_403,
            summary="Set the routing mode (admin)")
def routing_set(repo: Repo, caller: AdminPrincipal, body: Annotated[RoutingIn, Body()]) -> RoutingOut:
    """round_robin (seed 002) or skills; ``fallback_to_any`` lets skills routing use any available agent."""
    return _routing(set_routing_settings(repo, mode=body.mode, fallback_to_any=body.fallback_to_any,
                                         by=caller.subject))


# --- analytics ------------------------------------------------------------------------------------------


@router.get("/tickets/agents/occupancy", summary="Occupancy per agent")
def occupancy_get(repo: ReadRepo, from_date: FromDate = None, to_date: ToDate = None,
                  days: Days = None) -> dict[str, Any]:
    """Minutes per status in the window, logged-in time, occupancy = busy / (available + busy)."""
    return _json(ra.occupancy(repo, _window(from_date, to_date, days)).as_dict())  # type: ignore[no-any-return]


@router.get("/tickets/agents/fairness", summary="Assignment fairness")
def fairness_get(repo: ReadRepo, from_date: FromDate = None, to_date: ToDate = None,
                 days: Days = None) -> dict[str, Any]:
    """Automatic assignments per agent and their Gini coefficient (0 = even)."""
    return _json(ra.fairness(repo, _window(from_date, to_date, days)).as_dict())  # type: ignore[no-any-return]


@router.get("/tickets/agents/coverage", summary="Skill coverage gaps")
def coverage_get(repo: ReadRepo, from_date: FromDate = None, to_date: ToDate = None,
                 days: Days = None) -> dict[str, Any]:
    """Per hour and category: arrivals that found no skilled agent available."""
    return _json(ra.coverage_gaps(repo, _window(from_date, to_date, days)).as_dict())  # type: ignore[no-any-return]


@router.get("/tickets/agents/assignments", response_model=AssignmentList, summary="Recent automatic assignments")
def assignments_list(repo: ReadRepo, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                     user_id: Annotated[str | None, Query(max_length=200)] = None) -> AssignmentList:
    """The routing decisions, newest first."""
    where, params = ("WHERE user_id = $u", {"u": user_id}) if user_id is not None else ("", {})
    cols = ("decision_id, ticket_id, user_id AS assignee_id, previous_user_id AS previous_assignee_id, decided_at, "
            "mode, rule, category, is_escalation, workload, skill_level, candidates, reason, decided_by")
    sql = f"SELECT {cols} FROM routing_decisions {where} ORDER BY decided_at DESC, decision_id LIMIT $limit"  # noqa: S608
    rows = repo.query(sql, limit=limit, **params).to_pylist()
    return AssignmentList(items=[AssignmentOut(**{k: aware(v) for k, v in r.items()}) for r in rows])


# --- auto-assignment (seed 002) --------------------------------------------------------------------------


@router.post("/tickets/{ticket_id}/assign/auto", response_model=AssignmentOut, responses={**_403, **_409, **_503},
             summary="Assign a ticket automatically")
def assign_auto(
    repo: Repo,
    caller: AgentPrincipal,
    ticket_id: Annotated[str, Path(min_length=1, max_length=200)],
    reassign: Annotated[bool, Query(description="Route a ticket that already has an assignee again.")] = False,
    escalation: Annotated[bool | None, Query(description="Override the ticket's escalation marker "
                                                         "(tag `escalated` or an escalation group).")] = None,
) -> AssignmentOut:
    """Seed 002's least-loaded round robin (or skills routing, by the tenant's mode): the available
    agent with the fewest unsolved tickets, then the longest since its last assignment.
    404: no such ticket in the tenant; 409: solved, closed, deleted or already assigned;
    503 ``no_agent_available``: nobody can take it."""
    d = auto_assign(repo, ticket_id, reassign=reassign, escalation=escalation, decided_by=caller.subject)
    data = d.as_dict()
    data["assignee_id"] = data.pop("user_id")
    data["previous_assignee_id"] = data.pop("previous_user_id")
    return AssignmentOut(**{k: aware(v) for k, v in data.items()})
