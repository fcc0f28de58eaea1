"""The report definitions: performance, sla, backlog, agents, bottlenecks and dashboard.

Each definition calls the analytics library (:mod:`deskpulse.analytics`) for the tenant and
window, and arranges its typed results — never recomputing a metric — into a
:class:`~deskpulse.reports.document.ReportDocument`: headline figures, charts and tables.
Windows count back from the last build's ``as_of`` like every analytics command, so a report
of past data reads the same as a live one.

- **performance** (seed 000): response times and resolution, overall and per category,
  priority, group, channel and agent; ticket volume per day.
- **sla** (seed 002): SLA compliance per metric and slice, open tickets breached or at risk,
  minutes to green, SLA debt and at-risk clocks per day.
- **backlog** (seed 002's aging report): backlog per day with burn-down, the age of the open
  tickets, the backlog per group on the last day.
- **agents** (seed 002): per-agent workload, speed, SLA, escalations, reopens, CSAT.
- **bottlenecks** (seed 000): slices at or above the bottleneck threshold, with evidence.
- **dashboard** (seed 000's ``--dashboard``): overall metrics, resolution by category and by
  agent, bottleneck alerts, ticket status; rendered as HTML plus one CSV per table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from deskpulse.analytics.agents import agent_performance
from deskpulse.analytics.backlog import backlog_report, minutes_to_green, ticket_volume
from deskpulse.analytics.bottlenecks import bottlenecks
from deskpulse.analytics.filters import Filters
from deskpulse.analytics.resolution import resolution, response_times
from deskpulse.analytics.results import analysis_now
from deskpulse.config import AppConfig
from deskpulse.errors import UsageError
from deskpulse.reports.document import (
    BarChart,
    Column,
    Figure,
    LineChart,
    ReportDocument,
    Table,
    Tone,
    fmt_float,
    fmt_int,
    fmt_minutes,
    fmt_pct,
    fmt_share,
    fmt_text,
    fmt_yes,
)
from deskpulse.store import TenantStore

DEFAULT_DAYS: Final = 30
SPLIT_LABELS: Final = {
    "all": "overall",
    "category": "by category",
    "priority": "by priority",
    "group": "by group",
    "channel": "by channel",
    "agent": "by agent",
}


def _utcnow() -> datetime:
    from deskpulse.instants import utcnow

    return utcnow()


@dataclass(frozen=True)
class ReportParams:
    """What a report covers: ``days`` back from the last build (or ``from_at``/``to_at``) and
    equality filters (group, category, priority, channel, brand, region, agent …)."""

    days: int | None = DEFAULT_DAYS
    from_at: datetime | None = None
    to_at: datetime | None = None
    filters: dict[str, str] = field(default_factory=dict)

    def to_filters(self, now: datetime) -> Filters:
        days = None if self.from_at is not None else self.days
        return Filters.build(days=days, from_at=self.from_at, to_at=self.to_at, now=now,
                             **self.filters)

    def as_dict(self) -> dict[str, Any]:
        return {"days": self.days, "from_at": self.from_at, "to_at": self.to_at,
                "filters": dict(self.filters)}


def _tone(value: float | None, target: float, higher_is_better: bool = True) -> Tone:
    if value is None:
        return Tone.neutral
    ok = value >= target if higher_is_better else value <= target
    return Tone.good if ok else Tone.bad


def _start(repo: TenantStore, params: ReportParams) -> tuple[Filters, datetime | None]:
    as_of = analysis_now(repo)
    return params.to_filters(as_of or _utcnow()), as_of


def _doc(name: str, title: str, repo: TenantStore, filters: Filters, as_of: datetime | None,
         **kwargs: Any) -> ReportDocument:
    message = None
    if as_of is None:
        message = "no build yet: import tickets and run `deskpulse build`"
    return ReportDocument(name=name, title=title, tenant=repo.tenant_id, window=filters.describe(),
                          as_of=as_of, generated_at=_utcnow(), message=message, **kwargs)


# --- shared tables ------------------------------------------------------------------------------

RESPONSE_COLUMNS: Final = (
    Column("value", "slice", fmt_text, numeric=False),
    Column("tickets", "tickets", fmt_int),
    Column("replied", "replied", fmt_int),
    Column("first_reply_mean_calendar_minutes", "mean first reply", fmt_minutes),
    Column("first_reply_median_calendar_minutes", "median first reply", fmt_minutes),
    Column("first_reply_p90_calendar_minutes", "p90 first reply", fmt_minutes),
    Column("first_reply_median_business_minutes", "median (business)", fmt_minutes),
    Column("within_threshold_share", "within threshold", fmt_share),
    Column("first_response_sla_compliance_pct", "first response SLA", fmt_pct),
    Column("next_response_sla_compliance_pct", "next response SLA", fmt_pct),
)

RESOLUTION_COLUMNS: Final = (
    Column("value", "slice", fmt_text, numeric=False),
    Column("tickets", "tickets", fmt_int),
    Column("resolved", "resolved", fmt_int),
    Column("resolution_rate", "resolution rate", fmt_share),
    Column("is_resolution_rate_target_met", "rate target met", fmt_yes),
    Column("resolution_mean_calendar_minutes", "mean resolution", fmt_minutes),
    Column("resolution_median_calendar_minutes", "median resolution", fmt_minutes),
    Column("resolution_median_business_minutes", "median (business)", fmt_minutes),
    Column("within_threshold_share", "within threshold", fmt_share),
    Column("resolution_sla_compliance_pct", "resolution SLA", fmt_pct),
)

VOLUME_COLUMNS: Final = (
    Column("period_start", "day", fmt_text, numeric=False),
    Column("tickets", "tickets created", fmt_int),
)

FINDING_COLUMNS: Final = (
    Column("severity", "severity", fmt_text, numeric=False),
    Column("label", "slice", fmt_text, numeric=False),
    Column("rate_pct", "rate", fmt_pct),
    Column("driver", "driver", fmt_text, numeric=False),
    Column("tickets", "tickets", fmt_int),
    Column("breach_rate_pct", "breach rate", fmt_pct),
    Column("delay_rate_pct", "delay rate", fmt_pct),
    Column("recommendation", "recommendation", fmt_text, numeric=False),
)

AGENT_COLUMNS: Final = (
    Column("agent_id", "agent", fmt_text, numeric=False),
    Column("assigned", "assigned", fmt_int),
    Column("resolved", "resolved", fmt_int),
    Column("open", "open", fmt_int),
    Column("resolution_rate", "resolution rate", fmt_share),
    Column("resolution_median_calendar_minutes", "median resolution", fmt_minutes),
    Column("first_reply_median_calendar_minutes", "median first reply", fmt_minutes),
    Column("sla_compliance_pct", "SLA", fmt_pct),
    Column("escalation_rate", "escalated", fmt_share),
    Column("reopen_rate", "reopened", fmt_share),
    Column("csat_pct", "CSAT", fmt_pct),
)

BACKLOG_COLUMNS: Final = (
    Column("date", "day", fmt_text, numeric=False),
    Column("open_count", "open", fmt_int),
    Column("arrivals", "arrivals", fmt_int),
    Column("completions", "completions", fmt_int),
    Column("net_change", "net", fmt_int),
    Column("wip", "WIP", fmt_int),
    Column("lt_1d", "< 1 day", fmt_int),
    Column("d1_3", "1-3 days", fmt_int),
    Column("d3_7", "3-7 days", fmt_int),
    Column("d7_30", "7-30 days", fmt_int),
    Column("gt_30d", "> 30 days", fmt_int),
    Column("sla_debt_minutes", "SLA debt", fmt_minutes),
    Column("at_risk_count", "at risk", fmt_int),
)


def _volume_chart(rows: list[dict[str, Any]]) -> BarChart:
    return BarChart("Tickets created per day", [str(r["period_start"]) for r in rows],
                    [float(r["tickets"]) for r in rows], unit="tickets", series_name="tickets")


def _by_dimension(rows: list[dict[str, Any]], dimension: str) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("dimension") == dimension]


# --- the reports --------------------------------------------------------------------------------


def performance_report(repo: TenantStore, cfg: AppConfig, params: ReportParams) -> ReportDocument:
    """Response times, resolution and volume (seed 000's tracking and analysis commands)."""
    filters, as_of = _start(repo, params)
    th = cfg.thresholds
    resp = response_times(repo, filters, th)
    res = resolution(repo, filters, th)
    vol = ticket_volume(repo, filters, period="day")
    o, r = resp.overall, res.overall
    figures = [
        Figure("Tickets", fmt_int(r.tickets)),
        Figure("Resolved", fmt_int(r.resolved), f"{fmt_int(r.unresolved)} unresolved"),
        Figure("Resolution rate", fmt_share(r.resolution_rate) or "n/a",
               f"target {100 * th.resolution_rate_target:g}%",
               _tone(r.resolution_rate, th.resolution_rate_target)),
        Figure("Mean first reply", fmt_minutes(o.first_reply_mean_calendar_minutes) or "n/a",
               f"median {fmt_minutes(o.first_reply_median_calendar_minutes) or 'n/a'}"),
        Figure("First response SLA", fmt_pct(o.first_response_sla_compliance_pct) or "n/a",
               f"target {th.sla_target_percentage:g}%",
               _tone(o.first_response_sla_compliance_pct, th.sla_target_percentage)),
        Figure("Resolution SLA", fmt_pct(r.resolution_sla_compliance_pct) or "n/a",
               f"target {th.sla_target_percentage:g}%",
               _tone(r.resolution_sla_compliance_pct, th.sla_target_percentage)),
    ]
    res_rows, vol_rows = res.rows(), vol.rows()
    categories = _by_dimension(res_rows, "category")
    charts = [
        _volume_chart(vol_rows),
        BarChart("Resolution rate by category", [str(c["value"]) for c in categories],
                 [100 * (c["resolution_rate"] or 0.0) for c in categories], unit="%",
                 horizontal=True, target=100 * th.resolution_rate_target,
                 series_name="resolution rate"),
    ]
    tables = [
        Table("response_times", "Response times", resp.rows(), RESPONSE_COLUMNS,
              split_by="dimension", split_labels=SPLIT_LABELS,
              note=f"Within threshold: first reply within {th.first_response_minutes:g} minutes."),
        Table("resolution", "Resolution", res_rows, RESOLUTION_COLUMNS, split_by="dimension",
              split_labels=SPLIT_LABELS,
              note=f"Within threshold: resolved within {th.resolution_hours:g} hours."),
        Table("volume", "Ticket volume", vol_rows, VOLUME_COLUMNS),
    ]
    return _doc("performance", "Support performance", repo, filters, as_of, figures=figures,
                charts=charts, tables=tables)


SLA_COLUMNS: Final = (
    Column("value", "slice", fmt_text, numeric=False),
    Column("tickets", "tickets", fmt_int),
    Column("first_response_sla_met", "FR met", fmt_int),
    Column("first_response_sla_missed", "FR missed", fmt_int),
    Column("first_response_sla_compliance_pct", "first response", fmt_pct),
    Column("next_response_sla_met", "NR met", fmt_int),
    Column("next_response_sla_missed", "NR missed", fmt_int),
    Column("next_response_sla_compliance_pct", "next response", fmt_pct),
    Column("resolution_sla_met", "res. met", fmt_int),
    Column("resolution_sla_missed", "res. missed", fmt_int),
    Column("resolution_sla_compliance_pct", "resolution", fmt_pct),
)

SLA_DAILY_COLUMNS: Final = (
    Column("date", "day", fmt_text, numeric=False),
    Column("open_count", "open", fmt_int),
    Column("at_risk_count", "clocks at risk", fmt_int),
    Column("sla_debt_minutes", "SLA debt", fmt_minutes),
)

_SLA_KEYS: Final = ("first_response_sla_met", "first_response_sla_missed",
                    "first_response_sla_compliance_pct", "next_response_sla_met",
                    "next_response_sla_missed", "next_response_sla_compliance_pct")
_RES_SLA_KEYS: Final = ("resolution_sla_met", "resolution_sla_missed",
                        "resolution_sla_compliance_pct")


def sla_report(repo: TenantStore, cfg: AppConfig, params: ReportParams) -> ReportDocument:
    """SLA compliance per metric and slice, open tickets breached or at risk, SLA debt."""
    filters, as_of = _start(repo, params)
    th = cfg.thresholds
    resp = response_times(repo, filters, th)
    res = resolution(repo, filters, th)
    green = minutes_to_green(repo, filters)
    backlog = backlog_report(repo, filters, dimension="all")
    by_key = {(r["dimension"], r["value"]): r for r in res.rows()}
    rows = []
    for r in resp.rows():
        other = by_key.get((r["dimension"], r["value"]), {})
        rows.append({"dimension": r["dimension"], "value": r["value"], "tickets": r["tickets"],
                     **{k: r[k] for k in _SLA_KEYS},
                     **{k: other.get(k) for k in _RES_SLA_KEYS}})
    o, ro = resp.overall, res.overall
    target = th.sla_target_percentage
    figures = [
        Figure("First response SLA", fmt_pct(o.first_response_sla_compliance_pct) or "n/a",
               f"{fmt_int(o.first_response_sla_missed)} missed · target {target:g}%",
               _tone(o.first_response_sla_compliance_pct, target)),
        Figure("Next response SLA", fmt_pct(o.next_response_sla_compliance_pct) or "n/a",
               f"{fmt_int(o.next_response_sla_missed)} missed",
               _tone(o.next_response_sla_compliance_pct, target)),
        Figure("Resolution SLA", fmt_pct(ro.resolution_sla_compliance_pct) or "n/a",
               f"{fmt_int(ro.resolution_sla_missed)} missed",
               _tone(ro.resolution_sla_compliance_pct, target)),
        Figure("Open tickets breached", fmt_int(green.breached_tickets),
               f"of {fmt_int(green.open_tickets)} open",
               Tone.bad if green.breached_tickets else Tone.good),
        Figure("Open tickets at risk", fmt_int(green.at_risk_tickets), "due within 4 h"),
        Figure("Minutes to green", fmt_float(green.minutes_to_green) or "n/a",
               f"throughput {fmt_float(green.throughput_per_hour) or '0'}/h"),
    ]
    priorities = _by_dimension(rows, "priority")
    days = backlog.rows()
    charts: list[BarChart | LineChart] = [
        BarChart("Resolution SLA by priority", [str(p["value"]) for p in priorities],
                 [float(p["resolution_sla_compliance_pct"] or 0.0) for p in priorities], unit="%",
                 horizontal=True, target=target, series_name="resolution SLA"),
        LineChart("SLA clocks at risk per day", [str(d["date"]) for d in days],
                  {"at risk": [float(d["at_risk_count"]) for d in days]}, unit="clocks"),
    ]
    tables = [
        Table("sla_compliance", "SLA compliance", rows, SLA_COLUMNS, split_by="dimension",
              split_labels=SPLIT_LABELS,
              note="Compliance = met / (met + breached) SLA instances of the tickets created in "
                   "the window; running instances within target are not counted."),
        Table("sla_daily", "Open backlog and SLA debt per day", days, SLA_DAILY_COLUMNS),
    ]
    return _doc("sla", "SLA attainment", repo, filters, as_of, figures=figures, charts=charts,
                tables=tables)


AGING_COLUMNS: Final = (
    Column("age", "age", fmt_text, numeric=False),
    Column("tickets", "open tickets", fmt_int),
)
_AGES: Final = (("lt_1d", "< 1 day"), ("d1_3", "1-3 days"), ("d3_7", "3-7 days"),
                ("d7_30", "7-30 days"), ("gt_30d", "> 30 days"))


def backlog_report_doc(repo: TenantStore, cfg: AppConfig, params: ReportParams) -> ReportDocument:
    """Backlog per day with burn-down, ages of the open tickets, backlog per group."""
    filters, as_of = _start(repo, params)
    rep = backlog_report(repo, filters, dimension="all")
    groups = backlog_report(repo, filters, dimension="group")
    days = rep.rows()
    last = rep.days[-1] if rep.days else None
    aging: list[dict[str, Any]] = [
        {"age": label, "bucket": key, "tickets": getattr(last, key) if last else 0}
        for key, label in _AGES
    ]
    last_date = groups.days[-1].date if groups.days else None
    by_group = [d.as_dict() for d in groups.days if d.date == last_date]
    by_group.sort(key=lambda g: (-g["open_count"], g["value"]))
    b, g = rep.burndown, rep.green
    figures = [
        Figure("Open now", fmt_int(b.open_at_end), f"{fmt_int(b.open_at_start)} at the start"),
        Figure("Arrivals", fmt_int(b.arrivals), f"{fmt_float(b.arrivals_per_day) or '0'}/day"),
        Figure("Completions", fmt_int(b.completions),
               f"{fmt_float(b.completions_per_day) or '0'}/day"),
        Figure("Net burn", fmt_float(b.net_burn_per_day) or "n/a", "tickets/day",
               _tone(b.net_burn_per_day, 0.0)),
        Figure("Days to clear", fmt_float(b.days_to_clear_at_net_burn) or "n/a",
               "at the net burn rate"),
        Figure("Minutes to green", fmt_float(g.minutes_to_green) or "n/a",
               f"{fmt_int(g.red_tickets)} red tickets"),
    ]
    labels = [str(d["date"]) for d in days]
    charts: list[BarChart | LineChart] = [
        LineChart("Open backlog per day", labels, {"open": [float(d["open_count"]) for d in days],
                                                   "WIP": [float(d["wip"]) for d in days]},
                  unit="tickets"),
        LineChart("Arrivals and completions per day", labels,
                  {"arrivals": [float(d["arrivals"]) for d in days],
                   "completions": [float(d["completions"]) for d in days]}, unit="tickets"),
        BarChart("Age of the open tickets", [a["age"] for a in aging],
                 [float(a["tickets"]) for a in aging], unit="tickets", series_name="open"),
    ]
    group_columns = (Column("value", "group", fmt_text, numeric=False), *BACKLOG_COLUMNS[1:])
    tables = [
        Table("backlog_daily", "Backlog per day", days, BACKLOG_COLUMNS,
              note="End-of-day state (UTC days); the last day ends at the build's as_of."),
        Table("aging", "Age of the open tickets", aging, AGING_COLUMNS),
        Table("backlog_by_group", "Backlog per group (last day)", by_group, group_columns),
    ]
    return _doc("backlog", "Backlog and aging", repo, filters, as_of, figures=figures,
                charts=charts, tables=tables)


def agents_report(repo: TenantStore, cfg: AppConfig, params: ReportParams) -> ReportDocument:
    """Per-agent performance (seed 002's agent dashboard)."""
    filters, as_of = _start(repo, params)
    label = f"{params.days}d" if params.days and params.from_at is None else "window"
    rep = agent_performance(repo, filters, range_name=label)
    t = rep.team
    figures = [
        Figure("Active agents", fmt_int(rep.active_agents), f"of {fmt_int(len(rep.agents))} known"),
        Figure("Assigned", fmt_int(t.assigned), f"{fmt_int(rep.unassigned_tickets)} unassigned"),
        Figure("Resolved", fmt_int(t.resolved), fmt_share(t.resolution_rate)),
        Figure("Team SLA", fmt_pct(t.sla_compliance_pct) or "n/a",
               f"target {cfg.thresholds.sla_target_percentage:g}%",
               _tone(t.sla_compliance_pct, cfg.thresholds.sla_target_percentage)),
        Figure("Escalation rate", fmt_share(t.escalation_rate) or "n/a"),
        Figure("CSAT", fmt_pct(t.csat_pct) or "n/a"),
    ]
    top = sorted(rep.agents, key=lambda a: (-a.resolved, a.agent_id))[:15]
    charts: list[BarChart | LineChart] = [
        BarChart("Tickets resolved per agent (top 15)", [a.agent_id for a in top],
                 [float(a.resolved) for a in top], unit="tickets", horizontal=True,
                 series_name="resolved"),
    ]
    tables = [
        Table("agents", "Agent performance", rep.rows(), AGENT_COLUMNS),
        Table("team", "Team totals", [t.as_dict()], AGENT_COLUMNS),
    ]
    return _doc("agents", "Agent performance", repo, filters, as_of, figures=figures,
                charts=charts, tables=tables)


def bottlenecks_report(repo: TenantStore, cfg: AppConfig, params: ReportParams) -> ReportDocument:
    """Bottleneck slices with severity, evidence and a recommendation (seed 000)."""
    filters, as_of = _start(repo, params)
    rep = bottlenecks(repo, filters, cfg.thresholds)
    count = {s: sum(1 for f in rep.findings if f.severity == s) for s in ("critical", "high", "medium")}
    figures = [
        Figure("Tickets", fmt_int(rep.tickets)),
        Figure("Slices scored", fmt_int(rep.segments_scored)),
        Figure("Bottlenecks", fmt_int(len(rep.findings)), f"at or above {rep.threshold_pct:g}%",
               Tone.bad if rep.findings else Tone.good),
        Figure("Critical", fmt_int(count["critical"]), "rate ≥ 50%"),
        Figure("High", fmt_int(count["high"]), "rate ≥ 30%"),
        Figure("Medium", fmt_int(count["medium"]), "rate ≥ 20%"),
    ]
    top = rep.findings[:12]
    charts: list[BarChart | LineChart] = [
        BarChart("Worst slices (rate)", [f.label for f in top], [f.rate_pct for f in top], unit="%",
                 horizontal=True, target=rep.threshold_pct, series_name="rate"),
    ]
    tables = [Table("bottlenecks", "Bottlenecks", rep.rows(), FINDING_COLUMNS,
                    empty_message=rep.message or "no bottlenecks")]
    return _doc("bottlenecks", "Bottlenecks", repo, filters, as_of, figures=figures,
                charts=charts, tables=tables)


OVERALL_COLUMNS: Final = (
    Column("metric", "metric", fmt_text, numeric=False),
    Column("value", "value", fmt_text),
)
STATUS_COLUMNS: Final = (
    Column("status", "status", fmt_text, numeric=False),
    Column("tickets", "tickets", fmt_int),
)


def dashboard_report(repo: TenantStore, cfg: AppConfig, params: ReportParams) -> ReportDocument:
    """Seed 000's performance dashboard: overall metrics, category and agent breakdowns,
    bottleneck alerts and ticket status."""
    filters, as_of = _start(repo, params)
    th = cfg.thresholds
    resp = response_times(repo, filters, th, by=["category"])
    res = resolution(repo, filters, th, by=["category", "agent"])
    found = bottlenecks(repo, filters, th)
    team = agent_performance(repo, filters, range_name="window")
    vol = ticket_volume(repo, filters, period="day")
    o, r = resp.overall, res.overall
    overall: list[dict[str, Any]] = [
        {"metric": "total_tickets", "value": r.tickets},
        {"metric": "resolved_tickets", "value": r.resolved},
        {"metric": "resolution_rate", "value": r.resolution_rate},
        {"metric": "avg_first_response_minutes", "value": o.first_reply_mean_calendar_minutes},
        {"metric": "median_first_response_minutes", "value": o.first_reply_median_calendar_minutes},
        {"metric": "avg_resolution_minutes", "value": r.resolution_mean_calendar_minutes},
        {"metric": "first_response_sla_compliance_pct", "value": o.first_response_sla_compliance_pct},
        {"metric": "resolution_sla_compliance_pct", "value": r.resolution_sla_compliance_pct},
        {"metric": "bottlenecks", "value": len(found.findings)},
    ]
    t = team.team
    status: list[dict[str, Any]] = [
        {"status": "new", "tickets": t.new},
        {"status": "open", "tickets": t.in_progress},
        {"status": "pending or hold", "tickets": t.pending},
        {"status": "solved or closed", "tickets": t.resolved},
        {"status": "unassigned (any status)", "tickets": team.unassigned_tickets},
    ]
    res_rows = res.rows()
    categories = _by_dimension(res_rows, "category")
    agents = _by_dimension(res_rows, "agent")
    figures = [
        Figure("Total tickets", fmt_int(r.tickets)),
        Figure("Resolved", fmt_int(r.resolved)),
        Figure("Resolution rate", fmt_share(r.resolution_rate) or "n/a",
               f"target {100 * th.resolution_rate_target:g}%",
               _tone(r.resolution_rate, th.resolution_rate_target)),
        Figure("Avg first response", fmt_minutes(o.first_reply_mean_calendar_minutes) or "n/a",
               f"threshold {th.first_response_minutes:g} min"),
        Figure("SLA compliance", fmt_pct(o.first_response_sla_compliance_pct) or "n/a",
               f"first response · target {th.sla_target_percentage:g}%",
               _tone(o.first_response_sla_compliance_pct, th.sla_target_percentage)),
        Figure("Bottlenecks", fmt_int(len(found.findings)),
               f"≥ {th.bottleneck_threshold_percentage:g}%",
               Tone.bad if found.findings else Tone.good),
    ]
    charts: list[BarChart | LineChart] = [
        _volume_chart(vol.rows()),
        BarChart("Resolution rate by category", [str(c["value"]) for c in categories],
                 [100 * (c["resolution_rate"] or 0.0) for c in categories], unit="%",
                 horizontal=True, target=100 * th.resolution_rate_target,
                 series_name="resolution rate"),
        BarChart("Tickets by status (assigned)", [s["status"] for s in status[:4]],
                 [float(s["tickets"]) for s in status[:4]], unit="tickets", series_name="tickets"),
    ]
    overall_table = Table("overall", "Overall metrics", overall, (
        Column("metric", "metric", fmt_text, numeric=False),
        Column("value", "value", _overall_value),
    ))
    tables = [
        overall_table,
        Table("categories", "Resolution by category", categories, RESOLUTION_COLUMNS),
        Table("agents", "Resolution by agent", agents, RESOLUTION_COLUMNS, display_limit=25,
              note="The 25 agents with the most tickets are shown; the CSV holds all."),
        Table("bottlenecks", "Bottleneck alerts", found.rows(), FINDING_COLUMNS,
              empty_message=found.message or "no bottlenecks"),
        Table("status", "Ticket status", status, STATUS_COLUMNS,
              note="Statuses at the build's as_of of the assigned tickets; unassigned tickets "
                   "are counted on their own line."),
    ]
    return _doc("dashboard", "Support performance dashboard", repo, filters, as_of,
                figures=figures, charts=charts, tables=tables)


def _overall_value(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:,.3f}"
    return fmt_int(v)


Definition = Callable[[TenantStore, AppConfig, ReportParams], ReportDocument]

REPORTS: Final[dict[str, Definition]] = {
    "performance": performance_report,
    "sla": sla_report,
    "backlog": backlog_report_doc,
    "agents": agents_report,
    "bottlenecks": bottlenecks_report,
    "dashboard": dashboard_report,
}




def check_report(name: str) -> str:
    if name not in REPORTS:
        raise UsageError(f"unknown report {name!r}; choose one of: {', '.join(REPORTS)}")
    return name


def build_report(repo: TenantStore, cfg: AppConfig, name: str,
                 params: ReportParams | None = None) -> ReportDocument:
    """Compute report ``name`` for ``repo``'s tenant."""
    return REPORTS[check_report(name)](repo, cfg, params or ReportParams())
