"""The two Spark builds the CLI offers: store → Spark → store, and lake → Spark → lake.

Both are full builds of every requested tenant at one ``as_of`` with one config, and both
produce exactly what the DuckDB build produces (``ticket_metrics``, ``ticket_sla``,
``ticket_segments``, ``backlog_daily``); the store build also records ``build_state`` like the
DuckDB build does, so serving and later incremental DuckDB builds carry on from it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from deskpulse.config import AppConfig
from deskpulse.errors import BadInputError
from deskpulse.sla.build import BuildSummary, utcnow
from deskpulse.sla.policies import load_sla_config
from deskpulse.spark.build import SparkBuild, run_build
from deskpulse.spark.groups import EVENT_BUILD_COLUMNS, TICKET_BUILD_COLUMNS, TenantPlan
from deskpulse.store import Store

log = logging.getLogger(__name__)


def _with_tenant(table: pa.Table, tenant: str) -> pa.Table:
    return table.append_column("tenant_id", pa.array([tenant] * table.num_rows, pa.string()))


def read_store(spark: Any, store: Store, tenants: Sequence[str], as_of: datetime) -> tuple[Any, Any]:
    """The tenants' (not deleted) tickets and their events up to ``as_of`` as DataFrames."""
    tcols = ", ".join(f'"{c}"' for c in TICKET_BUILD_COLUMNS)
    ecols = ", ".join(f'"{c}"' for c in EVENT_BUILD_COLUMNS)
    tickets, events = [], []
    for tenant in tenants:
        repo = store.tenant(tenant)
        tickets.append(_with_tenant(
            repo.query(f"SELECT {tcols} FROM tickets WHERE deleted_at IS NULL"), tenant))  # noqa: S608
        events.append(_with_tenant(repo.query(
            f"SELECT {ecols} FROM ticket_events WHERE event_at <= $as_of "  # noqa: S608 - fixed columns
            "AND ticket_id IN (SELECT ticket_id FROM tickets WHERE deleted_at IS NULL AND created_at <= $as_of)",
            as_of=as_of), tenant))
    return _frame(spark, tickets), _frame(spark, events)


def _frame(spark: Any, tables: list[pa.Table]) -> Any:
    """A DataFrame of the tables' rows. Spark 4.0's createDataFrame(pa.Table) stops at the
    first empty record batch, so empty tables are left out and the chunks combined."""
    rows = [t for t in tables if t.num_rows] or tables[:1]
    return spark.createDataFrame(pa.concat_tables(rows).combine_chunks())


def _sorted(name: str, table: pa.Table) -> pa.Table:
    keys = {
        "ticket_metrics": ["ticket_id"],
        "ticket_sla": ["ticket_id", "metric", "instance"],
        "ticket_segments": ["ticket_id", "segment"],
        "backlog_daily": ["date", "dimension", "value"],
    }[name]
    return table.sort_by([(k, "ascending") for k in keys])


def write_store(build: SparkBuild, store: Store, *, loaded_through: dict[str, Any]) -> dict[str, int]:
    """Replace each built tenant's result tables and build_state in the store."""
    tables = {name: build.collect(name) for name in ("ticket_metrics", "ticket_sla", "ticket_segments", "backlog_daily")}
    totals: dict[str, int] = {}
    for tenant, plan in build.plans.items():
        repo = store.tenant(tenant)
        with store.transaction():
            for name, table in tables.items():
                rows = table.filter(pc.equal(table.column("tenant_id"), tenant))
                rows = _sorted(name, rows.drop_columns(["tenant_id", "created_month"]))
                repo.replace_rows(name, rows)
            total = int(repo.scalar("SELECT count(*) FROM ticket_metrics"))
            store.execute("DELETE FROM build_state WHERE tenant_id = $t", {"t": tenant})
            store.execute(
                "INSERT INTO build_state (tenant_id, built_at, as_of, config_hash, loaded_through, tickets) "
                "VALUES ($t, $built, $as_of, $hash, $lt, $n)",
                {"t": tenant, "built": utcnow(), "as_of": plan.as_of, "hash": loaded_through[tenant][1],
                 "lt": loaded_through[tenant][0], "n": total},
            )
        totals[tenant] = total
    return totals


