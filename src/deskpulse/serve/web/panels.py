"""The data behind each dashboard page: library calls, guarded, shaped for templates and CSV.

Every figure comes from an analytics function (:mod:`deskpulse.analytics`) — this module only
calls them with the page's filters, attaches drill-down URLs and arranges rows. A panel whose
library call fails (no build yet, too little history for a model, a bug) shows its reason
instead of taking the whole page down: :func:`attempt`.

The breach model behind the next-best-ticket queue is fitted once per tenant, build and
config (:func:`breach_model`), not on every page view.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final, Generic, TypeVar

from deskpulse.analytics.agents import AgentPerformanceReport, agent_performance
from deskpulse.analytics.backlog import AT_RISK_HOURS, BacklogReport, backlog_report, ticket_volume
from deskpulse.analytics.bottlenecks import BottleneckReport, Finding, bottlenecks
from deskpulse.analytics.filters import Filters
from deskpulse.analytics.forecast import ArrivalsForecast, forecast_arrivals
from deskpulse.analytics.resolution import (
    ResolutionReport,
    ResponseTimesReport,
    resolution,
    response_times,
)
from deskpulse.analytics.results import BREAKDOWNS
from deskpulse.analytics.risk import BreachModel, WorkQueue, fit_breach_model, next_best
from deskpulse.analytics.staffing import StaffingPlan, staffing_plan
from deskpulse.config import AppConfig
from deskpulse.errors import DeskpulseError
from deskpulse.serve.web import charts
from deskpulse.serve.web.view import (
    OPEN_STATUSES,
    SOLVED_STATUSES,
    day_url,
    iso_z,
    tickets_url,
)
from deskpulse.store import TenantStore

log = logging.getLogger(__name__)

V = TypeVar("V")
MISSED: Final = ["breached", "active_breached"]
#: The overview's SLA attainment tables; "policy" when the analytics library breaks down by the
#: SLA policy the build matched (``analytics.results.BREAKDOWNS``).
SLA_BREAKDOWNS: Final = ("priority", "group", *(("policy",) if "policy" in BREAKDOWNS else ()))
PRIORITY_ORDER: Final = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
QUEUE_ROWS: Final = 15
CHART_FINDINGS: Final = 20
CSV_QUEUE_ROWS: Final = 1000
MODEL_CACHE_SIZE: Final = 16
AGE_LABELS: Final = (("lt_1d", "< 1 day", 0, 1), ("d1_3", "1–3 days", 1, 3), ("d3_7", "3–7 days", 3, 7),
                     ("d7_30", "7–30 days", 7, 30), ("gt_30d", "> 30 days", 30, None))
WEEKDAY_NAMES: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass
class Panel(Generic[V]):
    """A library result, or why there is none."""

    value: V | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.value is not None


def attempt(what: str, fn: Callable[[], V]) -> Panel[V]:
    """Run one panel's library call; a failure becomes a message on the panel."""
    try:
        return Panel(fn())
    except DeskpulseError as exc:
        return Panel(error=exc.message)
    except Exception:  # a panel must not take the page down; the log keeps the traceback
        log.exception("dashboard panel %r failed", what)
        return Panel(error=f"{what} could not be computed (the server log has the details)")


# --- the breach model, fitted once per tenant × build × config ----------------------------------

_models: OrderedDict[tuple[str, str, datetime, str], BreachModel] = OrderedDict()
_models_lock = threading.Lock()


def breach_model(repo: TenantStore, cfg: AppConfig, as_of: datetime) -> BreachModel:
    key = (repo.store.url, repo.tenant_id, as_of, cfg.fingerprint)
    with _models_lock:
        cached = _models.get(key)
        if cached is not None:
            _models.move_to_end(key)
            return cached
    model = fit_breach_model(repo, cfg, as_of=as_of)
    with _models_lock:
        _models[key] = model
        while len(_models) > MODEL_CACHE_SIZE:
            _models.popitem(last=False)
    return model


def work_queue(repo: TenantStore, cfg: AppConfig, as_of: datetime, dims: Filters, limit: int) -> WorkQueue:
    """The next-best-ticket queue over all open tickets matching the dimension filters."""
    model = breach_model(repo, cfg, as_of)
    return next_best(repo, cfg, filters=dims, limit=limit, model=model)


