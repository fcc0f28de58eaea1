"""Analytics commands (issue 5, part 1): response-times, resolution, backlog, volume,
bottlenecks and ``agents performance``.

Thin adapters: options become :class:`~deskpulse.analytics.filters.Filters` (relative
windows count back from the last build's ``as_of``), the library computes a typed result, and
this module prints it as a rich table, JSON (``result.as_dict()``) or CSV (``result.rows()``).
An empty window prints "no tickets in range" and exits 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from deskpulse.cli.main import app, handle_errors, open_repo, resolve
from deskpulse.cli.options import (  # noqa: F401 - FormatOpt re-exported for cli/agents.py
    Common,
    CommonArgs,
    CommonNoWindow,
    FormatOpt,
    common_options,
)
from deskpulse.cli.output import OutFormat, console, emit_json, emit_rows, err_console

agents_app = typer.Typer(
    help="Agents: `performance` (seed 002), `availability`, `assign`, `skills`, `routing-mode`, `occupancy`, `fairness`, `coverage`.",
    no_args_is_help=True,
)
app.add_typer(agents_app, name="agents")

ByOpt = Annotated[
    list[str] | None,
    typer.Option("--by", help="Breakdowns to show (repeatable): category, priority, group, channel, agent, policy."),
]

Column = tuple[str, str, Callable[[Any], str]]


def _num(v: Any) -> str:
    return "" if v is None else f"{v:,}"


def _min(v: Any) -> str:
    return "" if v is None else f"{v:,.1f}"


def _pct(v: Any) -> str:
    return "" if v is None else f"{v:.1f}%"


def _share(v: Any) -> str:
    return "" if v is None else f"{100 * v:.1f}%"


def _yes(v: Any) -> str:
    return "" if v is None else ("yes" if v else "no")


def _text(v: Any) -> str:
    return "" if v is None else str(v)


def _print_table(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> None:
    table = Table(title=title, header_style="bold", title_justify="left")
    for i, (key, header, fmt) in enumerate(columns):
        if i == 0:  # the row label stays whole; numbers fold on narrow terminals
            width = max([len(header), *(len(fmt(r.get(key))) for r in rows)])
            table.add_column(header, no_wrap=True, min_width=min(width, 40))
        else:
            table.add_column(header, justify="right", overflow="fold")
    for r in rows:
        table.add_row(*[fmt(r.get(key)) for key, _, fmt in columns])
    console.print(table)


def _now(repo: Any) -> datetime:
    from deskpulse.analytics.results import analysis_now
    from deskpulse.instants import utcnow

    return analysis_now(repo) or utcnow()


def _emit(result: Any, fmt: OutFormat, render: Callable[[], None]) -> None:
    """Print a result: JSON/CSV for machines, the renderer (or the empty message) for people."""
    if fmt is OutFormat.json:
        emit_json(result.as_dict())
        return
    if fmt is OutFormat.csv:
        if result.is_empty:
            err_console.print(f"{result.message} ({result.window.description})")
        emit_rows(result.rows(), fmt)
        return
    if result.is_empty:
        console.print(f"{result.message} ({result.window.description})")
        return
    render()


def _context(opts: CommonArgs) -> tuple[Any, Any]:
    from deskpulse.config import load_config

    ctx = resolve(opts.db, opts.tenant, opts.config)
    cfg = load_config(ctx.config)
    return open_repo(ctx), cfg


def _slice(r: dict[str, Any]) -> dict[str, Any]:
    return {**r, "slice": "overall" if r["dimension"] == "all" else f"{r['dimension']}={r['value']}"}


@app.command("response-times")
@handle_errors
@common_options
def response_times_cmd(
    opts: Common,
    by: ByOpt = None,
) -> None:
    """First response times: mean/median/p90 (calendar and business), share within the
    threshold and SLA compliance, overall and by category, priority, group, channel, agent."""
    from deskpulse.analytics.resolution import response_times

    repo, cfg = _context(opts)
    filters = opts.filters(_now(repo))
    report = response_times(repo, filters, cfg.thresholds, by=by)

    def render() -> None:
        t = report.targets
        cols: list[Column] = [
            ("slice", "slice", _text), ("tickets", "tickets", _num), ("replied", "replied", _num),
            ("first_reply_mean_calendar_minutes", "mean min", _min),
            ("first_reply_median_calendar_minutes", "median min", _min),
            ("first_reply_p90_calendar_minutes", "p90 min", _min),
            ("first_reply_median_business_minutes", "median bus. min", _min),
            ("within_threshold_share", f"≤ {t['first_response_minutes']:g} min", _share),
            ("first_response_sla_compliance_pct", "FR SLA", _pct),
            ("next_response_sla_compliance_pct", "NR SLA", _pct),
            ("is_sla_target_met", f"≥ {t['sla_target_percentage']:g}%", _yes),
        ]
        _print_table(f"Response times · {report.window.description}",
                     [_slice(r) for r in report.rows()], cols)

    _emit(report, opts.fmt, render)


@app.command("resolution")
@handle_errors
@common_options
def resolution_cmd(
    opts: Common,
    by: ByOpt = None,
) -> None:
    """Resolution rate against its target, resolution times (calendar and business), share
    within the threshold and SLA compliance, overall and per breakdown."""
    from deskpulse.analytics.resolution import resolution

    repo, cfg = _context(opts)
    filters = opts.filters(_now(repo))
    report = resolution(repo, filters, cfg.thresholds, by=by)

    def render() -> None:
        t = report.targets
        cols: list[Column] = [
            ("slice", "slice", _text), ("tickets", "tickets", _num),
            ("resolved", "resolved", _num), ("resolution_rate", "rate", _share),
            ("is_resolution_rate_target_met", f"≥ {100 * t['resolution_rate_target']:g}%", _yes),
            ("resolution_mean_calendar_minutes", "mean min", _min),
            ("resolution_median_calendar_minutes", "median min", _min),
            ("resolution_p90_calendar_minutes", "p90 min", _min),
            ("resolution_median_business_minutes", "median bus. min", _min),
            ("within_threshold_share", f"≤ {t['resolution_hours']:g} h", _share),
            ("resolution_sla_compliance_pct", "SLA", _pct),
            ("is_sla_target_met", f"≥ {t['sla_target_percentage']:g}%", _yes),
        ]
        _print_table(f"Resolution · {report.window.description}",
                     [_slice(r) for r in report.rows()], cols)

    _emit(report, opts.fmt, render)


@app.command("backlog")
@handle_errors
@common_options
def backlog_cmd(
    opts: Common,
    dimension: Annotated[str, typer.Option("--dimension", help="all, group, priority, channel or region.")] = "all",
    value: Annotated[str | None, typer.Option("--value", help="Only this value of the dimension.")] = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Rebuild backlog_daily first.")] = False,
) -> None:
    """Backlog per UTC day (open, arrivals vs completions, WIP, ages, SLA debt, at risk) with
    burn-down and minutes to green; builds backlog_daily when missing or stale."""
    from deskpulse.analytics.backlog import backlog_report

    repo, _ = _context(opts)
    filters = opts.filters(_now(repo))
    report = backlog_report(repo, filters, dimension=dimension, value=value, rebuild=rebuild)

    def render() -> None:
        cols: list[Column] = [
            ("date", "date", _text), ("value", "value", _text), ("open_count", "open", _num),
            ("arrivals", "arrivals", _num), ("completions", "completions", _num),
            ("net_change", "net", _num), ("wip", "WIP", _num), ("lt_1d", "<1d", _num),
            ("d1_3", "1-3d", _num), ("d3_7", "3-7d", _num), ("d7_30", "7-30d", _num),
            ("gt_30d", ">30d", _num), ("sla_debt_minutes", "SLA debt min", _min),
            ("at_risk_count", "at risk", _num),
        ]
        _print_table(f"Backlog by {report.dimension} · {report.window.description}",
                     report.rows(), cols)
        b, g = report.burndown, report.green
        console.print(
            f"burn-down over {b.days} days: open {b.open_at_start:,} → {b.open_at_end:,}; "
            f"arrivals {b.arrivals:,}, completions {b.completions:,}"
            + (f"; net burn {b.net_burn_per_day:,.1f}/day" if b.net_burn_per_day is not None else "")
            + (f", clear in {b.days_to_clear_at_net_burn:,.1f} days"
               if b.days_to_clear_at_net_burn is not None else "")
        )
        green = "n/a (no completions)" if g.minutes_to_green is None else f"{g.minutes_to_green:,.0f} min"
        console.print(
            f"minutes to green: {green} — {g.red_tickets:,} red of {g.open_tickets:,} open "
            f"({g.breached_tickets:,} breached, {g.at_risk_tickets:,} at risk), "
            f"throughput {g.throughput_per_hour or 0:,.1f}/h over {g.throughput_days} days"
        )

    _emit(report, opts.fmt, render)


@app.command("volume")
@handle_errors
@common_options
def volume_cmd(
    opts: Common,
    period: Annotated[str, typer.Option("--period", help="day or week (ISO, Monday).")] = "day",
) -> None:
    """Ticket volume: tickets created per UTC day or week."""
    from deskpulse.analytics.backlog import ticket_volume

    repo, _ = _context(opts)
    filters = opts.filters(_now(repo))
    report = ticket_volume(repo, filters, period=period)

    def render() -> None:
        _print_table(
            f"Tickets per {report.period} · {report.window.description} ({report.tickets:,} tickets)",
            report.rows(),
            [("period_start", report.period, _text), ("tickets", "tickets", _num)],
        )

    _emit(report, opts.fmt, render)


@app.command("bottlenecks")
@handle_errors
@common_options
def bottlenecks_cmd(
    opts: Common,
    min_tickets: Annotated[int, typer.Option("--min-tickets", min=1, help="Smallest slice scored.")] = 10,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Show at most N findings (table).")] = 25,
) -> None:
    """Bottlenecks by category, agent, weekday × hour and lifecycle stage (status, group,
    hand-offs), with severity, evidence and a recommendation."""
    from deskpulse.analytics.bottlenecks import bottlenecks

    repo, cfg = _context(opts)
    filters = opts.filters(_now(repo))
    report = bottlenecks(repo, filters, cfg.thresholds, min_tickets=min_tickets)

    def render() -> None:
        shown = report.findings[:limit] if limit else report.findings
        console.print(
            f"Bottlenecks · {report.window.description} · {report.tickets:,} tickets, "
            f"{report.segments_scored} slices scored, {len(report.findings)} at or above "
            f"{report.threshold_pct:g}%"
        )
        if not shown:
            console.print(report.message or "")
            return
        table = Table(header_style="bold", show_lines=True)
        for h in ("severity", "slice", "rate", "evidence", "examples", "recommendation"):
            table.add_column(h, overflow="fold")
        for f in shown:
            evidence = (
                f"breach {_pct(f.breach_rate_pct) or 'n/a'} ({f.breached:,}/{f.sla_decided:,}), "
                f"delay {_pct(f.delay_rate_pct) or 'n/a'} ({f.delayed:,}/{f.delay_decided:,}), "
                f"{f.tickets:,} tickets"
            )
            table.add_row(f.severity, f.label, f"{f.rate_pct:.1f}% {f.driver}", evidence,
                          " ".join(f.example_ticket_ids), f.recommendation)
        console.print(table)
        if len(shown) < len(report.findings):
            console.print(f"… {len(report.findings) - len(shown)} more (--limit, --format json)")

    _emit(report, opts.fmt, render)


@agents_app.command("performance")
@handle_errors
@common_options
def agents_performance_cmd(
    opts: CommonNoWindow,
    range_: Annotated[str, typer.Option("--range", help="today, 7d, 30d, 90d or all.")] = "30d",
) -> None:
    """Per agent: assigned, resolved, open / in progress / pending, resolution and first
    response times, SLA compliance, escalation and reopen rates, CSAT."""
    from deskpulse.analytics.agents import agent_performance, range_filters

    repo, _ = _context(opts)
    filters = range_filters(range_, _now(repo), **opts.values)
    report = agent_performance(repo, filters, range_name=range_)

    def render() -> None:
        cols: list[Column] = [
            ("agent_id", "agent", _text), ("assigned", "assigned", _num),
            ("resolved", "resolved", _num), ("open", "open", _num),
            ("in_progress", "in progress", _num), ("pending", "pending", _num),
            ("resolution_median_calendar_minutes", "res. median min", _min),
            ("first_reply_mean_calendar_minutes", "FRT mean min", _min),
            ("sla_compliance_pct", "SLA", _pct), ("escalation_rate", "escalated", _share),
            ("reopen_rate", "reopened", _share), ("csat_pct", "CSAT", _pct),
        ]
        t = report.team
        console.print(
            f"Agents · {report.range} · {report.window.description}: {report.active_agents} "
            f"active of {len(report.agents)}, {t.assigned:,} assigned, {t.resolved:,} resolved, "
            f"SLA {_pct(t.sla_compliance_pct) or 'n/a'}, {report.unassigned_tickets:,} unassigned"
        )
        _print_table("Agent performance", report.rows(), cols)

    _emit(report, opts.fmt, render)
