"""One group of the distributed build: whole tickets of one tenant in, every output table out.

This module is the engine-neutral layer the Spark build shares with the embedded build
(docs/decisions.md D8). It needs only pyarrow and DuckDB — no pyspark — so the very same
function runs inside ``cogroup(...).applyInArrow`` on a Spark executor and in a plain unit
test. For one ``(tenant, bucket)`` group it

1. runs :func:`deskpulse.sla.engine.compute` — the SLA engine the DuckDB build runs, unchanged
   — on the group's tickets and events (whole tickets: a ticket and its events always hash to
   the same bucket), giving ``ticket_metrics``, ``ticket_sla`` and ``ticket_segments``;
2. runs :func:`deskpulse.analytics.backlog.compute_backlog_daily` — the backlog SQL the DuckDB
   build runs, unchanged — over those results in an in-memory DuckDB store, for the tenant's
   full day range. ``backlog_daily`` is a sum over tickets, so the partial rows of the
   groups add up (in Spark) to exactly the tenant's rows; ``sla_debt`` travels as whole
   seconds so that the sum stays exact;
3. packs the tables into one narrow Arrow table — one row per (table, created month) holding
   those rows as a compressed Arrow IPC stream — because a grouped Arrow UDF has one output
   schema; :func:`unpack_batches` decodes them again (in ``mapInArrow`` before writing).

Calendars are rebuilt inside each group by the engine from the config's calendar specs
(deterministic: the same spec gives the same intervals on every executor).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from deskpulse.model import EVENT_SCHEMA, TICKET_DIMENSIONS, TICKET_SCHEMA
from deskpulse.sla.engine import TICKET_INPUT_COLUMNS, compute
from deskpulse.sla.policies import SlaConfig

log = logging.getLogger(__name__)

#: Ticket columns the build reads (engine inputs, policy dimensions, backlog dimensions).
TICKET_BUILD_COLUMNS: Final = tuple(
    dict.fromkeys(("ticket_id", *TICKET_INPUT_COLUMNS, *TICKET_DIMENSIONS, "deleted_at"))
)
#: Event columns the build reads (the canonical row plus ``seq``, the input order).
EVENT_BUILD_COLUMNS: Final = (*EVENT_SCHEMA.names, "seq")
TICKET_BUILD_SCHEMA: Final = pa.schema(
    [TICKET_SCHEMA.field(c) for c in TICKET_BUILD_COLUMNS]
).remove_metadata()
EVENT_BUILD_SCHEMA: Final = EVENT_SCHEMA.append(pa.field("seq", pa.int64(), nullable=False))

#: Output tables of a group.
TABLES: Final = ("ticket_metrics", "ticket_sla", "ticket_segments", "backlog_partial", "notes")
#: Partition column of every output: the ticket's created month (backlog: the row's month).
MONTH_COLUMN: Final = "created_month"
NOTES_SCHEMA: Final = pa.schema([("key", pa.string()), ("value", pa.int64())])


@dataclass(frozen=True)
class TenantPlan:
    """What to build for one tenant: its SLA config, ``as_of`` and backlog's first day.

    ``backlog_start`` is the UTC day of the tenant's first (not deleted) ticket, as the
    DuckDB build takes it; None means no backlog rows.
    """

    sla: SlaConfig
    as_of: datetime
    backlog_start: date | None

    @property
    def as_of_s(self) -> int:
        return int(self.as_of.replace(tzinfo=UTC).timestamp())


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns (missing optional ones as nulls), cast."""
    cols = []
    for f in schema:
        if f.name in table.column_names:
            cols.append(table.column(f.name).cast(f.type))
        else:
            cols.append(pa.nulls(table.num_rows, f.type))
    return pa.table(cols, schema=pa.schema([pa.field(f.name, f.type) for f in schema]))


def _ddl_type(t: pa.DataType) -> str:
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "VARCHAR"
    if pa.types.is_timestamp(t):
        return "TIMESTAMP"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_floating(t):
        return "DOUBLE"
    if pa.types.is_integer(t):
        return "BIGINT"
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision}, {t.scale})"
    return "VARCHAR"


