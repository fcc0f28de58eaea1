"""Shared building blocks of analytics results: the analysed window, rates and distributions.

Every analytics function returns a typed, frozen result (a dataclass) that the CLI, the HTTP
API, the dashboard and the reports all reuse: ``as_dict()`` gives a JSON-ready nested dict and
``rows()`` a flat list of dicts (one per table row, for CSV and tables). This module holds the
pieces they share: where "now" is for an analysis (the last build's ``as_of``), the window
actually analysed, and rate / distribution helpers that compute in Python from integer counts
so that DuckDB and PostgreSQL give identical figures.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from datetime import date, datetime
from typing import Any

from deskpulse.analytics.filters import Filters
from deskpulse.errors import UsageError
from deskpulse.store import TenantStore

#: Digits kept of minute figures read from SQL aggregates (float sums and percentiles may
#: differ in the last bits between DuckDB and PostgreSQL; rounding makes them identical).
MINUTE_DIGITS = 6

#: Breakdown dimensions of the response/resolution reports: name -> ``ticket_facts`` column
#: (the ticket's current values; ``policy`` is the SLA policy the build matched).
BREAKDOWNS: dict[str, str] = {
    "category": "category",
    "priority": "priority",
    "group": "group",
    "channel": "channel",
    "agent": "assignee_id",
    "policy": "policy",
}

#: The value that stands for a missing dimension value in breakdowns and backlog_daily.
NONE_VALUE = "(none)"

NO_TICKETS_MESSAGE = "no tickets in range"



def build_as_of(repo: TenantStore) -> datetime | None:
    """The ``as_of`` of the tenant's last SLA build, or None when it was never built."""
    rows = repo.rows("SELECT as_of FROM build_state")
    return rows[0][0] if rows else None


def analysis_now(repo: TenantStore) -> datetime | None:
    """The instant analytics treat as "now": the last build's ``as_of``.

    The built tables describe the tenant as of that instant, so relative windows
    (``--days 30``, ``--range 7d``) count back from it: a build of past data (a demo, a
    backfill) analyses the same way as a live one. None when the tenant was never built.
    """
    return build_as_of(repo)


def require_as_of(repo: TenantStore) -> datetime | None:
    """The last build's ``as_of``; None for a tenant without tickets (nothing to analyse).

    Raises :class:`UsageError` when tickets exist but were never built: analytics read the
    built tables, and an empty answer would be misleading.
    """
    as_of = build_as_of(repo)
    if as_of is None and repo.scalar("SELECT count(*) FROM tickets") > 0:
        raise UsageError("the tenant has tickets but no build yet: run `deskpulse build` first")
    return as_of


@dataclass(frozen=True)
class Window:
    """What an analysis covered: tickets created in ``[start_at, end_at)`` matching ``filters``,
    read from the build as of ``as_of``."""

    start_at: datetime | None
    end_at: datetime | None
    as_of: datetime | None
    filters: dict[str, str] = field(default_factory=dict)
    description: str = "all time"

    @classmethod
    def of(cls, filters: Filters, as_of: datetime | None) -> Window:
        return cls(filters.start_at, filters.end_at, as_of, dict(filters.values), filters.describe())


def ratio(numerator: int, denominator: int) -> float | None:
    """``numerator / denominator`` (0..1), or None when nothing was counted."""
    return numerator / denominator if denominator else None


def pct(numerator: int, denominator: int) -> float | None:
    """Percentage ``100 · numerator / denominator``, or None when nothing was counted."""
    return 100.0 * numerator / denominator if denominator else None


def minutes(value: Any) -> float | None:
    """A minute figure from SQL, rounded to :data:`MINUTE_DIGITS` (None stays None)."""
    if value is None:
        return None
    f = float(value)
    if math.isnan(f):
        return None
    return round(f, MINUTE_DIGITS) + 0.0  # + 0.0 turns -0.0 into 0.0


