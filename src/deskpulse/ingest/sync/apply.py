"""Writing one page into the store: set-based change detection, history, soft delete, outbox.

Everything for a page runs in one transaction, as a handful of statements over a staged copy
of the page (never a statement per ticket):

1. stage the page (canonical columns + classification + row hash + notification key);
2. count new / updated / unchanged / deleted against the stored rows. A stored ticket
   changes only when the source's ``updated_at`` is newer (or the source lists a ticket we had
   soft-deleted): unchanged tickets are not touched at all, so their ``loaded_at`` — and the
   incremental SLA build — stay put;
3. write one ``ticket_history`` row per changed field (field, old, new, changed_at = the
   source's updated_at, job_id);
4. queue a notification for every ticket that became high-urgency (new, or changed from
   another urgency) in ``notification_outbox``; the key is tenant + ticket + updated_at, so a
   re-run queues nothing twice (transactional outbox: the notification exists iff the data
   does);
5. update changed tickets and insert new ones;
6. advance the job's progress and audit counters (and the connector's resume position).

A complete full listing then soft-deletes the connector's tickets it did not list
(:func:`sweep_deleted`). Deleted tickets keep their row with ``deleted_at`` set.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from deskpulse.ingest.sync.classify import RuleSet
from deskpulse.model import TICKET_COLUMNS, TICKET_SCHEMA
from deskpulse.store.tenant import _hash_sql

STAGE = "_dp_sync_stage"
SEEN = "_dp_sync_seen"
KEYS = "_dp_sync_keys"
CLASS_COLUMNS = ("urgency", "sentiment", "requires_action", "classified_by")
#: Fields whose changes ticket_history records (updated_at itself is the change's instant).
HISTORY_FIELDS = tuple(c for c in TICKET_COLUMNS if c not in ("ticket_id", "updated_at")) + CLASS_COLUMNS
NOTIFY_KIND = "urgent_ticket"

_CHANGED = "(s.updated_at > t.updated_at OR (t.deleted_at IS NOT NULL AND s.deleted_at IS NULL))"


def _q(c: str) -> str:
    return '"' + c + '"'


_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def bind(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters ``sql`` uses (DuckDB rejects unused ones)."""
    used = set(_PARAM.findall(sql))
    return {k: v for k, v in params.items() if k in used}


@dataclass
class PageResult:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    events_new: int = 0
    notifications: int = 0
    cancel_requested: bool = False


_LOCAL = threading.local()
_HASH_SQL = f"SELECT *, {_hash_sql(TICKET_COLUMNS)} AS row_hash FROM _dp_in"  # noqa: S608


def with_row_hash(tickets: pa.Table) -> pa.Table:
    """``row_hash`` exactly as the import computes it (store.tenant), on a reused connection."""
    con = getattr(_LOCAL, "con", None)
    if con is None:
        con = duckdb.connect()
        con.execute("SET threads = 1")
        _LOCAL.con = con
    con.register("_dp_in", tickets)
    try:
        return con.sql(_HASH_SQL).to_arrow_table()
    finally:
        con.unregister("_dp_in")


def prepare(tickets: pa.Table, rules: RuleSet, tenant_id: str) -> pa.Table:
    """Canonical tickets → the staged shape: + classification, row_hash, notify_key."""
    tickets = tickets.select(list(TICKET_COLUMNS)).cast(TICKET_SCHEMA)
    data = with_row_hash(tickets)
    data = rules.classify(data)
    micros = pc.cast(pc.cast(data.column("updated_at"), pa.int64()), pa.string())
    n = data.num_rows
    key = pc.binary_join_element_wise(
        pa.array([tenant_id] * n, pa.string()), data.column("ticket_id"),
        pa.array([NOTIFY_KIND] * n, pa.string()), micros, ":")
    return data.append_column("notify_key", key)


def _ensure_stage(store: Any) -> None:
    store.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} AS "  # noqa: S608 - fixed names
        "SELECT *, CAST(NULL AS VARCHAR) AS notify_key FROM tickets LIMIT 0"
    )
    store.execute(f"CREATE TEMP TABLE IF NOT EXISTS {SEEN} (ticket_id VARCHAR)")
    store.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {KEYS} "
        "(ticket_id VARCHAR, updated_at TIMESTAMP, deleted_at TIMESTAMP)"
    )


