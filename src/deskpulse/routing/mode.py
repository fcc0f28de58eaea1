"""A tenant's routing settings: the mode (round_robin | skills) and the skills fallback.

Stored in ``routing_settings`` (one row per tenant); a tenant that never set them routes
round robin, without fallback. Admins change them through the API or ``deskpulse agents
routing-mode set``.
"""

from __future__ import annotations

from deskpulse.routing.model import RoutingMode, RoutingSettings, utcnow
from deskpulse.store import TenantStore


def get_routing_settings(repo: TenantStore) -> RoutingSettings:
    rows = repo.rows("SELECT mode, fallback_to_any, updated_at, updated_by FROM routing_settings")
    if not rows:
        return RoutingSettings()
    mode, fallback, updated_at, updated_by = rows[0]
    return RoutingSettings(RoutingMode(mode), bool(fallback), updated_at, updated_by)


def set_routing_settings(
    repo: TenantStore,
    *,
    mode: RoutingMode | None = None,
    fallback_to_any: bool | None = None,
    by: str | None = None,
) -> RoutingSettings:
    """Change the mode and/or the fallback; what is not given keeps its current value."""
    current = get_routing_settings(repo)
    new_mode = RoutingMode(mode) if mode is not None else current.mode
    fallback = current.fallback_to_any if fallback_to_any is None else bool(fallback_to_any)
    repo.store.execute(
        "INSERT INTO routing_settings (tenant_id, mode, fallback_to_any, updated_at, updated_by) "
        "VALUES ($tenant, $mode, $fallback, $now, $by) ON CONFLICT (tenant_id) DO UPDATE SET "
        "mode = excluded.mode, fallback_to_any = excluded.fallback_to_any, "
        "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        {"tenant": repo.tenant_id, "mode": new_mode.value, "fallback": fallback, "now": utcnow(), "by": by},
    )
    return get_routing_settings(repo)