def plain(value: Any) -> Any:
    """A JSON-ready value: dataclasses become dicts, dates ISO strings (instants with Z)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def row_dict(obj: Any) -> dict[str, Any]:
    """A flat dataclass as a dict (values left as Python objects)."""
    return asdict(obj)


def mean_sql(column: str, name: str, where: str | None = None) -> str:
    """SQL select items for an exact mean of a minute column: ``{name}_sum_s`` (the sum in
    whole seconds, an integer) and ``{name}_n``; :func:`mean_minutes` divides them.

    Minute columns hold whole seconds / 60, so the integer sum is exact and both stores give
    the very same mean (a float ``avg`` may differ in the last bit and round differently).
    """
    flt = f" FILTER (WHERE {where})" if where else ""
    return (
        f"CAST(sum(CAST(round({column} * 60) AS BIGINT)){flt} AS BIGINT) AS {name}_sum_s, "
        f"count({column}){flt} AS {name}_n"
    )


def mean_minutes(row: dict[str, Any], name: str) -> float | None:
    """The mean in minutes from :func:`mean_sql`'s columns (None when nothing was counted)."""
    n = row.get(f"{name}_n")
    total = row.get(f"{name}_sum_s")
    if not n or total is None:
        return None
    return minutes(int(total) / (60 * int(n)))


def time_stats_sql(column: str, name: str, where: str | None = None, *,
                   dialect: str = "postgresql") -> str:
    """SQL select items for the mean (:func:`mean_sql`), ``{name}_median`` and ``{name}_p90``
    over ``column`` (optionally filtered).

    Written in DuckDB's dialect (``median``/``quantile_cont``); sqlglot turns them into
    ``percentile_cont … WITHIN GROUP`` on PostgreSQL, which interpolates the same way. The
    inputs are multiples of 1/60 min, so no interpolated value sits on a rounding tie at
    :data:`MINUTE_DIGITS` digits: rounding makes the last-bit differences vanish. On DuckDB
    both quantiles come from one ``quantile_cont(column, [0.5, 0.9])`` (one sort instead of
    two; the same interpolation) as ``{name}_q``: :func:`split_quantiles` unpacks it.
    """
    return f"{mean_sql(column, name, where)}, {quantiles_sql(column, name, where, dialect=dialect)}"


def quantiles_sql(column: str, name: str, where: str | None = None, *,
                  dialect: str = "postgresql") -> str:
    """The quantile items of :func:`time_stats_sql`: ``{name}_q`` (a [median, p90] list) on
    DuckDB, ``{name}_median`` and ``{name}_p90`` elsewhere."""
    flt = f" FILTER (WHERE {where})" if where else ""
    if dialect == "duckdb":
        return f"quantile_cont({column}, [0.5, 0.9]){flt} AS {name}_q"
    return (
        f"median({column}){flt} AS {name}_median, "
        f"quantile_cont({column}, 0.9){flt} AS {name}_p90"
    )


def split_quantiles(row: dict[str, Any], *names: str) -> dict[str, Any]:
    """Unpack ``{name}_q`` lists of :func:`time_stats_sql` into ``{name}_median``/``_p90``."""
    for name in names:
        if f"{name}_q" in row:
            q = row.pop(f"{name}_q")
            row[f"{name}_median"], row[f"{name}_p90"] = (q[0], q[1]) if q else (None, None)
    return row


def is_narrow(filters: Filters) -> bool:
    """Whether ``filters`` select only a part of the tickets (a window or a dimension value):
    then aggregating the derived tables over those tickets only is worth a semi-join."""
    return bool(filters.start_at or filters.end_at or filters.values)


def in_window_sql(pred: str, column: str = "ticket_id") -> str:
    """``column IN (the tickets that pred selects)`` — ``pred`` is a
    :meth:`Filters.ticket_predicate` over alias ``t`` (values are parameters)."""
    return f"{column} IN (SELECT t.ticket_id FROM tickets t WHERE {pred})"  # noqa: S608 - predicate from Filters