_CHANGED_IDS_SQL = f"""
SELECT s.ticket_id FROM {KEYS} s
LEFT JOIN tickets t ON t.tenant_id = $tenant AND t.ticket_id = s.ticket_id
WHERE t.ticket_id IS NULL OR {_CHANGED}
"""  # noqa: S608 - fixed names


def new_or_changed(store: Any, tenant_id: str, tickets: pa.Table, *, analyze: bool = True
                   ) -> pa.Table:
    """The rows of ``tickets`` that are new or newer than the stored ones (a cheap pre-pass:
    unchanged rows then skip hashing, classification and the full staging). ``analyze``:
    refresh the PostgreSQL statistics of the staging table (once per job is enough: the
    planner scales them to the table's current size)."""
    keys = tickets.select(["ticket_id", "updated_at", "deleted_at"])
    with store.transaction():
        _ensure_stage(store)
        store.execute(f"DELETE FROM {KEYS}")  # noqa: S608 - fixed name
        store.insert_arrow(KEYS, keys)
        if analyze and store.dialect == "postgresql":
            store.execute(f"ANALYZE {KEYS}")
        ids = store.arrow(_CHANGED_IDS_SQL, {"tenant": tenant_id}).column(0)
    if len(ids) == tickets.num_rows:
        return tickets
    value_set = ids.combine_chunks().cast(pa.string()) if len(ids) else pa.array([], pa.string())
    return tickets.filter(pc.is_in(tickets.column("ticket_id"), value_set=value_set))


_COUNT_SQL = f"""
SELECT count(*) FILTER (WHERE t.ticket_id IS NULL AND s.deleted_at IS NULL),
       count(*) FILTER (WHERE t.ticket_id IS NULL AND s.deleted_at IS NOT NULL),
       count(*) FILTER (WHERE t.ticket_id IS NOT NULL AND {_CHANGED}
                        AND s.deleted_at IS NOT NULL AND t.deleted_at IS NULL),
       count(*) FILTER (WHERE t.ticket_id IS NOT NULL AND {_CHANGED}
                        AND NOT (s.deleted_at IS NOT NULL AND t.deleted_at IS NULL)),
       count(*) FILTER (WHERE t.ticket_id IS NOT NULL AND NOT {_CHANGED})
FROM {STAGE} s LEFT JOIN tickets t ON t.tenant_id = $tenant AND t.ticket_id = s.ticket_id
"""  # noqa: S608 - fixed names


def _history_sql() -> str:
    old = " ".join(f"WHEN '{f}' THEN CAST(t.{_q(f)} AS VARCHAR)" for f in HISTORY_FIELDS)
    new = " ".join(f"WHEN '{f}' THEN CAST(s.{_q(f)} AS VARCHAR)" for f in HISTORY_FIELDS)
    names = ", ".join(f"('{f}')" for f in HISTORY_FIELDS)
    return f"""
INSERT INTO ticket_history (tenant_id, ticket_id, field, old, new, changed_at, job_id, recorded_at)
SELECT $tenant, x.ticket_id, x.field, x.old_v, x.new_v, x.changed_at, $job, $now FROM (
  SELECT s.ticket_id, f.name AS field, s.updated_at AS changed_at,
         CASE f.name {old} END AS old_v,
         CASE f.name {new} END AS new_v
  FROM {STAGE} s
  JOIN tickets t ON t.tenant_id = $tenant AND t.ticket_id = s.ticket_id
  CROSS JOIN (VALUES {names}) AS f(name)
  WHERE {_CHANGED}
) x
WHERE x.old_v IS DISTINCT FROM x.new_v
"""  # noqa: S608 - names from our schema


_HISTORY_SQL = _history_sql()