# --- overview ----------------------------------------------------------------------------------


@dataclass
class SlaRow:
    """One slice of the SLA attainment table (both clocks), with its drill-downs."""

    dimension: str
    value: str
    tickets: int
    first_response_pct: float | None
    first_response_missed: int
    resolution_pct: float | None
    resolution_missed: int
    resolution_rate: float | None
    url: str
    missed_url: str

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.endswith("url")}


def sla_rows(res: ResolutionReport, rsp: ResponseTimesReport, filters: Filters, dimension: str) -> list[SlaRow]:
    by_value = {r.value: r for r in rsp.breakdowns.get(dimension, [])}
    rows = []
    for r in res.breakdowns.get(dimension, []):
        fr = by_value.get(r.value)
        rows.append(SlaRow(
            dimension=dimension, value=r.value, tickets=r.tickets,
            first_response_pct=fr.first_response_sla_compliance_pct if fr else None,
            first_response_missed=fr.first_response_sla_missed if fr else 0,
            resolution_pct=r.resolution_sla_compliance_pct,
            resolution_missed=r.resolution_sla_missed,
            resolution_rate=r.resolution_rate,
            url=tickets_url(filters, **{dimension: r.value}),
            missed_url=tickets_url(filters, sla_status=MISSED, **{dimension: r.value}),
        ))
    if dimension == "priority":
        rows.sort(key=lambda s: (PRIORITY_ORDER.get(s.value, 9), s.value))
    return rows


@dataclass
class Card:
    """A headline number with the link to the tickets behind it."""

    label: str
    value: str
    url: str | None = None
    note: str = ""
    tone: str = ""  # "", "good", "warn", "bad"


@dataclass
class Overview:
    as_of: datetime
    filters: Filters
    resolution: Panel[ResolutionReport]
    response: Panel[ResponseTimesReport]
    backlog: Panel[BacklogReport]
    queue: Panel[WorkQueue]
    sla: dict[str, list[SlaRow]] = field(default_factory=dict)
    figures: dict[str, charts.Figure] = field(default_factory=dict)
    aging: list[dict[str, Any]] = field(default_factory=list)
    target: float = 95.0


def overview(repo: TenantStore, primary: TenantStore, cfg: AppConfig, as_of: datetime, f: Filters,
             *, queue_rows: int = QUEUE_ROWS) -> Overview:
    th = cfg.thresholds
    dims = Filters(values=dict(f.values))
    out = Overview(
        as_of=as_of, filters=f,
        resolution=attempt("SLA attainment", lambda: resolution(repo, f, th, by=SLA_BREAKDOWNS)),
        response=attempt("first response", lambda: response_times(repo, f, th, by=SLA_BREAKDOWNS)),
        # backlog_report may (re)build the backlog_daily table: it runs on the primary connection
        backlog=attempt("backlog", lambda: backlog_report(primary, f)),
        queue=attempt("next-best-ticket queue", lambda: work_queue(repo, cfg, as_of, dims, queue_rows))
        if queue_rows > 0 else Panel(),
        target=th.sla_target_percentage,
    )
    if out.resolution.value is not None and out.response.value is not None:
        for dim in SLA_BREAKDOWNS:
            rows = sla_rows(out.resolution.value, out.response.value, f, dim)
            out.sla[dim] = rows
            out.figures[f"sla_{dim}"] = charts.sla_attainment(
                [(r.value, r.first_response_pct, r.resolution_pct) for r in rows],
                [r.url for r in rows], th.sla_target_percentage, horizontal=dim != "priority")
    bl = out.backlog.value
    if bl is not None and bl.days:
        days = [d for d in bl.days if d.dimension == "all"] or bl.days
        dates = [d.date for d in days]

        def arrivals_of(day: date) -> str:
            return day_url(f, day)

        out.figures["burndown"] = charts.daily_lines(
            dates, [("Open", [d.open_count for d in days], charts.COLORS["blue"], "line"),
                    ("Work in progress", [d.wip for d in days], charts.COLORS["teal"], "line")],
            arrivals_of, y_title="tickets")
        out.figures["flows"] = charts.daily_lines(
            dates, [("Arrivals", [d.arrivals for d in days], charts.COLORS["blue"], "bar"),
                    ("Completions", [d.completions for d in days], charts.COLORS["green"], "bar")],
            arrivals_of, y_title="tickets per day")
        breached_now = tickets_url(dims, status=list(OPEN_STATUSES), sla_status="active_breached")
        out.figures["debt"] = charts.daily_lines(
            dates, [("SLA debt (hours)", [round(d.sla_debt_minutes / 60, 1) for d in days], charts.COLORS["red"], "line"),
                    ("At risk (clocks)", [d.at_risk_count for d in days], charts.COLORS["orange"], "line2")],
            lambda _day: breached_now, y_title="hours past due", y2_title="clocks at risk")
        last = days[-1]
        for key, label, lo, hi in AGE_LABELS:
            created_to = as_of - timedelta(days=lo) if lo else None
            created_from = as_of - timedelta(days=hi) if hi is not None else None
            out.aging.append({
                "bucket": label, "open": int(getattr(last, key)),
                "url": tickets_url(dims, status=list(OPEN_STATUSES),
                                   created_from=iso_z(created_from) if created_from else None,
                                   created_to=iso_z(created_to) if created_to else None),
            })
        out.figures["aging"] = charts.bars(
            [a["bucket"] for a in out.aging], [("Open tickets", [a["open"] for a in out.aging], "")],
            [a["url"] for a in out.aging], colors=charts.AGE_COLORS)
    return out


