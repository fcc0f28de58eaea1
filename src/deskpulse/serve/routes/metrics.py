"""Every analytics result as an endpoint (issue 6 "Metrics"), as JSON, CSV or XLSX.

``GET /api/v1/metrics/{name}`` for ``overview``, ``response-times``, ``resolution``,
``backlog``, ``volume``, ``bottlenecks``, ``agents``, ``queue`` (next best tickets),
``forecast``, ``staffing`` and ``topics``, plus seed 002's
``GET /api/v1/tickets/agents/performance``. They take the CLI's filters — a window
(``days``, or ``from``/``to``; relative windows count back from the last build's ``as_of``
like every analysis) and the dimensions (``group``, ``category``, ``priority``, ``channel``,
``brand``, ``region``, ``agent``, ``tier``, ``organization``) — plus each result's own
parameters. The figures are the library's (:mod:`deskpulse.analytics`): JSON is the result's
``as_dict()``; ``format=csv`` streams its ``rows()`` (the CLI's ``--format csv``; ``table=``
picks one table of a multi-table result) and ``format=xlsx`` a workbook with a sheet per table.

**Cache.** A result depends only on the tenant's data, its build and the config: answers are
kept per (tenant, metric, parameters, config) and revalidated against the data version (the
stats route's: newest ``loaded_at``, ticket count, last ``built_at``; one read per tenant at
most every half second, shared by all its cached answers: ``stats.TenantClock``), so an answer
lags a write by at most a second. ``X-Metrics-Cache: hit|miss`` says which.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query, Request, Response

from deskpulse.analytics.results import BREAKDOWNS as LIBRARY_BREAKDOWNS
from deskpulse.config import AppConfig
from deskpulse.errors import NotFoundError, UsageError
from deskpulse.serve.deps import ReadRepo, Repo
from deskpulse.serve.memo import remember
from deskpulse.serve.routes._shared import (
    ERROR_RESPONSES,
    WHEN_PATTERN,
    ErrorBody,
    check_range,
    parse_when,
)
from deskpulse.serve.routes.exports import ExportFormat, rows_response
from deskpulse.serve.routes.stats import StatsCache, tenant_clock
from deskpulse.store import TenantStore

router = APIRouter(tags=["metrics"], responses={
    **ERROR_RESPONSES,
    400: {"model": ErrorBody, "description": "The parameters make no sense for this data (e.g. too little "
                                             "history for a forecast, an unknown breakdown)."},
})

METRICS: Final = ("overview", "response-times", "resolution", "backlog", "volume", "bottlenecks", "agents",
                  "queue", "forecast", "staffing", "topics")
BREAKDOWNS: Final = tuple(LIBRARY_BREAKDOWNS)  # the library's: category, priority, group, channel, agent (, policy)
_CSV_XLSX: dict[int | str, dict[str, Any]] = {200: {"content": {"application/json": {}, "text/csv": {},
                               "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}},
                   "description": "The result as JSON, or its rows as CSV / XLSX (format=)."}}


class MetricFormat(enum.StrEnum):
    json = "json"
    csv = "csv"
    xlsx = "xlsx"


class AgentRange(enum.StrEnum):
    today = "today"
    d7 = "7d"
    d30 = "30d"
    d90 = "90d"
    all = "all"


# --- parameters -------------------------------------------------------------------------------


class MetricQuery:
    """The filters every metric takes (the CLI's ``--days/--from/--to`` and dimensions)."""

    def __init__(
        self,
        days: Annotated[int | None, Query(ge=1, le=3660, description="Tickets created in the N days before the build's as_of (default 30 unless from/to).")] = None,
        from_: Annotated[str | None, Query(alias="from", pattern=WHEN_PATTERN, description="Window start (date or ISO instant, UTC).")] = None,
        to: Annotated[str | None, Query(pattern=WHEN_PATTERN, description="Window end (exclusive instant; a date includes that day).")] = None,
        group: str | None = None, category: str | None = None, priority: str | None = None,
        channel: str | None = None, brand: str | None = None, region: str | None = None,
        agent: Annotated[str | None, Query(description="Assignee id.")] = None,
        tier: str | None = None, organization: str | None = None,
        format: Annotated[MetricFormat, Query(description="json (default), csv (streamed rows) or xlsx (a sheet per table).")] = MetricFormat.json,
        table: Annotated[str | None, Query(description="csv: which table of a multi-table result (default the first).")] = None,
    ) -> None:
        self.days = days
        self.start = parse_when(from_, "query.from")
        self.stop = parse_when(to, "query.to", end=True)
        check_range(self.start, self.stop, "query.to")
        if days is not None and self.start is not None:
            raise UsageError("give either days or from, not both")
        self.dims = {k: v for k, v in dict(group=group, category=category, priority=priority, channel=channel,
                                             brand=brand, region=region, agent=agent, tier=tier,
                                             organization=organization).items() if v}
        self.format = format
        self.table = table

    def filters(self, now: datetime, default_days: int | None = 30) -> Any:
        from deskpulse.analytics.filters import Filters

        days = self.days if self.days is not None else (default_days if self.start is None else None)
        return Filters.build(days=days, from_at=self.start, to_at=self.stop, now=now, **self.dims)

    def key(self) -> tuple[Any, ...]:
        return (self.days, self.start, self.stop, tuple(sorted(self.dims.items())))


Q = Annotated[MetricQuery, Depends()]


# --- shaping ----------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """A result's ``as_dict()`` for JSON: instants as ISO 8601 with ``Z``, NaN as null."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value.tzinfo is None else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, enum.Enum):
        return value.value
    return value


class Result:
    """What a metric computed: the JSON document and its tables (for CSV/XLSX)."""

    def __init__(self, document: dict[str, Any], tables: list[tuple[str, list[dict[str, Any]]]]) -> None:
        self.body = json.dumps(jsonable(document), separators=(",", ":"), allow_nan=False).encode()
        self.tables = tables


def of(result: Any, table: str) -> Result:
    """A library result (``as_dict()`` and ``rows()``) with one table."""
    return Result(result.as_dict(), [(table, list(result.rows()))])


_cache_attr = "metrics_cache"
#: A cached result is revalidated against the data version (≤ 1 s lag); the TTL only bounds
#: memory held by results nobody asks for any more (a miss costs 0.1-1.5 s of server CPU).
METRICS_TTL_SECONDS: Final = 600.0


def metrics_cache(request: Request) -> StatsCache | None:
    state = request.app.state
    if not getattr(state, "stats_cache_enabled", True):
        return None
    cache: StatsCache | None = getattr(state, _cache_attr, None)
    if cache is None:
        cache = StatsCache(max_entries=256, ttl=METRICS_TTL_SECONDS)
        setattr(state, _cache_attr, cache)
    return cache


def config_of(request: Request) -> AppConfig:
    from deskpulse.serve.web.session import app_config

    return app_config(request.app.state.settings.config)


def build_now(repo: TenantStore) -> datetime:
    from deskpulse.analytics.results import analysis_now

    now = analysis_now(repo)
    if now is None:
        raise NotFoundError("no SLA build for this tenant yet: run `deskpulse build` first")
    return now


def answer(request: Request, repo: TenantStore, name: str, q: MetricQuery, params: tuple[Any, ...],
           compute: Callable[[], Result]) -> Response:
    """Compute (or take from the cache) and answer in the asked format."""
    cache = metrics_cache(request)
    cfg = config_of(request)
    if cache is None:
        result, hit = compute(), False
    else:
        key = (repo.store.url, repo.tenant_id, name, q.key(), params, cfg.fingerprint)
        clock = tenant_clock(repo)
        found = cache.lookup(key, lambda: clock.current(repo, cache.revalidate), compute)
        result, hit = found.value, found.hit
        if q.format is MetricFormat.json:
            remember(request, result.body, {"X-Metrics-Cache": "hit"}, found, clock)
    headers = {"X-Metrics-Cache": "hit" if hit else "miss"}
    if q.format is MetricFormat.json:
        return Response(result.body, media_type="application/json", headers=headers)
    resp = rows_response(name, result.tables, ExportFormat(q.format.value), q.table)
    resp.headers.update(headers)
    return resp


def _by(values: list[str] | None) -> tuple[str, ...] | None:
    if not values:
        return None
    for v in values:
        if v not in BREAKDOWNS:
            raise UsageError(f"unknown breakdown {v!r}; use {', '.join(BREAKDOWNS)}")
    return tuple(values)


By = Annotated[list[str] | None, Query(description=f"Breakdowns: {', '.join(BREAKDOWNS)} (repeat; default all).")]


# --- routes -----------------------------------------------------------------------------------


@router.get("/metrics/response-times", summary="First response times", responses=_CSV_XLSX)
def response_times_metric(request: Request, repo: ReadRepo, q: Q, by: By = None) -> Response:
    """Mean/median/p90 first reply (calendar and business), share within the threshold, SLA
    compliance; overall and per breakdown (``deskpulse response-times``)."""
    from deskpulse.analytics.resolution import response_times

    cfg = config_of(request)
    return answer(request, repo, "response-times", q, (_by(by),), lambda: of(
        response_times(repo, q.filters(build_now(repo)), cfg.thresholds, by=_by(by)), "response_times"))


@router.get("/metrics/resolution", summary="Resolution rate and times", responses=_CSV_XLSX)
def resolution_metric(request: Request, repo: ReadRepo, q: Q, by: By = None) -> Response:
    """Resolution rate against its target, resolution times, SLA compliance (``deskpulse resolution``)."""
    from deskpulse.analytics.resolution import resolution

    cfg = config_of(request)
    return answer(request, repo, "resolution", q, (_by(by),), lambda: of(
        resolution(repo, q.filters(build_now(repo)), cfg.thresholds, by=_by(by)), "resolution"))


@router.get("/metrics/backlog", summary="Backlog per day, burn-down, minutes to green", responses=_CSV_XLSX)
def backlog_metric(
    request: Request, repo: Repo, q: Q,
    dimension: Annotated[str, Query(pattern="^(all|group|priority|channel|region)$")] = "all",
    value: Annotated[str | None, Query(description="Only this value of the dimension.")] = None,
) -> Response:
    """Open, arrivals, completions, WIP, ages, SLA debt and at-risk clocks per UTC day (``deskpulse backlog``)."""
    from deskpulse.analytics.backlog import backlog_report

    # backlog_report may (re)build backlog_daily: the primary connection (Repo), not a read one
    return answer(request, repo, "backlog", q, (dimension, value), lambda: of(
        backlog_report(repo, q.filters(build_now(repo)), dimension=dimension, value=value), "backlog_daily"))


@router.get("/metrics/volume", summary="Tickets created per day or week", responses=_CSV_XLSX)
def volume_metric(request: Request, repo: ReadRepo, q: Q,
                  period: Annotated[str, Query(pattern="^(day|week)$")] = "day") -> Response:
    from deskpulse.analytics.backlog import ticket_volume

    return answer(request, repo, "volume", q, (period,), lambda: of(
        ticket_volume(repo, q.filters(build_now(repo), default_days=None), period=period), "volume"))


@router.get("/metrics/bottlenecks", summary="Bottlenecks with severities", responses=_CSV_XLSX)
def bottlenecks_metric(request: Request, repo: ReadRepo, q: Q,
                       min_tickets: Annotated[int, Query(ge=1, le=100_000)] = 10) -> Response:
    """Slices at or above the bottleneck threshold with evidence and a recommendation (``deskpulse bottlenecks``)."""
    from deskpulse.analytics.bottlenecks import bottlenecks

    cfg = config_of(request)
    return answer(request, repo, "bottlenecks", q, (min_tickets,), lambda: of(
        bottlenecks(repo, q.filters(build_now(repo)), cfg.thresholds, min_tickets=min_tickets), "bottlenecks"))


def _agents(request: Request, repo: TenantStore, q: MetricQuery, range_: AgentRange) -> Response:
    from deskpulse.analytics.agents import agent_performance, range_filters

    def compute() -> Result:
        now = build_now(repo)
        custom = q.start is not None or q.stop is not None or q.days is not None
        f = q.filters(now) if custom else range_filters(range_.value, now, **q.dims)
        return of(agent_performance(repo, f, range_name="custom" if custom else range_.value), "agents")

    return answer(request, repo, "agents", q, (range_.value,), compute)


RangeParam = Annotated[AgentRange, Query(alias="range", description="Seed 002's selector: today, 7d, 30d, 90d or all (from/to/days override it).")]


@router.get("/metrics/agents", summary="Agent performance", responses=_CSV_XLSX)
def agents_metric(request: Request, repo: ReadRepo, q: Q, range_: RangeParam = AgentRange.d30) -> Response:
    """Per agent: assigned, resolved, open, times, SLA, escalations, reopens, CSAT (``deskpulse agents performance``)."""
    return _agents(request, repo, q, range_)


@router.get("/tickets/agents/performance", summary="Agent performance (seed 002)", responses=_CSV_XLSX)
def agents_performance(request: Request, repo: ReadRepo, q: Q, range_: RangeParam = AgentRange.d30) -> Response:
    """Seed 002's ``GET /api/v1/tickets/agents/performance``: the same result as ``/metrics/agents``."""
    return _agents(request, repo, q, range_)


@router.get("/metrics/queue", summary="Next best tickets (work queue)", responses=_CSV_XLSX)
def queue_metric(request: Request, repo: ReadRepo, q: Q,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 20) -> Response:
    """Open tickets ranked: overdue first, then by breach risk and time left (``deskpulse next``).
    The window filters are ignored (the queue is every open ticket); dimensions apply."""
    from deskpulse.analytics.filters import Filters
    from deskpulse.serve.web.panels import work_queue

    cfg = config_of(request)
    return answer(request, repo, "queue", q, (limit,), lambda: of(
        work_queue(repo, cfg, build_now(repo), Filters(values=dict(q.dims)), limit), "queue"))


@router.get("/metrics/forecast", summary="Arrivals forecast", responses=_CSV_XLSX)
def forecast_metric(request: Request, repo: ReadRepo, q: Q,
                    horizon: Annotated[int, Query(ge=1, le=90)] = 14) -> Response:
    """Daily arrivals forecast with 80 % bands and its backtest (``deskpulse forecast``); the
    window is the history the model learns from (default all)."""
    from deskpulse.analytics.forecast import forecast_arrivals

    def compute() -> Result:
        r = forecast_arrivals(repo, filters=q.filters(build_now(repo), default_days=None), horizon_days=horizon)
        d = r.as_dict()
        return Result(d, [("forecast", list(d.get("days") or [])), ("weeks", list(d.get("weeks") or [])),
                          ("backtest", list(d.get("backtest") or []))])

    return answer(request, repo, "forecast", q, (horizon,), compute)


@router.get("/metrics/staffing", summary="Staffing per weekday and hour (Erlang C)", responses=_CSV_XLSX)
def staffing_metric(
    request: Request, repo: ReadRepo, q: Q,
    target: Annotated[float, Query(gt=0, lt=1, description="Service level target.")] = 0.8,
    within: Annotated[float, Query(gt=0, le=10_080, description="… answered within this many minutes.")] = 60.0,
    shrinkage: Annotated[float, Query(ge=0, lt=1)] = 0.3,
    aht: Annotated[float | None, Query(gt=0, le=10_080, description="Handle time in minutes (default: estimated from reply gaps).")] = None,
) -> Response:
    from deskpulse.analytics.staffing import staffing_plan
    from deskpulse.serve.web.session import dashboard_timezone

    cfg = config_of(request)
    return answer(request, repo, "staffing", q, (target, within, shrinkage, aht), lambda: of(staffing_plan(
        repo, filters=q.filters(build_now(repo), default_days=None), tz=dashboard_timezone(cfg), target=target,
        within_minutes=within, shrinkage=shrinkage, aht_minutes=aht), "staffing"))


@router.get("/metrics/topics", summary="Topics per group or category", responses=_CSV_XLSX)
def topics_metric(request: Request, repo: ReadRepo, q: Q,
                  by: Annotated[str, Query(pattern="^(group|category|priority|channel|region)$")] = "group",
                  top: Annotated[int, Query(ge=1, le=50)] = 8) -> Response:
    from deskpulse.analytics.text import topics

    return answer(request, repo, "topics", q, (by, top), lambda: of(
        topics(repo, filters=q.filters(build_now(repo)), by=by, top_n=top), "topics"))


@router.get("/metrics/overview", summary="The dashboard overview's figures", responses=_CSV_XLSX)
def overview_metric(request: Request, repo: Repo, q: Q) -> Response:
    """SLA attainment by priority, group (and policy when the library has it), the backlog's
    health (open, breached, at risk, minutes to green, SLA debt, burn-down), arrivals vs
    completions per day — the overview page's numbers, from the same library calls."""
    from deskpulse.serve.web import panels

    cfg = config_of(request)

    def compute() -> Result:
        now = build_now(repo)
        f = q.filters(now)
        ov = panels.overview(repo, repo, cfg, now, f, queue_rows=0)
        sla = {dim: [r.as_dict() for r in rows] for dim, rows in ov.sla.items()}
        bl = ov.backlog.value
        days = [d for d in bl.days if d.dimension == "all"] if bl is not None else []
        doc = {
            "as_of": now, "window": f.describe(), "target_pct": ov.target,
            "sla": sla,
            "health": {**bl.green.__dict__, "sla_debt_minutes": days[-1].sla_debt_minutes if days else None}
            if bl is not None else None,
            "burndown": bl.burndown.__dict__ if bl is not None else None,
            "aging": [{k: v for k, v in a.items() if k != "url"} for a in ov.aging],
            "days": [{"date": d.date, "open": d.open_count, "arrivals": d.arrivals, "completions": d.completions,
                      "wip": d.wip, "sla_debt_minutes": d.sla_debt_minutes, "at_risk": d.at_risk_count}
                     for d in days],
            "errors": [p.error for p in (ov.resolution, ov.response, ov.backlog) if p.error],
        }
        tables = [(f"sla_{dim}", rows) for dim, rows in sla.items()]
        tables += [("days", doc["days"]), ("aging", doc["aging"])]
        return Result(doc, tables)

    return answer(request, repo, "overview", q, (), compute)
