"""Claims and leases in the database: how several workers agree on who does a piece of work.

One helper for the report runner (:mod:`deskpulse.reports.schedules`: a due run is claimed
by a compare-and-set on the schedule's version, a stopped worker's run is taken over once
its lease has passed) and the alert checker (:mod:`deskpulse.reports.alerts`: a rule is
checked only while its lease is held). Both are one conditional ``UPDATE … RETURNING``: the
worker whose statement changed the row won; every other worker either matched no row or —
DuckDB, when two transactions write the same row at once — got a write conflict, which
:func:`compare_and_set` turns into "lost" as well. Nothing here waits or retries.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from deskpulse.store import Store


def is_write_conflict(exc: BaseException) -> bool:
    """A lost write race: DuckDB aborts the later of two transactions writing one row;
    PostgreSQL reports a duplicate key when two inserts race for one primary key."""
    text = f"{type(exc).__name__} {exc}".lower()
    return "conflict" in text or "duplicate key" in text or "transactionexception" in text


def compare_and_set(store: Store, sql: str, params: Mapping[str, Any]) -> bool:
    """Run a conditional ``UPDATE … RETURNING …``; True when this caller's write changed a row,
    False when the condition no longer held or a concurrent writer won the row."""
    try:
        return bool(store.execute(sql, dict(params)))
    except Exception as exc:
        if is_write_conflict(exc):
            return False
        raise


def lease_end(now: datetime, seconds: float) -> datetime:
    """When a lease taken at ``now`` for ``seconds`` runs out (others may then take the work over)."""
    return now + timedelta(seconds=seconds)
