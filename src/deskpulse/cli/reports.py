"""Report commands (issue 9): ``report``, ``schedule …``, ``worker`` and ``alerts …``.

Thin adapters over :mod:`deskpulse.reports`:

- ``deskpulse report NAME --days 30 --format html|pdf|csv|xlsx --out F`` writes one report
  (``csv``: one file per table; ``report dashboard`` writes the HTML and, beside it, one CSV
  per table, as seed 000's ``--dashboard`` did);
- ``deskpulse schedule add|list|remove|run-due|run|history`` manages the tenant's schedules;
- ``deskpulse worker [--once]`` sends due runs and checks alert rules for every tenant;
- ``deskpulse alerts add|list|remove|check|history`` manages and evaluates alert rules.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from deskpulse.cli.main import ConfigOpt, DbOpt, TenantOpt, app, handle_errors, open_repo, resolve
from deskpulse.cli.options import FILTER_OPTIONS, FromOpt, ToOpt
from deskpulse.cli.output import OutFormat, console, emit_json, emit_rows
from deskpulse.errors import UsageError
from deskpulse.reports.names import FORMATS_HELP, REPORT_NAMES_HELP

schedule_app = typer.Typer(
    help="Scheduled reports: `schedule add weekly-sla --cron '0 8 * * MON' --tz Europe/Berlin "
         "--report sla --format pdf --to lead@example.com`.",
    no_args_is_help=True,
)
alerts_app = typer.Typer(
    help="SLA alerts: `alerts add billing-risk --when 'at_risk_tickets > 10' --group Billing "
         "--email lead@example.com`.",
    no_args_is_help=True,
)
app.add_typer(schedule_app, name="schedule")
app.add_typer(alerts_app, name="alerts")

ListFormat = Annotated[OutFormat, typer.Option("--format", help="table, json or csv.")]
NowOpt = Annotated[str | None, typer.Option("--now", help="Pretend it is this instant (UTC; tests and backfills).")]


def _context(db: str | None, tenant: str | None, config: Path | None) -> tuple[Any, Any]:
    from deskpulse.config import load_config

    ctx = resolve(db, tenant, config)
    return open_repo(ctx), load_config(ctx.config)


def _instant(value: str | None) -> datetime | None:
    from deskpulse.instants import parse_instant

    return parse_instant(value) if value else None


F = TypeVar("F", bound=Callable[..., Any])


def with_filters(fn: F) -> F:
    """Give a command the ticket filters (``--group`` … ``--agent``: the analytics commands'
    :data:`~deskpulse.cli.options.FILTER_OPTIONS`, declared once) in place of its ``filters``
    parameter, which receives the given ones as a dict."""
    sig = inspect.signature(fn, eval_str=True)
    kw = inspect.Parameter.KEYWORD_ONLY
    params: list[inspect.Parameter] = []
    for p in sig.parameters.values():
        if p.name == "filters":
            params += [inspect.Parameter(n, kw, annotation=a, default=None) for n, a in FILTER_OPTIONS]
        else:
            params.append(p.replace(kind=kw))
    names = [n for n, _ in FILTER_OPTIONS]

    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> Any:
        filters = {n: v for n in names if (v := kwargs.pop(n, None))}
        return fn(**kwargs, filters=filters)

    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    del wrapper.__wrapped__  # typer must read the expanded signature
    return wrapper  # type: ignore[return-value]


ReportArg = Annotated[str, typer.Argument(help=f"{REPORT_NAMES_HELP}.")]
ReportOpt = Annotated[str, typer.Option("--report", help=f"{REPORT_NAMES_HELP}.")]
Filters = dict[str, str]


# --- report ----------------------------------------------------------------------------------------


@app.command("report")
@handle_errors
@with_filters
def report_cmd(
    name: ReportArg,
    days: Annotated[int | None, typer.Option("--days", min=1, help="Tickets created in the last N days (default 30).")] = None,
    from_: FromOpt = None,
    to: ToOpt = None,
    fmt: Annotated[str, typer.Option("--format", help=f"{FORMATS_HELP}.")] = "html",
    out: Annotated[Path | None, typer.Option("--out", help="Output file (csv: the stem of one file per table, or a directory).")] = None,
    filters: Filters | None = None,
    db: DbOpt = None,
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Write a report as HTML or PDF (charts and tables), XLSX (a sheet per table) or CSV
    (a file per table). `report dashboard` writes HTML plus one CSV per table."""
    from deskpulse.reports.definitions import DEFAULT_DAYS, ReportParams, build_report, check_report
    from deskpulse.reports.render import parse_formats, write_report

    check_report(name)
    formats = parse_formats(fmt)
    if len(formats) != 1:
        raise UsageError("`report` writes one format at a time")
    if days is not None and from_ is not None:
        raise UsageError("give either --days or --from, not both")
    repo, cfg = _context(db, tenant, config)
    params = ReportParams(
        days=days if days is not None else (None if from_ else DEFAULT_DAYS),
        from_at=_instant(from_), to_at=_instant(to),
        filters=dict(filters or {}),
    )
    doc = build_report(repo, cfg, name, params)
    target = out or Path(f"{name}.{formats[0].value}" if formats[0].value != "csv" else name)
    written = write_report(doc, formats[0], target, with_csv=name == "dashboard" and formats[0].value == "html")
    for path in written:
        console.print(f"wrote {path}")
    if doc.message:
        console.print(doc.message)


