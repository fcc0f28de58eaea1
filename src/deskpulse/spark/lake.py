"""The lake: canonical inputs and build results as Hive-partitioned Parquet.

Layout under ``PATH`` (a local folder or any URI pyarrow and Spark/Hadoop understand)::

    tickets/tenant_id=T/created_month=YYYY-MM/*.parquet        canonical tickets (CONTRACT §1)
    ticket_events/tenant_id=T/created_month=YYYY-MM/*.parquet  events + seq, by their ticket's month
    results/ticket_metrics/tenant_id=T/created_month=YYYY-MM/  by the ticket's created month
    results/ticket_sla/…, results/ticket_segments/…            likewise
    results/backlog_daily/tenant_id=T/created_month=YYYY-MM/   by the row's date
    results/build_state/tenant_id=T/                           as_of, config hash, counts

Events live in their ticket's month, so a ticket and its events are always read together and
a build can be limited to partitions. :func:`export_lake` and :func:`load_results` need only
pyarrow (no Java); :func:`read_inputs` and :func:`write_results` run on Spark. Results are
written with Spark's dynamic partition overwrite: each ``(tenant, month)`` directory is
staged and renamed into place at commit, so a reader never sees a half-written partition;
tenants the build did not touch stay as they are, and months of a built tenant that the build
no longer produces (all their tickets deleted) are removed after the write.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from deskpulse.errors import BadInputError, StorageError
from deskpulse.model import EVENT_SCHEMA, TICKET_COLUMNS, TICKET_REQUIRED, TICKET_SCHEMA
from deskpulse.store import Store, TenantStore
from deskpulse.store.schema import EXPORTABLE

log = logging.getLogger(__name__)

INPUT_TABLES: Final = ("tickets", "ticket_events")
RESULT_TABLES: Final = ("ticket_metrics", "ticket_sla", "ticket_segments", "backlog_daily")
MONTH: Final = "created_month"
PARTITION_SCHEMA: Final = pa.schema([("tenant_id", pa.string()), (MONTH, pa.string())])
EVENT_LAKE_SCHEMA: Final = EVENT_SCHEMA.append(pa.field("seq", pa.int64(), nullable=False))
EVENT_REQUIRED_LAKE: Final = ("ticket_id", "event_at", "kind", "seq")
BUILD_STATE_SCHEMA: Final = pa.schema(
    [("tenant_id", pa.string()), ("as_of", pa.timestamp("us")), ("built_at", pa.timestamp("us")),
     ("config_hash", pa.string()), ("tickets", pa.int64())]
)


def _join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts])


def filesystem(path: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem and in-filesystem path of a local path or URI."""
    try:
        if "://" in path:
            fs, inner = pafs.FileSystem.from_uri(path)
            return fs, str(inner)
        return pafs.LocalFileSystem(), str(path)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise StorageError(f"cannot open lake {path}: {exc}") from exc


# --- export: store -> lake ---------------------------------------------------------------------


def export_lake(store: Store, path: str, tenants: Sequence[str]) -> dict[str, dict[str, int]]:
    """Write the tenants' canonical tickets and events under ``path`` (replacing their
    partitions); returns rows written per tenant and table."""
    fs, root = filesystem(path)
    written: dict[str, dict[str, int]] = {}
    tcols = ", ".join(f'"{c}"' for c in TICKET_COLUMNS)
    ecols = ", ".join(f'"{c}"' for c in (*EVENT_SCHEMA.names, "seq"))
    for tenant in tenants:
        repo = store.tenant(tenant)
        tickets = repo.query(f"SELECT {tcols} FROM tickets ORDER BY ticket_id")  # noqa: S608 - fixed columns
        events = repo.query(f"SELECT {ecols} FROM ticket_events ORDER BY seq")  # noqa: S608 - fixed columns
        tickets = _cast(tickets, TICKET_SCHEMA)
        events = _cast(events, EVENT_LAKE_SCHEMA)
        months = pc.strftime(tickets.column("created_at"), format="%Y-%m").combine_chunks()
        tickets = tickets.append_column(MONTH, months)
        idx = pc.index_in(events.column("ticket_id"), value_set=tickets.column("ticket_id").combine_chunks())
        events = events.append_column(MONTH, pc.take(months, idx)).filter(pc.is_valid(idx))
        for name, table in (("tickets", tickets), ("ticket_events", events)):
            table = table.append_column("tenant_id", pa.array([tenant] * table.num_rows, pa.string()))
            _write_partitioned(fs, _join(root, name), table)
        written[tenant] = {"tickets": tickets.num_rows, "ticket_events": events.num_rows}
        log.info("export-lake: %s: %d tickets, %d events", tenant, tickets.num_rows, events.num_rows)
    return written


