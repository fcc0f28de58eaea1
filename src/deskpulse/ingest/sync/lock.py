"""The per-tenant ingest lock, atomic in the database (seed 004 Task 8, Debug Task D).

One row per tenant in ``ingest_locks``. Taking it is a single statement —
``INSERT … ON CONFLICT (tenant_id) DO UPDATE … WHERE ingest_locks.expires_at < now RETURNING``
— so there is no check-then-act window: of any number of concurrent callers, in any number of
processes, exactly one gets a row back. A lock whose holder stopped heartbeating is taken over
once ``expires_at`` has passed (default 60 s after the last heartbeat). Heartbeat and release
are conditional on the job id, so a job that lost its lock can neither refresh nor free the
new holder's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Holder:
    """Who holds a tenant's lock."""

    tenant_id: str
    job_id: str
    owner: str | None
    acquired_at: datetime
    heartbeat_at: datetime
    expires_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "owner": self.owner,
            "acquired_at": self.acquired_at,
            "heartbeat_at": self.heartbeat_at,
            "expires_at": self.expires_at,
        }


def try_acquire(
    store: Any, tenant_id: str, job_id: str, owner: str, now: datetime, ttl: float
) -> bool:
    """Take the tenant's lock for ``job_id`` unless a live holder has it (one statement)."""
    rows = store.execute(
        """
        INSERT INTO ingest_locks (tenant_id, job_id, owner, acquired_at, heartbeat_at, expires_at)
        VALUES ($t, $j, $o, $now, $now, $exp)
        ON CONFLICT (tenant_id) DO UPDATE SET job_id = excluded.job_id, owner = excluded.owner,
            acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at,
            expires_at = excluded.expires_at
        WHERE ingest_locks.expires_at < $now
        RETURNING job_id
        """,
        {"t": tenant_id, "j": job_id, "o": owner, "now": now, "exp": now + timedelta(seconds=ttl)},
    )
    return bool(rows) and rows[0][0] == job_id


def heartbeat(store: Any, tenant_id: str, job_id: str, now: datetime, ttl: float) -> bool:
    """Push the expiry forward; False when the lock is no longer this job's."""
    rows = store.execute(
        "UPDATE ingest_locks SET heartbeat_at = $now, expires_at = $exp "
        "WHERE tenant_id = $t AND job_id = $j RETURNING job_id",
        {"t": tenant_id, "j": job_id, "now": now, "exp": now + timedelta(seconds=ttl)},
    )
    return bool(rows)


def release(store: Any, tenant_id: str, job_id: str) -> None:
    store.execute(
        "DELETE FROM ingest_locks WHERE tenant_id = $t AND job_id = $j",
        {"t": tenant_id, "j": job_id},
    )


def holder(store: Any, tenant_id: str) -> Holder | None:
    rows = store.execute(
        "SELECT job_id, owner, acquired_at, heartbeat_at, expires_at FROM ingest_locks "
        "WHERE tenant_id = $t",
        {"t": tenant_id},
    )
    if not rows:
        return None
    j, o, a, h, e = rows[0]
    return Holder(tenant_id, j, o, a, h, e)