# --- schedule ---------------------------------------------------------------------------------------


def _schedule_row(s: Any) -> dict[str, Any]:
    return {"name": s.name, "report": s.report, "formats": s.formats,
            "cron": f"{s.cron} ({s.timezone})", "to": ", ".join(s.recipients),
            "next_run_at": s.next_run_at if s.enabled else "disabled",
            "last_status": s.last_status or ""}


@schedule_app.command("add")
@handle_errors
@with_filters
def schedule_add(
    name: Annotated[str, typer.Argument(help="A name unique within the tenant.")],
    cron: Annotated[str, typer.Option("--cron", help="Cron expression, e.g. '0 8 * * MON' or @daily.")],
    report: ReportOpt,
    to: Annotated[list[str], typer.Option("--to", help="Recipient address (repeatable, or comma separated).")],
    tz: Annotated[str, typer.Option("--tz", help="IANA timezone of the cron times.")] = "UTC",
    fmt: Annotated[str, typer.Option("--format", help="Attachment formats: pdf, xlsx, csv, html (comma separated).")] = "pdf",
    days: Annotated[int, typer.Option("--days", min=1, help="Report window: the last N days.")] = 30,
    missed: Annotated[str, typer.Option("--missed", help="After downtime: send-once (one run for the missed slots) or skip.")] = "send-once",
    disabled: Annotated[bool, typer.Option("--disabled", help="Store it disabled.")] = False,
    filters: Filters | None = None,
    now: NowOpt = None,
    db: DbOpt = None,
    tenant: TenantOpt = None,
) -> None:
    """Add a schedule: the report is emailed at every cron slot (in --tz)."""
    from deskpulse.reports.schedules import ScheduleSpec, add_schedule

    repo, _ = _context(db, tenant, None)
    spec = ScheduleSpec(name=name, cron=cron, report=report, recipients=list(to), timezone=tz,
                        formats=fmt, days=days, missed_policy=missed, enabled=not disabled,
                        filters=dict(filters or {}))
    s = add_schedule(repo.store, repo.tenant_id, spec, now=_instant(now), created_by="cli")
    console.print(f"schedule {s.name} added (tenant {s.tenant_id}): {s.report} as {s.formats} "
                  f"to {', '.join(s.recipients)}; next run {s.next_run_at:%Y-%m-%d %H:%M} UTC")


def _emit_list(items: list[Any], row: Callable[[Any], dict[str, Any]], fmt: OutFormat, what: str,
               title: str, tenant: str) -> None:
    """Print stored schedules or alert rules: JSON objects, an empty note, or rows."""
    if fmt is OutFormat.json:
        emit_json([i.as_dict() for i in items])
        return
    if not items and fmt is OutFormat.table:
        console.print(f"no {what} (tenant {tenant})")
        return
    emit_rows([row(i) for i in items], fmt, title=title)



@schedule_app.command("list")
@handle_errors
def schedule_list(fmt: ListFormat = OutFormat.table, db: DbOpt = None, tenant: TenantOpt = None) -> None:
    """The tenant's schedules with their next and last run."""
    from deskpulse.reports.schedules import list_schedules

    repo, _ = _context(db, tenant, None)
    _emit_list(list_schedules(repo.store, repo.tenant_id), _schedule_row, fmt, "schedules",
               f"Schedules · {repo.tenant_id}", repo.tenant_id)


@schedule_app.command("remove")
@handle_errors
def schedule_remove(name: Annotated[str, typer.Argument(help="Schedule name or id.")],
                    db: DbOpt = None, tenant: TenantOpt = None) -> None:
    """Delete a schedule (its run history stays)."""
    from deskpulse.reports.schedules import remove_schedule

    repo, _ = _context(db, tenant, None)
    s = remove_schedule(repo.store, repo.tenant_id, name)
    console.print(f"schedule {s.name} removed")


def _run_rows(runs: list[Any]) -> list[dict[str, Any]]:
    return [{"schedule": r.schedule_name, "slot_at": r.slot_at, "status": r.status,
             "attempts": r.attempts, "missed": r.missed, "finished_at": r.finished_at,
             "files": " ".join(r.attachments), "error": r.error or "", "tenant": r.tenant_id}
            for r in runs]


