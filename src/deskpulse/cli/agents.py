"""``deskpulse agents …`` for routing (issue 8): availability, auto-assignment, skills, routing
mode and routing analytics. Registered on the ``agents`` sub-app of :mod:`deskpulse.cli.analytics`
(which holds ``agents performance``).

Thin adapters over :mod:`deskpulse.routing`: every command prints a table for people, or
``--format json`` (machine-readable, stdout only) / ``csv``. Errors exit with CONTRACT §6 codes:
an unknown ticket, a solved ticket or nobody available exit 3, a bad option 2.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from deskpulse.cli.analytics import agents_app
from deskpulse.cli.main import ConfigOpt, DbOpt, TenantOpt, handle_errors, open_repo, resolve
from deskpulse.cli.output import OutFormat, console, emit_json, emit_rows
from deskpulse.errors import UsageError

availability_app = typer.Typer(help="Agent availability: list, set, history.", no_args_is_help=True)
skills_app = typer.Typer(help="The skills matrix: list, add, remove.", no_args_is_help=True)
routing_app = typer.Typer(help="The tenant's routing mode: get, set.", no_args_is_help=True)
agents_app.add_typer(availability_app, name="availability")
agents_app.add_typer(skills_app, name="skills")
agents_app.add_typer(routing_app, name="routing-mode")

FormatOpt = Annotated[OutFormat, typer.Option("--format", help="table, json or csv.")]
DaysOpt = Annotated[int | None, typer.Option("--days", min=1, max=366, help="The last N days (default 7).")]
FromOpt = Annotated[str | None, typer.Option("--from", help="Window start (ISO 8601 date/instant, UTC).")]
ToOpt = Annotated[str | None, typer.Option("--to", help="Window end, exclusive (default now).")]
ActorOpt = Annotated[str | None, typer.Option("--by", help="Who makes the change (recorded).")]


def _repo(db: str | None, tenant: str | None, config: Any) -> Any:
    return open_repo(resolve(db, tenant, config))


def _instant(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    from deskpulse.routing.model import naive_utc

    try:
        return naive_utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    except ValueError:
        raise UsageError(f"{name}: expected an ISO 8601 date or instant, got {value!r}") from None


def _window(days: int | None, from_: str | None, to: str | None) -> Any:
    from deskpulse.routing.analytics import window

    return window(_instant(from_, "--from"), _instant(to, "--to"), days=days)


def _out(payload: Any, rows: list[dict[str, Any]], fmt: OutFormat, title: str,
         table_columns: tuple[str, ...] | None = None) -> None:
    """JSON: the whole payload; CSV: every column; a table: ``table_columns`` (all by default)."""
    if fmt is OutFormat.json:
        emit_json(payload)
    elif not rows and fmt is OutFormat.table:
        console.print(f"{title}: nothing to show")
    else:
        emit_rows(rows, fmt, title=title, columns=table_columns if fmt is OutFormat.table else None)


AVAILABILITY_TABLE = ("user_id", "effective_status", "since", "until", "note", "last_activity_at")
HISTORY_TABLE = ("changed_at", "user_id", "previous_status", "status", "until", "note", "changed_by")
SKILL_TABLE = ("user_id", "category", "level", "level_name", "can_handle_escalations")


# --- availability -------------------------------------------------------------------------------------


@availability_app.command("list")
@handle_errors
def availability_list_cmd(
    status: Annotated[str | None, typer.Option("--status", help="Only agents with this effective status.")] = None,
    fmt: FormatOpt = OutFormat.table, db: DbOpt = None, tenant: TenantOpt = None, config: ConfigOpt = None,
) -> None:
    """Every agent's availability (status, since, until, note, last assignment)."""
    from deskpulse.routing.availability import list_availability, status_counts
    from deskpulse.routing.model import parse_status

    repo = _repo(db, tenant, config)
    items = [a.as_dict() for a in list_availability(repo, status=parse_status(status) if status else None)]
    _out({"items": items, "counts": status_counts(repo)}, items, fmt, "Agent availability", AVAILABILITY_TABLE)