_OUTBOX_SQL = f"""
INSERT INTO notification_outbox (idempotency_key, tenant_id, ticket_id, kind, subject, rule, job_id,
                                 status, attempts, next_attempt_at, created_at)
SELECT s.notify_key, $tenant, s.ticket_id, '{NOTIFY_KIND}', s.subject, s.classified_by, $job,
       'pending', 0, $now_epoch, $now
FROM {STAGE} s LEFT JOIN tickets t ON t.tenant_id = $tenant AND t.ticket_id = s.ticket_id
WHERE s.urgency = 'high' AND s.deleted_at IS NULL
  AND (t.ticket_id IS NULL OR ({_CHANGED} AND t.urgency IS DISTINCT FROM 'high'))
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING idempotency_key
"""  # noqa: S608 - fixed names

_WRITE_COLS = (*TICKET_COLUMNS, *CLASS_COLUMNS, "row_hash")
_UPDATE_SQL = (
    "UPDATE tickets SET "  # noqa: S608
    + ", ".join(f"{_q(c)} = s.{_q(c)}" for c in _WRITE_COLS if c != "ticket_id")
    + ", loaded_at = $now, sync_source = $source "
    + f"FROM {STAGE} s WHERE tickets.tenant_id = $tenant AND tickets.ticket_id = s.ticket_id "
    + "AND (s.updated_at > tickets.updated_at "
    + "OR (tickets.deleted_at IS NOT NULL AND s.deleted_at IS NULL))"
)
_INSERT_SQL = (
    f"INSERT INTO tickets (tenant_id, {', '.join(_q(c) for c in _WRITE_COLS)}, loaded_at, sync_source) "  # noqa: S608
    f"SELECT $tenant, {', '.join('s.' + _q(c) for c in _WRITE_COLS)}, $now, $source FROM {STAGE} s "
    "WHERE NOT EXISTS (SELECT 1 FROM tickets t WHERE t.tenant_id = $tenant AND t.ticket_id = s.ticket_id)"
)


def apply_page(
    store: Any,
    *,
    tenant_id: str,
    job_id: str,
    source: str,
    staged: pa.Table,
    events: pa.Table | None,
    now: datetime,
    now_epoch: float,
    total_pages: int | None,
    state: dict[str, Any] | None,
    api_calls: int,
    rejected: int = 0,
    pages: int = 1,
    unchanged: int = 0,
    analyze_stage: bool = True,
) -> PageResult:
    """Write one prepared batch of pages (see :func:`prepare`) and the job's progress,
    atomically. ``analyze_stage`` as ``analyze`` in :func:`new_or_changed`."""
    p = {"tenant": tenant_id, "job": job_id, "now": now, "source": source}
    r = PageResult(unchanged=unchanged)
    with store.transaction():
        if staged.num_rows:
            _ensure_stage(store)
            store.execute(f"DELETE FROM {STAGE}")  # noqa: S608 - fixed name
            store.insert_arrow(STAGE, staged)
            if analyze_stage and store.dialect == "postgresql":
                store.execute(f"ANALYZE {STAGE}")
            new, new_deleted, deleted, updated, same = store.execute(_COUNT_SQL, bind(_COUNT_SQL, p))[0]
            r.new, r.updated = int(new), int(updated)
            r.unchanged += int(same)
            r.deleted = int(deleted) + int(new_deleted)
            if r.updated or r.deleted:
                store.execute(_HISTORY_SQL, bind(_HISTORY_SQL, p))
            if r.new or r.updated or r.deleted:
                r.notifications = len(store.execute(
                    _OUTBOX_SQL, bind(_OUTBOX_SQL, {**p, "now_epoch": now_epoch})))
            if r.updated or r.deleted:
                store.execute(_UPDATE_SQL, bind(_UPDATE_SQL, p))
            if r.new or new_deleted:
                store.execute(_INSERT_SQL, bind(_INSERT_SQL, p))
        if events is not None and events.num_rows:
            r.events_new = store.tenant(tenant_id).insert_events(events, now).inserted
        rows = store.execute(
            "UPDATE ingest_jobs SET processed_pages = processed_pages + $k, "
            "total_pages = coalesce($tp, total_pages), heartbeat_at = $now "
            "WHERE job_id = $job RETURNING cancel_requested",
            {"k": pages, "tp": total_pages, "now": now, "job": job_id},
        )
        r.cancel_requested = bool(rows and rows[0][0])
        store.execute(
            "UPDATE ingestion_logs SET pages = pages + $k, tickets_new = tickets_new + $n, "
            "tickets_updated = tickets_updated + $u, tickets_unchanged = tickets_unchanged + $s, "
            "tickets_deleted = tickets_deleted + $d, events_new = events_new + $e, "
            "api_calls = $calls WHERE log_id = $job",
            {"k": pages, "n": r.new, "u": r.updated, "s": r.unchanged, "d": r.deleted,
             "e": r.events_new, "calls": api_calls, "job": job_id},
        )
        if state is not None:
            save_state(store, tenant_id, source, state, now)
    return r


