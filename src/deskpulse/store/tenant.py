"""A repository bound to one tenant: every read is scoped and every write carries its tenant_id.

Reads go through :meth:`TenantStore.query`, which rewrites tenant tables into tenant-filtered
subqueries (see :mod:`deskpulse.store.sql`); writes are fixed, reviewed statements that bind
the tenant as a parameter. There is no way to reach another tenant's rows from here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from deskpulse.errors import StorageError
from deskpulse.model import EVENT_COLUMNS, EVENT_KEY, EVENT_SCHEMA, TICKET_COLUMNS
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


def _same_event_sql(a: str, b: str) -> str:
    """SQL: rows ``a`` and ``b`` are the same event (CONTRACT §5: equal natural key, i.e. the
    whole canonical row). Columns that may be NULL compare NULL-safely; DuckDB hashes both
    kinds of condition in one hash join, PostgreSQL uses the plain equalities."""
    parts = []
    for c in EVENT_KEY:
        op = "IS NOT DISTINCT FROM" if EVENT_SCHEMA.field(c).nullable else "="
        parts.append(f'{a}."{c}" {op} {b}."{c}"')
    return " AND ".join(parts)


def _cheap_hash_sql(columns: tuple[str, ...]) -> str:
    """A 64-bit hash of a row (DuckDB's ``hash``): equal rows give equal values; used only to
    find rows that may repeat, never stored."""
    return f"hash({_cols(columns)})"


def _cols(columns: tuple[str, ...] | list[str], prefix: str = "") -> str:
    """A quoted column list (names from our own schema, never from input)."""
    return ", ".join(f'{prefix}"{c}"' for c in columns)


def with_hashes(data: pa.Table, key_name: str, columns: tuple[str, ...]) -> pa.Table:
    """Append a stable md5 of ``columns`` as ``key_name`` (computed in an in-memory DuckDB).

    The PostgreSQL write path uses this for tickets' ``row_hash``; on DuckDB the same
    expression runs inside the write query itself, so both backends store identical hashes.
    """
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.register("_dp_in", data)
        return con.sql(
            f"SELECT *, {_hash_sql(columns)} AS {key_name} FROM _dp_in"  # noqa: S608 - schema names
        ).to_arrow_table()
    finally:
        con.close()


#: DuckDB's memory limit while an import holds the store's connection: above it, temp tables
#: and hash tables spill to the store's temp directory (peak RSS of a 1M-ticket import <= 2 GB).
IMPORT_MEMORY_LIMIT = "1.4GB"

#: Rows per partition of the anti-join against stored events: the input and the tenant's events
#: are split by a hash of ticket_id into parts of about this many rows, so that each part's hash
#: table stays within :data:`IMPORT_MEMORY_LIMIT` instead of spilling (a spilled join of 11.2M
#: events cost 13 CPU-s, two parts 5 CPU-s).
ANTI_JOIN_PARTITION_ROWS = 6_000_000

_RELATION = re.compile(r"_dp_[a-z0-9_]+")


def _check_relation(name: str) -> None:
    """Only the import's own temp views (``_dp_…``) may be named as a write source."""
    if not _RELATION.fullmatch(name):
        raise StorageError(f"not an import relation: {name!r}")


def _repeated(hashes: np.ndarray[Any, np.dtype[np.uint64]]) -> pa.Array:
    """The values occurring more than once in ``hashes``; sorts ``hashes`` in place."""
    if len(hashes) < 2:
        return pa.array([], pa.uint64())
    hashes.sort()
    same = hashes[1:] == hashes[:-1]
    return pa.array(np.unique(hashes[1:][same]), pa.uint64())


def _fetch_uint64(con: duckdb.DuckDBPyConnection, sql: str, n: int) -> np.ndarray[Any, Any]:
    """The single UBIGINT column of ``sql`` (``n`` rows) streamed into one numpy array."""
    out = np.empty(n, np.uint64)
    at = 0
    try:
        reader = con.sql(sql).to_arrow_reader(1 << 20)
        try:
            for batch in reader:
                values = batch.column(0).to_numpy()
                out[at : at + len(values)] = values
                at += len(values)
        finally:
            reader.close()  # the connection runs nothing else while a result is open
    except duckdb.Error as exc:
        raise StorageError(f"query failed on duckdb: {exc}", sql=sql) from exc
    return out[:at]


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
    #
    # On DuckDB the input Arrow table is registered as a view on the store's connection and
    # one INSERT … SELECT computes tickets' row_hash on the fly: no hashing pass of its own,
    # no staging copy. A tenant without rows yet is a plain append. PostgreSQL hashes in an
    # in-memory DuckDB (the same expression, so both stores hold identical hashes) and stages
    # through COPY. Events carry no hash: they are deduplicated on their key columns.

    def _stage(self, name: str, like: str, data: pa.Table) -> None:
        self.store.execute(f"DROP TABLE IF EXISTS {name}")
        self.store.execute(
            f"CREATE TEMP TABLE {name} AS SELECT * FROM {like} LIMIT 0"  # noqa: S608 - fixed names
        )
        self.store.insert_arrow(name, data)

    @contextmanager
    def import_connection(self) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """The store's own DuckDB connection for an import to read and validate on (so that
        the valid rows never leave it), held for the whole import; None on PostgreSQL or inside
        an open transaction (the import then validates on a private connection).

        While held: no progress bar (DuckDB would draw it on stdout), and DuckDB may spill to
        disk above :data:`IMPORT_MEMORY_LIMIT`; both come back as they were.
        """
        if self.store.dialect != "duckdb" or self.store._in_tx:
            yield None
            return
        con = self.store._con
        with self.store._lock:
            try:
                old = con.execute(
                    "SELECT current_setting('enable_progress_bar'), current_setting('memory_limit')"
                ).fetchall()[0]
                con.execute("SET enable_progress_bar = false")
                con.execute("SET memory_limit = ?", [IMPORT_MEMORY_LIMIT])
            except duckdb.Error as exc:
                raise StorageError(f"cannot prepare the store for an import: {exc}") from exc
            try:
                yield con
            finally:
                with suppress(duckdb.Error):
                    # the default comes back exactly with RESET (a SET of its rounded text
                    # would not); any other value is set again
                    con.execute("RESET memory_limit")
                    if con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] != old[1]:
                        con.execute("SET memory_limit = ?", [str(old[1])])
                    con.execute(f"SET enable_progress_bar = {'true' if old[0] else 'false'}")

    @contextmanager
    def _unordered(self) -> Iterator[None]:
        """Let DuckDB append in parallel without keeping the input's order (the rows carry
        their order: seq); the connection's setting comes back afterwards."""
        con = self.store._con
        keep = bool(con.sql("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0])
        con.execute("SET preserve_insertion_order = false")
        try:
            yield
        finally:
            with suppress(duckdb.Error):
                con.execute(f"SET preserve_insertion_order = {'true' if keep else 'false'}")

    @contextmanager
    def _quiet(self) -> Iterator[None]:
        """Hold the store's DuckDB connection with its progress bar off: DuckDB draws it on
        stdout for long statements, which would corrupt `--output json`. Back as it was after."""
        con = self.store._con  # the store package's own connection
        with self.store._lock:
            try:
                bar = bool(con.sql("SELECT current_setting('enable_progress_bar')").fetchall()[0][0])
                con.execute("SET enable_progress_bar = false")
            except duckdb.Error as exc:
                raise StorageError(f"cannot write on duckdb: {exc}") from exc
            try:
                yield
            finally:
                with suppress(duckdb.Error):
                    con.execute(f"SET enable_progress_bar = {'true' if bar else 'false'}")

    @contextmanager
    def _registered(self, name: str, data: pa.Table) -> Iterator[str]:
        """``data`` readable as view ``name`` on the store's DuckDB connection (zero copy)."""
        con = self.store._con  # the store package's own connection
        with self._quiet():
            try:
                con.register(name, data)
            except duckdb.Error as exc:
                raise StorageError(f"cannot stage {name} on duckdb: {exc}") from exc
            try:
                yield name
            except BaseException:
                # After a failed statement the transaction is aborted and DuckDB refuses even
                # unregister; the ROLLBACK that follows drops the view (and its reference).
                with suppress(duckdb.Error):
                    con.unregister(name)
                raise
            con.unregister(name)

    def _has_rows(self, table: str) -> bool:
        return bool(
            self.store.execute(
                f"SELECT EXISTS (SELECT 1 FROM {table} WHERE tenant_id = $tenant)",  # noqa: S608
                {"tenant": self.tenant_id},
            )[0][0]
        )

    def upsert_tickets(self, tickets: pa.Table, loaded_at: datetime) -> UpsertCounts:
        """Insert new tickets, update changed ones (by row hash), leave identical ones untouched."""
        if tickets.num_rows == 0:
            return UpsertCounts()
        data = tickets.select(list(TICKET_COLUMNS))
        if self.store.dialect == "duckdb":
            return self._upsert_tickets_duckdb(data, loaded_at)
        return self._upsert_tickets_staged(data, loaded_at)

    def upsert_tickets_from(self, relation: str, loaded_at: datetime) -> UpsertCounts:
        """:meth:`upsert_tickets` from a temp view of the store's DuckDB connection (the import's
        validated rows, exactly the canonical ticket columns) instead of an Arrow table."""
        _check_relation(relation)
        with self.store.transaction(), self._quiet():
            return self._upsert_tickets_rel(relation, loaded_at)

    def _upsert_tickets_duckdb(self, data: pa.Table, loaded_at: datetime) -> UpsertCounts:
        with self.store.transaction(), self._registered("_dp_in_tickets", data):
            return self._upsert_tickets_rel("_dp_in_tickets", loaded_at)

    def _upsert_tickets_rel(self, source: str, loaded_at: datetime) -> UpsertCounts:
        """Upsert from relation ``source`` of the store's connection (inside a transaction)."""
        p: dict[str, Any] = {"tenant": self.tenant_id, "loaded_at": loaded_at}
        cols = _cols(TICKET_COLUMNS)
        row_hash = _hash_sql(TICKET_COLUMNS)
        if not self._has_rows("tickets"):  # first load of this tenant: a plain append
            with self._unordered():
                n = self.store.execute(
                    f"""
                    INSERT INTO tickets (tenant_id, {cols}, row_hash, loaded_at)
                    SELECT $tenant, {cols}, {row_hash}, $loaded_at FROM {source}
                    """,  # noqa: S608 - column names from our schema, checked relation
                    p,
                )[0][0]
            return UpsertCounts(inserted=int(n))
        # one hashing pass; the comparison with the stored hash is kept for the writes
        self.store.execute("DROP TABLE IF EXISTS _dp_tk_keys")
        self.store.execute(
            f"""
            CREATE TEMP TABLE _dp_tk_keys AS
            SELECT k.ticket_id, k.row_hash, t.row_hash AS old_hash
            FROM (SELECT ticket_id, {row_hash} AS row_hash FROM {source}) k
            LEFT JOIN (SELECT ticket_id, row_hash FROM tickets WHERE tenant_id = $tenant) t
              ON t.ticket_id = k.ticket_id
            """,  # noqa: S608 - column names from our schema, checked relation
            {"tenant": self.tenant_id},
        )
        ins, upd, same = self.store.execute(
            """
            SELECT count(*) FILTER (WHERE old_hash IS NULL),
                   count(*) FILTER (WHERE old_hash <> row_hash),
                   count(*) FILTER (WHERE old_hash = row_hash)
            FROM _dp_tk_keys
            """
        )[0]
        if upd:
            sets = ", ".join(
                f'"{c}" = s."{c}"' for c in (*TICKET_COLUMNS, "row_hash") if c != "ticket_id"
            )
            self.store.execute(
                f"""
                UPDATE tickets SET {sets}, loaded_at = $loaded_at
                FROM (SELECT i.*, k.row_hash FROM {source} i
                      JOIN _dp_tk_keys k ON k.ticket_id = i.ticket_id
                      WHERE k.old_hash <> k.row_hash) s
                WHERE tickets.tenant_id = $tenant AND tickets.ticket_id = s.ticket_id
                """,  # noqa: S608 - column names from our schema, checked relation
                p,
            )
        if ins:
            with self._unordered():
                self.store.execute(
                    f"""
                    INSERT INTO tickets (tenant_id, {cols}, row_hash, loaded_at)
                    SELECT $tenant, {_cols(TICKET_COLUMNS, "i.")}, k.row_hash, $loaded_at
                    FROM {source} i JOIN _dp_tk_keys k ON k.ticket_id = i.ticket_id
                    WHERE k.old_hash IS NULL
                    """,  # noqa: S608 - column names from our schema, checked relation
                    p,
                )
        self.store.execute("DROP TABLE _dp_tk_keys")
        return UpsertCounts(int(ins), int(upd), int(same))

    def _upsert_tickets_staged(self, tickets: pa.Table, loaded_at: datetime) -> UpsertCounts:
        data = with_hashes(tickets, "row_hash", TICKET_COLUMNS)
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
        tenant's highest one so that equal ``event_at`` keep their arrival order. Identical
        rows within ``events`` are stored once (the first). An ``extra`` column (JSON object
        text of the input's unknown columns), when present, is stored too; it is not part of
        the natural key, so an event already stored keeps the ``extra`` it came with.
        """
        if events.num_rows == 0:
            return UpsertCounts()
        if "seq" in events.column_names:
            seq = pc.cast(events.column("seq"), pa.int64())
        else:
            seq = pa.chunked_array([pa.array(range(events.num_rows), pa.int64())])
        extra = ("extra",) if "extra" in events.column_names else ()
        data = events.select([*EVENT_COLUMNS, *extra]).append_column("seq", seq)
        if self.store.dialect == "duckdb":
            return self._insert_events_duckdb(data, extra, loaded_at)
        return self._insert_events_staged(data, extra, loaded_at)

    def insert_events_from(self, relation: str, rows: int, loaded_at: datetime) -> UpsertCounts:
        """:meth:`insert_events` from a temp view of the store's DuckDB connection (the import's
        validated rows: the canonical event columns, ``extra`` and ``seq``; ``rows`` of them)
        instead of an Arrow table."""
        _check_relation(relation)
        if rows == 0:
            return UpsertCounts()
        with self.store.transaction(), self._quiet():
            return self._insert_events_rel(relation, rows, ("extra",), loaded_at)

    def _insert_events_duckdb(
        self, data: pa.Table, extra: tuple[str, ...], loaded_at: datetime
    ) -> UpsertCounts:
        with self.store.transaction(), self._registered("_dp_in_events", data):
            return self._insert_events_rel("_dp_in_events", data.num_rows, extra, loaded_at)

    def _insert_events_rel(
        self, source: str, n: int, extra: tuple[str, ...], loaded_at: datetime
    ) -> UpsertCounts:
        """Insert from relation ``source`` (``n`` rows) of the store's connection, inside a
        transaction: duplicates within the input dropped (the first by seq stays), events
        already stored left alone. Both compare the natural-key columns themselves (no key is
        computed or stored); a tenant without events yet skips the comparison with the store."""
        p: dict[str, Any] = {"tenant": self.tenant_id, "loaded_at": loaded_at}
        cols = _cols((*EVENT_COLUMNS, *extra))
        target = f"tenant_id, {cols}, seq, loaded_at"
        # A cheap 64-bit hash of the canonical row finds the rows that may repeat within the
        # input; only those go through the exact dedup (a window over the key columns, first
        # by seq). Collisions only send more rows down the exact path; the hash is never stored.
        cheap = _cheap_hash_sql(EVENT_KEY)
        base, stored = self.store.execute(
            "SELECT coalesce(max(seq), -1) + 1, count(*) FROM ticket_events "
            "WHERE tenant_id = $tenant",
            {"tenant": self.tenant_id},
        )[0]
        p["base"] = int(base)
        parts = max(1, -(-min(n, int(stored)) // ANTI_JOIN_PARTITION_ROWS))
        repeats = _repeated(
            _fetch_uint64(
                self.store._con,  # the relation lives on this connection; streamed, not copied
                f"SELECT {cheap} AS h FROM {source}",  # noqa: S608 - schema names, checked relation
                n,
            )
        )
        select = f"$tenant, {cols}, seq + $base, $loaded_at"
        rows = f"SELECT * FROM {source}"  # noqa: S608
        new_only = ["WHERE TRUE"]
        if stored:  # events already stored stay as they are: a NULL-safe anti-join on the key,
            # in ``parts`` disjoint parts by ticket (equal events share their ticket_id)
            part = "" if parts == 1 else " AND hash({a}.ticket_id) % {n} = {k}"
            same = _same_event_sql("e", "s")
            new_only = [
                "WHERE TRUE" + part.format(a="s", n=parts, k=k) + " AND NOT EXISTS (SELECT 1 "
                "FROM ticket_events e WHERE e.tenant_id = $tenant"
                + part.format(a="e", n=parts, k=k) + " AND " + same + ")"
                for k in range(parts)
            ]
        with ExitStack() as stack:
            if len(repeats):
                stack.enter_context(self._registered("_dp_ev_dups", pa.table({"h": repeats})))
                rows = f"""
                    {rows}
                    WHERE NOT EXISTS (SELECT 1 FROM _dp_ev_dups d WHERE d.h = {cheap})
                    UNION ALL
                    SELECT * FROM ({rows}
                      WHERE EXISTS (SELECT 1 FROM _dp_ev_dups d WHERE d.h = {cheap}))
                    QUALIFY row_number() OVER (PARTITION BY {_cols(EVENT_KEY)} ORDER BY seq) = 1
                """  # noqa: S608 - column names from our schema
            inserted = 0
            with self._unordered():
                for where in new_only:
                    inserted += self.store.execute(
                        f"INSERT INTO ticket_events ({target}) SELECT {select} FROM ({rows}) s {where}",  # noqa: S608
                        p,
                    )[0][0]
        return UpsertCounts(inserted=int(inserted), unchanged=n - int(inserted))

    def _insert_events_staged(
        self, data: pa.Table, extra: tuple[str, ...], loaded_at: datetime
    ) -> UpsertCounts:
        """PostgreSQL: stage through COPY, keep the first of each natural key (by seq) that
        the tenant has not stored yet."""
        n = data.num_rows
        p = {"tenant": self.tenant_id}
        with self.store.transaction():
            base = self.store.execute(
                "SELECT coalesce(max(seq), -1) + 1 FROM ticket_events WHERE tenant_id = $tenant", p
            )[0][0]
            data = data.set_column(
                data.schema.get_field_index("seq"), "seq", pc.add(data.column("seq"), int(base))
            )
            data = data.append_column("tenant_id", pa.array([self.tenant_id] * n, pa.string()))
            data = data.append_column("loaded_at", pa.array([loaded_at] * n, pa.timestamp("us")))
            self._stage("_dp_stage_events", "ticket_events", data)
            self.store.execute("ANALYZE _dp_stage_events")  # PostgreSQL: plan the anti-join
            cols = _cols(("tenant_id", *EVENT_COLUMNS, *extra, "seq", "loaded_at"))
            # PARTITION BY groups NULLs together: equal rows, NULLs included, rank 1..k
            fresh = f"""
                SELECT * FROM (
                  SELECT *, row_number() OVER (PARTITION BY {_cols(EVENT_KEY)} ORDER BY seq) AS dp_rn
                  FROM _dp_stage_events) s
                WHERE dp_rn = 1 AND NOT EXISTS (SELECT 1 FROM ticket_events e
                                 WHERE e.tenant_id = $tenant AND {_same_event_sql('e', 's')})
            """  # noqa: S608 - column names from our schema
            inserted = self.store.execute(f"SELECT count(*) FROM ({fresh}) f", p)[0][0]  # noqa: S608
            if inserted:
                self.store.execute(
                    f"INSERT INTO ticket_events ({cols}) SELECT {cols} FROM ({fresh}) f",  # noqa: S608
                    p,
                )
            self.store.execute("DROP TABLE _dp_stage_events")
        return UpsertCounts(inserted=int(inserted), unchanged=n - int(inserted))

    def delete_rows(self, table: str, *, ticket_ids: pa.Array | None = None) -> None:
        """Delete this tenant's rows of a derived table (all, or only those of ``ticket_ids``)."""
        if table not in TENANT_TABLES or table in ("tickets", "ticket_events"):
            from deskpulse.errors import UsageError

            raise UsageError(f"{table!r} is not a derived table")
        p = {"tenant": self.tenant_id}
        with self.store.transaction():
            if ticket_ids is None:
                self.store.execute(f"DELETE FROM {table} WHERE tenant_id = $tenant", p)  # noqa: S608
            elif len(ticket_ids):
                self.store.execute("DROP TABLE IF EXISTS _dp_stage_ids")
                self.store.execute("CREATE TEMP TABLE _dp_stage_ids (ticket_id VARCHAR)")
                self.store.insert_arrow("_dp_stage_ids", pa.table({"ticket_id": ticket_ids}))
                self.store.execute(  # a join deletes cheaper than IN (subquery) on DuckDB
                    f"DELETE FROM {table} USING _dp_stage_ids i "  # noqa: S608 - checked name
                    f"WHERE {table}.tenant_id = $tenant AND {table}.ticket_id = i.ticket_id",
                    p,
                )
                self.store.execute("DROP TABLE _dp_stage_ids")

    def replace_rows(
        self, table: str, data: pa.Table, *, ticket_ids: pa.Array | None = None
    ) -> int:
        """Replace this tenant's rows of a derived table (all, or only those of ``ticket_ids``;
        an empty ``ticket_ids`` appends). Returns the rows written."""
        n = data.num_rows
        data = data.append_column("tenant_id", pa.array([self.tenant_id] * n, pa.string()))
        with self.store.transaction():
            self.delete_rows(table, ticket_ids=ticket_ids)
            return self.store.insert_arrow(table, data)

    def add_ticket(self, row: dict[str, Any], loaded_at: datetime) -> UpsertCounts:
        """Insert or update one ticket given as a dict of canonical columns (manual entry)."""
        from deskpulse.model import TICKET_SCHEMA

        full = {c: row.get(c) for c in TICKET_COLUMNS}
        return self.upsert_tickets(pa.Table.from_pylist([full], schema=TICKET_SCHEMA), loaded_at)
