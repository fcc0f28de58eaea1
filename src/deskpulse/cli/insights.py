"""Analytics commands (issue 5, part 2): next (breach risk queue), risk model, forecast, staffing, topics.

Thin adapters: options → :class:`~deskpulse.analytics.filters.Filters` → library call → table,
JSON or CSV. An empty window prints "no tickets in range" and exits 0.
"""

from __future__ import annotations

import enum
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from deskpulse.cli.main import ConfigOpt, DbOpt, TenantOpt, app, handle_errors, open_repo, resolve
from deskpulse.cli.options import Common, FormatOpt, common_options
from deskpulse.cli.output import OutFormat, console, emit_json, emit_rows, err_console

risk_app = typer.Typer(help="Breach-risk model: `risk model` (held-out evaluation).", no_args_is_help=True)
app.add_typer(risk_app, name="risk")

AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="Evaluate at this instant (ISO 8601; default: the last build's as_of)."),
]
NO_TICKETS = "no tickets in range"


class ByPeriod(enum.StrEnum):
    day = "day"
    week = "week"


class TopicsBy(enum.StrEnum):
    group = "group"
    week = "week"
    month = "month"
    category = "category"
    channel = "channel"
    priority = "priority"


class Engine(enum.StrEnum):
    numpy = "numpy"
    statsmodels = "statsmodels"


class AhtMethod(enum.StrEnum):
    reply_gap = "reply-gap"
    agent_work = "agent-work"
    assign_to_reply = "assign-to-reply"


def _as_of(value: str | None) -> datetime | None:
    from deskpulse.instants import parse_instant

    return parse_instant(value) if value else None


def _setup(db: str | None, tenant: str | None, config: Path | None, as_of: str | None
           ) -> tuple[Any, Any, datetime]:
    from deskpulse.analytics.insights_common import resolve_as_of

    ctx = resolve(db, tenant, config)
    repo = open_repo(ctx)
    return ctx, repo, resolve_as_of(repo, _as_of(as_of))


def _empty(fmt: OutFormat, payload: dict[str, Any]) -> None:
    if fmt is OutFormat.json:
        emit_json({**payload, "message": NO_TICKETS})
    elif fmt is OutFormat.csv:
        emit_rows([], fmt)
    else:
        console.print(NO_TICKETS)


@app.command("next")
@handle_errors
@common_options
def next_(
    opts: Common,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many tickets to list.")] = 20,
    refit: Annotated[bool, typer.Option("--refit", help="Fit the breach model again (else once per build).")] = False,
    as_of: AsOfOpt = None,
) -> None:
    """Ranked work queue of open tickets: overdue first, then by breach risk and time left.

    Example: deskpulse next --limit 10 --group Billing
    """
    from deskpulse.analytics.risk import RANKING, cached_breach_model, next_best
    from deskpulse.config import load_config

    fmt = opts.fmt
    ctx, repo, when = _setup(opts.db, opts.tenant, opts.config, as_of)
    filters = opts.filters(when)
    cfg = load_config(ctx.config)
    with err_console.status("ranking open clocks by breach risk…"):
        queue = next_best(repo, cfg, filters=filters, limit=limit, as_of=_as_of(as_of),
                          model=lambda: cached_breach_model(repo, cfg, refit=refit))
    if queue.empty:
        _empty(fmt, queue.as_dict())
        return
    if fmt is OutFormat.json:
        emit_json(queue.as_dict())
        return
    if fmt is OutFormat.csv:
        emit_rows(queue.rows(), fmt)
        return
    emit_rows(
        queue.rows(), fmt,
        title=(f"Next best tickets · as of {queue.as_of:%Y-%m-%d %H:%M}Z · {queue.window} · "
               f"{queue.open_clocks:,} open clocks on {queue.open_tickets:,} tickets "
               f"({queue.breached_clocks:,} breached)"),
        columns=["rank", "ticket_id", "group", "assignee_id", "ticket_status", "reason"],
    )
    console.print(f"[dim]ranking: {RANKING}[/dim]")