def layout_notes(build: SparkBuild) -> dict[str, int]:
    """How the build was split: groups, partitions (tasks) and the group size aimed at."""
    if build.layout is None:
        return {"spark_buckets": build.buckets}
    return {"spark_buckets": build.buckets, "spark_groups": build.layout.groups,
            "spark_partitions": build.layout.partitions, "spark_tickets_per_group": build.layout.tickets_per_group}


def build_store_on_spark(
    spark: Any, store: Store, tenant: str, cfg: AppConfig, *, as_of: datetime | None = None,
    buckets: int | None = None, tickets_per_group: int | None = None,
) -> BuildSummary:
    """``deskpulse build --engine spark``: the tenant's store data built on Spark, written back."""
    started = time.perf_counter()
    sla = load_sla_config(cfg)  # config errors before any data is touched
    as_of = as_of or utcnow()
    repo = store.tenant(tenant)
    loaded = repo.rows(
        "SELECT max(m) FROM (SELECT max(loaded_at) AS m FROM tickets "
        "UNION ALL SELECT max(loaded_at) FROM ticket_events) x"
    )
    tickets, events = read_store(spark, store, [tenant], as_of)
    build = run_build(tickets, events, sla, as_of, buckets=buckets, tickets_per_group=tickets_per_group)
    try:
        if tenant not in build.plans:  # no tickets: clear the results like an empty DuckDB build
            build.plans[tenant] = TenantPlan(sla, as_of, None)
        totals = write_store(build, store, loaded_through={tenant: (loaded[0][0] if loaded else None, cfg.fingerprint)})
    finally:
        build.unpersist()
    status_rows = repo.rows("SELECT status, count(*) FROM ticket_sla GROUP BY status")
    backlog_rows = int(repo.scalar("SELECT count(*) FROM backlog_daily"))
    return BuildSummary(
        tenant=tenant, as_of=as_of, mode="full (spark)", tickets_total=totals.get(tenant, 0),
        tickets_recomputed=totals.get(tenant, 0), sla_rows=sum(int(n) for _, n in status_rows),
        sla_status={str(s): int(n) for s, n in status_rows},
        seconds=round(time.perf_counter() - started, 3),
        notes={**build.notes, "backlog_daily_rows": backlog_rows, **layout_notes(build)},
    )


def build_lake_on_spark(
    spark: Any, path: str, cfg: AppConfig, *, tenants: Sequence[str] | None, as_of: datetime | None = None,
    buckets: int | None = None, tickets_per_group: int | None = None,
) -> dict[str, Any]:
    """``deskpulse build --engine spark --lake PATH``: lake inputs built, results written back."""
    from deskpulse.spark.lake import read_inputs, write_results

    started = time.perf_counter()
    sla = load_sla_config(cfg)
    as_of = as_of or utcnow()
    tickets, events = read_inputs(spark, path, tenants)
    build = run_build(tickets, events, sla, as_of, buckets=buckets, tickets_per_group=tickets_per_group)
    if not build.plans:
        build.unpersist()
        raise BadInputError(f"{path}: no tickets for tenant(s) {', '.join(tenants or ['(any)'])}")
    written = time.perf_counter()
    try:
        counts = write_results(build, path, built_at=utcnow())
    finally:
        build.unpersist()
    return {
        "compute_seconds": round(build.seconds, 3),
        "write_seconds": round(time.perf_counter() - written, 3),
        "lake": path,
        "as_of": as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tenants": sorted(build.plans),
        "tickets": counts["tickets"],
        "buckets": build.buckets,
        **layout_notes(build),
        "notes": build.notes,
        "seconds": round(time.perf_counter() - started, 3),
    }
