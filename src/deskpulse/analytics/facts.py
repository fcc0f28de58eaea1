"""The analytics mart ``ticket_facts``: one wide row per built ticket, written after a build.

Response times, resolution, agent performance and bottlenecks all need, per ticket, the
ticket's dimensions (current values), its Zendesk-native times (``ticket_metrics``), its status
at the build's ``as_of`` (the open ``ticket_segments`` row), its decided SLA instances per metric
(``ticket_sla``) and whether it was escalated (``ticket_events``). Joining those four tables on
the string ticket id and aggregating ``ticket_sla`` per ticket is most of the cost of every
analytics query (at 1M tickets ~2–3 CPU-seconds per command); doing it once per build and
reading one table, sorted by ``created_at`` so that a window scans only its own row groups,
leaves only the aggregation itself.

- :func:`build_ticket_facts` (re)writes the tenant's rows; :func:`build_analytics_marts`
  writes ``ticket_facts`` and then ``backlog_daily`` — the build (``deskpulse build``) calls it
  after the SLA tables are written.
- :func:`facts_cte` is what the queries read: ``f AS (…)`` over the table when it is fresh
  (written after the last build and no ticket loaded since), else the very same columns
  computed inline from the built tables. Both give identical rows, so results do not depend
  on whether the mart was written (tested on DuckDB and PostgreSQL).

Columns (besides ``tenant_id``): the ticket's ``ticket_id``, ``created_at``, ``deleted_at`` and
the filter dimensions under their ``tickets`` names (so that
:meth:`~deskpulse.analytics.filters.Filters.ticket_predicate` works on it unchanged), its
``satisfaction`` and ``tags``-derived ``is_escalated``; the matched ``policy`` and the metric
minutes of ``ticket_metrics``; ``status_now`` and ``is_resolved`` (solved/closed at ``as_of``);
decided SLA instance counts ``{fr,nr,res}_{met,missed}`` (missed = breached or
active_breached); and ``built_at``, the build it was derived from.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from deskpulse.analytics.results import NONE_VALUE, plain
from deskpulse.store import TenantStore

log = logging.getLogger(__name__)

FACTS_TABLE: Final = "ticket_facts"
#: Group tiers for escalations: "Tier N" is N, "Escalation" without a number is 2, else 1.
MAX_TIER: Final = 9
SLA_COUNTS: Final = ("fr_met", "fr_missed", "nr_met", "nr_missed", "res_met", "res_missed")
FACT_COLUMNS: Final = (
    "ticket_id", "created_at", "deleted_at", "group", "category", "priority", "channel", "brand",
    "region", "tier", "organization", "assignee_id", "satisfaction", "policy",
    "first_reply_calendar_minutes", "first_reply_business_minutes",
    "full_resolution_calendar_minutes", "full_resolution_business_minutes",
    "solved_at", "reopens", "assignee_stations", "group_stations",
    "status_now", "is_resolved", "is_escalated", *SLA_COUNTS, "built_at",
)


def tier_sql(column: str) -> str:
    """SQL for the tier of a group name (see :data:`MAX_TIER`); patterns are fixed text."""
    lowered = f"lower(coalesce({column}, ''))"
    whens = " ".join(
        f"WHEN {lowered} LIKE '%tier_{n}%' OR {lowered} LIKE '%tier{n}%' THEN {n}"
        for n in range(MAX_TIER, 0, -1)
    )
    return f"CASE {whens} WHEN {lowered} LIKE '%escalat%' THEN 2 ELSE 1 END"


_METRICS: Final = {"fr": "first_response", "nr": "next_response", "res": "resolution"}
_STATUS: Final = {"met": "= 'met'", "missed": "IN ('breached', 'active_breached')"}


def _ctes_sql() -> str:
    """Decided SLA instances per ticket (``fsla``) and escalated tickets (``fesc``)."""
    counts = ", ".join(
        f"CAST(count(*) FILTER (WHERE metric = '{_METRICS[k]}' AND status {_STATUS[kind]}) "
        f"AS INTEGER) AS {k}_{kind}"
        for k in _METRICS for kind in _STATUS
    )
    return f"""fsla AS (
        SELECT ticket_id, {counts}
        FROM ticket_sla WHERE status IN ('met', 'breached', 'active_breached')
        GROUP BY ticket_id
      ), fesc AS (
        SELECT DISTINCT e.ticket_id FROM ticket_events e
        WHERE e.kind = 'group' AND e.event_at <= $as_of AND coalesce(e.from_value, '') <> ''
          AND {tier_sql("e.to_value")} > {tier_sql("e.from_value")}
      )"""  # noqa: S608 - fixed SQL text, values are parameters


def _rows_sql() -> str:
    """One row per built ticket (``$built_at``: the build's ``built_at``)."""
    return f"""
      SELECT t.ticket_id, t.created_at, t.deleted_at, t."group", t.category, t.priority,
             t.channel, t.brand, t.region, t.tier, t.organization, t.assignee_id, t.satisfaction,
             m.policy, m.first_reply_calendar_minutes, m.first_reply_business_minutes,
             m.full_resolution_calendar_minutes, m.full_resolution_business_minutes,
             m.solved_at, CAST(m.reopens AS INTEGER) AS reopens,
             CAST(m.assignee_stations AS INTEGER) AS assignee_stations,
             CAST(m.group_stations AS INTEGER) AS group_stations,
             s.status AS status_now,
             (s.status IN ('solved', 'closed') AND m.solved_at IS NOT NULL) AS is_resolved,
             (fesc.ticket_id IS NOT NULL
              OR ' ' || lower(replace(coalesce(t.tags, ''), ',', ' ')) || ' ' LIKE '% escalated %')
               AS is_escalated,
             {", ".join(f"CAST(coalesce(x.{c}, 0) AS INTEGER) AS {c}" for c in SLA_COUNTS)},
             CAST($built_at AS TIMESTAMP) AS built_at
      FROM tickets t
      JOIN ticket_metrics m ON m.ticket_id = t.ticket_id
      JOIN ticket_segments s ON s.ticket_id = t.ticket_id AND s.ended_at IS NULL
      LEFT JOIN fsla x ON x.ticket_id = t.ticket_id
      LEFT JOIN fesc ON fesc.ticket_id = t.ticket_id
    """  # noqa: S608 - fixed SQL text, values are parameters


STAGES_TABLE: Final = "ticket_stage_facts"
_TICKET_DIMS: Final = ("group", "category", "priority", "channel", "brand", "region", "tier",
                       "organization", "assignee_id")
STAGE_COLUMNS: Final = (
    "ticket_id", "created_at", "deleted_at", *_TICKET_DIMS, "kind", "value",
    "business_minutes", "calendar_minutes", "is_breached", "built_at",
)


def _stage_ctes_sql() -> str:
    """Per built ticket and lifecycle stage (``sf``): each unsolved status (new, open, pending,
    hold) and each group it spent time in while unsolved, the business and calendar minutes
    spent there, and whether an SLA instance breached while the stage held the ticket."""
    dims = ", ".join(f't."{c}"' for c in _TICKET_DIMS)
    return f"""sseg AS (  -- unsolved segments (empty stays hold nothing)
        SELECT g.ticket_id, g.segment, g.status, coalesce(g."group", '{NONE_VALUE}') AS grp,
               g.started_at, g.ended_at, g.business_minutes, g.calendar_minutes
        FROM ticket_segments g
        WHERE g.status IN ('new', 'open', 'pending', 'hold') AND g.calendar_minutes > 0
      ), shit AS (  -- segments holding the ticket at the instant an SLA instance breached
        SELECT DISTINCT s.ticket_id, s.segment
        FROM ticket_sla x JOIN sseg s ON s.ticket_id = x.ticket_id AND s.started_at <= x.breached_at
         AND (s.ended_at IS NULL OR s.ended_at > x.breached_at)
        WHERE x.breached_at IS NOT NULL
      ), sheld AS (
        SELECT s.ticket_id,
               CASE WHEN GROUPING(s.status) = 0 THEN 'status' ELSE 'group' END AS kind,
               coalesce(s.status, s.grp) AS value,
               sum(s.business_minutes) AS business_minutes,
               sum(s.calendar_minutes) AS calendar_minutes,
               max(CASE WHEN h.ticket_id IS NULL THEN 0 ELSE 1 END) = 1 AS is_breached
        FROM sseg s LEFT JOIN shit h ON h.ticket_id = s.ticket_id AND h.segment = s.segment
        GROUP BY GROUPING SETS ((s.ticket_id, s.status), (s.ticket_id, s.grp))
      ), sf AS (
        SELECT h.ticket_id, t.created_at, t.deleted_at, {dims}, h.kind, h.value,
               h.business_minutes, h.calendar_minutes, h.is_breached,
               CAST($built_at AS TIMESTAMP) AS built_at
        FROM sheld h JOIN tickets t ON t.ticket_id = h.ticket_id
      )"""  # noqa: S608 - fixed SQL text, values are parameters


def _build_state(repo: TenantStore) -> tuple[datetime, datetime, datetime | None] | None:
    """(as_of, built_at, loaded_through) of the last build, or None."""
    rows = repo.rows("SELECT as_of, built_at, loaded_through FROM build_state")
    return (rows[0][0], rows[0][1], rows[0][2]) if rows else None


def is_fresh(repo: TenantStore) -> bool:
    """Whether ``ticket_facts`` holds the last build's rows and no ticket was loaded since."""
    state = _build_state(repo)
    if state is None:
        return False
    _, built_at, loaded_through = state
    row = repo.rows(
        "SELECT (SELECT max(built_at) FROM ticket_facts), (SELECT min(built_at) FROM ticket_facts), "
        "(SELECT max(loaded_at) FROM tickets)"
    )[0]
    newest_fact, oldest_fact, loaded = row
    if newest_fact is None or newest_fact != built_at or oldest_fact != built_at:
        return False
    stages = repo.rows("SELECT min(built_at), max(built_at) FROM ticket_stage_facts")[0]
    if any(v is not None and v != built_at for v in stages):
        return False
    return loaded is None or (loaded_through is not None and loaded <= loaded_through)


def facts_cte(repo: TenantStore, *, fresh: bool | None = None) -> tuple[str, dict[str, Any]]:
    """``(sql, params)``: ``f AS (…), sf AS (…)`` — the marts when fresh, else the same rows
    inline (``f``: per ticket; ``sf``: per ticket and lifecycle stage).

    Starts a ``WITH`` list: callers append ``, more AS (…) SELECT … FROM f``.
    """
    if fresh is None:
        fresh = is_fresh(repo)
    if fresh:
        cols = ", ".join(f'"{c}"' for c in FACT_COLUMNS)
        stage_cols = ", ".join(f'"{c}"' for c in STAGE_COLUMNS)
        # NOT MATERIALIZED: a query reading f more than once scans the mart's columns again
        # instead of copying every row first (DuckDB materialises CTEs used twice)
        return (f"WITH f AS NOT MATERIALIZED (SELECT {cols} FROM ticket_facts), "  # noqa: S608 - fixed names
                f"sf AS NOT MATERIALIZED (SELECT {stage_cols} FROM ticket_stage_facts)"), {}
    state = _build_state(repo)
    as_of, built_at = (state[0], state[1]) if state else (datetime.min, datetime.min)
    return (f"WITH {_ctes_sql()}, f AS ({_rows_sql()}), {_stage_ctes_sql()}",
            {"as_of": as_of, "built_at": built_at})


@dataclass(frozen=True)
class FactsBuildSummary:
    """What :func:`build_ticket_facts` wrote."""

    rows: int
    stage_rows: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return dict(plain(self))


def build_ticket_facts(repo: TenantStore) -> FactsBuildSummary:
    """(Re)write the tenant's ``ticket_facts`` and ``ticket_stage_facts`` from its last build
    (sorted by ``created_at``: a window reads only its row groups). Empty without a build."""
    started = time.perf_counter()
    state = _build_state(repo)
    as_of, built_at = (state[0], state[1]) if state else (datetime.min, datetime.min)
    params = {"as_of": as_of, "built_at": built_at}
    limit = "" if state else " LIMIT 0"
    facts = repo.query(
        f"WITH {_ctes_sql()} {_rows_sql()} ORDER BY t.created_at, t.ticket_id{limit}", **params)
    stage_cols = ", ".join(f'"{c}"' for c in STAGE_COLUMNS)
    stages = repo.query(
        f"WITH {_stage_ctes_sql()} SELECT {stage_cols} FROM sf "  # noqa: S608 - fixed names
        f"ORDER BY created_at, ticket_id, kind, value{limit}", built_at=built_at)
    with repo.store.transaction():
        repo.replace_rows(FACTS_TABLE, facts)
        repo.replace_rows(STAGES_TABLE, stages)
    summary = FactsBuildSummary(facts.num_rows, stages.num_rows,
                                round(time.perf_counter() - started, 3))
    log.info("ticket_facts: %s", summary)
    return summary


@dataclass(frozen=True)
class MartsBuildSummary:
    """What :func:`build_analytics_marts` wrote."""

    ticket_facts_rows: int
    backlog_daily_rows: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return dict(plain(self))


def build_analytics_marts(repo: TenantStore, *, as_of: datetime | None = None) -> MartsBuildSummary:
    """Write every analytics mart of the tenant's last build: ``ticket_facts``, then
    ``backlog_daily`` (all history × every dimension). Call it right after
    :func:`deskpulse.sla.build.build`."""
    from deskpulse.analytics.backlog import build_backlog_daily

    started = time.perf_counter()
    facts = build_ticket_facts(repo)
    backlog = build_backlog_daily(repo, as_of=as_of)
    return MartsBuildSummary(facts.rows, backlog.rows, round(time.perf_counter() - started, 3))