def backlog_panel(primary: TenantStore, f: Filters) -> Panel[BacklogReport]:
    return attempt("backlog", lambda: backlog_report(primary, f))


def sla_breakdown(repo: TenantStore, cfg: AppConfig, f: Filters, dimension: str) -> Panel[list[SlaRow]]:
    """The SLA attainment table of one breakdown (both clocks), for its CSV."""

    def rows() -> list[SlaRow]:
        res = resolution(repo, f, cfg.thresholds, by=(dimension,))
        rsp = response_times(repo, f, cfg.thresholds, by=(dimension,))
        return sla_rows(res, rsp, f, dimension)

    return attempt("SLA attainment", rows)


def overview_cards(ov: Overview) -> list[Card]:
    from deskpulse.serve.web.render import fmt_int, fmt_minutes, fmt_pct, fmt_ratio

    f, dims = ov.filters, Filters(values=dict(ov.filters.values))
    cards: list[Card] = []
    bl = ov.backlog.value
    if bl is not None:
        g = bl.green
        risk_until = ov.as_of + timedelta(hours=AT_RISK_HOURS)
        cards += [
            Card("Open tickets", fmt_int(g.open_tickets), tickets_url(dims, status=list(OPEN_STATUSES)),
                 "new, open, pending or on hold"),
            Card("Breached (open)", fmt_int(g.breached_tickets),
                 tickets_url(dims, status=list(OPEN_STATUSES), sla_status="active_breached"),
                 "a running SLA clock past due", "bad" if g.breached_tickets else "good"),
            Card("At risk", fmt_int(g.at_risk_tickets),
                 tickets_url(dims, status=list(OPEN_STATUSES), due_before=iso_z(risk_until)),
                 f"due within {AT_RISK_HOURS} h", "warn" if g.at_risk_tickets else "good"),
            Card("Minutes to green", fmt_minutes(g.minutes_to_green), "#queue",
                 f"{fmt_int(g.red_tickets)} red tickets at {g.throughput_per_hour or 0:.1f} solves/h"),
        ]
        if bl.days:
            last = [d for d in bl.days if d.dimension == "all"] or bl.days
            cards.append(Card("SLA debt", fmt_minutes(last[-1].sla_debt_minutes),
                              tickets_url(dims, status=list(OPEN_STATUSES), sla_status="active_breached"),
                              "time past due of running breached clocks", "bad" if last[-1].sla_debt_minutes else ""))
            b = bl.burndown
            cards.append(Card("Net burn / day", f"{b.net_burn_per_day:+.1f}" if b.net_burn_per_day is not None else "—",
                              tickets_url(f), f"{b.arrivals_per_day or 0:.1f} in · {b.completions_per_day or 0:.1f} out",
                              "good" if (b.net_burn_per_day or 0) >= 0 else "warn"))
    res, rsp = ov.resolution.value, ov.response.value
    if rsp is not None:
        o = rsp.overall
        cards.append(Card("First response SLA", fmt_pct(o.first_response_sla_compliance_pct),
                          tickets_url(f, sla_status=MISSED), f"{fmt_int(o.first_response_sla_missed)} missed",
                          _tone(o.is_sla_target_met)))
    if res is not None:
        o2 = res.overall
        cards.append(Card("Resolution SLA", fmt_pct(o2.resolution_sla_compliance_pct),
                          tickets_url(f, sla_status=MISSED), f"{fmt_int(o2.resolution_sla_missed)} missed",
                          _tone(o2.is_sla_target_met)))
        cards.append(Card("Resolution rate", fmt_ratio(o2.resolution_rate), tickets_url(f, status=list(SOLVED_STATUSES)),
                          f"{fmt_int(o2.resolved)} of {fmt_int(o2.tickets)} tickets",
                          _tone(o2.is_resolution_rate_target_met)))
    return cards


