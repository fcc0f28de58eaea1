"""The SLA build on Apache Spark: the shared engine per group of whole tickets.

Tickets and events are hash-partitioned by ``(tenant_id, xxhash64(ticket_id) mod B)``: a
ticket and its events share a bucket without a join, and one huge tenant spreads over B
groups (skew). Each group runs :func:`deskpulse.spark.groups.compute_group` — the embedded
build's engine and backlog SQL, unchanged — inside ``cogroup(...).applyInArrow`` (whole
Arrow tables per group; no row-at-a-time Python). The group's tables travel back packed —
one row per (table, month) holding an Arrow IPC stream — are persisted once, and decoded
(``mapInArrow``) into ``ticket_metrics``, ``ticket_sla``, ``ticket_segments`` and ``backlog_daily``
(the groups' backlog shares summed per tenant, day, dimension and value; exact, because every
backlog measure is a count or a sum of whole seconds over tickets).

:func:`build_store` reads one or more tenants from the store and writes the results back
(the same tables the DuckDB build writes); :func:`build_lake` reads canonical Parquet and
writes results as Parquet (see :mod:`deskpulse.spark.lake`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from deskpulse.errors import BadInputError
from deskpulse.sla.policies import SlaConfig
from deskpulse.spark.groups import (
    EVENT_BUILD_SCHEMA,
    MONTH_COLUMN,
    PACKED_SCHEMA,
    TICKET_BUILD_SCHEMA,
    TenantPlan,
    group_task,
    probe_schemas,
    table_schema,
    unpack_batches,
)
from deskpulse.spark.layout import Layout, memory_mb, plan_layout
from deskpulse.spark.layout import tickets_per_group as group_size_for

log = logging.getLogger(__name__)

#: Result tables written by a build, in write order.
RESULT_TABLES: Final = ("ticket_metrics", "ticket_sla", "ticket_segments", "backlog_daily")
BACKLOG_COUNTS: Final = (
    "open_count", "arrivals", "completions", "wip", "lt_1d", "d1_3", "d3_7", "d7_30", "gt_30d",
    "at_risk_count",
)


def spark_type(t: pa.DataType) -> Any:
    """The Spark SQL type of an Arrow type (naive timestamps are TIMESTAMP_NTZ)."""
    from pyspark.sql import types as T

    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return T.StringType()
    if pa.types.is_timestamp(t):
        return T.TimestampNTZType() if t.tz is None else T.TimestampType()
    if pa.types.is_date(t):
        return T.DateType()
    if pa.types.is_boolean(t):
        return T.BooleanType()
    if pa.types.is_float64(t):
        return T.DoubleType()
    if pa.types.is_float32(t):
        return T.FloatType()
    if pa.types.is_int64(t):
        return T.LongType()
    if pa.types.is_int32(t):
        return T.IntegerType()
    if pa.types.is_int16(t):
        return T.ShortType()
    if pa.types.is_int8(t):
        return T.ByteType()
    if pa.types.is_decimal(t):
        return T.DecimalType(t.precision, t.scale)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return T.BinaryType()
    raise BadInputError(f"no Spark type for Arrow type {t}")


def spark_schema(schema: pa.Schema) -> Any:
    from pyspark.sql import types as T

    return T.StructType([T.StructField(f.name, spark_type(f.type), True) for f in schema])


def conform_inputs(tickets: Any, events: Any) -> tuple[Any, Any]:
    """Tickets (not deleted) and events with the build's columns and types, plus tenant_id.

    Timestamps become TIMESTAMP_NTZ (naive UTC, CONTRACT D2: with the session in UTC a
    TIMESTAMP converts to the same wall-clock UTC value)."""
    from pyspark.sql import functions as F

    def select(df: Any, schema: pa.Schema) -> Any:
        cols = [F.col("tenant_id").cast("string").alias("tenant_id")]
        for f in schema:
            st = spark_type(f.type).simpleString()
            if f.name in df.columns:
                cols.append(F.col(f"`{f.name}`").cast(st).alias(f.name))
            else:
                cols.append(F.lit(None).cast(st).alias(f.name))
        return df.select(*cols)

    tk = select(tickets, TICKET_BUILD_SCHEMA).where(F.col("deleted_at").isNull())
    ev = select(events, EVENT_BUILD_SCHEMA)
    return tk, ev


def plan_tenants(
    tickets: Any, sla: SlaConfig | Mapping[str, SlaConfig], as_of: datetime | Mapping[str, datetime]
) -> tuple[dict[str, TenantPlan], dict[str, int]]:
    """Per tenant: SLA config, as_of and backlog's first day; and its number of tickets."""
    from pyspark.sql import functions as F

    rows = tickets.groupBy("tenant_id").agg(
        F.min("created_at").alias("first_at"), F.count(F.lit(1)).alias("n")
    ).collect()
    plans: dict[str, TenantPlan] = {}
    sizes: dict[str, int] = {}
    for r in rows:
        tenant = str(r["tenant_id"])
        cfg = sla[tenant] if isinstance(sla, Mapping) else sla
        at = as_of[tenant] if isinstance(as_of, Mapping) else as_of
        first = r["first_at"]
        plans[tenant] = TenantPlan(cfg, at, first.date() if first is not None else None)
        sizes[tenant] = int(r["n"])
    return plans, sizes


