"""The /health hook: ``app.py`` calls :func:`extend_health` and merges what it returns.

Entries (each with ``ok``): ``ingest_locks`` (the lock table answers; held and expired
counts), ``notification_outbox`` (backlog by status; not ok when the oldest pending
notification waits longer than ``DESKPULSE_NOTIFY_BACKLOG_MAX_AGE``), ``notify_circuit`` (the
breaker's state, informational) and ``connector`` (the configured helpdesk API answers).
"""

from __future__ import annotations

from typing import Any

from deskpulse.errors import DeskpulseError


def extend_health(app: Any) -> dict[str, dict[str, Any]]:
    """Sync-service health entries for ``app`` (none when the service is not running)."""
    service = getattr(app.state, "sync", None)
    if service is None:
        return {}
    try:
        result: dict[str, dict[str, Any]] = service.health()
    except DeskpulseError as exc:
        return {"sync": {"ok": False, "error": exc.message}}
    return result