def _tone(met: bool | None) -> str:
    return "" if met is None else ("good" if met else "bad")


# --- agents ---------------------------------------------------------------------------------------


def agents_report(repo: TenantStore, f: Filters, range_name: str) -> Panel[AgentPerformanceReport]:
    return attempt("agent performance", lambda: agent_performance(repo, f, range_name=range_name))


def agent_cards(rep: AgentPerformanceReport, f: Filters) -> list[Card]:
    from deskpulse.serve.web.render import fmt_int, fmt_minutes, fmt_pct, fmt_ratio

    t = rep.team
    return [
        Card("Active agents", fmt_int(rep.active_agents), tickets_url(f), f"of {fmt_int(len(rep.agents))} known"),
        Card("Total assigned", fmt_int(t.assigned), tickets_url(f),
             f"{fmt_int(rep.unassigned_tickets)} unassigned"),
        Card("Resolved", fmt_int(t.resolved), tickets_url(f, status=list(SOLVED_STATUSES)),
             f"{fmt_ratio(t.resolution_rate)} resolution rate"),
        Card("Open", fmt_int(t.open), tickets_url(f, status=list(OPEN_STATUSES)),
             f"{fmt_int(t.in_progress)} in progress · {fmt_int(t.pending)} pending"),
        Card("Avg resolution", fmt_minutes(t.resolution_mean_calendar_minutes), tickets_url(f, status=list(SOLVED_STATUSES)),
             f"median {fmt_minutes(t.resolution_median_calendar_minutes)}"),
        Card("Avg first response", fmt_minutes(t.first_reply_mean_calendar_minutes), tickets_url(f),
             f"median {fmt_minutes(t.first_reply_median_calendar_minutes)}"),
        Card("SLA compliance", fmt_pct(t.sla_compliance_pct), tickets_url(f, sla_status=MISSED),
             f"{fmt_int(t.sla_missed)} missed clocks"),
        Card("Escalation rate", fmt_ratio(t.escalation_rate), tickets_url(f), f"{fmt_int(t.escalated)} escalated"),
        Card("CSAT", fmt_pct(t.csat_pct), tickets_url(f), f"{fmt_int(t.csat_good + t.csat_bad)} ratings"),
    ]


def agent_urls(f: Filters, agent_id: str) -> dict[str, str]:
    return {
        "assigned": tickets_url(f, agent=agent_id),
        "resolved": tickets_url(f, agent=agent_id, status=list(SOLVED_STATUSES)),
        "open": tickets_url(f, agent=agent_id, status=list(OPEN_STATUSES)),
        "missed": tickets_url(f, agent=agent_id, sla_status=MISSED),
    }


def agents_figure(rep: AgentPerformanceReport, f: Filters, top: int = 15) -> charts.Figure:
    rows = [a for a in rep.agents if a.assigned][:top]
    return charts.bars(
        [a.agent_id for a in rows],
        [("Resolved", [a.resolved for a in rows], charts.COLORS["teal"]),
         ("Open", [a.open for a in rows], charts.COLORS["orange"])],
        [tickets_url(f, agent=a.agent_id) for a in rows], horizontal=True, stacked=True)


# --- bottlenecks -----------------------------------------------------------------------------------


