"""Database backends behind one interface: an embedded DuckDB file or a PostgreSQL server.

A :class:`Store` owns one native connection (``duckdb`` or ``psycopg``), runs the Alembic
migrations, and moves data in bulk as Arrow tables. SQL is written once in DuckDB's dialect
with ``$name`` parameters and transpiled to PostgreSQL by :mod:`deskpulse.store.sql`.
Callers never use a Store directly for tenant data: :meth:`Store.tenant` hands out a
:class:`~deskpulse.store.tenant.TenantStore` bound to one tenant.
"""

from __future__ import annotations

import functools
import io
import logging
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.csv as pacsv

from deskpulse.errors import StorageError, UsageError
from deskpulse.store.sql import scoped_sql

if TYPE_CHECKING:
    from deskpulse.store.tenant import TenantStore

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# PostgreSQL type OIDs -> Arrow types, for reading COPY output back as typed Arrow.
_PG_TYPES: dict[int, pa.DataType] = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    25: pa.string(),
    1043: pa.string(),
    700: pa.float32(),
    701: pa.float64(),
    1700: pa.float64(),
    1082: pa.date32(),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
}


def describe_url(url: str) -> tuple[str, str]:
    """Return (dialect, target) for a ``--db`` value: a path means DuckDB."""
    if url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        return "postgresql", url
    if url.startswith("duckdb:///"):
        return "duckdb", url.removeprefix("duckdb:///")
    if "://" in url:
        raise UsageError(
            f"unsupported database URL {url!r}: use a file path (DuckDB) or postgresql+psycopg://…"
        )
    return "duckdb", url


