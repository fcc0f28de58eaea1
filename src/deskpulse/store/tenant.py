"""A repository bound to one tenant: every read is scoped and every write carries its tenant_id.

Reads go through :meth:`TenantStore.query`, which rewrites tenant tables into tenant-filtered
subqueries (see :mod:`deskpulse.store.sql`); writes are fixed, reviewed statements that bind
the tenant as a parameter. There is no way to reach another tenant's rows from here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from deskpulse.model import EVENT_COLUMNS, TICKET_COLUMNS
from deskpulse.store.schema import TENANT_TABLES

if TYPE_CHECKING:
    from deskpulse.store.backend import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UpsertCounts:
    """What a load did to one table."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def _hash_sql(columns: tuple[str, ...]) -> str:
    """md5 over a row's canonical columns with NULLs kept distinct from empty strings."""
    parts = [f"coalesce(CAST(\"{c}\" AS VARCHAR), chr(0))" for c in columns]
    return "md5(concat_ws(chr(31), " + ", ".join(parts) + "))"


def with_hashes(data: pa.Table, key_name: str, columns: tuple[str, ...]) -> pa.Table:
    """Append a stable md5 of ``columns`` as ``key_name`` (computed in an in-memory DuckDB)."""
    con = duckdb.connect()
    try:
        con.register("_dp_in", data)
        return con.sql(
            f"SELECT *, {_hash_sql(columns)} AS {key_name} FROM _dp_in"  # noqa: S608 - schema names
        ).to_arrow_table()
    finally:
        con.close()


