"""SLA commands: ``build`` (materialise ticket_metrics/ticket_sla) and ``sla backtest``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from deskpulse.cli.main import ConfigOpt, DbOpt, TenantOpt, app, handle_errors, open_repo, resolve
from deskpulse.cli.output import OutFormat, console, emit_json, emit_rows, err_console

sla_app = typer.Typer(help="SLA policy tools: `sla backtest PROPOSED.yml`.", no_args_is_help=True)
app.add_typer(sla_app, name="sla")


def parse_as_of(value: str | None) -> datetime | None:
    """--as-of: ISO 8601 (offset honoured, naive = UTC), 'now', 'today' or 'yesterday'."""
    from deskpulse.instants import parse_instant

    return parse_instant(value) if value else None


@app.command()
@handle_errors
def build(
    as_of: Annotated[str | None, typer.Option("--as-of", help="Instant to build as of (default now), ISO 8601.")] = None,
    full: Annotated[bool, typer.Option("--full", help="Recompute every ticket, not only changed ones.")] = False,
    fmt: Annotated[OutFormat, typer.Option("--format", help="Summary as table or json.")] = OutFormat.table,
    engine: Annotated[
        str | None,
        typer.Option("--engine", help="duckdb, postgres or spark (env DESKPULSE_ENGINE, default duckdb)."),
    ] = None,
    lake: Annotated[
        str | None,
        typer.Option("--lake", help="Spark only: read canonical Parquet from PATH and write results there."),
    ] = None,
    all_tenants: Annotated[
        bool, typer.Option("--all-tenants", help="With --lake: build every tenant in the lake.")
    ] = False,
    db: DbOpt = None,
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Materialise ticket_metrics and ticket_sla (incremental unless --full or the config changed)."""
    from deskpulse.config import load_config
    from deskpulse.sla.build import build as run_build

    ctx = resolve(db, tenant, config)
    cfg = load_config(ctx.config)
    from deskpulse.cli.spark import check_engine, spark_build

    if check_engine(engine, lake, all_tenants, ctx.db) == "spark":
        spark_build(ctx, cfg, as_of=parse_as_of(as_of), lake=lake, all_tenants=all_tenants, fmt=fmt)
        return
    repo = open_repo(ctx)
    from deskpulse.analytics.facts import build_analytics_marts

    with err_console.status("building SLA clocks and metrics…"):
        summary = run_build(repo, cfg, as_of=parse_as_of(as_of), full=full)
    with err_console.status("rebuilding the analytics marts (ticket_facts, backlog_daily)…"):
        marts = build_analytics_marts(repo, as_of=summary.as_of)
    summary.notes["ticket_facts_rows"] = marts.ticket_facts_rows
    summary.notes["backlog_daily_rows"] = marts.backlog_daily_rows
    if fmt is OutFormat.json:
        emit_json(summary.as_dict())
        return
    console.print(summary.describe())


@sla_app.command("backtest")
@handle_errors
def backtest(
    proposed: Annotated[Path, typer.Argument(help="Proposed config YAML (calendars + policies).")],
    days: Annotated[int | None, typer.Option("--days", min=1, help="Only tickets created in the last N days.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Instant to evaluate at (default now).")] = None,
    fmt: Annotated[OutFormat, typer.Option("--format")] = OutFormat.table,
    db: DbOpt = None,
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Attainment per policy and metric: current config (--config) vs PROPOSED, side by side."""
    from deskpulse.config import load_config
    from deskpulse.sla.backtest import backtest as run_backtest

    ctx = resolve(db, tenant, config)
    current = load_config(ctx.config)
    new = load_config(proposed, required=True)
    repo = open_repo(ctx)
    with err_console.status("replaying history under both configs…"):
        result = run_backtest(repo, current, new, days=days, as_of=parse_as_of(as_of))
    if fmt is OutFormat.json:
        emit_json(result.as_dict())
        return
    emit_rows(result.rows, fmt, title=f"SLA backtest: {ctx.config} vs {proposed} ({result.tickets:,} tickets)")