class Store:
    """One database: migrations, transactions and bulk Arrow I/O."""

    def __init__(self, url: str, *, read_only: bool = False) -> None:
        self.url = url
        self.dialect, self._target = describe_url(url)
        self.read_only = read_only
        self._lock = threading.RLock()
        self._in_tx = 0
        self._con: Any = None
        self._connect()

    # --- connection -------------------------------------------------------------------------

    def _connect(self) -> None:
        try:
            if self.dialect == "duckdb":
                import duckdb

                if self._target != ":memory:":
                    Path(self._target).parent.mkdir(parents=True, exist_ok=True)
                self._con = duckdb.connect(self._target, read_only=self.read_only)
                # DuckDB draws a progress bar on stdout for long statements: it would corrupt
                # `--format json` output and the CLI's own progress display. Never on.
                self._con.execute("SET enable_progress_bar = false")
            else:
                import psycopg

                dsn = self._target.replace("postgresql+psycopg://", "postgresql://", 1)
                self._con = psycopg.connect(dsn, autocommit=True)
        except Exception as exc:  # driver errors vary; all mean "cannot open the store"
            raise StorageError(f"cannot open the store {self.safe_url}: {exc}") from exc

    @property
    def safe_url(self) -> str:
        """The URL with any password masked, for messages and logs."""
        if "@" in self.url and "://" in self.url:
            scheme, rest = self.url.split("://", 1)
            creds, host = rest.rsplit("@", 1)
            user = creds.split(":", 1)[0]
            return f"{scheme}://{user}:***@{host}" if ":" in creds else self.url
        return self.url

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- migrations -------------------------------------------------------------------------

    def migrate(self) -> str:
        """Bring the schema to the newest revision; returns it. Safe to call every start."""
        current = self.schema_version()
        if current is not None and current == script_head():
            return current  # at head: no need to import Alembic/SQLAlchemy (~0.5 s per process)
        import sqlalchemy as sa
        from alembic import command
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        _register_duckdb_alembic()
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        head = ScriptDirectory.from_config(cfg).get_current_head()
        current = self.schema_version()
        if current == head:
            return str(head)
        if self.dialect == "duckdb":
            if self._target == ":memory:":
                raise StorageError("an in-memory DuckDB cannot be migrated; use a file path")
            # One process may hold the file once: hand it to Alembic's engine, then take it back.
            self.close()
            engine = sa.create_engine(f"duckdb:///{self._target}")
        else:
            dsn = self._target
            if dsn.startswith("postgresql://") or dsn.startswith("postgres://"):
                dsn = "postgresql+psycopg://" + dsn.split("://", 1)[1]
            engine = sa.create_engine(dsn)
        try:
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                rev = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        except Exception as exc:
            raise StorageError(f"cannot migrate the store {self.safe_url}: {exc}") from exc
        finally:
            engine.dispose()
            if self._con is None:
                self._connect()
        return str(rev)

    def schema_version(self) -> str | None:
        """The applied migration revision, or None for an empty database."""
        try:
            rows = self.execute("SELECT version_num FROM alembic_version")
        except StorageError:  # no version table yet: a new database
            return None
        return str(rows[0][0]) if rows else None

    # --- execution --------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All statements inside run in one transaction (nested calls join the outer one)."""
        with self._lock:
            if self._in_tx:
                self._in_tx += 1
                try:
                    yield
                finally:
                    self._in_tx -= 1
                return
            self._raw("BEGIN")
            self._in_tx = 1
            try:
                yield
            except BaseException:
                self._in_tx = 0
                self._raw("ROLLBACK")
                raise
            self._in_tx = 0
            self._raw("COMMIT")

    @contextmanager
    def serial_appends(self) -> Iterator[None]:
        """DuckDB: appends inside run on one thread, so that consecutive INSERTs into a table
        fill its row groups. Parallel inserts end each statement with partial row groups of
        their own, which later checkpoints merge a few at a time, at the cost of the next
        writer's commit. Nothing changes on PostgreSQL."""
        if self.dialect != "duckdb":
            yield
            return
        with self._lock:
            threads = int(self._con.execute("SELECT current_setting('threads')").fetchall()[0][0])
            self._raw("SET threads = 1")
            try:
                yield
            finally:
                self._raw(f"SET threads = {threads}")

    def _raw(self, sql: str) -> None:
        self._con.execute(sql)

    def execute(
        self, sql: str, params: Mapping[str, Any] | None = None, *, tenant: str | None = None
    ) -> list[tuple[Any, ...]]:
        """Run one statement written in DuckDB SQL; returns its rows (possibly none)."""
        text, bound = scoped_sql(sql, self.dialect, tenant, params)
        with self._lock:
            try:
                if self.dialect == "duckdb":
                    cur = self._con.execute(text, bound)
                    return list(cur.fetchall()) if cur.description else []
                with self._con.cursor() as cur:
                    cur.execute(text, bound)
                    return list(cur.fetchall()) if cur.description else []
            except Exception as exc:
                raise StorageError(f"query failed on {self.dialect}: {exc}", sql=sql) from exc

    def arrow(
        self, sql: str, params: Mapping[str, Any] | None = None, *, tenant: str | None = None
    ) -> pa.Table:
        """Run a query written in DuckDB SQL and return its result as an Arrow table."""
        text, bound = scoped_sql(sql, self.dialect, tenant, params)
        with self._lock:
            try:
                if self.dialect == "duckdb":
                    return self._con.sql(text, params=bound or None).to_arrow_table()
                return self._pg_arrow(text, bound)
            except StorageError:
                raise
            except Exception as exc:
                raise StorageError(f"query failed on {self.dialect}: {exc}", sql=sql) from exc

    def _pg_arrow(self, text: str, bound: Mapping[str, Any]) -> pa.Table:
        with self._con.cursor() as cur:
            cur.execute(f"SELECT * FROM ({text}) AS q LIMIT 0", bound)  # noqa: S608 - our own SQL
            desc = cur.description or []
            names = [d.name for d in desc]
            types = {d.name: _PG_TYPES.get(d.type_code, pa.string()) for d in desc}
            buf = io.BytesIO()
            with cur.copy(f"COPY ({text}) TO STDOUT WITH (FORMAT csv, HEADER)", bound) as copy:
                for chunk in copy:
                    buf.write(chunk)
        if not names:
            return pa.table({})
        data = buf.getvalue()
        if not data.strip():
            return pa.table({n: pa.array([], types[n]) for n in names})
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            convert_options=pacsv.ConvertOptions(
                column_types={n: (pa.string() if pa.types.is_boolean(t) else t) for n, t in types.items()},
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                null_values=[""],
                timestamp_parsers=["%Y-%m-%d %H:%M:%S", pacsv.ISO8601],
            ),
        )
        for i, n in enumerate(names):  # PG writes booleans as t/f
            if pa.types.is_boolean(types[n]):
                col = table.column(n)
                table = table.set_column(
                    i, n, pa.array([None if v is None else v == "t" for v in col.to_pylist()], pa.bool_())
                )
        return table

    def insert_arrow(self, table_name: str, data: pa.Table) -> int:
        """Append an Arrow table into ``table_name`` (columns by name); returns rows written."""
        if data.num_rows == 0:
            return 0
        cols = ", ".join(_q(c) for c in data.column_names)
        with self._lock:
            try:
                if self.dialect == "duckdb":
                    self._con.register("_dp_stage", data)
                    try:
                        self._con.execute(
                            f"INSERT INTO {_q(table_name)} ({cols}) SELECT {cols} FROM _dp_stage"  # noqa: S608
                        )
                    finally:
                        self._con.unregister("_dp_stage")
                else:
                    buf = io.BytesIO()
                    pacsv.write_csv(
                        data, buf, pacsv.WriteOptions(include_header=False, quoting_style="needed")
                    )
                    with self._con.cursor() as cur, cur.copy(
                        f"COPY {_q(table_name)} ({cols}) FROM STDIN WITH (FORMAT csv)"
                    ) as copy:
                        copy.write(buf.getvalue())
            except Exception as exc:
                raise StorageError(f"cannot write {table_name}: {exc}") from exc
        return int(data.num_rows)

    def tenant(self, tenant_id: str) -> TenantStore:
        """A repository that can only see and change ``tenant_id``'s rows."""
        from deskpulse.store.tenant import TenantStore

        return TenantStore(self, tenant_id)

    def tenants(self) -> list[str]:
        """Every tenant that has tickets (admin use: the CLI's tenant listing)."""
        return [r[0] for r in self.execute("SELECT DISTINCT tenant_id FROM tickets ORDER BY 1")]