def _cast(table: pa.Table, schema: pa.Schema) -> pa.Table:
    cols = [table.column(f.name).cast(f.type) if f.name in table.column_names
            else pa.nulls(table.num_rows, f.type) for f in schema]
    return pa.table(cols, schema=pa.schema([pa.field(f.name, f.type) for f in schema]))


def _write_partitioned(fs: pafs.FileSystem, base: str, table: pa.Table) -> None:
    try:
        ds.write_dataset(
            table,
            base,
            filesystem=fs,
            format="parquet",
            partitioning=ds.partitioning(PARTITION_SCHEMA, flavor="hive"),
            existing_data_behavior="delete_matching",
            basename_template="part-{i}.parquet",
        )
    except (OSError, pa.ArrowException) as exc:
        raise StorageError(f"cannot write {base}: {exc}") from exc


# --- validation of lake inputs (CONTRACT §1) ----------------------------------------------------


def _compatible(expected: pa.DataType, actual: pa.DataType) -> bool:
    if pa.types.is_timestamp(expected):
        return bool(pa.types.is_timestamp(actual))
    if pa.types.is_string(expected):
        return bool(pa.types.is_string(actual) or pa.types.is_large_string(actual))
    if pa.types.is_integer(expected):
        return bool(pa.types.is_integer(actual))
    return bool(expected.equals(actual))


def validate_inputs(path: str, tenants: Sequence[str] | None = None) -> None:
    """Check the lake's input Parquet against CONTRACT §1 before Spark reads it.

    Raises :class:`BadInputError` naming the file (or folder) and column: a missing lake or
    table folder, a partition folder without rows, a required column missing, a column of
    the wrong type, or a type that differs between files of one table.
    """
    fs, root = filesystem(path)
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        raise BadInputError(f"lake path {path} does not exist", path=path)
    specs = {"tickets": (TICKET_SCHEMA, TICKET_REQUIRED), "ticket_events": (EVENT_LAKE_SCHEMA, EVENT_REQUIRED_LAKE)}
    for name, (schema, required) in specs.items():
        base = _join(root, name)
        if fs.get_file_info(base).type != pafs.FileType.Directory:
            raise BadInputError(f"{_join(path, name)}: missing (run `deskpulse export-lake {path}`)", path=path)
        entries = fs.get_file_info(pafs.FileSelector(base, recursive=True))
        files = [e for e in entries if e.type == pafs.FileType.File and _is_data(e.path, base)]
        dirs = [e.path for e in entries if e.type == pafs.FileType.Directory]
        rows_in: dict[str, int] = {}
        seen: dict[str, tuple[pa.DataType, str]] = {}
        for e in files:
            part = e.path.rsplit("/", 1)[0]
            if tenants is not None and not any(f"tenant_id={t}" in part for t in tenants):
                continue
            try:
                meta = pq.read_metadata(e.path, filesystem=fs)
                file_schema = meta.schema.to_arrow_schema()
            except (OSError, pa.ArrowException) as exc:
                raise BadInputError(f"{e.path}: not a readable Parquet file: {exc}", file=e.path) from exc
            rows_in[part] = rows_in.get(part, 0) + meta.num_rows
            for col in required:
                if col not in file_schema.names:
                    raise BadInputError(f"{e.path}: required column {col!r} is missing ({name}, CONTRACT §1)",
                                        file=e.path, column=col)
            for fld in file_schema:
                if fld.name not in schema.names:
                    continue
                want = schema.field(fld.name).type
                if not _compatible(want, fld.type):
                    raise BadInputError(f"{e.path}: column {fld.name!r} is {fld.type}, expected {want} ({name}, CONTRACT §1)",
                                        file=e.path, column=fld.name)
                prev = seen.setdefault(fld.name, (fld.type, e.path))
                if not prev[0].equals(fld.type):
                    raise BadInputError(f"{e.path}: column {fld.name!r} is {fld.type} but {prev[0]} in {prev[1]}",
                                        file=e.path, column=fld.name)
        for d in dirs:
            leaf = d.rsplit("/", 1)[-1]
            if not leaf.startswith(f"{MONTH}="):
                continue
            if tenants is not None and not any(f"tenant_id={t}" in d for t in tenants):
                continue
            if rows_in.get(d, 0) == 0:
                raise BadInputError(f"{d}: empty partition (no rows in {name})", file=d)