def _backlog_partial(
    tenant: str, tickets: pa.Table, segments: pa.Table, sla_rows: pa.Table, plan: TenantPlan
) -> pa.Table:
    """The group's share of the tenant's ``backlog_daily`` (sla debt in whole seconds)."""
    from deskpulse.analytics.backlog import compute_backlog_daily
    from deskpulse.store import open_store

    store = open_store(":memory:", migrate=False)
    try:
        for name, data in (("tickets", tickets), ("ticket_segments", segments), ("ticket_sla", sla_rows)):
            data = data.append_column("tenant_id", pa.array([tenant] * data.num_rows, pa.string()))
            cols = ", ".join(f'"{f.name}" {_ddl_type(f.type)}' for f in data.schema)
            store.execute(f'CREATE TABLE "{name}" ({cols})')
            store.insert_arrow(name, data)
        out = compute_backlog_daily(
            store.tenant(tenant), start_date=plan.backlog_start, as_of=plan.as_of
        )
    finally:
        store.close()
    seconds = pc.cast(pc.round(pc.multiply(out.column("sla_debt_minutes"), 60.0)), pa.int64())
    i = out.schema.get_field_index("sla_debt_minutes")
    return out.set_column(i, "sla_debt_seconds", seconds)


def compute_group(
    tenant: str, tickets: pa.Table, events: pa.Table, plan: TenantPlan
) -> dict[str, pa.Table]:
    """Every output table of one group of whole tickets of ``tenant``.

    ``tickets``: the group's tickets that are not deleted (any created_at; those created
    after ``as_of`` only count for the backlog's range, like in the DuckDB build);
    ``events``: their events (``seq`` included). Returns ticket_metrics, ticket_sla,
    ticket_segments, backlog_partial and notes, each with a ``created_month`` column.
    """
    tickets = _conform(tickets, TICKET_BUILD_SCHEMA)
    events = _conform(events, EVENT_BUILD_SCHEMA)
    as_of = pa.scalar(plan.as_of, pa.timestamp("us"))
    built = tickets.filter(pc.less_equal(tickets.column("created_at"), as_of))
    ids = built.column("ticket_id")
    events = events.filter(
        pc.and_(
            pc.less_equal(events.column("event_at"), as_of),
            pc.is_in(events.column("ticket_id"), value_set=ids.combine_chunks()),
        )
    )
    result = compute(built, events, plan.sla, plan.as_of_s)
    months = pc.strftime(tickets.column("created_at"), format="%Y-%m").combine_chunks()
    all_ids = tickets.column("ticket_id").combine_chunks()

    def with_month(table: pa.Table) -> pa.Table:
        idx = pc.index_in(table.column("ticket_id"), value_set=all_ids)
        return table.append_column(MONTH_COLUMN, pc.take(months, idx))

    if plan.backlog_start is not None:
        backlog = _backlog_partial(tenant, tickets, result.ticket_segments, result.ticket_sla, plan)
    else:
        backlog = _backlog_partial(tenant, tickets.slice(0, 0), result.ticket_segments.slice(0, 0),
                                   result.ticket_sla.slice(0, 0), plan)
    backlog = backlog.append_column(
        MONTH_COLUMN, pc.strftime(pc.cast(backlog.column("date"), pa.timestamp("s")), format="%Y-%m")
    )
    notes = pa.table(
        {"key": list(result.notes), "value": [int(v) for v in result.notes.values()]}, schema=NOTES_SCHEMA
    ).append_column(MONTH_COLUMN, pa.array([""] * len(result.notes), pa.string()))
    return {
        "ticket_metrics": with_month(result.ticket_metrics),
        "ticket_sla": with_month(result.ticket_sla),
        "ticket_segments": with_month(result.ticket_segments),
        "backlog_partial": backlog,
        "notes": notes,
    }


# --- packing: several tables through one Arrow UDF output ---------------------------------------

#: The grouped UDF's one output schema: one row per (table, created month) of a group, holding
#: those rows as an lz4-compressed Arrow IPC stream. Narrow on purpose: a wide table with every
#: table's columns side by side (nulls elsewhere) made Spark move and cache ~10x the bytes.
PACKED_SCHEMA: Final = pa.schema([
    pa.field("_table", pa.string()),
    pa.field("tenant_id", pa.string()),
    pa.field(MONTH_COLUMN, pa.string()),
    pa.field("rows", pa.int64()),
    pa.field("data", pa.binary()),
])
_IPC_OPTIONS: Final = pa.ipc.IpcWriteOptions(compression="lz4")