def save_state(store: Any, tenant_id: str, connector: str, state: dict[str, Any],
               now: datetime) -> None:
    store.execute(
        "INSERT INTO ingest_cursors (tenant_id, connector, state, updated_at) "
        "VALUES ($t, $c, $s, $now) ON CONFLICT (tenant_id, connector) "
        "DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
        {"t": tenant_id, "c": connector, "s": json.dumps(state), "now": now},
    )


def load_state(store: Any, tenant_id: str, connector: str) -> dict[str, Any] | None:
    rows = store.execute(
        "SELECT state FROM ingest_cursors WHERE tenant_id = $t AND connector = $c",
        {"t": tenant_id, "c": connector},
    )
    if not rows or rows[0][0] is None:
        return None
    value = json.loads(rows[0][0])
    return value if isinstance(value, dict) else None


def sweep_deleted(store: Any, *, tenant_id: str, job_id: str, source: str, seen: pa.Array,
                  now: datetime) -> int:
    """Soft-delete this source's live tickets that a complete listing did not include."""
    p = {"tenant": tenant_id, "job": job_id, "source": source, "now": now,
         "now_text": now.isoformat(sep=" ")}
    # NOT IN over the staged ids: a hashed subplan whatever the statistics of tickets say
    gone = (f"t.tenant_id = $tenant AND t.sync_source = $source AND t.deleted_at IS NULL "  # noqa: S608
            f"AND t.ticket_id NOT IN (SELECT x.ticket_id FROM {SEEN} x)")
    with store.transaction():
        _ensure_stage(store)
        store.execute(f"DELETE FROM {SEEN}")  # noqa: S608 - fixed name
        store.insert_arrow(SEEN, pa.table({"ticket_id": seen}))
        if store.dialect == "postgresql":
            store.execute(f"ANALYZE {SEEN}")
        history = (
            "INSERT INTO ticket_history (tenant_id, ticket_id, field, old, new, changed_at, job_id, "  # noqa: S608
            f"recorded_at) SELECT $tenant, t.ticket_id, 'deleted_at', NULL, $now_text, $now, $job, "
            f"$now FROM tickets t WHERE {gone}"
        )
        store.execute(history, bind(history, p))
        update = (
            "UPDATE tickets SET deleted_at = $now, loaded_at = $now WHERE tenant_id = $tenant "  # noqa: S608
            "AND sync_source = $source AND deleted_at IS NULL "
            f"AND ticket_id NOT IN (SELECT x.ticket_id FROM {SEEN} x) RETURNING ticket_id"
        )
        rows = store.execute(update, bind(update, p))
        n = len(rows)
        store.execute(
            "UPDATE ingestion_logs SET tickets_deleted = tickets_deleted + $d WHERE log_id = $job",
            {"d": n, "job": job_id},
        )
        store.execute(f"DELETE FROM {SEEN}")  # noqa: S608 - fixed name
    return n


def refresh_statistics(store: Any) -> None:
    """PostgreSQL: re-analyse tickets after a big load (stale row counts make the planner
    pick nested loops over the whole table for the page joins)."""
    if store.dialect == "postgresql":
        store.execute("ANALYZE tickets")


def has_tickets(store: Any, tenant_id: str) -> bool:
    """Does the tenant have any ticket yet? (A first load skips the unchanged-rows pre-pass.)"""
    rows = store.execute(
        "SELECT EXISTS (SELECT 1 FROM tickets WHERE tenant_id = $t)", {"t": tenant_id})
    return bool(rows[0][0])