@dataclass
class SparkBuild:
    """The distributed build's results as Spark DataFrames (``tenant_id`` and
    ``created_month`` columns first/last), computed once and cached."""

    packed: Any
    schemas: dict[str, pa.Schema]
    plans: dict[str, TenantPlan]
    buckets: int
    seconds: float = 0.0
    notes: dict[str, int] = field(default_factory=dict)
    layout: Layout | None = None

    def table(self, name: str) -> Any:
        """``ticket_metrics``, ``ticket_sla``, ``ticket_segments`` or ``backlog_daily``."""
        if name == "backlog_daily":
            return self._backlog()
        return self._decoded(name)

    def _decoded(self, name: str) -> Any:
        """Table ``name`` decoded from the packed rows (``mapInArrow``, Arrow IPC → rows)."""
        from pyspark.sql import functions as F

        schema = table_schema(self.schemas, name)

        def decode(batches: Any) -> Any:
            yield from unpack_batches(batches, schema)

        rows = self.packed.where(F.col("_table") == name).select("tenant_id", MONTH_COLUMN, "data")
        return rows.mapInArrow(decode, spark_schema(schema))

    def ticket_counts(self) -> dict[str, int]:
        """Tickets built per tenant (from the packed rows' counts; nothing is decoded)."""
        from pyspark.sql import functions as F

        rows = (self.packed.where(F.col("_table") == "ticket_metrics").groupBy("tenant_id")
                .agg(F.sum("rows").alias("n")).collect())
        return {str(r[0]): int(r[1]) for r in rows}

    def _backlog(self) -> Any:
        from pyspark.sql import functions as F

        keys = ["tenant_id", "date", "dimension", "value", MONTH_COLUMN]
        schema = self.schemas["backlog_partial"]
        agg = self._decoded("backlog_partial").groupBy(*keys).agg(
            *[F.sum(c).alias(c) for c in BACKLOG_COUNTS], F.sum("sla_debt_seconds").alias("sla_debt_seconds")
        )
        out = []
        for f in schema:
            if f.name == MONTH_COLUMN:
                continue
            if f.name == "sla_debt_seconds":
                out.append((F.col("sla_debt_seconds").cast("double") / F.lit(60.0)).alias("sla_debt_minutes"))
            elif f.name in BACKLOG_COUNTS:
                out.append(F.col(f.name).cast(spark_type(f.type).simpleString()).alias(f.name))
            else:
                out.append(F.col(f.name))
        return agg.select("tenant_id", *out, MONTH_COLUMN)

    def collect(self, name: str) -> pa.Table:
        """One result table as Arrow on the driver (for the store; small to medium data)."""
        table = self.table(name).toArrow()
        if name == "backlog_daily":
            table = table.set_column(
                table.schema.get_field_index("sla_debt_minutes"), "sla_debt_minutes",
                pc.cast(table.column("sla_debt_minutes"), pa.float64()),
            )
        return table

    def unpersist(self) -> None:
        self.packed.unpersist()