@availability_app.command("set")
@handle_errors
def availability_set_cmd(
    user: Annotated[str, typer.Argument(help="The agent's user id (its token subject).")],
    status: Annotated[str, typer.Argument(help="available, busy, away or offline.")],
    until: Annotated[str | None, typer.Option("--until", help="When the status ends (ISO 8601, UTC).")] = None,
    note: Annotated[str | None, typer.Option("--note", help="A short note.")] = None,
    by: ActorOpt = None,
    fmt: FormatOpt = OutFormat.table, db: DbOpt = None, tenant: TenantOpt = None, config: ConfigOpt = None,
) -> None:
    """Set an agent's status (kept in the history)."""
    from deskpulse.routing.availability import set_availability
    from deskpulse.routing.model import parse_status

    repo = _repo(db, tenant, config)
    a = set_availability(repo, user, parse_status(status), until=_instant(until, "--until"), note=note,
                         changed_by=by or "cli")
    _out(a.as_dict(), [a.as_dict()], fmt, "Agent availability", AVAILABILITY_TABLE)


@availability_app.command("history")
@handle_errors
def availability_history_cmd(
    user: Annotated[str | None, typer.Option("--user", help="Only this agent.")] = None,
    days: DaysOpt = None, from_: FromOpt = None, to: ToOpt = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100000)] = 1000,
    fmt: FormatOpt = OutFormat.table, db: DbOpt = None, tenant: TenantOpt = None, config: ConfigOpt = None,
) -> None:
    """Status changes, newest first (default: the last 7 days)."""
    from deskpulse.routing.availability import availability_history

    repo = _repo(db, tenant, config)
    w = _window(days, from_, to)
    items = [c.as_dict() for c in availability_history(repo, user_id=user, start=w.start, end=w.end, limit=limit)]
    _out(items, items, fmt, "Availability history", HISTORY_TABLE)


# --- assignment ----------------------------------------------------------------------------------------


@agents_app.command("assign")
@handle_errors
def assign_cmd(
    ticket: Annotated[str, typer.Argument(help="The ticket id.")],
    reassign: Annotated[bool, typer.Option("--reassign", help="Route an assigned ticket again.")] = False,
    escalation: Annotated[bool | None, typer.Option("--escalation/--no-escalation",
                                                    help="Override the ticket's escalation marker.")] = None,
    by: ActorOpt = None,
    fmt: FormatOpt = OutFormat.table, db: DbOpt = None, tenant: TenantOpt = None, config: ConfigOpt = None,
) -> None:
    """Assign a ticket automatically (seed 002's least-loaded round robin, or by skills)."""
    from deskpulse.routing.assign import auto_assign

    repo = _repo(db, tenant, config)
    d = auto_assign(repo, ticket, reassign=reassign, escalation=escalation, decided_by=by or "cli")
    if fmt is OutFormat.table:
        console.print(f"{d.ticket_id} → [bold]{d.user_id}[/bold] ({d.mode.value}/{d.rule}): {d.reason}",
                      highlight=False)
        return
    _out(d.as_dict(), [d.as_dict()], fmt, "Assignment")


# --- skills ----------------------------------------------------------------------------------------------


@skills_app.command("list")
@handle_errors
def skills_list_cmd(
    user: Annotated[str | None, typer.Option("--user", help="Only this agent.")] = None,
    category: Annotated[str | None, typer.Option("--category", help="Only this category.")] = None,
    fmt: FormatOpt = OutFormat.table, db: DbOpt = None, tenant: TenantOpt = None, config: ConfigOpt = None,
) -> None:
    """The skills matrix (agent, category, level 1-4, escalations)."""
    from deskpulse.routing.skills import list_skills

    repo = _repo(db, tenant, config)
    items = [s.as_dict() for s in list_skills(repo, user_id=user, category=category)]
    _out(items, items, fmt, "Skills", SKILL_TABLE)


@skills_app.command("add")
@handle_errors
def skills_add_cmd(
    user: Annotated[str, typer.Argument(help="The agent's user id.")],
    category: Annotated[str, typer.Argument(help="The ticket category.")],
    level: Annotated[int, typer.Option("--level", help="1 beginner, 2 intermediate, 3 advanced, 4 expert.")],
    escalations: Annotated[bool, typer.Option("--escalations/--no-escalations",
                                              help="The agent takes escalated tickets.")] = False,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite an existing skill.")] = False,
    by: ActorOpt = None,
    fmt: FormatOpt = OutFormat.table, db: DbOpt = None, tenant: TenantOpt = None, config: ConfigOpt = None,
) -> None:
    """Give an agent a skill (exit 3 when it has it already, unless --replace)."""
    from deskpulse.routing.skills import add_skill

    repo = _repo(db, tenant, config)
    s = add_skill(repo, user, category, level, can_handle_escalations=escalations, by=by or "cli", replace=replace)
    _out(s.as_dict(), [s.as_dict()], fmt, "Skill", SKILL_TABLE)


