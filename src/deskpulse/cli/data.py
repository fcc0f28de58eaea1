"""Data commands: generate sample data, import, add a ticket, list/show tickets, export."""

from __future__ import annotations

import enum
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from deskpulse.cli.main import ConfigOpt, DbOpt, TenantOpt, app, handle_errors, open_repo, resolve
from deskpulse.cli.output import OutFormat, console, emit_json, emit_rows, err_console

tickets_app = typer.Typer(help="Read tickets back: `tickets list`, `tickets show ID`.", no_args_is_help=True)
app.add_typer(tickets_app, name="tickets")


class ImportFormat(enum.StrEnum):
    csv = "csv"
    parquet = "parquet"
    jsonl = "jsonl"


class Preset(enum.StrEnum):
    zendesk = "zendesk"
    event_log = "event-log"


class ExportFormat(enum.StrEnum):
    csv = "csv"
    parquet = "parquet"
    xlsx = "xlsx"
    jsonl = "jsonl"


def _parse_day(value: str, option: str) -> date:
    """A calendar day given as YYYY-MM-DD; anything else is a usage error (exit 2)."""
    from deskpulse.errors import UsageError

    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} must be a date as YYYY-MM-DD, got {value!r}") from None


@app.command()
@handle_errors
def generate(
    tickets: Annotated[int, typer.Option("--tickets", min=1, help="How many tickets.")] = 5000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same files).")] = 42,
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("sample"),
    days: Annotated[int, typer.Option("--days", min=1, help="Length of the history.")] = 180,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            metavar="YYYY-MM-DD",
            help="First day of the history (YYYY-MM-DD, UTC). Give it for files that are "
            "identical on every run; default: --days before today, moved back to a Monday.",
        ),
    ] = None,
    tenant_hint: Annotated[
        str | None,
        typer.Option(
            "--tenant-hint",
            help="Relabel ids and brand names for a tenant (acme: ACME-000001, acme-agt-0001, "
            "Acme Cloud); the data drawn depends on --seed alone.",
        ),
    ] = None,
) -> None:
    """Write realistic sample data: OUT/tickets.csv, OUT/events.csv and OUT/agents.csv."""
    from deskpulse.sample.generate import generate as run_generate

    first_day = _parse_day(start, "--start") if start is not None else None
    with err_console.status(f"generating {tickets:,} tickets…"):
        result = run_generate(
            tickets, seed, out, days=days, fmt=fmt, start=first_day, tenant_hint=tenant_hint
        )
    console.print(
        f"wrote {result.n_tickets:,} tickets, {result.n_events:,} events and {result.n_agents} agents "
        f"({result.start} + {result.days} days) to {result.out_dir} in {result.elapsed_seconds:.1f} s"
    )


