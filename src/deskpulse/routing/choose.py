"""Choosing the agent for one ticket: seed 002's least-loaded round robin, and skills first.

Pure and deterministic (no I/O), so the store-backed assignment and the fairness simulation
share it. Candidates are the tenant's *available* agents, each with its workload (unsolved
tickets assigned to it), the rotation key ``last_activity_at`` (bumped by every assignment)
and, for skills routing, its level in the ticket's category.

- **round_robin** (seed 002): ascending workload, then oldest ``last_activity_at`` (never
  active first), then user id.
- **skills**: the agents with a skill in the ticket's category (and, for an escalation, the
  ``can_handle_escalations`` flag); ascending workload, then *higher level first*, then oldest
  ``last_activity_at``, then user id. When none qualifies: every available agent in round-robin
  order if the tenant allows the fallback, else :class:`NoAgentAvailableError`. A ticket
  without a category needs no skill: round-robin order among the available agents (for an
  escalation, those flagged for escalations in any category).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from deskpulse.routing.model import NoAgentAvailableError, RoutingMode

_NEVER = datetime.min


@dataclass(frozen=True)
class Candidate:
    """An available agent as the chooser sees it."""

    user_id: str
    workload: int
    last_activity_at: datetime | None = None
    skill_level: int | None = None  # level in the ticket's category; None: no such skill
    can_handle_escalations: bool = False


@dataclass(frozen=True)
class Choice:
    """The chosen agent, the rule that chose it, how many agents competed, and why."""

    candidate: Candidate
    rule: str  # round_robin, skills, fallback, no_category
    pool: int
    available: int
    reason: str


def round_robin_key(c: Candidate) -> tuple[int, datetime, str]:
    return (c.workload, c.last_activity_at or _NEVER, c.user_id)


def skills_key(c: Candidate) -> tuple[int, int, datetime, str]:
    return (c.workload, -(c.skill_level or 0), c.last_activity_at or _NEVER, c.user_id)


def _when(c: Candidate) -> str:
    return c.last_activity_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if c.last_activity_at else "never"


def choose(
    candidates: Sequence[Candidate],
    *,
    mode: RoutingMode,
    category: str | None = None,
    is_escalation: bool = False,
    fallback_to_any: bool = False,
) -> Choice:
    """The agent that gets the ticket (NoAgentAvailableError when nobody may take it)."""
    available = len(candidates)
    if not candidates:
        raise NoAgentAvailableError(
            "no agent is available: every agent of the tenant is busy, away or offline "
            "(set one available with PATCH /api/v1/tickets/agents/availability/me)",
            mode=mode.value, category=category, available_agents=0,
        )
    esc = " (escalation)" if is_escalation else ""
    if mode is RoutingMode.round_robin:
        best = min(candidates, key=round_robin_key)
        return Choice(best, "round_robin", available, available,
                      f"round robin: lowest workload ({best.workload} unsolved) of {available} available "
                      f"agent(s), last activity {_when(best)}")
    if category is None:
        pool = [c for c in candidates if c.can_handle_escalations] if is_escalation else list(candidates)
        if not pool and fallback_to_any:
            best = min(candidates, key=round_robin_key)
            return Choice(best, "fallback", available, available,
                          f"skills: the ticket has no category and no available agent takes escalations; "
                          f"fallback to any of {available} available agent(s): lowest workload ({best.workload})")
        if not pool:
            raise NoAgentAvailableError(
                "no available agent takes escalations, and this tenant's routing does not fall back "
                "to any available agent", mode=mode.value, category=None, escalation=True,
                available_agents=available)
        best = min(pool, key=round_robin_key)
        return Choice(best, "no_category", len(pool), available,
                      f"skills: the ticket has no category{esc}; lowest workload ({best.workload} unsolved) "
                      f"of {len(pool)} agent(s), last activity {_when(best)}")
    pool = [c for c in candidates
            if c.skill_level is not None and (c.can_handle_escalations or not is_escalation)]
    if pool:
        best = min(pool, key=skills_key)
        return Choice(best, "skills", len(pool), available,
                      f"skills: {len(pool)} of {available} available agent(s) skilled in '{category}'{esc}; "
                      f"lowest workload ({best.workload} unsolved), then highest level ({best.skill_level}), "
                      f"last activity {_when(best)}")
    if fallback_to_any:
        best = min(candidates, key=round_robin_key)
        return Choice(best, "fallback", available, available,
                      f"skills: no available agent skilled in '{category}'{esc}; fallback to any of "
                      f"{available} available agent(s): lowest workload ({best.workload} unsolved), "
                      f"last activity {_when(best)}")
    raise NoAgentAvailableError(
        f"no available agent has the skill '{category}'{esc}, and this tenant's routing does not "
        "fall back to any available agent (routing-mode set --fallback)",
        mode=mode.value, category=category, escalation=is_escalation, available_agents=available,
    )
