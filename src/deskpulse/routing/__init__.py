"""Agents and routing (issue 8, seed 002): availability, auto-assignment, skills, analytics.

The library behind ``/api/v1/tickets/agents/…``, ``POST /api/v1/tickets/{id}/assign/auto``,
the dashboard's skills page and status widget, and ``deskpulse agents …``. One job per module:

- :mod:`~deskpulse.routing.model` — statuses, modes, levels, records, errors;
- :mod:`~deskpulse.routing.availability` — current status per agent and its history;
- :mod:`~deskpulse.routing.skills` — the skills matrix (CRUD);
- :mod:`~deskpulse.routing.mode` — a tenant's routing mode and fallback;
- :mod:`~deskpulse.routing.choose` — the pure choice (least-loaded round robin, skills first);
- :mod:`~deskpulse.routing.locks` — the per-tenant routing lock (process + PostgreSQL advisory);
- :mod:`~deskpulse.routing.assign` — atomic auto-assignment with its recorded decision;
- :mod:`~deskpulse.routing.analytics` — occupancy, fairness (Gini), skill coverage gaps.

See docs/agents.md.
"""

from deskpulse.routing.analytics import coverage_gaps, fairness, gini, occupancy, window
from deskpulse.routing.assign import auto_assign
from deskpulse.routing.availability import (
    availability_history,
    get_availability,
    list_availability,
    set_availability,
    status_counts,
)
from deskpulse.routing.choose import Candidate, Choice, choose
from deskpulse.routing.mode import get_routing_settings, set_routing_settings
from deskpulse.routing.model import (
    AgentStatus,
    Availability,
    AvailabilityChange,
    Decision,
    NoAgentAvailableError,
    RoutingMode,
    RoutingSettings,
    Skill,
)
from deskpulse.routing.skills import add_skill, get_skill, list_skills, remove_skill, update_skill

__all__ = [
    "AgentStatus", "Availability", "AvailabilityChange", "Candidate", "Choice", "Decision",
    "NoAgentAvailableError", "RoutingMode", "RoutingSettings", "Skill", "add_skill", "auto_assign",
    "availability_history", "choose", "coverage_gaps", "fairness", "get_availability",
    "get_routing_settings", "get_skill", "gini", "list_availability", "list_skills", "occupancy",
    "remove_skill", "set_availability", "set_routing_settings", "status_counts", "update_skill", "window",
]
