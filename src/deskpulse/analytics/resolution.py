"""Response times and resolution (seed 000): counts, rates, time distributions, SLA compliance.

:func:`response_times` and :func:`resolution` aggregate the analytics facts (the
``ticket_facts`` mart, or the same rows computed from ``ticket_metrics``, the open
``ticket_segments`` row and ``ticket_sla``, see :mod:`deskpulse.analytics.facts`) in one grouped
query each, overall and broken down by category, priority, group, channel, agent and policy
(``GROUPING SETS``). Definitions:

- *replied*: ``first_reply_at`` is known; *resolved*: the status at ``as_of`` is solved or
  closed (a reopened, unsolved ticket is not resolved).
- *within threshold*: first reply within ``first_response_minutes`` / resolution within
  ``resolution_hours``, wall-clock (calendar) minutes, the customer's view. The share counts
  only decided tickets: replied (resolved) ones, and unreplied (unresolved) ones already older
  than the threshold at ``as_of``; a ticket solved without any reply is not counted for first
  response.
- *SLA compliance*: met / (met + breached + active_breached) over ``ticket_sla`` instances of
  the metric (instances still running within target, paused or not applicable do not count).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from deskpulse.analytics.facts import SLA_COUNTS, facts_cte
from deskpulse.analytics.filters import Filters
from deskpulse.analytics.results import (
    BREAKDOWNS,
    NO_TICKETS_MESSAGE,
    NONE_VALUE,
    Window,
    mean_minutes,
    minutes,
    pct,
    plain,
    quantiles_sql,
    ratio,
    require_as_of,
    row_dict,
    split_quantiles,
)
from deskpulse.config import Thresholds
from deskpulse.errors import UsageError
from deskpulse.store import TenantStore

UNASSIGNED = "(unassigned)"
DECIDED = "('met', 'breached', 'active_breached')"
MISSED = "('breached', 'active_breached')"


def check_by(by: Sequence[str] | None) -> tuple[str, ...]:
    """Validate breakdown names (default: all of :data:`BREAKDOWNS`)."""
    names = tuple(BREAKDOWNS) if by is None else tuple(dict.fromkeys(by))
    unknown = [b for b in names if b not in BREAKDOWNS]
    if unknown:
        raise UsageError(f"unknown breakdown {unknown[0]!r}; use {', '.join(BREAKDOWNS)}")
    return names


def _dims_sql() -> str:
    parts = []
    for name, column in BREAKDOWNS.items():
        empty = UNASSIGNED if name == "agent" else NONE_VALUE
        parts.append(f"coalesce(f.\"{column}\", '{empty}') AS \"{name}\"")
    return ", ".join(parts)


def _grouped_sql(base: str, sums: Sequence[tuple[str, str, bool]],
                 quantiles: Sequence[tuple[str, str, str | None]], by: tuple[str, ...],
                 dialect: str) -> str:
    """``base`` aggregated overall and per breakdown; adds ``dimension`` and ``value``.

    ``sums`` (name, expression, is a count) are decomposable: they are aggregated once per
    combination of the breakdown values (``rs_cell``, a few thousand rows instead of one per
    ticket) and then summed per grouping set — one pass over the tickets instead of one per
    set. ``quantiles`` (name, column, filter) need every value: :func:`quantiles_sql` over the
    tickets per grouping set (``rs_q``), joined back on (dimension, value).
    """
    sets = ", ".join(["()", *[f'("{b}")' for b in by]])
    label = " ".join(f"WHEN GROUPING(\"{b}\") = 0 THEN '{b}'" for b in by)
    value = "coalesce(" + ", ".join([*[f'"{b}"' for b in by], "'all'"]) + ")"
    dimension = f"CASE {label} ELSE 'all' END" if by else "'all'"
    keys = ", ".join(f'"{b}"' for b in by)
    cell_sums = ", ".join(f"{expr} AS {name}" for name, expr, _ in sums)
    cells = (f"SELECT {keys}, {cell_sums} FROM b GROUP BY {keys}" if by  # noqa: S608 - fixed SQL text
             else f"SELECT {cell_sums} FROM b")  # noqa: S608 - fixed SQL text
    totals = ", ".join(
        f"CAST(coalesce(sum({name}), 0) AS BIGINT) AS {name}" if is_count
        else f"CAST(sum({name}) AS BIGINT) AS {name}"
        for name, _, is_count in sums)
    qs = ", ".join(quantiles_sql(column, name, where, dialect=dialect)
                   for name, column, where in quantiles)
    q_cols = ", ".join(f"q.{c}" for name, _, _ in quantiles
                       for c in ((f"{name}_q",) if dialect == "duckdb"
                                 else (f"{name}_median", f"{name}_p90")))
    return (
        f"{base}, rs_cell AS ({cells}), "  # noqa: S608 - fixed SQL text, values are parameters
        f"rs_sum AS (SELECT {dimension} AS dimension, {value} AS value, {totals} "
        f"FROM rs_cell GROUP BY GROUPING SETS ({sets})), "
        f"rs_q AS (SELECT {dimension} AS dimension, {value} AS value, {qs} "
        f"FROM b GROUP BY GROUPING SETS ({sets})) "
        f"SELECT s.*, {q_cols} FROM rs_sum s "
        f"LEFT JOIN rs_q q ON q.dimension = s.dimension AND q.value = s.value"
    )


def _base_sql(pred: str) -> str:
    """One row per ticket of the window (``b``, after :func:`facts_cte`'s ``f``): dimensions,
    times, resolved, age and the decided SLA instance counts."""
    return f"""
    , b AS (
      SELECT f.ticket_id, {_dims_sql()},
             f.first_reply_calendar_minutes AS fr_cal, f.first_reply_business_minutes AS fr_bus,
             f.full_resolution_calendar_minutes AS res_cal,
             f.full_resolution_business_minutes AS res_bus,
             f.is_resolved, date_diff('second', f.created_at, $as_of) AS age_seconds,
             {", ".join(f"f.{c}" for c in SLA_COUNTS)}
      FROM f
      WHERE {pred}
    )
    """  # noqa: S608 - fixed SQL text, values are parameters


@dataclass(frozen=True)
class ResponseRow:
    """First-response figures of one slice (``dimension`` = ``value``; ``all`` = overall)."""

    dimension: str
    value: str
    tickets: int
    replied: int
    first_reply_mean_calendar_minutes: float | None
    first_reply_median_calendar_minutes: float | None
    first_reply_p90_calendar_minutes: float | None
    first_reply_mean_business_minutes: float | None
    first_reply_median_business_minutes: float | None
    first_reply_p90_business_minutes: float | None
    within_threshold: int
    threshold_decided: int
    within_threshold_share: float | None
    first_response_sla_met: int
    first_response_sla_missed: int
    first_response_sla_compliance_pct: float | None
    next_response_sla_met: int
    next_response_sla_missed: int
    next_response_sla_compliance_pct: float | None
    is_sla_target_met: bool | None

    def as_dict(self) -> dict[str, Any]:
        return row_dict(self)


@dataclass(frozen=True)
class ResolutionRow:
    """Resolution figures of one slice (``dimension`` = ``value``; ``all`` = overall)."""

    dimension: str
    value: str
    tickets: int
    resolved: int
    unresolved: int
    resolution_rate: float | None
    is_resolution_rate_target_met: bool | None
    resolution_mean_calendar_minutes: float | None
    resolution_median_calendar_minutes: float | None
    resolution_p90_calendar_minutes: float | None
    resolution_mean_business_minutes: float | None
    resolution_median_business_minutes: float | None
    resolution_p90_business_minutes: float | None
    within_threshold: int
    threshold_decided: int
    within_threshold_share: float | None
    resolution_sla_met: int
    resolution_sla_missed: int
    resolution_sla_compliance_pct: float | None
    is_sla_target_met: bool | None

    def as_dict(self) -> dict[str, Any]:
        return row_dict(self)


@dataclass(frozen=True)
class _Report:
    window: Window
    targets: dict[str, float]
    overall: Any
    breakdowns: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def tickets(self) -> int:
        return int(self.overall.tickets)

    @property
    def is_empty(self) -> bool:
        return self.tickets == 0

    @property
    def message(self) -> str | None:
        return NO_TICKETS_MESSAGE if self.is_empty else None

    def rows(self) -> list[dict[str, Any]]:
        """Overall first, then every breakdown row (flat dicts for tables and CSV)."""
        out = [self.overall.as_dict()]
        for rows in self.breakdowns.values():
            out.extend(r.as_dict() for r in rows)
        return out

    def as_dict(self) -> dict[str, Any]:
        return dict(plain(
            {
                "window": self.window,
                "targets": self.targets,
                "tickets": self.tickets,
                "message": self.message,
                "overall": self.overall,
                "breakdowns": self.breakdowns,
            }
        ))


@dataclass(frozen=True)
class ResponseTimesReport(_Report):
    """:func:`response_times`' result: overall and per breakdown :class:`ResponseRow`."""

    overall: ResponseRow


@dataclass(frozen=True)
class ResolutionReport(_Report):
    """:func:`resolution`'s result: overall and per breakdown :class:`ResolutionRow`."""

    overall: ResolutionRow


def _meets(value: float | None, target: float) -> bool | None:
    return None if value is None else value >= target


def _order(rows: list[Any], by: tuple[str, ...]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {b: [] for b in by}
    for r in rows:
        if r.dimension in out:
            out[r.dimension].append(r)
    for b in out:  # sorted in Python: text order must not depend on the database collation
        out[b].sort(key=lambda r: (-r.tickets, r.value))
    return out


#: The decided SLA instance counts, summed per slice.
_SLA_SUMS: tuple[tuple[str, str, bool], ...] = tuple((n, f"sum({n})", False) for n in SLA_COUNTS)


def _mean_sums(column: str, name: str, where: str | None = None) -> list[tuple[str, str, bool]]:
    """:func:`~deskpulse.analytics.results.mean_sql`'s two columns as decomposable sums."""
    flt = f" FILTER (WHERE {where})" if where else ""
    return [(f"{name}_sum_s", f"sum(CAST(round({column} * 60) AS BIGINT)){flt}", False),
            (f"{name}_n", f"count({column}){flt}", True)]


def _run(repo: TenantStore, filters: Filters, sums: Sequence[tuple[str, str, bool]],
         quantiles: Sequence[tuple[str, str, str | None]], by: tuple[str, ...],
         as_of: datetime, **params: Any) -> list[dict[str, Any]]:
    """Ticket-level aggregates and decided SLA instance counts per slice, from the analytics
    facts (the ``ticket_facts`` mart, or the same rows computed inline)."""
    pred, fparams = filters.ticket_predicate("f")
    cte, cparams = facts_cte(repo)
    sql = _grouped_sql(cte + _base_sql(pred), [*sums, *_SLA_SUMS], quantiles, by,
                       repo.store.dialect)
    rows: list[dict[str, Any]] = repo.query(
        sql, **{**cparams, **fparams, **params, "as_of": as_of}
    ).to_pylist()
    return [split_quantiles(r, "fr_cal", "fr_bus", "res_cal", "res_bus") for r in rows]


def response_times(
    repo: TenantStore,
    filters: Filters,
    thresholds: Thresholds,
    *,
    by: Sequence[str] | None = None,
) -> ResponseTimesReport:
    """First-response times of the tickets created in the window, overall and per breakdown."""
    names = check_by(by)
    as_of = require_as_of(repo)
    target = thresholds.sla_target_percentage
    targets = {"first_response_minutes": thresholds.first_response_minutes,
               "sla_target_percentage": target}
    window = Window.of(filters, as_of)
    zero = _response_row("all", "all", {}, target)
    if as_of is None:
        return ResponseTimesReport(window, targets, zero, {b: [] for b in names})
    sums = [
        ("tickets", "count(*)", True), ("replied", "count(fr_cal)", True),
        *_mean_sums("fr_cal", "fr_cal"), *_mean_sums("fr_bus", "fr_bus"),
        ("within_threshold", "count(*) FILTER (WHERE fr_cal <= $threshold_minutes)", True),
        ("threshold_decided", "count(*) FILTER (WHERE fr_cal IS NOT NULL "
         "OR (NOT is_resolved AND age_seconds > $threshold_seconds))", True),
    ]
    quantiles: list[tuple[str, str, str | None]] = [("fr_cal", "fr_cal", None), ("fr_bus", "fr_bus", None)]
    limit = thresholds.first_response_minutes
    raw = _run(repo, filters, sums, quantiles, names, as_of,
               threshold_minutes=limit, threshold_seconds=limit * 60)
    rows = [_response_row(r["dimension"], r["value"], r, target) for r in raw]
    overall = next((r for r in rows if r.dimension == "all"), zero)
    return ResponseTimesReport(window, targets, overall, _order(rows, names))


def _i(r: dict[str, Any], key: str) -> int:
    v = r.get(key)
    return int(v) if v is not None else 0


def _response_row(dimension: str, value: str, r: dict[str, Any], target: float) -> ResponseRow:
    fr_met, fr_missed = _i(r, "fr_met"), _i(r, "fr_missed")
    compliance = pct(fr_met, fr_met + fr_missed)
    nr_met, nr_missed = _i(r, "nr_met"), _i(r, "nr_missed")
    return ResponseRow(
        dimension=dimension,
        value=value,
        tickets=_i(r, "tickets"),
        replied=_i(r, "replied"),
        first_reply_mean_calendar_minutes=mean_minutes(r, "fr_cal"),
        first_reply_median_calendar_minutes=minutes(r.get("fr_cal_median")),
        first_reply_p90_calendar_minutes=minutes(r.get("fr_cal_p90")),
        first_reply_mean_business_minutes=mean_minutes(r, "fr_bus"),
        first_reply_median_business_minutes=minutes(r.get("fr_bus_median")),
        first_reply_p90_business_minutes=minutes(r.get("fr_bus_p90")),
        within_threshold=_i(r, "within_threshold"),
        threshold_decided=_i(r, "threshold_decided"),
        within_threshold_share=ratio(_i(r, "within_threshold"), _i(r, "threshold_decided")),
        first_response_sla_met=fr_met,
        first_response_sla_missed=fr_missed,
        first_response_sla_compliance_pct=compliance,
        next_response_sla_met=nr_met,
        next_response_sla_missed=nr_missed,
        next_response_sla_compliance_pct=pct(nr_met, nr_met + nr_missed),
        is_sla_target_met=_meets(compliance, target),
    )


def resolution(
    repo: TenantStore,
    filters: Filters,
    thresholds: Thresholds,
    *,
    by: Sequence[str] | None = None,
) -> ResolutionReport:
    """Resolution rate and times of the tickets created in the window, overall and per breakdown."""
    names = check_by(by)
    as_of = require_as_of(repo)
    targets = {
        "resolution_hours": thresholds.resolution_hours,
        "resolution_rate_target": thresholds.resolution_rate_target,
        "sla_target_percentage": thresholds.sla_target_percentage,
    }
    window = Window.of(filters, as_of)
    zero = _resolution_row("all", "all", {}, thresholds)
    if as_of is None:
        return ResolutionReport(window, targets, zero, {b: [] for b in names})
    sums = [
        ("tickets", "count(*)", True), ("resolved", "count(*) FILTER (WHERE is_resolved)", True),
        *_mean_sums("res_cal", "res_cal", "is_resolved"),
        *_mean_sums("res_bus", "res_bus", "is_resolved"),
        ("within_threshold",
         "count(*) FILTER (WHERE is_resolved AND res_cal <= $threshold_minutes)", True),
        ("threshold_decided",
         "count(*) FILTER (WHERE is_resolved OR age_seconds > $threshold_seconds)", True),
    ]
    quantiles: list[tuple[str, str, str | None]] = [
        ("res_cal", "res_cal", "is_resolved"), ("res_bus", "res_bus", "is_resolved")]
    limit = thresholds.resolution_hours * 60
    raw = _run(repo, filters, sums, quantiles, names, as_of,
               threshold_minutes=limit, threshold_seconds=limit * 60)
    rows = [_resolution_row(r["dimension"], r["value"], r, thresholds) for r in raw]
    overall = next((r for r in rows if r.dimension == "all"), zero)
    return ResolutionReport(window, targets, overall, _order(rows, names))


def _resolution_row(dimension: str, value: str, r: dict[str, Any], th: Thresholds) -> ResolutionRow:
    tickets, resolved = _i(r, "tickets"), _i(r, "resolved")
    rate = ratio(resolved, tickets)
    met, missed = _i(r, "res_met"), _i(r, "res_missed")
    compliance = pct(met, met + missed)
    return ResolutionRow(
        dimension=dimension,
        value=value,
        tickets=tickets,
        resolved=resolved,
        unresolved=tickets - resolved,
        resolution_rate=rate,
        is_resolution_rate_target_met=_meets(rate, th.resolution_rate_target),
        resolution_mean_calendar_minutes=mean_minutes(r, "res_cal"),
        resolution_median_calendar_minutes=minutes(r.get("res_cal_median")),
        resolution_p90_calendar_minutes=minutes(r.get("res_cal_p90")),
        resolution_mean_business_minutes=mean_minutes(r, "res_bus"),
        resolution_median_business_minutes=minutes(r.get("res_bus_median")),
        resolution_p90_business_minutes=minutes(r.get("res_bus_p90")),
        within_threshold=_i(r, "within_threshold"),
        threshold_decided=_i(r, "threshold_decided"),
        within_threshold_share=ratio(_i(r, "within_threshold"), _i(r, "threshold_decided")),
        resolution_sla_met=met,
        resolution_sla_missed=missed,
        resolution_sla_compliance_pct=compliance,
        is_sla_target_met=_meets(compliance, th.sla_target_percentage),
    )