def run_build(
    tickets: Any,
    events: Any,
    sla: SlaConfig | Mapping[str, SlaConfig],
    as_of: datetime | Mapping[str, datetime],
    *,
    tenants: Sequence[str] | None = None,
    buckets: int | None = None,
    tickets_per_group: int | None = None,
) -> SparkBuild:
    """Build every tenant of ``tickets`` (or only ``tenants``) on Spark.

    ``tickets``/``events``: Spark DataFrames with ``tenant_id`` and the canonical columns
    (events with ``seq``). ``sla``/``as_of`` may differ per tenant (mappings by tenant id).
    ``tickets_per_group``: the group size (default: from the memory of one task,
    :func:`deskpulse.spark.layout.tickets_per_group`); ``buckets``: force the number of
    groups of the largest tenant. Groups and partitions: :func:`deskpulse.spark.layout.plan_layout`.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    started = time.perf_counter()
    tk, ev = conform_inputs(tickets, events)
    if tenants is not None:
        wanted = list(tenants)
        tk = tk.where(F.col("tenant_id").isin(wanted))
        ev = ev.where(F.col("tenant_id").isin(wanted))
    plans, sizes = plan_tenants(tk, sla, as_of)
    spark = tk.sparkSession
    cores, task_heap_mb = task_resources(spark)
    layout = plan_layout(
        sizes, cores=cores, tickets_per_group=tickets_per_group or group_size_for(task_heap_mb),
        largest_buckets=buckets,
    )
    first_sla = next(iter(plans.values())).sla if plans else (
        sla if isinstance(sla, SlaConfig) else next(iter(sla.values())))
    schemas = probe_schemas(first_sla)
    tenant_buckets = [x for t, b in sorted(layout.buckets.items()) for x in (F.lit(t), F.lit(b))]
    n_buckets = F.element_at(F.create_map(*tenant_buckets), F.col("tenant_id")) if tenant_buckets else F.lit(1)
    bucket = F.pmod(F.xxhash64("ticket_id"), F.coalesce(n_buckets, F.lit(1)).cast("long"))
    group_keys = [x for (t, b), k in sorted(layout.group_keys.items())
                  for x in (F.lit(f"{t}|{b}"), F.lit(k))]
    tenant_bucket = F.concat(F.col("tenant_id"), F.lit("|"), F.col("_bucket").cast("string"))
    group = F.coalesce(
        F.element_at(F.create_map(*group_keys), tenant_bucket) if group_keys else F.lit(None), F.lit(-1),
    ).cast("long")
    # exactly layout.partitions partitions; each group key hashes to its group's partition, so
    # every large group gets a task to itself. Grouping by the one key keeps this partitioning
    # (grouping by several keys would make Spark shuffle again by all of them).
    tk = tk.withColumn("_bucket", bucket).withColumn("_group", group).repartition(layout.partitions, "_group")
    ev = ev.withColumn("_bucket", bucket).withColumn("_group", group).repartition(layout.partitions, "_group")
    packed = (
        tk.groupBy("_group")
        .cogroup(ev.groupBy("_group"))
        .applyInArrow(group_task(plans), spark_schema(PACKED_SCHEMA))
    )
    # on disk, not in the heap: the packed tables are compressed already, and executors sized
    # for one group (1-2 GB) died of OutOfMemoryError holding the whole build's output at 4M
    packed = packed.persist(StorageLevel.DISK_ONLY)
    # the notes rows are tiny; counting the cache first materialises it: every group runs once
    packed.count()
    notes: dict[str, int] = {}
    for row in packed.where(F.col("_table") == "notes").select("data").collect():
        with pa.ipc.open_stream(pa.py_buffer(row[0])) as reader:
            for key, value in zip(*reader.read_all().select(["key", "value"]).to_pydict().values(), strict=True):
                notes[str(key)] = notes.get(str(key), 0) + int(value)
    log.info("spark build: %d tenants, %d groups of <= %d tickets in %d partitions (%d cores, %d MiB per task), %.1f s",
             len(plans), layout.groups, layout.tickets_per_group, layout.partitions, cores, task_heap_mb,
             time.perf_counter() - started)
    return SparkBuild(packed, schemas, plans, max(layout.buckets.values(), default=1), time.perf_counter() - started,
                      notes, layout)


def task_resources(spark: Any) -> tuple[int, int]:
    """Task slots of the session's cluster and the heap (MiB) of one running task.

    Local mode: the driver's heap shared by the local cores. Otherwise
    ``spark.executor.memory`` ÷ ``spark.executor.cores`` (1 if unset, as on YARN and K8s).
    """
    def conf(key: str) -> str | None:
        try:
            value = spark.conf.get(key, None)
        except Exception:  # Spark Connect may refuse some keys
            return None
        return str(value) if value is not None else None

    master = conf("spark.master") or ""
    slots = default_parallelism(spark)
    if master.startswith("local"):
        inner = master[master.find("[") + 1:master.find("]")] if "[" in master else "1"
        local_cores = int(inner) if inner.isdigit() else (os.cpu_count() or 1)
        return slots, memory_mb(conf("spark.driver.memory")) // max(1, local_cores)
    executor_cores = int(conf("spark.executor.cores") or 1)
    return slots, memory_mb(conf("spark.executor.memory")) // max(1, executor_cores)


def default_parallelism(spark: Any) -> int:
    """The cluster's task slots (``defaultParallelism``), for a classic session and over Spark
    Connect alike. A Connect client has no SparkContext to ask; there, a range with no
    partition count is split into exactly ``defaultParallelism`` partitions by the server
    (``leafNodeDefaultParallelism``), so one tiny job counts them."""
    try:
        return max(1, int(spark.sparkContext.defaultParallelism))
    except Exception:  # Spark Connect: no SparkContext (PySparkNotImplementedError)
        log.debug("spark: no SparkContext; counting the default parallelism with a job")
    from pyspark.sql import functions as F

    try:
        # (the partition id is projected first: an aggregate may not take it directly)
        ids = spark.range(0, 1 << 16).select(F.spark_partition_id().alias("p"))
        return max(1, int(ids.agg(F.max("p").alias("n")).first()["n"]) + 1)
    except Exception:  # a platform that refuses the job: the build still runs, less balanced
        log.warning("spark: cannot count the default parallelism; assuming 4 task slots", exc_info=True)
        return 4


def utc_naive(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at
