"""The vocabulary of agents and routing: statuses, modes, levels, typed records and errors.

Pure definitions (no I/O). An *agent* is a user id — the subject of their API token, and the
value tickets carry in ``assignee_id`` — that has an availability row or a skill.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Final

from deskpulse.errors import BadInputError, DeskpulseError


class AgentStatus(enum.StrEnum):
    """Seed 002's four statuses (badge colours: green, red, yellow, grey)."""

    available = "available"
    busy = "busy"
    away = "away"
    offline = "offline"


class RoutingMode(enum.StrEnum):
    """How automatic assignment chooses: least-loaded round robin, or by skills first."""

    round_robin = "round_robin"
    skills = "skills"


#: Ticket statuses that count as an agent's workload. Seed 002 counts "open + in_progress +
#: waiting"; in the contract's statuses that is every unsolved status: new (seed 002's fresh
#: "open" ticket), open ("in progress"), pending ("waiting on customer") and hold.
WORKLOAD_STATUSES: Final = ("new", "open", "pending", "hold")
#: A ticket in one of these statuses cannot be auto-assigned (409).
FINISHED_STATUSES: Final = ("solved", "closed")
MIN_LEVEL: Final = 1
MAX_LEVEL: Final = 4
LEVEL_NAMES: Final = {1: "beginner", 2: "intermediate", 3: "advanced", 4: "expert"}
MAX_ID_LENGTH: Final = 200
MAX_NOTE_LENGTH: Final = 500
#: The tag (or group-name fragment) that marks a ticket as an escalation.
ESCALATION_TAG: Final = "escalated"


class NoAgentAvailableError(DeskpulseError):
    """Nobody can take the ticket: no available agent (or none with the needed skill)."""

    code = "no_agent_available"
    exit_code = 3
    http_status = 503


def utcnow() -> datetime:
    """Now as naive UTC with microseconds (rotation order of assignments within a second)."""
    return datetime.now(UTC).replace(tzinfo=None)


def naive_utc(value: datetime | None) -> datetime | None:
    """A datetime as the store keeps it: naive UTC."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def check_user_id(user_id: str) -> str:
    value = (user_id or "").strip()
    if not value or len(value) > MAX_ID_LENGTH:
        raise BadInputError(f"a user id must be 1-{MAX_ID_LENGTH} characters", user_id=user_id)
    return value


def normalise_category(category: str | None) -> str | None:
    """Categories compare trimmed and case-insensitively; empty means none."""
    if category is None:
        return None
    value = category.strip().lower()
    return value or None


def check_level(level: int) -> int:
    if isinstance(level, bool) or not isinstance(level, int) or not MIN_LEVEL <= level <= MAX_LEVEL:
        raise BadInputError(f"a skill level is {MIN_LEVEL}-{MAX_LEVEL} "
                            f"({', '.join(f'{k} {v}' for k, v in LEVEL_NAMES.items())}), got {level!r}",
                            level=level)
    return level


def parse_status(value: str) -> AgentStatus:
    try:
        return AgentStatus(str(value).strip().lower())
    except ValueError:
        raise BadInputError(f"unknown status {value!r}: use one of "
                            f"{', '.join(s.value for s in AgentStatus)}", status=value) from None


def parse_mode(value: str) -> RoutingMode:
    try:
        return RoutingMode(str(value).strip().lower())
    except ValueError:
        raise BadInputError(f"unknown routing mode {value!r}: use round_robin or skills", mode=value) from None


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.value if isinstance(v, enum.Enum) else v) for k, v in d.items()}


@dataclass(frozen=True)
class Availability:
    """An agent's current availability. ``effective_status`` is ``offline`` once ``until`` passed."""

    user_id: str
    status: AgentStatus
    since: datetime
    until: datetime | None
    note: str | None
    last_activity_at: datetime | None
    updated_at: datetime | None
    updated_by: str | None
    effective_status: AgentStatus

    @property
    def is_expired(self) -> bool:
        return self.effective_status != self.status

    def as_dict(self) -> dict[str, Any]:
        return {**_plain(asdict(self)), "is_expired": self.is_expired}


@dataclass(frozen=True)
class AvailabilityChange:
    """One row of the availability history."""

    change_id: str
    user_id: str
    status: AgentStatus
    previous_status: AgentStatus | None
    since: datetime
    until: datetime | None
    note: str | None
    changed_at: datetime
    changed_by: str | None

    def as_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))


@dataclass(frozen=True)
class Skill:
    """One cell of the skills matrix."""

    user_id: str
    category: str
    level: int
    can_handle_escalations: bool
    created_at: datetime
    updated_at: datetime
    updated_by: str | None

    @property
    def level_name(self) -> str:
        return LEVEL_NAMES.get(self.level, str(self.level))

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "level_name": self.level_name}


@dataclass(frozen=True)
class RoutingSettings:
    """A tenant's routing configuration (defaults when never set: round robin, no fallback)."""

    mode: RoutingMode = RoutingMode.round_robin
    fallback_to_any: bool = False
    updated_at: datetime | None = None
    updated_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))


@dataclass(frozen=True)
class Decision:
    """One automatic assignment and why it went where it went."""

    decision_id: str
    ticket_id: str
    user_id: str
    previous_user_id: str | None
    decided_at: datetime
    mode: RoutingMode
    rule: str
    category: str | None
    is_escalation: bool
    workload: int
    skill_level: int | None
    candidates: int
    reason: str
    decided_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))