def finding_url(f: Filters, finding: Finding, as_of: datetime, resolution_hours: float) -> str:
    """The tickets behind a finding: the slice, and for breach-driven ones the missed tickets."""
    extra: dict[str, Any] = {}
    if finding.kind in ("category", "group"):
        extra[finding.kind] = finding.value
    elif finding.kind == "agent":
        extra["agent"] = finding.value
    elif finding.kind == "status":
        extra["status"] = finding.value
    elif finding.kind == "period" and finding.value.isdigit():
        weekday, hour = divmod(int(finding.value), 100)
        extra.update(created_weekday=weekday, created_hour=hour)
    if finding.kind not in ("status", "group"):
        if finding.driver == "breach":
            extra["sla_status"] = MISSED
        else:  # unresolved although older than the resolution threshold
            extra["status"] = list(OPEN_STATUSES)
            cut = as_of - timedelta(hours=resolution_hours)
            if f.end_at is None or cut < f.end_at:
                extra["created_to"] = iso_z(cut)
    return tickets_url(f, **extra)


def bottleneck_report(repo: TenantStore, cfg: AppConfig, f: Filters, min_tickets: int) -> Panel[BottleneckReport]:
    return attempt("bottlenecks", lambda: bottlenecks(repo, f, cfg.thresholds, min_tickets=min_tickets))


def bottleneck_figure(findings: list[Finding], urls: list[str], top: int = CHART_FINDINGS) -> charts.Figure:
    findings, urls = findings[:top], urls[:top]
    return charts.bars(
        [f.label for f in findings], [("Rate", [round(f.rate_pct, 1) for f in findings], "")], urls,
        horizontal=True, colors=[charts.SEVERITY_COLORS.get(f.severity, "#8a94a6") for f in findings],
        x_suffix=" %")


# --- forecast and staffing ---------------------------------------------------------------------


@dataclass
class Outlook:
    forecast: Panel[ArrivalsForecast]
    staffing: Panel[StaffingPlan]
    figures: dict[str, charts.Figure] = field(default_factory=dict)
    history_days: int = 0


def outlook(repo: TenantStore, f: Filters, *, horizon: int, tz: str, target: float, within: float,
            shrinkage: float, history_days: int = 56) -> Outlook:
    fc = attempt("forecast", lambda: forecast_arrivals(repo, filters=f, horizon_days=horizon))
    st = attempt("staffing", lambda: staffing_plan(repo, filters=f, tz=tz, target=target,
                                                   within_minutes=within, shrinkage=shrinkage))
    out = Outlook(fc, st)
    result = fc.value
    if result is not None and result.days and result.history_to is not None:
        lo = max(result.history_to - timedelta(days=history_days - 1), result.history_from or result.history_to)
        window = Filters(start_at=datetime.combine(lo, datetime.min.time()),
                         end_at=datetime.combine(result.history_to + timedelta(days=1), datetime.min.time()),
                         values=dict(f.values))
        vol = attempt("arrivals history", lambda: ticket_volume(repo, window, period="day"))
        history = [(p.period_start, p.tickets) for p in vol.value.periods] if vol.value else []
        out.history_days = len(history)
        out.figures["forecast"] = charts.forecast(
            history, [day_url(f, d) for d, _ in history], [d.day for d in result.days],
            [d.forecast for d in result.days], [d.lower_80 for d in result.days],
            [d.upper_80 for d in result.days], [d.seasonal_naive for d in result.days])
    plan = st.value
    if plan is not None and plan.slots:
        hours = [f"{h:02d}" for h in range(24)]
        grid: list[list[int]] = [[0] * 24 for _ in range(7)]
        gap: list[list[float | None]] = [[None] * 24 for _ in range(7)]
        names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        for s in plan.slots:
            d = names.index(s.weekday)
            grid[d][s.hour] = s.scheduled_needed
            gap[d][s.hour] = s.gap
        urls = None
        if tz == "UTC":  # the ticket list's weekday/hour filters are UTC
            urls = [[tickets_url(f, created_weekday=d + 1, created_hour=h) for h in range(24)] for d in range(7)]
        out.figures["staffing"] = charts.heatmap(grid, hours, list(WEEKDAY_NAMES), urls,
                                                 title="agents to schedule", zmin=0.0)
        if any(v is not None for row in gap for v in row):
            out.figures["gap"] = charts.heatmap(
                gap, hours, list(WEEKDAY_NAMES), urls, title="gap (agents)",
                colorscale=[[0, "#b42318"], [0.5, "#f7f7f7"], [1, "#2e9d58"]], zmid=0.0)
    return out
