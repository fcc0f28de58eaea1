"""``deskpulse sla backtest``: replay history under the current and a proposed SLA config.

Both configs run through the same engine on the same tickets and events (nothing is
written); attainment per policy and metric is compared side by side. Attainment is
met / (met + breached + active_breached): instances still running within target and
``not_applicable`` ones do not count either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from deskpulse.config import AppConfig
from deskpulse.instants import utcnow
from deskpulse.sla.build import load_inputs, run_engine
from deskpulse.sla.policies import load_sla_config
from deskpulse.store import TenantStore


@dataclass
class BacktestResult:
    """Side-by-side attainment rows plus the window they cover."""

    as_of: datetime
    days: int | None
    tickets: int
    rows: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "days": self.days,
            "tickets": self.tickets,
            "rows": self.rows,
        }


def _attainment(sla: pa.Table) -> pa.Table:
    con = duckdb.connect()
    try:
        con.register("s", sla)
        return con.sql(
            """
            SELECT coalesce(policy, '(all)') AS policy, metric,
                   count(*) FILTER (WHERE status IN ('met', 'breached', 'active_breached')) AS decided,
                   count(*) FILTER (WHERE status = 'met') AS met,
                   count(*) FILTER (WHERE status IN ('breached', 'active_breached')) AS breached
            FROM s GROUP BY GROUPING SETS ((policy, metric), (metric))
            """
        ).to_arrow_table()
    finally:
        con.close()


def backtest(
    repo: TenantStore,
    current: AppConfig,
    proposed: AppConfig,
    *,
    days: int | None = None,
    as_of: datetime | None = None,
) -> BacktestResult:
    """Attainment per policy and metric, current vs proposed, for tickets of the last ``days``."""
    cur_sla, new_sla = load_sla_config(current), load_sla_config(proposed)
    as_of = as_of or utcnow()
    tickets, events, _ = load_inputs(repo, as_of, since=None, prev_as_of=None)
    if days is not None:
        import pyarrow.compute as pc

        cutoff = as_of - timedelta(days=days)
        tickets = tickets.filter(pc.greater_equal(tickets.column("created_at"), pa.scalar(cutoff)))
        events = events.filter(pc.is_in(events.column("ticket_id"), value_set=tickets.column("ticket_id")))
    a = _attainment(run_engine(tickets, events, cur_sla, as_of).ticket_sla)
    b = _attainment(run_engine(tickets, events, new_sla, as_of).ticket_sla)
    con = duckdb.connect()
    try:
        con.register("a", a)
        con.register("b", b)
        rows = con.sql(
            """
            SELECT coalesce(a.policy, b.policy) AS policy, coalesce(a.metric, b.metric) AS metric,
                   a.decided AS current_instances,
                   round(100.0 * a.met / nullif(a.decided, 0), 2) AS current_attainment_pct,
                   b.decided AS proposed_instances,
                   round(100.0 * b.met / nullif(b.decided, 0), 2) AS proposed_attainment_pct,
                   round(100.0 * b.met / nullif(b.decided, 0) - 100.0 * a.met / nullif(a.decided, 0), 2)
                     AS delta_pct_points
            FROM a FULL OUTER JOIN b ON a.policy = b.policy AND a.metric = b.metric
            ORDER BY (coalesce(a.policy, b.policy) = '(all)'), 1, 2
            """
        ).to_arrow_table().to_pylist()
    finally:
        con.close()
    return BacktestResult(as_of=as_of, days=days, tickets=tickets.num_rows, rows=rows)
