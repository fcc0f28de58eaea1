"""The per-tenant routing lock: one writer of a tenant's routing state at a time, everywhere.

Auto-assignment reads every candidate's workload and rotation key and then writes the
choice; two of them interleaving would choose from the same snapshot (a lost update: two
tickets to one agent, another skipped). :func:`tenant_lock` serialises them, and availability
changes, per tenant:

- within a process, a :class:`threading.Lock` per (store URL, tenant), whatever number of
  Store objects (connections) the process holds;
- across processes on PostgreSQL, a transaction-scoped advisory lock
  (``pg_advisory_xact_lock``) keyed by the tenant, released by the COMMIT or ROLLBACK of the
  transaction it was taken in. A DuckDB file is opened by one process, so the process lock
  is the whole story there.

Everything inside the ``with`` block runs in one transaction of the store.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from deskpulse.store import TenantStore

_guard = threading.Lock()
_locks: dict[tuple[str, str], threading.Lock] = {}


def _process_lock(url: str, tenant_id: str) -> threading.Lock:
    with _guard:
        lock = _locks.get((url, tenant_id))
        if lock is None:
            lock = _locks[(url, tenant_id)] = threading.Lock()
        return lock


def advisory_key(tenant_id: str) -> str:
    """The text PostgreSQL hashes into the advisory lock's 64-bit key."""
    return f"deskpulse:routing:{tenant_id}"


@contextmanager
def tenant_lock(repo: TenantStore) -> Iterator[None]:
    """Hold the tenant's routing lock and one store transaction for the block."""
    store = repo.store
    with _process_lock(store.url, repo.tenant_id), store.transaction():
        if store.dialect == "postgresql":
            store.execute("SELECT pg_advisory_xact_lock(hashtextextended($key, 0))",
                          {"key": advisory_key(repo.tenant_id)})
        yield