@skills_app.command("remove")
@handle_errors
def skills_remove_cmd(
    user: Annotated[str, typer.Argument(help="The agent's user id.")],
    category: Annotated[str, typer.Argument(help="The ticket category.")],
    fmt: FormatOpt = OutFormat.table, db: DbOpt = None, tenant: TenantOpt = None, config: ConfigOpt = None,
) -> None:
    """Remove a skill (exit 3 when the agent does not have it)."""
    from deskpulse.routing.skills import remove_skill

    repo = _repo(db, tenant, config)
    s = remove_skill(repo, user, category)
    _out(s.as_dict(), [s.as_dict()], fmt, "Removed skill", SKILL_TABLE)


# --- routing mode ------------------------------------------------------------------------------------------


@routing_app.command("get")
@handle_errors
def routing_get_cmd(fmt: FormatOpt = OutFormat.table, db: DbOpt = None, tenant: TenantOpt = None,
                    config: ConfigOpt = None) -> None:
    """The tenant's routing mode and skills fallback."""
    from deskpulse.routing.mode import get_routing_settings

    s = get_routing_settings(_repo(db, tenant, config)).as_dict()
    _out(s, [s], fmt, "Routing")


@routing_app.command("set")
@handle_errors
def routing_set_cmd(
    mode: Annotated[str, typer.Argument(help="round_robin or skills.")],
    fallback: Annotated[bool | None, typer.Option("--fallback/--no-fallback",
                                                  help="Skills mode: any available agent when none is skilled.")] = None,
    by: ActorOpt = None,
    fmt: FormatOpt = OutFormat.table, db: DbOpt = None, tenant: TenantOpt = None, config: ConfigOpt = None,
) -> None:
    """Set the routing mode (and the skills fallback)."""
    from deskpulse.routing.mode import set_routing_settings
    from deskpulse.routing.model import parse_mode

    s = set_routing_settings(_repo(db, tenant, config), mode=parse_mode(mode), fallback_to_any=fallback,
                             by=by or "cli").as_dict()
    _out(s, [s], fmt, "Routing")


# --- analytics ----------------------------------------------------------------------------------------------


@agents_app.command("occupancy")
@handle_errors
def occupancy_cmd(days: DaysOpt = None, from_: FromOpt = None, to: ToOpt = None, fmt: FormatOpt = OutFormat.table,
                  db: DbOpt = None, tenant: TenantOpt = None, config: ConfigOpt = None) -> None:
    """Minutes per status and occupancy (busy / (available + busy)) per agent."""
    from deskpulse.routing.analytics import occupancy

    r = occupancy(_repo(db, tenant, config), _window(days, from_, to))
    _out(r.as_dict(), r.rows(), fmt, f"Occupancy {r.window.start:%Y-%m-%d %H:%M} – {r.window.end:%Y-%m-%d %H:%M} UTC")


@agents_app.command("fairness")
@handle_errors
def fairness_cmd(days: DaysOpt = None, from_: FromOpt = None, to: ToOpt = None, fmt: FormatOpt = OutFormat.table,
                 db: DbOpt = None, tenant: TenantOpt = None, config: ConfigOpt = None) -> None:
    """Automatic assignments per agent and their Gini coefficient (0 = even)."""
    from deskpulse.routing.analytics import fairness

    r = fairness(_repo(db, tenant, config), _window(days, from_, to))
    if fmt is OutFormat.table:
        console.print(f"{r.assignments} assignments over {r.agents} agents · Gini {r.gini:.3f} · "
                      f"min {r.min_assignments} · max {r.max_assignments}", highlight=False)
    _out(r.as_dict(), r.rows(), fmt, "Assignments per agent")


@agents_app.command("coverage")
@handle_errors
def coverage_cmd(
    days: DaysOpt = None, from_: FromOpt = None, to: ToOpt = None,
    all_hours: Annotated[bool, typer.Option("--all", help="Every hour with arrivals, not only the gaps.")] = False,
    fmt: FormatOpt = OutFormat.table, db: DbOpt = None, tenant: TenantOpt = None, config: ConfigOpt = None,
) -> None:
    """Skill coverage gaps: per hour and category, arrivals no skilled available agent could take."""
    from deskpulse.routing.analytics import coverage_gaps

    r = coverage_gaps(_repo(db, tenant, config), _window(days, from_, to))
    if fmt is OutFormat.table:
        d = r.as_dict()
        console.print(f"{d['arrivals']} arrivals with a category, {d['uncovered']} uncovered, "
                      f"{d['gap_hours']} gap hour(s)", highlight=False)
    _out(r.as_dict(), r.rows(gaps_only=not all_hours), fmt, "Coverage gaps")
