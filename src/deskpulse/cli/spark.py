"""Spark and lake commands: ``export-lake PATH``, ``load-results PATH`` and ``build --engine spark``.

Thin adapters over :mod:`deskpulse.spark`. ``export-lake`` and ``load-results`` need only
pyarrow; ``build --engine spark`` needs the ``spark`` extra (and Java for a classic
session) and says how to install them when they are missing (exit 6).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from deskpulse.cli.main import Context, DbOpt, TenantOpt, app, handle_errors, open_repo, resolve
from deskpulse.cli.output import OutFormat, console, emit_json, err_console

ENGINES = ("duckdb", "postgres", "spark")


def check_engine(engine: str | None, lake: str | None, all_tenants: bool, db: str) -> str:
    """The build engine (option, else DESKPULSE_ENGINE), checked against the other options.

    ``duckdb`` and ``postgres`` are the embedded build (its engine runs in-process DuckDB
    whatever the store, D1); ``postgres`` also asserts that the store is PostgreSQL.
    """
    from deskpulse.errors import UsageError
    from deskpulse.settings import get_settings
    from deskpulse.store import describe_url

    name = (engine or get_settings().engine or "duckdb").strip().lower()
    if name not in ENGINES:
        raise UsageError(f"unknown engine {name!r}; use {', '.join(ENGINES)}")
    if name != "spark" and (lake or all_tenants):
        raise UsageError("--lake and --all-tenants need --engine spark")
    if all_tenants and not lake:
        raise UsageError("--all-tenants needs --lake (the store build builds one tenant)")
    if name == "postgres" and describe_url(db)[0] != "postgresql":
        raise UsageError("--engine postgres needs a PostgreSQL store (--db postgresql+psycopg://…)")
    return name


def spark_build(
    ctx: Context, cfg: Any, *, as_of: datetime | None, lake: str | None, all_tenants: bool, fmt: OutFormat
) -> None:
    """``build --engine spark [--lake PATH]`` on DESKPULSE_SPARK_MASTER."""
    from deskpulse.settings import get_settings
    from deskpulse.sla.policies import load_sla_config
    from deskpulse.spark.jobs import build_lake_on_spark, build_store_on_spark
    from deskpulse.spark.session import spark_session

    load_sla_config(cfg)  # config errors first, before Spark starts
    master = get_settings().spark_master
    with err_console.status(f"starting Spark ({master})…"):
        spark = spark_session(master)
    if lake:
        from deskpulse.spark.lake import lake_tenants

        tenants = lake_tenants(lake) if all_tenants else [ctx.tenant]
        with err_console.status(f"building {len(tenants)} tenant(s) from {lake} on Spark…"):
            result = build_lake_on_spark(spark, lake, cfg, tenants=tenants, as_of=as_of)
        if fmt is OutFormat.json:
            emit_json(result)
            return
        console.print(
            f"spark build of {', '.join(result['tenants'])} as of {result['as_of']}: "
            f"{result['tickets']:,} tickets in {result['seconds']:.2f} s; results in {lake}/results"
        )
        return
    repo = open_repo(ctx)
    from deskpulse.analytics.facts import build_ticket_facts

    with err_console.status("building SLA clocks, metrics and backlog on Spark…"):
        summary = build_store_on_spark(spark, repo.store, ctx.tenant, cfg, as_of=as_of)
    with err_console.status("rebuilding the analytics marts (ticket_facts)…"):
        summary.notes["ticket_facts_rows"] = build_ticket_facts(repo).rows
    if fmt is OutFormat.json:
        emit_json(summary.as_dict())
        return
    console.print(summary.describe())


@app.command("export-lake")
@handle_errors
def export_lake(
    path: Annotated[str, typer.Argument(help="Lake folder or URI (s3://…, gs://…, file://…).")],
    all_tenants: Annotated[bool, typer.Option("--all-tenants", help="Every tenant of the store.")] = False,
    fmt: Annotated[OutFormat, typer.Option("--format")] = OutFormat.table,
    db: DbOpt = None,
    tenant: TenantOpt = None,
) -> None:
    """Write canonical tickets and events as Parquet, Hive-partitioned by tenant_id and created month."""
    from deskpulse.spark.lake import export_lake as run_export

    ctx = resolve(db, tenant)
    repo = open_repo(ctx)
    tenants = repo.store.tenants() if all_tenants else [ctx.tenant]
    with err_console.status(f"exporting {len(tenants)} tenant(s) to {path}…"):
        written = run_export(repo.store, path, tenants)
    if fmt is OutFormat.json:
        emit_json({"lake": path, "tenants": written})
        return
    for t, counts in written.items():
        console.print(f"{t}: {counts['tickets']:,} tickets, {counts['ticket_events']:,} events -> {path}")


@app.command("load-results")
@handle_errors
def load_results(
    path: Annotated[str, typer.Argument(help="Lake folder or URI holding results/ of a Spark build.")],
    all_tenants: Annotated[bool, typer.Option("--all-tenants", help="Every tenant with results in the lake.")] = False,
    fmt: Annotated[OutFormat, typer.Option("--format")] = OutFormat.table,
    db: DbOpt = None,
    tenant: TenantOpt = None,
) -> None:
    """Load ticket_metrics, ticket_sla, ticket_segments and backlog_daily from the lake into the store."""
    from deskpulse.spark.lake import load_results as run_load
    from deskpulse.spark.lake import result_tenants

    ctx = resolve(db, tenant)
    repo = open_repo(ctx)
    tenants = result_tenants(path) if all_tenants else [ctx.tenant]
    from deskpulse.analytics.facts import build_ticket_facts

    with err_console.status(f"loading results of {len(tenants)} tenant(s) from {path}…"):
        loaded = run_load(repo.store, path, tenants)
        for t in tenants:  # the analytics marts follow the loaded build (decisions D10)
            loaded.setdefault(t, {})["ticket_facts"] = build_ticket_facts(repo.store.tenant(t)).rows
    if fmt is OutFormat.json:
        emit_json({"lake": path, "tenants": loaded})
        return
    for t, counts in loaded.items():
        console.print(f"{t}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