def _q(identifier: str) -> str:
    """Quote an identifier that comes from our own schema (never from user input)."""
    return '"' + identifier.replace('"', '""') + '"'


_REVISION_RE = re.compile(r"^revision\s*(?::[^=]*)?=\s*[\"']([^\"']+)[\"']", re.MULTILINE)
_DOWN_RE = re.compile(r"^down_revision\s*(?::[^=]*)?=\s*(.+)$", re.MULTILINE)


@functools.cache
def script_head() -> str | None:
    """The head revision of the migration scripts, read from their ``revision`` /
    ``down_revision`` lines (cached per process); None when that is not one clear head
    (then :meth:`Store.migrate` asks Alembic itself).

    Alembic's own ``ScriptDirectory`` imports every migration module and SQLAlchemy: about
    0.5 s of CPU on every CLI command for an answer that only changes with a release.
    """
    revisions: set[str] = set()
    downs: set[str] = set()
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        rev = _REVISION_RE.search(text)
        down = _DOWN_RE.search(text)
        if rev is None:
            continue
        if down is None:
            return None
        revisions.add(rev.group(1))
        downs.update(re.findall(r"[\"']([^\"']+)[\"']", down.group(1)))
    heads = revisions - downs
    return heads.pop() if len(heads) == 1 and downs <= revisions else None


_ALEMBIC_REGISTERED = False


def _register_duckdb_alembic() -> None:
    """Teach Alembic about the duckdb dialect (DuckDB speaks PostgreSQL-style DDL)."""
    global _ALEMBIC_REGISTERED
    if _ALEMBIC_REGISTERED:
        return
    from alembic.ddl.postgresql import PostgresqlImpl

    class DuckDBImpl(PostgresqlImpl):
        __dialect__ = "duckdb"
        transactional_ddl = True

    _ALEMBIC_REGISTERED = True


def open_store(url: str, *, migrate: bool = True, read_only: bool = False) -> Store:
    """Open (and by default migrate) the store at ``url``: a path (DuckDB) or a PostgreSQL URL."""
    store = Store(url, read_only=read_only)
    if migrate and not read_only:
        store.migrate()
    return store