def _is_data(path: str, base: str) -> bool:
    rel = path[len(base):]
    return not any(p.startswith((".", "_")) for p in rel.split("/") if p)


# --- Spark side ---------------------------------------------------------------------------------


def spark_path(path: str) -> str:
    """A path Spark/Hadoop understands (local folders become absolute file: URIs)."""
    if "://" in path:
        return path
    import os

    return "file://" + os.path.abspath(path)


def read_inputs(spark: Any, path: str, tenants: Sequence[str] | None = None) -> tuple[Any, Any]:
    """The lake's tickets and events as Spark DataFrames (validated first)."""
    from pyspark.sql import functions as F

    validate_inputs(path, tenants)
    out = []
    for name in INPUT_TABLES:
        base = spark_path(_join(path, name))
        df = spark.read.option("basePath", base).parquet(base)
        if tenants is not None:
            df = df.where(F.col("tenant_id").isin(list(tenants)))
        out.append(df.drop(MONTH))
    return out[0], out[1]


def lake_tenants(path: str, table: str = "tickets") -> list[str]:
    """Every tenant with a partition of ``table`` in the lake (from the partition folders)."""
    fs, root = filesystem(path)
    base = _join(root, table)
    if fs.get_file_info(base).type != pafs.FileType.Directory:
        raise BadInputError(f"{_join(path, table)}: missing", path=path)
    names = []
    for e in fs.get_file_info(pafs.FileSelector(base)):
        leaf = e.path.rsplit("/", 1)[-1]
        if e.type == pafs.FileType.Directory and leaf.startswith("tenant_id="):
            from urllib.parse import unquote

            names.append(unquote(leaf[len("tenant_id="):]))
    return sorted(names)


def result_tenants(path: str) -> list[str]:
    """Every tenant with build results in the lake."""
    return lake_tenants(path, "results/build_state")


def write_results(build: Any, path: str, *, built_at: datetime) -> dict[str, int]:
    """Write a :class:`~deskpulse.spark.build.SparkBuild`'s tables under ``path/results``."""
    spark = build.packed.sparkSession
    counts: dict[str, int] = {}
    for name in RESULT_TABLES:
        target = spark_path(_join(path, "results", name))
        build.table(name).write.mode("overwrite").option("partitionOverwriteMode", "dynamic").partitionBy(
            "tenant_id", MONTH).parquet(target)
    drop_stale_partitions(build, path)
    state = [
        {"tenant_id": t, "as_of": p.as_of, "built_at": built_at, "config_hash": p.sla.fingerprint,
         "tickets": 0}
        for t, p in sorted(build.plans.items())
    ]
    by_tenant = build.ticket_counts()
    for row in state:
        row["tickets"] = by_tenant.get(str(row["tenant_id"]), 0)
    counts["tickets"] = sum(by_tenant.values())
    if state:
        sdf = spark.createDataFrame(pa.Table.from_pylist(state, schema=BUILD_STATE_SCHEMA))
        sdf = sdf.selectExpr("tenant_id", "CAST(as_of AS TIMESTAMP_NTZ) AS as_of",
                             "CAST(built_at AS TIMESTAMP_NTZ) AS built_at", "config_hash", "tickets")
        sdf.coalesce(1).write.mode("overwrite").option("partitionOverwriteMode", "dynamic").partitionBy("tenant_id").parquet(
            spark_path(_join(path, "results", "build_state")))
    return counts