def _to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=_IPC_OPTIONS) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def pack(tenant: str, tables: Mapping[str, pa.Table]) -> pa.Table:
    """The group's tables as :data:`PACKED_SCHEMA` rows, one per (table, created month)."""
    names: list[str] = []
    months: list[str] = []
    counts: list[int] = []
    blobs: list[bytes] = []
    for name in TABLES:
        table = tables[name].combine_chunks()
        month = table.column(MONTH_COLUMN)
        body = table.drop_columns([MONTH_COLUMN])
        for value in sorted(str(m) for m in pc.unique(month).to_pylist()):
            part = body.filter(pc.equal(month, value))
            names.append(name)
            months.append(value)
            counts.append(part.num_rows)
            blobs.append(_to_ipc(part))
    n = len(names)
    return pa.table([pa.array(names, pa.string()), pa.array([tenant] * n, pa.string()),
                     pa.array(months, pa.string()), pa.array(counts, pa.int64()),
                     pa.array(blobs, pa.binary())], schema=PACKED_SCHEMA)


def table_schema(schemas: Mapping[str, pa.Schema], name: str) -> pa.Schema:
    """Columns of table ``name`` as the build returns it: ``tenant_id``, the table's columns,
    ``created_month``."""
    body = [pa.field(f.name, f.type) for f in schemas[name] if f.name != MONTH_COLUMN]
    return pa.schema([pa.field("tenant_id", pa.string()), *body, pa.field(MONTH_COLUMN, pa.string())])


def unpack_batches(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """Decode packed rows (``tenant_id``, ``created_month``, ``data``) of one table into
    record batches of ``schema`` (from :func:`table_schema`); runs in ``mapInArrow``."""
    body = pa.schema([f for f in schema if f.name not in ("tenant_id", MONTH_COLUMN)])
    for batch in batches:
        tenants, months, blobs = (batch.column(c) for c in ("tenant_id", MONTH_COLUMN, "data"))
        for i in range(batch.num_rows):
            with pa.ipc.open_stream(blobs[i].as_buffer()) as reader:
                part = _conform(reader.read_all(), body)
            n = part.num_rows
            cols = [pa.repeat(tenants[i], n), *part.columns, pa.repeat(months[i], n)]
            yield from pa.table(cols, schema=schema).combine_chunks().to_batches()


def unpack(packed: pa.Table, name: str, schemas: Mapping[str, pa.Schema]) -> pa.Table:
    """Table ``name`` from packed rows (``tenant_id`` first, ``created_month`` last)."""
    schema = table_schema(schemas, name)
    rows = packed.filter(pc.equal(packed.column("_table"), name))
    return pa.Table.from_batches(list(unpack_batches(rows.to_batches(), schema)), schema=schema)


def probe_schemas(sla: SlaConfig) -> dict[str, pa.Schema]:
    """The output schema of every table, from a one-ticket build on the driver."""
    as_of = datetime(2026, 1, 2, 12, 0, 0)
    t0 = datetime(2026, 1, 1, 9, 0, 0)
    tickets = pa.Table.from_pylist(
        [{"ticket_id": "probe", "created_at": t0, "updated_at": t0, "status": "open"}],
        schema=TICKET_BUILD_SCHEMA,
    )
    events = pa.Table.from_pylist(
        [{"ticket_id": "probe", "event_at": t0, "kind": "status", "actor": "agent", "public": True,
          "from_value": "new", "to_value": "open", "seq": 0}],
        schema=EVENT_BUILD_SCHEMA,
    )
    out = compute_group("probe", tickets, events, TenantPlan(sla, as_of, t0.date()))
    return {k: v.schema for k, v in out.items()}


def group_task(plans: Mapping[str, TenantPlan]) -> Callable[[pa.Table, pa.Table], pa.Table]:
    """The function Spark runs per ``(tenant_id, bucket)`` cogroup (a plain two-argument
    function: Spark tells key-taking functions apart by their arity)."""
    frozen = dict(plans)

    def run_group(tickets: pa.Table, events: pa.Table) -> pa.Table:
        if tickets.num_rows == 0:  # events whose ticket is missing or deleted: nothing to build
            return PACKED_SCHEMA.empty_table()
        tenant = str(tickets.column("tenant_id")[0].as_py())
        return pack(tenant, compute_group(tenant, tickets, events, frozen[tenant]))

    return run_group
