"""The skills matrix: which agent handles which ticket category, how well, and escalations.

One row per agent and category (categories compare trimmed and case-insensitively and are
stored in lower case), with a level from 1 (beginner) to 4 (expert) and whether the agent
takes escalated tickets of that category. Create, read, update, delete; writes name who made
them. Skills routing reads this table (see :mod:`deskpulse.routing.choose`).
"""

from __future__ import annotations

from typing import Any

from deskpulse.errors import BadInputError, ConflictError, NotFoundError
from deskpulse.routing.model import Skill, check_level, check_user_id, normalise_category, utcnow
from deskpulse.store import TenantStore

_COLUMNS = "user_id, category, level, can_handle_escalations, created_at, updated_at, updated_by"


def _category(category: str | None) -> str:
    value = normalise_category(category)
    if value is None or len(value) > 200:
        raise BadInputError("a skill category must be 1-200 characters", category=category)
    return value


def list_skills(repo: TenantStore, *, user_id: str | None = None, category: str | None = None) -> list[Skill]:
    """Skills of the tenant, by agent then category; optionally of one agent or category."""
    where = ["1 = 1"]
    params: dict[str, Any] = {}
    if user_id is not None:
        where.append("user_id = $u")
        params["u"] = user_id
    if category is not None:
        where.append("category = $c")
        params["c"] = normalise_category(category)
    rows = repo.rows(
        f"SELECT {_COLUMNS} FROM agent_skills WHERE {' AND '.join(where)} ORDER BY user_id, category",  # noqa: S608
        **params,
    )
    return [Skill(r[0], r[1], int(r[2]), bool(r[3]), r[4], r[5], r[6]) for r in rows]


def get_skill(repo: TenantStore, user_id: str, category: str) -> Skill:
    found = list_skills(repo, user_id=user_id, category=_category(category))
    if not found:
        raise NotFoundError(f"agent {user_id!r} has no skill {category!r}", user_id=user_id, category=category)
    return found[0]


def add_skill(
    repo: TenantStore,
    user_id: str,
    category: str,
    level: int,
    *,
    can_handle_escalations: bool = False,
    by: str | None = None,
    replace: bool = False,
) -> Skill:
    """Add a skill (ConflictError when the agent has it already, unless ``replace``)."""
    user_id = check_user_id(user_id)
    cat = _category(category)
    level = check_level(level)
    now = utcnow()
    p = {"tenant": repo.tenant_id, "u": user_id, "c": cat, "level": level,
         "esc": bool(can_handle_escalations), "now": now, "by": by}
    with repo.store.transaction():
        exists = repo.rows("SELECT 1 FROM agent_skills WHERE user_id = $u AND category = $c", u=user_id, c=cat)
        if exists and not replace:
            raise ConflictError(f"agent {user_id!r} already has the skill {cat!r}: update it instead",
                                user_id=user_id, category=cat)
        repo.store.execute(
            "INSERT INTO agent_skills (tenant_id, user_id, category, level, can_handle_escalations, "
            "created_at, updated_at, updated_by) VALUES ($tenant, $u, $c, $level, $esc, $now, $now, $by) "
            "ON CONFLICT (tenant_id, user_id, category) DO UPDATE SET level = excluded.level, "
            "can_handle_escalations = excluded.can_handle_escalations, updated_at = excluded.updated_at, "
            "updated_by = excluded.updated_by",
            p,
        )
    return get_skill(repo, user_id, cat)


def update_skill(
    repo: TenantStore,
    user_id: str,
    category: str,
    *,
    level: int | None = None,
    can_handle_escalations: bool | None = None,
    by: str | None = None,
) -> Skill:
    """Change a skill's level and/or escalation flag (NotFoundError when it does not exist)."""
    current = get_skill(repo, user_id, category)
    new_level = check_level(level) if level is not None else current.level
    esc = current.can_handle_escalations if can_handle_escalations is None else bool(can_handle_escalations)
    repo.store.execute(
        "UPDATE agent_skills SET level = $level, can_handle_escalations = $esc, updated_at = $now, "
        "updated_by = $by WHERE tenant_id = $tenant AND user_id = $u AND category = $c",
        {"level": new_level, "esc": esc, "now": utcnow(), "by": by, "tenant": repo.tenant_id,
         "u": current.user_id, "c": current.category},
    )
    return get_skill(repo, user_id, category)


def remove_skill(repo: TenantStore, user_id: str, category: str) -> Skill:
    """Delete a skill; returns what was removed (NotFoundError when it does not exist)."""
    current = get_skill(repo, user_id, category)
    repo.store.execute(
        "DELETE FROM agent_skills WHERE tenant_id = $tenant AND user_id = $u AND category = $c",
        {"tenant": repo.tenant_id, "u": current.user_id, "c": current.category},
    )
    return current


def known_categories(repo: TenantStore, limit: int = 300) -> list[str]:
    """Categories in the skills matrix or on the tenant's tickets (normalised), for forms."""
    rows = repo.rows(
        "SELECT c FROM (SELECT category AS c FROM agent_skills UNION "
        "SELECT lower(trim(category)) FROM tickets WHERE category IS NOT NULL AND deleted_at IS NULL) x "
        "WHERE c IS NOT NULL AND c <> '' ORDER BY c LIMIT $limit",
        limit=int(limit),
    )
    return [str(r[0]) for r in rows]