@risk_app.command("model")
@handle_errors
def risk_model(
    train_days: Annotated[int, typer.Option("--train-days", min=1, help="Days of history to fit on.")] = 28,
    test_days: Annotated[int, typer.Option("--test-days", min=1, help="Later days held out for scoring.")] = 14,
    gap_days: Annotated[int, typer.Option("--gap-days", min=0, help="Days before as_of left out (outcomes still open).")] = 7,
    step_minutes: Annotated[int, typer.Option("--step-minutes", min=1, help="Snapshot grid step.")] = 60,
    as_of: AsOfOpt = None,
    fmt: FormatOpt = OutFormat.table,
    db: DbOpt = None,
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Fit the breach model on an earlier period and score it on a later one (Brier, calibration)."""
    from deskpulse.analytics.risk import RiskSettings, evaluate_breach_model
    from deskpulse.config import load_config

    ctx, repo, when = _setup(db, tenant, config, as_of)
    settings = RiskSettings(train_days=train_days, test_days=test_days, gap_days=gap_days,
                            step_minutes=step_minutes)
    with err_console.status("fitting and scoring the breach model…"):
        ev = evaluate_breach_model(repo, load_config(ctx.config), as_of=when, settings=settings)
    if fmt is OutFormat.json:
        emit_json(ev.as_dict())
        return
    if fmt is OutFormat.csv:
        emit_rows([vars(c) for c in ev.calibration], fmt)
        return
    console.print(
        f"breach model: logistic regression on clock snapshots every {ev.step_minutes} min\n"
        f"train {ev.train_from:%Y-%m-%d} → {ev.train_to:%Y-%m-%d} ({ev.train_rows:,} rows, "
        f"base rate {ev.train_base_rate:.1%}) · test {ev.test_from:%Y-%m-%d} → {ev.test_to:%Y-%m-%d} "
        f"({ev.test_rows:,} rows, base rate {ev.test_base_rate:.1%}) · {ev.censored_rows:,} censored rows left out\n"
        f"Brier {ev.brier:.4f} vs base-rate Brier {ev.brier_base_rate:.4f} (skill {ev.brier_skill:.1%}) · "
        f"log loss {ev.log_loss:.4f} · AUC {ev.auc if ev.auc is not None else 'n/a'}\n"
        f"calibration: {ev.calibration_method} · ECE {ev.ece:.4f} (uncalibrated {ev.ece_uncalibrated:.4f}, "
        f"Brier {ev.brier_uncalibrated:.4f})"
    )
    emit_rows([vars(c) for c in ev.calibration], fmt, title="Calibration on the held-out period")
    emit_rows([vars(m) for m in ev.by_metric], fmt, title="By metric")
    emit_rows([vars(c) for c in ev.coefficients], fmt, title="Largest terms (numeric terms per standard deviation)")


@app.command()
@handle_errors
@common_options
def forecast(
    opts: Common,
    horizon: Annotated[int, typer.Option("--horizon", min=1, help="Days to forecast.")] = 14,
    by: Annotated[ByPeriod, typer.Option("--by", help="Table rows: day or week.")] = ByPeriod.day,
    folds: Annotated[int, typer.Option("--folds", min=0, help="Backtest origins (7 days apart).")] = 4,
    throughput_days: Annotated[int, typer.Option("--throughput-days", min=1, help="Days of throughput for the clear date.")] = 14,
    clear_by: Annotated[str | None, typer.Option("--clear-by", help="Throughput needed to clear the backlog by this date.")] = None,
    engine: Annotated[Engine, typer.Option("--engine", help="ETS fit: numpy (fast) or statsmodels.")] = Engine.numpy,
    as_of: AsOfOpt = None,
) -> None:
    """Arrivals forecast (weekly-seasonal ETS vs seasonal naive, backtest MAPE) and backlog clear date."""
    from deskpulse.analytics.forecast import forecast_arrivals

    fmt = opts.fmt
    ctx, repo, when = _setup(opts.db, opts.tenant, opts.config, as_of)
    filters = opts.filters(when)
    from deskpulse.instants import parse_instant

    clear_date = parse_instant(clear_by).date() if clear_by else None
    with err_console.status("forecasting arrivals…"):
        result = forecast_arrivals(repo, filters=filters, as_of=when, horizon_days=horizon,
                                   folds=folds, throughput_days=throughput_days,
                                   clear_by=clear_date, engine=engine.value)
    if result.empty:
        _empty(fmt, result.as_dict())
        return
    d = result.as_dict()
    rows = d["weeks"] if by is ByPeriod.week else d["days"]
    if fmt is OutFormat.json:
        emit_json(d)
        return
    if fmt is OutFormat.csv:
        emit_rows(rows, fmt)
        return
    console.print(
        f"history {result.history_from} → {result.history_to} ({result.history_tickets:,} tickets, "
        f"{result.window}) · ETS(A,N,A) weekly, α={result.alpha} γ={result.gamma} ({result.engine})")
    emit_rows(rows, fmt, title=f"Arrivals forecast, next {result.horizon_days} days (80 % interval)")
    if result.backtest:
        emit_rows(d["backtest"], fmt, title="Backtest (rolling origin)")
    b = result.backlog
    if b is not None:
        clear = (f"clears in {b.clear_days} days ({b.clear_date})" if b.clear_date else b.note)
        console.print(
            f"backlog at {b.as_of:%Y-%m-%d %H:%M}Z: {b.open_tickets:,} open · last {b.throughput_days} days: "
            f"{b.arrivals_per_day}/day in + {b.reopens_per_day} reopens, {b.completions_per_day}/day out "
            f"(net {b.net_burn_per_day:+}/day) · {clear}")
        if b.clear_by is not None:
            console.print(f"to clear by {b.clear_by}: {b.required_completions_per_day} completions/day needed "
                          f"(now {b.completions_per_day})")


@app.command()
@handle_errors
@common_options
def staffing(
    opts: Common,
    target: Annotated[float, typer.Option("--target", help="Service level: share answered within --within.")] = 0.8,
    within: Annotated[float, typer.Option("--within", help="First-reply target in minutes.")] = 60.0,
    shrinkage: Annotated[float, typer.Option("--shrinkage", help="Share of paid time not available (0-1).")] = 0.3,
    aht: Annotated[float | None, typer.Option("--aht", help="Handle time in minutes (default: estimated).")] = None,
    aht_method: Annotated[AhtMethod, typer.Option("--aht-method", help="How to estimate handle time.")] = AhtMethod.reply_gap,
    roster: Annotated[Path | None, typer.Option("--roster", help="agents.csv with timezone and shift columns.")] = None,
    observed: Annotated[bool, typer.Option("--observed/--no-observed", help="Infer agents on shift from agent events.")] = True,
    tz: Annotated[str, typer.Option("--tz", help="Timezone of the hour grid.")] = "UTC",
    all_hours: Annotated[bool, typer.Option("--all-hours", help="Table: all 168 hours, not only busy ones.")] = False,
    as_of: AsOfOpt = None,
) -> None:
    """Agents needed per hour of the week (Erlang C) against the roster. Window default: 28 days."""
    from deskpulse.analytics.staffing import read_roster, staffing_plan

    fmt = opts.fmt
    ctx, repo, when = _setup(opts.db, opts.tenant, opts.config, as_of)
    filters = opts.filters(when)
    plan = staffing_plan(repo, filters=filters, as_of=when, target=target, within_minutes=within,
                         shrinkage=shrinkage, aht_method=aht_method.value, aht_minutes=aht,
                         roster=read_roster(roster) if roster else None, infer_roster=observed, tz=tz)
    if plan.empty:
        _empty(fmt, plan.as_dict())
        return
    if fmt is OutFormat.json:
        emit_json(plan.as_dict())
        return
    rows = plan.rows(busy_only=not all_hours and fmt is OutFormat.table)
    if fmt is OutFormat.csv:
        emit_rows(rows, fmt)
        return
    console.print(
        f"{plan.tickets:,} tickets over {plan.weeks} weeks ({plan.window}) · target {plan.target:.0%} "
        f"within {plan.within_minutes:g} min · AHT {plan.aht_minutes} min ({plan.aht_method}) · "
        f"shrinkage {plan.shrinkage:.0%} · roster: {plan.roster_source}")
    emit_rows(rows, fmt, title=f"Agents per hour ({plan.tz})")
    peak = plan.peak
    line = f"agent-hours needed per week (scheduled): {plan.agent_hours_needed:,.0f}"
    if plan.agent_hours_rostered is not None:
        line += f" · rostered: {plan.agent_hours_rostered:,.0f}"
    if peak is not None:
        line += f" · peak {peak.weekday} {peak.hour:02d}:00 needs {peak.scheduled_needed}"
    line += f" · hours short: {plan.short_slots}"
    console.print(line)


@app.command()
@handle_errors
@common_options
def topics(
    opts: Common,
    by: Annotated[TopicsBy, typer.Option("--by", help="One row per group, week, month, category, channel or priority.")] = TopicsBy.group,
    top: Annotated[int, typer.Option("--top", min=1, help="Keywords per row.")] = 8,
    min_df: Annotated[int, typer.Option("--min-df", min=1, help="A keyword must occur in this many tickets.")] = 3,
    sentiment: Annotated[bool, typer.Option("--sentiment/--no-sentiment", help="VADER sentiment per row.")] = True,
    sentiment_sample: Annotated[int, typer.Option("--sentiment-sample", min=1, help="Distinct texts scored at most (a fixed random sample beyond).")] = 1000,
    n_topics: Annotated[int, typer.Option("--topics", min=0, help="NMF topics to extract (0: keywords only).")] = 8,
    as_of: AsOfOpt = None,
) -> None:
    """Top keywords (c-TF-IDF), topics (NMF on TF-IDF) and sentiment (VADER) per group or period.
    Window default: 28 days."""
    from deskpulse.analytics.text import topics as run_topics

    fmt = opts.fmt
    ctx, repo, when = _setup(opts.db, opts.tenant, opts.config, as_of)
    filters = opts.filters(when)
    with err_console.status("reading ticket texts…"):
        result = run_topics(repo, filters=filters, by=by.value, as_of=when, top_n=top, min_df=min_df,
                            sentiment=sentiment, max_sentiment_texts=sentiment_sample,
                            n_topics=n_topics)
    if result.empty:
        _empty(fmt, result.as_dict())
        return
    if fmt is OutFormat.json:
        emit_json(result.as_dict())
        return
    rows = result.rows()
    if fmt is OutFormat.csv:
        emit_rows(rows, fmt)
        return
    emit_rows(rows, fmt, title=f"Topics by {result.by} · {result.window} · {result.tickets:,} tickets")
    if result.topics:
        emit_rows([{"topic": t.topic, "label": t.label, "terms": ", ".join(t.terms), "tickets": t.tickets,
                    "share": f"{t.share:.1%}"} for t in result.topics], fmt,
                  title="NMF topics (each ticket counted in its dominant topic)")
    o = result.overall
    if o is not None:
        console.print(f"all tickets: {', '.join(k.term for k in o.keywords)} · sentiment {o.sentiment_mean} "
                      f"({result.scored_texts:,} of {result.distinct_texts:,} distinct texts scored)")