class TenantStore:
    """Reads and writes of one tenant's rows."""

    def __init__(self, store: Store, tenant_id: str) -> None:
        if not tenant_id or len(tenant_id) > 200:
            from deskpulse.errors import UsageError

            raise UsageError("a tenant id must be 1-200 characters")
        self.store = store
        self.tenant_id = tenant_id

    # --- reads -------------------------------------------------------------------------------

    def query(self, sql: str, **params: Any) -> pa.Table:
        """Run a SELECT (DuckDB dialect, ``$name`` parameters) over this tenant's rows only."""
        return self.store.arrow(sql, params, tenant=self.tenant_id)

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """Like :meth:`query` but returns Python tuples (for small results)."""
        return self.store.execute(sql, params, tenant=self.tenant_id)

    def scalar(self, sql: str, **params: Any) -> Any:
        rows = self.rows(sql, **params)
        return rows[0][0] if rows else None

    def ticket_ids(self) -> pa.Array:
        """Every stored ticket id of this tenant."""
        return self.query("SELECT ticket_id FROM tickets").column("ticket_id").combine_chunks()

    def count(self, table: str) -> int:
        if table not in TENANT_TABLES:
            from deskpulse.errors import UsageError

            raise UsageError(f"unknown table {table!r}")
        return int(self.scalar(f"SELECT count(*) FROM {table}"))  # noqa: S608 - checked name

    # --- writes ------------------------------------------------------------------------------

    def _stage(self, name: str, like: str, data: pa.Table) -> None:
        self.store.execute(f"DROP TABLE IF EXISTS {name}")
        self.store.execute(
            f"CREATE TEMP TABLE {name} AS SELECT * FROM {like} LIMIT 0"  # noqa: S608 - fixed names
        )
        self.store.insert_arrow(name, data)

    def upsert_tickets(self, tickets: pa.Table, loaded_at: datetime) -> UpsertCounts:
        """Insert new tickets, update changed ones (by row hash), leave identical ones untouched."""
        if tickets.num_rows == 0:
            return UpsertCounts()
        data = with_hashes(tickets.select(list(TICKET_COLUMNS)), "row_hash", TICKET_COLUMNS)
        n = data.num_rows
        data = data.append_column("tenant_id", pa.array([self.tenant_id] * n, pa.string()))
        data = data.append_column("loaded_at", pa.array([loaded_at] * n, pa.timestamp("us")))
        p = {"tenant": self.tenant_id}
        with self.store.transaction():
            self._stage("_dp_stage_tickets", "tickets", data)
            ins, upd, same = self.store.execute(
                """
                SELECT count(*) FILTER (WHERE t.ticket_id IS NULL),
                       count(*) FILTER (WHERE t.row_hash <> s.row_hash),
                       count(*) FILTER (WHERE t.row_hash = s.row_hash)
                FROM _dp_stage_tickets s
                LEFT JOIN tickets t ON t.tenant_id = $tenant AND t.ticket_id = s.ticket_id
                """,
                p,
            )[0]
            if upd:
                sets = ", ".join(
                    f'"{c}" = s."{c}"'
                    for c in (*TICKET_COLUMNS, "row_hash", "loaded_at")
                    if c != "ticket_id"
                )
                self.store.execute(
                    f"""
                    UPDATE tickets SET {sets}
                    FROM _dp_stage_tickets s
                    WHERE tickets.tenant_id = $tenant AND tickets.ticket_id = s.ticket_id
                      AND tickets.row_hash <> s.row_hash
                    """,  # noqa: S608 - column names from our schema
                    p,
                )
            if ins:
                self.store.execute(
                    """
                    INSERT INTO tickets
                    SELECT s.* FROM _dp_stage_tickets s
                    WHERE NOT EXISTS (SELECT 1 FROM tickets t
                                      WHERE t.tenant_id = $tenant AND t.ticket_id = s.ticket_id)
                    """,
                    p,
                )
            self.store.execute("DROP TABLE _dp_stage_tickets")
        return UpsertCounts(int(ins), int(upd), int(same))

    def insert_events(self, events: pa.Table, loaded_at: datetime) -> UpsertCounts:
        """Append events not already stored (natural key = the whole canonical row).

        ``events`` carries a ``seq`` column (input order); stored seq continues after the
        tenant's highest one so that equal ``event_at`` keep their arrival order.
        """
        if events.num_rows == 0:
            return UpsertCounts()
        if "seq" in events.column_names:
            seq = events.column("seq")
        else:
            seq = pa.array(range(events.num_rows), pa.int64())
        data = with_hashes(events.select(list(EVENT_COLUMNS)), "event_key", EVENT_COLUMNS)
        n = data.num_rows
        p = {"tenant": self.tenant_id}
        with self.store.transaction():
            base = self.store.execute(
                "SELECT coalesce(max(seq), -1) + 1 FROM ticket_events WHERE tenant_id = $tenant", p
            )[0][0]
            data = data.append_column("seq", pc.add(pc.cast(seq, pa.int64()), int(base)))
            data = data.append_column("tenant_id", pa.array([self.tenant_id] * n, pa.string()))
            data = data.append_column("loaded_at", pa.array([loaded_at] * n, pa.timestamp("us")))
            self._stage("_dp_stage_events", "ticket_events", data)
            inserted = self.store.execute(
                """
                SELECT count(*) FROM (
                  SELECT event_key, row_number() OVER (PARTITION BY event_key ORDER BY seq) AS rn
                  FROM _dp_stage_events) s
                WHERE rn = 1 AND NOT EXISTS (SELECT 1 FROM ticket_events e
                                 WHERE e.tenant_id = $tenant AND e.event_key = s.event_key)
                """,
                p,
            )[0][0]
            if inserted:
                cols = ", ".join(f'"{c}"' for c in ("tenant_id", *EVENT_COLUMNS, "seq", "event_key", "loaded_at"))
                self.store.execute(
                    f"""
                    INSERT INTO ticket_events ({cols})
                    SELECT {cols} FROM (
                      SELECT *, row_number() OVER (PARTITION BY event_key ORDER BY seq) AS dp_rn
                      FROM _dp_stage_events) s
                    WHERE dp_rn = 1 AND NOT EXISTS (SELECT 1 FROM ticket_events e
                                 WHERE e.tenant_id = $tenant AND e.event_key = s.event_key)
                    """,  # noqa: S608 - column names from our schema
                    p,
                )
            self.store.execute("DROP TABLE _dp_stage_events")
        return UpsertCounts(inserted=int(inserted), unchanged=n - int(inserted))

    def replace_rows(
        self, table: str, data: pa.Table, *, ticket_ids: pa.Array | None = None
    ) -> int:
        """Replace this tenant's rows of a derived table (all, or only those of ``ticket_ids``)."""
        if table not in TENANT_TABLES or table in ("tickets", "ticket_events"):
            from deskpulse.errors import UsageError

            raise UsageError(f"{table!r} is not a derived table")
        p = {"tenant": self.tenant_id}
        n = data.num_rows
        data = data.append_column("tenant_id", pa.array([self.tenant_id] * n, pa.string()))
        with self.store.transaction():
            if ticket_ids is None:
                self.store.execute(f"DELETE FROM {table} WHERE tenant_id = $tenant", p)  # noqa: S608
            elif len(ticket_ids):
                self.store.execute("DROP TABLE IF EXISTS _dp_stage_ids")
                self.store.execute("CREATE TEMP TABLE _dp_stage_ids (ticket_id VARCHAR)")
                self.store.insert_arrow("_dp_stage_ids", pa.table({"ticket_id": ticket_ids}))
                self.store.execute(
                    f"DELETE FROM {table} WHERE tenant_id = $tenant "  # noqa: S608 - checked name
                    "AND ticket_id IN (SELECT ticket_id FROM _dp_stage_ids)",
                    p,
                )
                self.store.execute("DROP TABLE _dp_stage_ids")
            return self.store.insert_arrow(table, data)

    def add_ticket(self, row: dict[str, Any], loaded_at: datetime) -> UpsertCounts:
        """Insert or update one ticket given as a dict of canonical columns (manual entry)."""
        from deskpulse.model import TICKET_SCHEMA

        full = {c: row.get(c) for c in TICKET_COLUMNS}
        return self.upsert_tickets(pa.Table.from_pylist([full], schema=TICKET_SCHEMA), loaded_at)