@app.command("import")
@handle_errors
def import_(
    tickets: Annotated[Path, typer.Argument(help="Tickets file (or the event log for --preset event-log).")],
    events: Annotated[Path | None, typer.Argument(help="Optional ticket events file.")] = None,
    fmt: Annotated[ImportFormat | None, typer.Option("--format", help="Default: from the extension.")] = None,
    mapping: Annotated[Path | None, typer.Option("--mapping", help="Column/value mapping YAML.")] = None,
    preset: Annotated[Preset | None, typer.Option("--preset", help="Source shape: zendesk or event-log.")] = None,
    tz: Annotated[str, typer.Option("--tz", help="Zone for timestamps without an offset.")] = "UTC",
    strict: Annotated[bool, typer.Option("--strict", help="Fail (writing nothing) on any reject.")] = False,
    rejects: Annotated[Path | None, typer.Option("--rejects", help="Where rejected rows go (CSV).")] = None,
    out_format: Annotated[OutFormat, typer.Option("--output", help="Summary as table or json.")] = OutFormat.table,
    db: DbOpt = None,
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Validate and load TICKETS [EVENTS] in one transaction (idempotent upsert).

    Bad rows go to the rejects file with row, column, value and reason; good rows load.
    Examples:

      deskpulse import tickets.csv events.csv

      deskpulse import log.csv.gz --preset event-log --mapping examples/mappings/uci_incident_event_log.yml --tz America/Sao_Paulo
    """
    from deskpulse.pipeline import import_files

    ctx = resolve(db, tenant, config)
    repo = open_repo(ctx)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(), console=err_console, transient=True,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=max(total, 1))
            bar.update(tasks[stage], completed=done, total=max(total, 1))

        summary = import_files(
            repo, tickets, events, fmt=fmt.value if fmt else None, mapping=mapping,
            preset=preset.value if preset else None, tz=tz, strict=strict, rejects_path=rejects,
            progress=progress,
        )
    if out_format is OutFormat.json:
        emit_json(summary.as_dict())
        return
    console.print(
        f"tickets: read {summary.tickets_read:,} · inserted {summary.tickets_inserted:,} · "
        f"updated {summary.tickets_updated:,} · unchanged {summary.tickets_unchanged:,}"
    )
    if events or summary.events_read:
        console.print(
            f"events:  read {summary.events_read:,} · inserted {summary.events_inserted:,} · "
            f"unchanged {summary.events_unchanged:,}"
        )
    console.print(f"rejected: {summary.rejected:,} · {summary.seconds:.2f} s · tenant {ctx.tenant}")
    if summary.rejects_file:
        console.print(f"rejects written to {summary.rejects_file}")
    for w in summary.warnings:
        err_console.print(f"warning: {w}")


@app.command("add-ticket")
@handle_errors
def add_ticket(
    ticket_number: Annotated[str, typer.Option("--ticket-number", help="Ticket id.")],
    title: Annotated[str, typer.Option("--title", help="Subject line.")],
    category: Annotated[str, typer.Option("--category")],
    priority: Annotated[str, typer.Option("--priority", help="urgent, high, normal, low (or P1..P4).")],
    customer_email: Annotated[str, typer.Option("--customer-email", help="Requester.")],
    description: Annotated[str | None, typer.Option("--description")] = None,
    assigned_agent: Annotated[str | None, typer.Option("--assigned-agent")] = None,
    status: Annotated[str, typer.Option("--status")] = "new",
    db: DbOpt = None,
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Add (or update) one ticket by hand, as seed 000's --add-ticket does."""
    from deskpulse.tickets import add_ticket as run_add

    ctx = resolve(db, tenant, config)
    counts = run_add(
        open_repo(ctx), ticket_id=ticket_number, subject=title, category=category,
        priority=priority, requester_id=customer_email, description=description,
        assignee_id=assigned_agent, status=status,
    )
    verb = "added" if counts.inserted else ("updated" if counts.updated else "unchanged")
    console.print(f"ticket {ticket_number} {verb} (tenant {ctx.tenant})")


@tickets_app.command("list")
@handle_errors
def tickets_list(
    status: Annotated[str | None, typer.Option("--status")] = None,
    priority: Annotated[str | None, typer.Option("--priority")] = None,
    group: Annotated[str | None, typer.Option("--group")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
    fmt: Annotated[OutFormat, typer.Option("--format")] = OutFormat.table,
    db: DbOpt = None,
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
) -> None:
    """List tickets (newest first) with optional filters."""
    from deskpulse.tickets import list_tickets

    rows = list_tickets(open_repo(resolve(db, tenant, config)), status=status, priority=priority, group=group, limit=limit)
    emit_rows(rows, fmt, title="tickets", columns=["ticket_id", "created_at", "status", "priority", "group", "assignee_id", "subject"])


@tickets_app.command("show")
@handle_errors
def tickets_show(
    ticket_id: Annotated[str, typer.Argument()],
    fmt: Annotated[OutFormat, typer.Option("--format")] = OutFormat.table,
    db: DbOpt = None,
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Show one ticket with its events, metrics and SLA instances."""
    from deskpulse.tickets import show_ticket

    detail = show_ticket(open_repo(resolve(db, tenant, config)), ticket_id)
    if fmt is OutFormat.json:
        emit_json(detail)
        return
    emit_rows([detail["ticket"]], OutFormat.table, title=f"ticket {ticket_id}")
    emit_rows(detail["events"], fmt, title="events")
    if detail["sla"]:
        emit_rows(detail["sla"], fmt, title="SLA")


@app.command()
@handle_errors
def export(
    table: Annotated[str, typer.Argument(help="tickets, ticket_events, ticket_metrics, ticket_sla, backlog_daily")],
    fmt: Annotated[ExportFormat, typer.Option("--format")] = ExportFormat.csv,
    out: Annotated[Path, typer.Option("--out", help="Output file.")] = Path("export.csv"),
    db: DbOpt = None,
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Write one table of the tenant to a file (timestamps in UTC, ISO 8601 with Z)."""
    from deskpulse.pipeline import export_table

    n = export_table(open_repo(resolve(db, tenant, config)), table, fmt.value, out)
    console.print(f"wrote {n:,} rows of {table} to {out}")