def drop_stale_partitions(build: Any, path: str) -> list[str]:
    """Delete the built tenants' result months that this build did not write.

    Dynamic partition overwrite replaces only the months a build writes; a month whose
    tickets have all been deleted (or a backlog month before a new first ticket) would keep
    the previous build's rows. Runs after every table is written; returns the deleted folders.
    """
    from urllib.parse import unquote

    from pyspark.sql import functions as F

    rows = build.packed.where(F.col("_table") != "notes").select("_table", "tenant_id", MONTH).distinct().collect()
    written = {("backlog_daily" if r[0] == "backlog_partial" else str(r[0]), str(r[1]), str(r[2])) for r in rows}
    fs, root = filesystem(path)
    deleted: list[str] = []
    for name in RESULT_TABLES:
        base = _join(root, "results", name)
        if fs.get_file_info(base).type != pafs.FileType.Directory:
            continue
        for tdir in fs.get_file_info(pafs.FileSelector(base)):
            tleaf = tdir.path.rsplit("/", 1)[-1]
            tenant = unquote(tleaf[len("tenant_id="):])
            if tdir.type != pafs.FileType.Directory or not tleaf.startswith("tenant_id=") or tenant not in build.plans:
                continue
            for mdir in fs.get_file_info(pafs.FileSelector(tdir.path)):
                mleaf = mdir.path.rsplit("/", 1)[-1]
                if mdir.type == pafs.FileType.Directory and mleaf.startswith(f"{MONTH}=") and \
                        (name, tenant, unquote(mleaf[len(MONTH) + 1:])) not in written:
                    fs.delete_dir(mdir.path)
                    deleted.append(mdir.path)
    if deleted:
        log.info("spark build: deleted %d result months no longer built: %s", len(deleted), deleted[:5])
    return deleted


# --- load: lake results -> store ---------------------------------------------------------------


def read_result(path: str, name: str, tenant: str) -> pa.Table:
    """One tenant's rows of a result table from the lake (without partition columns)."""
    fs, root = filesystem(path)
    base = _join(root, "results", name)
    if fs.get_file_info(base).type != pafs.FileType.Directory:
        raise BadInputError(f"{_join(path, 'results', name)}: missing (run `deskpulse build --engine spark --lake {path}`)")
    parts = ["tenant_id"] if name == "build_state" else ["tenant_id", MONTH]
    dataset = ds.dataset(base, filesystem=fs, format="parquet",
                         partitioning=ds.partitioning(pa.schema([(p, pa.string()) for p in parts]), flavor="hive"))
    table = dataset.to_table(filter=ds.field("tenant_id") == tenant)
    return table.drop_columns([p for p in parts if p in table.column_names])


def load_results(store: Store, path: str, tenants: Iterable[str]) -> dict[str, dict[str, int]]:
    """Replace the tenants' result tables in the store with the lake's; returns row counts."""
    loaded: dict[str, dict[str, int]] = {}
    for tenant in tenants:
        repo: TenantStore = store.tenant(tenant)
        state = read_result(path, "build_state", tenant)
        if state.num_rows == 0:
            raise BadInputError(f"{path}: no build results for tenant {tenant!r}", tenant=tenant)
        tables = {}
        for name in RESULT_TABLES:
            data = read_result(path, name, tenant)
            cols = [c for c in EXPORTABLE.get(name, tuple(data.column_names)) if c in data.column_names]
            extra = [c for c in data.column_names if c not in cols]
            tables[name] = data.select(cols + extra)
        row = state.to_pylist()[0]
        with store.transaction():
            for name, data in tables.items():
                repo.replace_rows(name, data)
            store.execute("DELETE FROM build_state WHERE tenant_id = $t", {"t": tenant})
            store.execute(
                "INSERT INTO build_state (tenant_id, built_at, as_of, config_hash, loaded_through, tickets) "
                "VALUES ($t, $built, $as_of, $hash, NULL, $n)",
                {"t": tenant, "built": row["built_at"], "as_of": row["as_of"], "hash": row["config_hash"],
                 "n": int(row["tickets"])},
            )
        loaded[tenant] = {name: t.num_rows for name, t in tables.items()}
    return loaded