def _worker(repo: Any, cfg: Any, now: datetime | None) -> Any:
    from deskpulse.reports.worker import Worker

    if now is None:
        return Worker(repo.store, cfg)
    return Worker(repo.store, cfg, clock=lambda: now)


@schedule_app.command("run-due")
@handle_errors
def schedule_run_due(
    all_tenants: Annotated[bool, typer.Option("--all-tenants", help="Every tenant's due runs, not only --tenant's.")] = False,
    fmt: ListFormat = OutFormat.table,
    now: NowOpt = None,
    db: DbOpt = None,
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Send the due runs once (what the worker does every poll) and print their outcome."""
    repo, cfg = _context(db, tenant, config)
    worker = _worker(repo, cfg, _instant(now))
    runs = worker.runner.run_due(tenant=None if all_tenants else repo.tenant_id)
    if fmt is OutFormat.json:
        emit_json([r.as_dict() for r in runs])
        return
    if not runs and fmt is OutFormat.table:
        console.print("no runs due")
        return
    emit_rows(_run_rows(runs), fmt, title="Runs")


@schedule_app.command("run")
@handle_errors
def schedule_run(
    name: Annotated[str, typer.Argument(help="Schedule name or id.")],
    fmt: ListFormat = OutFormat.table,
    db: DbOpt = None,
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Send a schedule's report now, outside its slots (e.g. to try the SMTP settings)."""
    repo, cfg = _context(db, tenant, config)
    run = _worker(repo, cfg, None).runner.send_now(repo.tenant_id, name)
    if fmt is OutFormat.json:
        emit_json(run.as_dict())
        return
    emit_rows(_run_rows([run]), fmt, title="Run")


@schedule_app.command("history")
@handle_errors
def schedule_history(
    name: Annotated[str | None, typer.Argument(help="Only this schedule (name or id).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Newest N runs.")] = 20,
    fmt: ListFormat = OutFormat.table,
    db: DbOpt = None,
    tenant: TenantOpt = None,
) -> None:
    """Run history: status (sent, failed, skipped, running), attempts, errors, files."""
    from deskpulse.reports.schedules import list_runs

    repo, _ = _context(db, tenant, None)
    runs = list_runs(repo.store, repo.tenant_id, name, limit=limit)
    if fmt is OutFormat.json:
        emit_json([r.as_dict() for r in runs])
        return
    emit_rows(_run_rows(runs), fmt, title="Run history")


# --- worker -------------------------------------------------------------------------------------


@app.command("worker")
@handle_errors
def worker_cmd(
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    poll: Annotated[float | None, typer.Option("--poll", min=1.0, help="Seconds between passes [DESKPULSE_REPORTS_POLL_SECONDS].")] = None,
    no_alerts: Annotated[bool, typer.Option("--no-alerts", help="Only schedules.")] = False,
    fmt: ListFormat = OutFormat.table,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Send due scheduled reports and check alert rules, for every tenant (Ctrl-C stops)."""
    from deskpulse.reports.worker import Worker

    repo, cfg = _context(db, None, config)
    worker = Worker(repo.store, cfg)
    if once:
        result = worker.tick(alerts=not no_alerts)
        if fmt is OutFormat.json:
            emit_json(result.as_dict())
            return
        console.print(f"{len(result.runs)} run(s), {len(result.alerts)} alert check(s)")
        if result.runs:
            emit_rows(_run_rows(result.runs), fmt, title="Runs")
        if result.alerts:
            emit_rows([_check_row(a) for a in result.alerts], fmt, title="Alert checks")
        return
    if no_alerts:
        worker.settings = worker.settings.model_copy(update={"alerts_enabled": False})
    stop = threading.Event()
    console.print(f"worker {worker.name}: polling every {poll or worker.settings.reports_poll_seconds:g} s "
                  "(Ctrl-C stops)")
    try:
        worker.run_forever(stop, poll=poll)
    except KeyboardInterrupt:
        stop.set()
        console.print("worker stopped")


# --- alerts -------------------------------------------------------------------------------------


def _rule_row(r: Any) -> dict[str, Any]:
    quiet = f"{r.quiet_hours} ({r.timezone})" if r.quiet_hours else ""
    return {"name": r.name, "condition": r.condition, "to": f"{r.channel}: {', '.join(r.target)}",
            "quiet_hours": quiet, "enabled": r.enabled, "last_value": r.last_value}


def _check_row(c: Any) -> dict[str, Any]:
    return {"tenant": c.tenant_id, "rule": c.rule, "value": c.value, "firing": c.firing,
            "status": c.status, "sent": len(c.sent), "suppressed": len(c.suppressed),
            "resolved": len(c.resolved), "error": c.error or ""}


@alerts_app.command("add")
@handle_errors
@with_filters
def alerts_add(
    name: Annotated[str, typer.Argument(help="A name unique within the tenant.")],
    when: Annotated[str, typer.Option("--when", help="METRIC OP NUMBER: 'at_risk_tickets > 10', 'breached_tickets > 0', 'sla_attainment_pct < 90', 'breach_within <= 15' (business minutes).")],
    email: Annotated[list[str] | None, typer.Option("--email", help="Send to this address (repeatable).")] = None,
    webhook: Annotated[str | None, typer.Option("--webhook", help="POST JSON to this URL instead.")] = None,
    window: Annotated[str | None, typer.Option("--window", help="sla_attainment_pct: today, 7d, 30d or 90d (default today).")] = None,
    quiet_hours: Annotated[str | None, typer.Option("--quiet-hours", help="Send nothing in HH:MM-HH:MM (local to --tz).")] = None,
    tz: Annotated[str, typer.Option("--tz", help="IANA timezone of the quiet hours.")] = "UTC",
    repeat_minutes: Annotated[int, typer.Option("--repeat-minutes", min=0, help="Remind while still firing every N minutes (0: once).")] = 0,
    filters: Filters | None = None,
    db: DbOpt = None,
    tenant: TenantOpt = None,
) -> None:
    """Add an alert rule, sent by email or webhook."""
    from deskpulse.reports.alerts import RuleSpec, add_rule, parse_when

    if bool(email) == bool(webhook):
        raise UsageError("give --email ADDRESS (repeatable) or --webhook URL")
    metric, op, threshold = parse_when(when)
    repo, _ = _context(db, tenant, None)
    spec = RuleSpec(name=name, metric=metric.value, op=op, threshold=threshold,
                    channel="email" if email else "webhook",
                    target=list(email) if email else [str(webhook)], window=window,
                    quiet_hours=quiet_hours, timezone=tz, repeat_minutes=repeat_minutes,
                    filters=dict(filters or {}))
    r = add_rule(repo.store, repo.tenant_id, spec, created_by="cli")
    console.print(f"alert rule {r.name} added (tenant {r.tenant_id}): {r.condition} → {r.channel}")


@alerts_app.command("list")
@handle_errors
def alerts_list(fmt: ListFormat = OutFormat.table, db: DbOpt = None, tenant: TenantOpt = None) -> None:
    """The tenant's alert rules."""
    from deskpulse.reports.alerts import list_rules

    repo, _ = _context(db, tenant, None)
    _emit_list(list_rules(repo.store, repo.tenant_id), _rule_row, fmt, "alert rules",
               f"Alert rules · {repo.tenant_id}", repo.tenant_id)


@alerts_app.command("remove")
@handle_errors
def alerts_remove(name: Annotated[str, typer.Argument(help="Rule name or id.")],
                  db: DbOpt = None, tenant: TenantOpt = None) -> None:
    """Delete an alert rule and its state (its events stay)."""
    from deskpulse.reports.alerts import remove_rule

    repo, _ = _context(db, tenant, None)
    r = remove_rule(repo.store, repo.tenant_id, name)
    console.print(f"alert rule {r.name} removed")


@alerts_app.command("check")
@handle_errors
def alerts_check(
    fmt: ListFormat = OutFormat.table,
    now: NowOpt = None,
    db: DbOpt = None,
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Evaluate the tenant's rules once and send what is new (as the worker does)."""
    repo, cfg = _context(db, tenant, config)
    results = _worker(repo, cfg, _instant(now)).alerts.check_all(repo.tenant_id)
    if fmt is OutFormat.json:
        emit_json([c.as_dict() for c in results])
        return
    if not results and fmt is OutFormat.table:
        console.print("no enabled alert rules")
        return
    emit_rows([_check_row(c) for c in results], fmt, title="Alert checks")


@alerts_app.command("history")
@handle_errors
def alerts_history(
    name: Annotated[str | None, typer.Argument(help="Only this rule (name or id).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Newest N events.")] = 20,
    fmt: ListFormat = OutFormat.table,
    db: DbOpt = None,
    tenant: TenantOpt = None,
) -> None:
    """What alert checks did: sent, failed, suppressed (quiet hours), deferred, resolved."""
    from deskpulse.reports.alerts import list_events

    repo, _ = _context(db, tenant, None)
    events = list_events(repo.store, repo.tenant_id, name, limit=limit)
    if fmt is OutFormat.json:
        emit_json([e.as_dict() for e in events])
        return
    emit_rows([{"at": e.event_at, "rule": e.rule_name, "status": e.status, "keys": len(e.keys),
                "value": e.value, "message": e.message or "", "error": e.error or ""}
               for e in events], fmt, title="Alert events")
