"""The SLA engine: CONTRACT §3 clocks and lifecycle metrics as set-based SQL plus the kernel.

Input: canonical tickets and events (Arrow), a validated :class:`SlaConfig` and ``as_of``.
Output: ``ticket_metrics``, ``ticket_sla`` and ``ticket_segments`` (Arrow). The logic is
window-function SQL run in an in-memory DuckDB; staging (clamping, filtering, the build notes)
and the status x group x assignee timeline are numpy over dense integer ticket keys. Business
time comes from the vectorised kernel as positions F(t) per ticket calendar, so every business
duration is F(b) − F(a). Nothing here loops over tickets in Python: Python only loops over
calendars and policies.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from deskpulse.calendar.kernel import BusinessCalendar
from deskpulse.calendar.spec import ALWAYS_CALENDAR_NAME, CalendarSpec
from deskpulse.sla.policies import METRICS, SlaConfig, match_policies

log = logging.getLogger(__name__)

SOLVED = "('solved', 'closed')"
#: Tickets per engine pass: bounds memory (a 100k pass peaks near +850 MB, 50k near +450 MB;
#: the fixed cost per pass is ≈ 0.2 CPU-s); whole tickets stay together.
PARTITION_TICKETS = 50_000
TICKET_INPUT_COLUMNS = (
    "ticket_id", "created_at", "status", "group", "assignee_id", "first_reply_at", "solved_at",
)


@dataclass
class EngineResult:
    """The engine's output tables and what it noticed along the way."""

    ticket_metrics: pa.Table
    ticket_sla: pa.Table
    ticket_segments: pa.Table
    notes: dict[str, int] = field(default_factory=dict)


class Calendars:
    """The calendars of one build, materialised once over the data's span."""

    def __init__(self, sla: SlaConfig, start_s: int, end_s: int) -> None:
        self.names = sla.calendar_names()
        self.cals: list[BusinessCalendar] = []
        for name in self.names:
            spec = sla.calendars.get(name) or CalendarSpec.always_open(name)
            self.cals.append(BusinessCalendar.for_span(spec, start_s, end_s))

    def index(self, name: str) -> int:
        return self.names.index(name)

    def _apply(self, method: str, cal: np.ndarray, values: np.ndarray) -> np.ndarray:
        out = np.zeros(len(values), dtype=np.int64)
        for i, c in enumerate(self.cals):
            m = cal == i
            if m.any():
                out[m] = getattr(c, method)(values[m])
        return out

    def position(self, cal: np.ndarray, t: np.ndarray) -> np.ndarray:
        return self._apply("position", cal, t)

    def reach(self, cal: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self._apply("reach", cal, y)

    def next_business(self, cal: np.ndarray, t: np.ndarray) -> np.ndarray:
        return self._apply("next_business_instant", cal, t)


def _q(sql: str) -> str:
    """Expand the constant ``{SOLVED}`` in engine SQL (no user input is ever interpolated)."""
    return sql.replace("{SOLVED}", SOLVED)


def _np(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False))


_STATUSES = pa.array(["new", "open", "pending", "hold", "solved", "closed"], pa.string())
_SOLVED_STATUSES = pa.array(["solved", "closed"], pa.string())
_HOLDER_KINDS = pa.array(["status", "group", "assignee"], pa.string())


def _mask(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean Arrow column as a numpy mask (NULL counts as False)."""
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _epoch_s(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps as whole epoch seconds (floored) and their validity (NULL -> 0, False)."""
    us = pc.cast(pc.cast(values, pa.timestamp("us"), safe=False), pa.int64())
    valid = np.asarray(pc.is_valid(us).to_numpy(zero_copy_only=False), dtype=bool)
    secs = np.asarray(pc.fill_null(us, 0).to_numpy(zero_copy_only=False), dtype=np.int64) // 1_000_000
    return secs, valid


def _with_kernel(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    cals: Calendars,
    fn: str,
    src: str,
    dst: str,
    params: dict[str, Any] | None = None,
) -> pa.Table:
    """Run ``sql``, apply a kernel function to column ``src`` (nullable) into ``dst``."""
    table = con.sql(sql, params=params).to_arrow_table()
    col = table.column(src)
    valid = np.asarray(col.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    values = np.asarray(col.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
    cal = np.asarray(table.column("cal").to_numpy(zero_copy_only=False), dtype=np.int64)
    out = np.zeros(len(values), dtype=np.int64)
    if valid.any():
        out[valid] = getattr(cals, fn)(cal[valid], values[valid])
    return table.append_column(dst, pa.array(out, pa.int64(), mask=~valid))


def compute(
    tickets: pa.Table, events: pa.Table, sla: SlaConfig, as_of_s: int
) -> EngineResult:
    """Compute ticket_metrics, ticket_sla and ticket_segments for ``tickets`` at ``as_of_s``.

    ``tickets`` needs the columns of :data:`TICKET_INPUT_COLUMNS` plus every dimension a policy
    matches on; ``events`` the canonical event columns plus ``seq``. Tickets created after
    ``as_of`` and events after it are ignored; soft-deleted tickets must be filtered out by
    the caller.
    """
    if tickets.num_rows <= PARTITION_TICKETS:
        return _compute_one(tickets, events, sla, as_of_s)
    # Bounded memory: whole tickets per partition (a ticket's rows never straddle two).
    tickets = tickets.take(pc.sort_indices(tickets, [("ticket_id", "ascending")]))
    part_of_ticket = np.arange(tickets.num_rows, dtype=np.int64) // PARTITION_TICKETS
    key = pc.index_in(events.column("ticket_id"), value_set=tickets.column("ticket_id"))
    ev_part = np.asarray(pc.fill_null(key, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    ev_part = np.where(ev_part >= 0, part_of_ticket[np.maximum(ev_part, 0)], -1)
    order = np.argsort(ev_part, kind="stable")  # stable: keeps input order inside a partition
    events = events.take(pa.array(order))
    bounds = np.searchsorted(ev_part[order], np.arange(part_of_ticket[-1] + 2))
    results = []
    for part in range(int(part_of_ticket[-1]) + 1):
        lo, hi = int(bounds[part]), int(bounds[part + 1])
        results.append(
            _compute_one(
                tickets.slice(part * PARTITION_TICKETS, PARTITION_TICKETS),
                events.slice(lo, hi - lo),
                sla,
                as_of_s,
            )
        )
    notes: dict[str, int] = {}
    for r in results:
        for k, v in r.notes.items():
            notes[k] = notes.get(k, 0) + v
    return EngineResult(
        pa.concat_tables([r.ticket_metrics for r in results]),
        pa.concat_tables([r.ticket_sla for r in results]),
        pa.concat_tables([r.ticket_segments for r in results]),
        notes,
    )


def _compute_one(tickets: pa.Table, events: pa.Table, sla: SlaConfig, as_of_s: int) -> EngineResult:
    con = duckdb.connect()
    try:
        return _compute(con, tickets, events, sla, as_of_s)
    finally:
        con.close()


def _compute(
    con: duckdb.DuckDBPyConnection, tickets: pa.Table, events: pa.Table, sla: SlaConfig, as_of_s: int
) -> EngineResult:
    notes: dict[str, int] = {}
    # Work on dense integer ticket keys (sorted like the string ids): joins, sorts and
    # partitions on int64 are several times cheaper than on strings. Map back at the end.
    tickets = tickets.take(pc.sort_indices(tickets, [("ticket_id", "ascending")]))
    ids = tickets.column("ticket_id").combine_chunks()
    tickets = tickets.set_column(
        tickets.schema.get_field_index("ticket_id"), "ticket_id", pa.array(np.arange(len(ids), dtype=np.int64))
    )
    ev_key = pc.cast(pc.index_in(events.column("ticket_id"), value_set=ids), pa.int64())
    events = events.set_column(events.schema.get_field_index("ticket_id"), "ticket_id", ev_key)
    events = events.filter(pc.is_valid(ev_key))
    pol = match_policies(tickets, sla.policies)
    pol_cal = np.array(
        [sla.calendar_names().index(pp.calendar) for pp in sla.policies] or [0], dtype=np.int64
    )
    always_idx = sla.calendar_names().index(ALWAYS_CALENDAR_NAME)
    cal = np.where(pol >= 0, pol_cal[np.maximum(pol, 0)], always_idx)
    # Policies, targets and pauses as small relations.
    pol_rows = [
        {"pol": i, "policy": pp.name, "calendar": pp.calendar, "metric": m, "target_s": pp.targets_seconds[m]}
        for i, pp in enumerate(sla.policies)
        for m in METRICS
        if m in pp.targets_seconds
    ]
    targets = pa.Table.from_pylist(
        pol_rows,
        schema=pa.schema([("pol", pa.int64()), ("policy", pa.string()), ("calendar", pa.string()),
                          ("metric", pa.string()), ("target_s", pa.int64())]),
    )
    con.register("targets", targets)
    pause = pa.Table.from_pylist(
        [{"pol": i, "status": s} for i, pp in enumerate(sla.policies) for s in pp.pause_on],
        schema=pa.schema([("pol", pa.int64()), ("status", pa.string())]),
    )
    con.register("pause", pause)
    pol_names = pa.table({"pol": pa.array(range(len(sla.policies)), pa.int64()),
                          "policy": pa.array([pp.name for pp in sla.policies], pa.string())})
    con.register("pol_names", pol_names)
    cal_names = pa.table({"cal": pa.array(range(len(sla.calendar_names())), pa.int64()),
                          "calendar": pa.array(sla.calendar_names(), pa.string())})
    con.register("cal_names", cal_names)

    # --- staging (numpy over the dense keys): tickets as of as_of, events clamped ---------------
    n_tk = tickets.num_rows
    created_all, _ = _epoch_s(tickets.column("created_at"))
    in_tk0 = created_all <= as_of_s
    ev_tk = _np(events, "ticket_id").astype(np.int64, copy=False)
    ev_t, _ = _epoch_s(events.column("event_at"))
    ev_in0 = in_tk0[ev_tk] if n_tk else np.zeros(len(ev_tk), dtype=bool)
    has_events_all = np.zeros(n_tk, dtype=bool)
    has_events_all[ev_tk[ev_in0 & (ev_t <= as_of_s)]] = True
    notes["events_before_created_at_clamped"] = int(np.count_nonzero(ev_in0 & (ev_t < created_all[ev_tk])))
    kind = events.column("kind")
    is_status = _mask(pc.equal(kind, "status"))
    good_status = _mask(pc.is_in(events.column("to_value"), value_set=_STATUSES))
    bad_status = is_status & ~good_status
    notes["status_events_with_unknown_value_ignored"] = int(np.count_nonzero(bad_status))

    rows = np.flatnonzero(in_tk0)
    created_s = created_all[rows]
    status_now = tickets.column("status").take(pa.array(rows))
    is_solved_now = _mask(pc.is_in(status_now, value_set=_SOLVED_STATUSES))
    has_events = has_events_all[rows]
    first_reply_s, first_reply_ok = _epoch_s(tickets.column("first_reply_at").take(pa.array(rows)))
    solved_s, solved_ok = _epoch_s(tickets.column("solved_at").take(pa.array(rows)))
    cal_tk = cal[rows]
    unknown_solve = ~has_events & is_solved_now & ~solved_ok
    notes["solved_without_events_or_solved_at"] = int(np.count_nonzero(unknown_solve))
    notes["tickets_without_events"] = int(np.count_nonzero(~has_events))

    # --- kernel: business position of every instant we will subtract ---------------------------
    span_lo = int(created_s.min()) if len(created_s) else as_of_s
    cals = Calendars(sla, span_lo, as_of_s)
    # only what a clock can see: status/holder changes and public comments (valid statuses)
    seen = _mask(pc.is_in(kind, value_set=_HOLDER_KINDS)) | (
        _mask(pc.equal(kind, "comment")) & _mask(events.column("public"))
    )
    ev_keep = ev_in0 & (ev_t <= as_of_s) & ~bad_status & seen
    ev_rows = np.flatnonzero(ev_keep)
    ev_keep_pa = pa.array(ev_keep)
    ev_key = ev_tk[ev_rows]
    # synthesised events of tickets without any (CONTRACT §1): first reply and solve columns
    fr_rows = np.flatnonzero(~has_events & first_reply_ok & (first_reply_s >= created_s) & (first_reply_s <= as_of_s))
    sv_rows = np.flatnonzero(~has_events & is_solved_now & solved_ok & (solved_s <= as_of_s))
    n_fr, n_sv = len(fr_rows), len(sv_rows)
    ev_t_s = np.concatenate([
        np.maximum(ev_t[ev_rows], created_all[ev_key]), first_reply_s[fr_rows],
        np.maximum(solved_s[sv_rows], created_s[sv_rows]),
    ])
    ev_cal = np.concatenate([cal[ev_key], cal_tk[fr_rows], cal_tk[sv_rows]])
    string = pa.string()

    def synth(col: str, fr_value: str | None, sv_value: str | None) -> pa.ChunkedArray:
        return pa.chunked_array(
            [*pc.cast(events.column(col), string).filter(ev_keep_pa).chunks,
             pa.array([fr_value] * n_fr, string), pa.array([sv_value] * n_sv, string)],
            type=string,
        )

    ev = pa.table({
        "ticket_id": np.concatenate([ev_key, rows[fr_rows], rows[sv_rows]]),
        "t_s": ev_t_s,
        "ord": np.concatenate([
            _np(events, "seq").astype(np.int64, copy=False)[ev_rows],
            np.full(n_fr, -2, dtype=np.int64), np.full(n_sv, -1, dtype=np.int64),
        ]),
        "kind": synth("kind", "comment", "status"),
        "actor": synth("actor", "agent", "system"),
        "public": pa.chunked_array(
            [*pc.cast(events.column("public"), pa.bool_()).filter(ev_keep_pa).chunks,
             pa.array([True] * (n_fr + n_sv), pa.bool_())], type=pa.bool_(),
        ),
        "from_value": synth("from_value", None, None),
        "to_value": synth("to_value", None, "solved"),
        "cal": ev_cal,
        "f": cals.position(ev_cal, ev_t_s),
    })
    con.register("ev", ev)
    tk = pa.table({
        "ticket_id": rows,
        "created_s": created_s,
        "status_now": status_now,
        "group_now": tickets.column("group").take(pa.array(rows)),
        "assignee_now": tickets.column("assignee_id").take(pa.array(rows)),
        "first_reply_col_s": pa.array(first_reply_s, pa.int64(), mask=~first_reply_ok),
        "solved_col_s": pa.array(solved_s, pa.int64(), mask=~solved_ok),
        "pol": pol[rows],
        "cal": cal_tk,
        "has_events": has_events,
        "as_of_s": np.full(len(rows), as_of_s, dtype=np.int64),
        "f_created": cals.position(cal_tk, created_s),
        "f_asof": cals.position(cal_tk, np.full(len(rows), as_of_s, dtype=np.int64)),
    })
    con.register("tk_arrow", tk)
    con.execute("CREATE TEMP TABLE tk AS SELECT * FROM tk_arrow")
    con.unregister("tk_arrow")

    # --- status timeline (numpy: one lexsort, shifted arrays, per-ticket reductions) -----------
    pause_pairs = {(i, st_) for i, pp in enumerate(sla.policies) for st_ in pp.pause_on}
    st, sa = _status_timeline(tk, ev, pause_pairs, len(sla.policies), as_of_s)
    con.register("st", st)
    con.register("sa", sa)
    # --- reply clocks (numpy): agent/requester activity, first reply, next-reply instances ----
    acts, fr2, nr = _reply_clocks(tk, ev, st)
    con.register("acts", acts)
    con.register("fr2", fr2)
    con.register("nr", nr)

    # --- SLA instances -------------------------------------------------------------------------
    con.execute(
        _q("""
        CREATE TEMP TABLE inst AS
        SELECT fr2.ticket_id, 'first_response' AS metric, 1 AS instance, tk.pol, tk.cal, tg.target_s,
               fr2.start_s, fr2.start_f, fr2.stop_s, fr2.stop_f,
               CASE WHEN fr2.start_s IS NULL THEN NULL
                    ELSE coalesce(fr2.stop_f, tk.f_asof) - fr2.start_f END AS elapsed_b,
               CASE WHEN fr2.start_s IS NULL THEN NULL ELSE 0 END AS paused_b,
               false AS paused_now, NULL::BIGINT AS reached_y
        FROM fr2 JOIN tk USING (ticket_id) JOIN targets tg ON tg.pol = tk.pol AND tg.metric = 'first_response'
        -- a solved ticket without events or solved_at, whose first_reply_at (if any) stops
        -- nothing up to as_of: the clock stopped at an unknown time (no row rather than a guess)
        WHERE NOT (NOT tk.has_events AND tk.status_now IN {SOLVED} AND tk.solved_col_s IS NULL
                   AND fr2.stop_s IS NULL)
        UNION ALL
        SELECT nr.ticket_id, 'next_response', nr.instance, tk.pol, tk.cal, tg.target_s,
               nr.start_s, nr.start_f, nr.stop_s, nr.stop_f,
               coalesce(nr.stop_f, tk.f_asof) - nr.start_f, 0, false, NULL
        FROM nr JOIN tk USING (ticket_id) JOIN targets tg ON tg.pol = tk.pol AND tg.metric = 'next_response'
        UNION ALL
        SELECT tk.ticket_id, 'resolution', 1, tk.pol, tk.cal, tg.target_s,
               tk.created_s, tk.f_created,
               CASE WHEN sa.status_at_as_of IN {SOLVED} THEN sa.final_solve_s END,
               CASE WHEN sa.status_at_as_of IN {SOLVED} THEN sa.final_solve_f END,
               coalesce(sa.run_b, 0), coalesce(sa.paused_b, 0),
               (sa.status_at_as_of NOT IN {SOLVED} AND pz.status IS NOT NULL),
               cr.y
        FROM tk JOIN sa USING (ticket_id)
        JOIN targets tg ON tg.pol = tk.pol AND tg.metric = 'resolution'
        LEFT JOIN pause pz ON pz.pol = tk.pol AND pz.status = sa.status_at_as_of
        LEFT JOIN (
          SELECT c.ticket_id, min(c.f + (c.target_s - c.cum_before)) AS y FROM (
            SELECT st.ticket_id, st.f, tg2.target_s,
                   sum(CASE WHEN is_running THEN end_f - st.f ELSE 0 END)
                     OVER (PARTITION BY st.ticket_id ORDER BY st.t_s, st.ord ROWS UNBOUNDED PRECEDING)
                   - CASE WHEN is_running THEN end_f - st.f ELSE 0 END AS cum_before,
                   CASE WHEN is_running THEN end_f - st.f ELSE 0 END AS run_seg
            FROM st JOIN targets tg2 ON tg2.pol = st.pol AND tg2.metric = 'resolution'
          ) c WHERE c.run_seg > 0 AND c.cum_before < c.target_s AND c.cum_before + c.run_seg >= c.target_s
          GROUP BY c.ticket_id
        ) cr ON cr.ticket_id = tk.ticket_id
        WHERE NOT (NOT tk.has_events AND tk.status_now IN {SOLVED} AND tk.solved_col_s IS NULL)
        """)
    )
    # due position y: reached (resolution crossing), else projected from stop / as_of.
    inst = _with_kernel(
        con,
        """
        SELECT i.*, tk.f_asof,
          CASE
            WHEN i.start_s IS NULL THEN NULL
            WHEN i.metric <> 'resolution' THEN i.start_f + i.target_s
            WHEN i.reached_y IS NOT NULL THEN i.reached_y
            WHEN i.stop_s IS NOT NULL THEN i.stop_f + (i.target_s - i.elapsed_b)
            WHEN i.paused_now THEN NULL
            ELSE tk.f_asof + (i.target_s - i.elapsed_b)
          END AS due_y
        FROM inst i JOIN tk USING (ticket_id)
        """,
        cals, "reach", "due_y", "due_s",
    )
    con.register("inst_arrow", inst)
    con.execute("CREATE TEMP TABLE inst2 AS SELECT * FROM inst_arrow")
    con.unregister("inst_arrow")
    # breached_at: the first running business instant after due (never projected).
    breach = _with_kernel(
        con,
        """
        WITH cand AS (
          SELECT i.ticket_id, i.metric, i.instance, i.cal, i.due_s AS at_s
          FROM inst2 i WHERE i.metric <> 'resolution' AND i.elapsed_b > i.target_s
          UNION ALL
          SELECT i.ticket_id, i.metric, i.instance, i.cal,
                 arg_min(greatest(st.t_s, i.due_s), (st.t_s, st.ord)) AS at_s
          FROM inst2 i JOIN st ON st.ticket_id = i.ticket_id
          WHERE i.metric = 'resolution' AND i.elapsed_b > i.target_s AND st.is_running
            AND st.end_f > greatest(st.f, i.due_y)
          GROUP BY 1, 2, 3, 4
        )
        SELECT * FROM cand
        """,
        cals, "next_business", "at_s", "breached_s",
    )
    con.register("breach", breach)

    con.execute(
        _q("""
        CREATE TEMP TABLE sla_out AS
        SELECT i.ticket_id, i.metric, i.instance, pn.policy, cn.calendar,
               CASE WHEN i.start_s IS NOT NULL THEN i.target_s / 60.0 END AS target_minutes,
               _ts(i.start_s) AS started_at, _ts(i.due_s) AS due_at, _ts(i.stop_s) AS stopped_at,
               i.elapsed_b / 60.0 AS elapsed_business_minutes,
               i.paused_b / 60.0 AS paused_business_minutes,
               CASE WHEN i.start_s IS NULL THEN 'not_applicable'
                    WHEN i.stop_s IS NOT NULL AND i.elapsed_b <= i.target_s THEN 'met'
                    WHEN i.stop_s IS NOT NULL THEN 'breached'
                    WHEN i.elapsed_b > i.target_s THEN 'active_breached'
                    WHEN i.paused_now THEN 'paused'
                    ELSE 'active' END AS status,
               _ts(b.breached_s) AS breached_at,
               (i.target_s - i.elapsed_b) / 60.0 AS margin_minutes,
               i.start_f, i.due_y, i.stop_s
        FROM inst2 i
        JOIN pol_names pn ON pn.pol = i.pol JOIN cal_names cn ON cn.cal = i.cal
        LEFT JOIN breach b ON b.ticket_id = i.ticket_id AND b.metric = i.metric AND b.instance = i.instance
        """).replace("_ts(", "make_timestamp(1000000 * ")
    )

    # --- segments: status x group x assignee timeline ------------------------------------------
    seg = _segments(tk, ev, as_of_s)
    # root cause reads only the timelines of tickets with a breached instance
    breached = con.execute(
        "SELECT DISTINCT ticket_id FROM sla_out WHERE status IN ('breached', 'active_breached') "
        "AND due_y IS NOT NULL"
    ).fetchnumpy()["ticket_id"]
    seg_ticket = _np(seg, "ticket_id").astype(np.int64, copy=False)
    con.register(
        "seg", seg.select(["ticket_id", "f", "end_f", "status", "group", "assignee_id"]).filter(
            pa.array(np.isin(seg_ticket, np.asarray(breached, dtype=np.int64)))
        )
    )
    con.register("ss", _stations(seg))
    # --- root cause of breaches ----------------------------------------------------------------
    con.execute(
        """
        CREATE TEMP TABLE rc AS
        WITH win AS (
          SELECT s.ticket_id, s.metric, s.instance, s.start_f AS lo, s.due_y AS hi
          FROM sla_out s WHERE s.status IN ('breached', 'active_breached') AND s.due_y IS NOT NULL
        ), held AS (
          SELECT w.ticket_id, w.metric, w.instance, g.status, g."group", g.assignee_id,
                 greatest(least(g.end_f, w.hi) - greatest(g.f, w.lo), 0) AS b
          FROM win w JOIN seg g ON g.ticket_id = w.ticket_id
          WHERE g.end_f > w.lo AND g.f < w.hi
        ), tot AS (
          SELECT ticket_id, metric, instance, sum(b) AS total,
                 count(DISTINCT coalesce("group", '')) AS n_groups,
                 count(DISTINCT coalesce(assignee_id, '')) AS n_assignees
          FROM held GROUP BY 1, 2, 3
        ), cands AS (
          SELECT ticket_id, metric, instance, 'status' AS kind, status AS value, sum(b) AS b, 1 AS ko FROM held GROUP BY 1,2,3,4,5
          UNION ALL
          SELECT ticket_id, metric, instance, 'group', coalesce("group", '(none)'), sum(b), 2 FROM held GROUP BY 1,2,3,4,5
          UNION ALL
          SELECT ticket_id, metric, instance, 'assignee', coalesce(assignee_id, '(unassigned)'), sum(b), 3 FROM held GROUP BY 1,2,3,4,5
        ), scored AS (
          SELECT c.*, t.total, c.b / nullif(t.total, 0) AS share,
                 CASE WHEN c.kind = 'status' AND c.value IN ('new', 'pending', 'hold') THEN 1
                      WHEN c.kind = 'group' AND t.n_groups > 1 THEN 1
                      WHEN c.kind = 'assignee' AND t.n_assignees > 1 THEN 1
                      ELSE 0 END AS candidate
          FROM cands c JOIN tot t USING (ticket_id, metric, instance)
          WHERE t.total > 0
        )
        SELECT ticket_id, metric, instance,
               arg_max(kind, (candidate, share, -ko, value)) AS root_cause_kind,
               arg_max(value, (candidate, share, -ko, value)) AS root_cause_value,
               arg_max(share, (candidate, share, -ko, value)) AS root_cause_share
        FROM scored GROUP BY 1, 2, 3
        """
    )
    ticket_sla = con.sql(
        """
        SELECT s.ticket_id, s.metric, s.instance, s.policy, s.calendar, s.target_minutes,
               s.started_at, s.due_at, s.stopped_at, s.elapsed_business_minutes,
               s.paused_business_minutes, s.status, s.breached_at, s.margin_minutes,
               rc.root_cause_kind, rc.root_cause_value, rc.root_cause_share
        FROM sla_out s LEFT JOIN rc USING (ticket_id, metric, instance)
        ORDER BY s.ticket_id, s.metric, s.instance
        """
    ).to_arrow_table()

    ticket_metrics = con.sql(
        _q("""
        SELECT tk.ticket_id, pn.policy, cn.calendar,
               make_timestamp(1000000 * fr2.reply_s) AS first_reply_at,
               (fr2.reply_s - tk.created_s) / 60.0 AS first_reply_calendar_minutes,
               (fr2.reply_f - tk.f_created) / 60.0 AS first_reply_business_minutes,
               make_timestamp(1000000 * sa.final_solve_s) AS solved_at,
               (sa.final_solve_s - tk.created_s) / 60.0 AS full_resolution_calendar_minutes,
               (sa.final_solve_f - tk.f_created) / 60.0 AS full_resolution_business_minutes,
               coalesce(sa.rw_c, 0) / 60.0 AS requester_wait_calendar_minutes,
               coalesce(sa.rw_b, 0) / 60.0 AS requester_wait_business_minutes,
               coalesce(sa.aw_c, 0) / 60.0 AS agent_wait_calendar_minutes,
               coalesce(sa.aw_b, 0) / 60.0 AS agent_wait_business_minutes,
               coalesce(sa.oh_c, 0) / 60.0 AS on_hold_calendar_minutes,
               coalesce(sa.oh_b, 0) / 60.0 AS on_hold_business_minutes,
               coalesce(sa.wk_c, 0) / 60.0 AS agent_work_calendar_minutes,
               coalesce(sa.wk_b, 0) / 60.0 AS agent_work_business_minutes,
               CAST(coalesce(sa.reopens, 0) AS INTEGER) AS reopens,
               CAST(fr2.replies AS INTEGER) AS replies,
               CAST(coalesce(ss.n_assignees, 0) AS INTEGER) AS assignee_stations,
               CAST(coalesce(ss.n_groups, 0) AS INTEGER) AS group_stations
        FROM tk JOIN sa USING (ticket_id) JOIN fr2 USING (ticket_id)
        LEFT JOIN ss ON ss.ticket_id = tk.ticket_id
        LEFT JOIN pol_names pn ON pn.pol = tk.pol JOIN cal_names cn ON cn.cal = tk.cal
        ORDER BY tk.ticket_id
        """)
    ).to_arrow_table()

    segments = _segments_output(seg)
    return EngineResult(_with_ids(ticket_metrics, ids), _with_ids(ticket_sla, ids), _with_ids(segments, ids), notes)


def _run_starts(keys: np.ndarray) -> np.ndarray:
    """For sorted ``keys``: True where a run of equal keys starts (a ticket's first row)."""
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    return first


def _rank_in_runs(first: np.ndarray) -> np.ndarray:
    """1-based position of each row within its run (``first`` from :func:`_run_starts`)."""
    k = np.arange(len(first), dtype=np.int64)
    return k - np.maximum.accumulate(np.where(first, k, 0)) + 1 if len(k) else k


#: Status codes of the timeline (indices into :data:`_STATUSES`).
_NEW, _OPEN, _PENDING, _HOLD, _SOLVED, _CLOSED = range(6)
_NO_TIME = np.iinfo(np.int64).min


def _status_timeline(
    tk: pa.Table, ev: pa.Table, pause_pairs: set[tuple[int, str]], n_policies: int, as_of_s: int
) -> tuple[pa.Table, pa.Table]:
    """The status timeline ``st`` and its per-ticket aggregates ``sa``.

    ``st``: one row per ticket at created_at (status ``new``, ``ord`` below every event's) and
    one per status event, in (ticket, t_s, ord) order, with the previous status, where the
    status ended (the next row, else ``as_of``) in calendar and business time, its number in
    the ticket, and whether the resolution clock runs or is paused in it. ``sa``: per ticket the
    status at as_of, the final solve (a solve: into solved from another status, or into closed
    from an unsolved one), reopens (solved -> unsolved) and the time per status family.
    """
    is_st = _mask(pc.equal(ev.column("kind"), "status"))
    st_rows = np.flatnonzero(is_st)
    n_tk = tk.num_rows
    tk_ids = _np(tk, "ticket_id").astype(np.int64, copy=False)
    code_ev = np.asarray(
        pc.index_in(ev.column("to_value").take(pa.array(st_rows)), value_set=_STATUSES)
        .fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64,
    )
    ticket = np.concatenate([tk_ids, _np(ev, "ticket_id").astype(np.int64, copy=False)[st_rows]])
    t_s = np.concatenate([_np(tk, "created_s").astype(np.int64, copy=False), _np(ev, "t_s").astype(np.int64)[st_rows]])
    ord_ = np.concatenate([np.full(n_tk, -1_000_000, dtype=np.int64), _np(ev, "ord").astype(np.int64)[st_rows]])
    f = np.concatenate([_np(tk, "f_created").astype(np.int64, copy=False), _np(ev, "f").astype(np.int64)[st_rows]])
    code = np.concatenate([np.full(n_tk, _NEW, dtype=np.int64), code_ev])
    order = np.lexsort((ord_, t_s, ticket))
    ticket, t_s, ord_, f, code = ticket[order], t_s[order], ord_[order], f[order], code[order]
    n = len(ticket)
    first = _run_starts(ticket)
    last = np.ones(n, dtype=bool)
    last[:-1] = first[1:]
    starts = np.flatnonzero(first)
    pos = np.cumsum(first) - 1  # the row's ticket, as a position in tk
    pol_tk = _np(tk, "pol").astype(np.int64, copy=False)
    pol = pol_tk[pos]
    prev = np.empty(n, dtype=np.int64)
    prev[1:] = code[:-1]
    prev[first] = -1
    end_s = np.empty(n, dtype=np.int64)
    end_f = np.empty(n, dtype=np.int64)
    end_s[:-1], end_f[:-1] = t_s[1:], f[1:]
    end_s[last] = as_of_s
    end_f[last] = _np(tk, "f_asof").astype(np.int64, copy=False)[pos[last]]
    # paused[pol + 1, status]: the policy pauses its clock in that status (pol -1: no policy)
    paused = np.zeros((n_policies + 1, len(_STATUSES)), dtype=bool)
    names = _STATUSES.to_pylist()
    for i, name in pause_pairs:
        if name in names:
            paused[i + 1, names.index(name)] = True
    unsolved = code < _SOLVED
    in_pause = paused[pol + 1, code]
    is_running = unsolved & ~in_pause
    is_paused = unsolved & in_pause
    st = pa.table({
        "ticket_id": ticket,
        "t_s": t_s,
        "ord": ord_,
        "status": _STATUSES.take(pa.array(code)),
        "f": f,
        "pol": pol,
        "cal": _np(tk, "cal").astype(np.int64, copy=False)[pos],
        "prev_status": _STATUSES.take(pa.array(np.maximum(prev, 0), mask=prev < 0)),
        "end_s": end_s,
        "end_f": end_f,
        "seg": _rank_in_runs(first),
        "is_running": is_running,
        "is_paused": is_paused,
    })

    def total(values: np.ndarray, where: np.ndarray) -> np.ndarray:
        return np.add.reduceat(np.where(where, values, 0), starts) if n else np.zeros(0, np.int64)

    dur_c, dur_b = end_s - t_s, end_f - f
    is_solve = (prev >= 0) & (
        ((code == _SOLVED) & (prev != _SOLVED)) | ((code == _CLOSED) & (prev < _SOLVED))
    )
    solve_s = np.maximum.reduceat(np.where(is_solve, t_s, _NO_TIME), starts) if n else np.zeros(0, np.int64)
    solve_f = np.maximum.reduceat(np.where(is_solve, f, _NO_TIME), starts) if n else np.zeros(0, np.int64)
    waiting = (code == _NEW) | (code == _OPEN) | (code == _HOLD)
    working = (code == _NEW) | (code == _OPEN)
    sa = pa.table({
        "ticket_id": ticket[starts],
        "status_at_as_of": _STATUSES.take(pa.array(code[last])),
        "final_solve_s": pa.array(solve_s, pa.int64(), mask=solve_s == _NO_TIME),
        "final_solve_f": pa.array(solve_f, pa.int64(), mask=solve_f == _NO_TIME),
        "reopens": total(np.ones(n, np.int64), (prev == _SOLVED) & unsolved),
        "run_b": total(dur_b, is_running),
        "paused_b": total(dur_b, is_paused),
        "rw_c": total(dur_c, waiting),
        "rw_b": total(dur_b, waiting),
        "aw_c": total(dur_c, code == _PENDING),
        "aw_b": total(dur_b, code == _PENDING),
        "oh_c": total(dur_c, code == _HOLD),
        "oh_b": total(dur_b, code == _HOLD),
        "wk_c": total(dur_c, working),
        "wk_b": total(dur_b, working),
    })
    return st, sa


def _reply_clocks(tk: pa.Table, ev: pa.Table, st: pa.Table) -> tuple[pa.Table, pa.Table, pa.Table]:
    """``acts``, ``fr2`` and ``nr``: who acted when, the first-reply clock, the next-reply instances.

    ``acts``: public comments by the requester (``is_u``) or an agent (``is_a``,
    ``is_agent_reply``) and solves (a status row into solved/closed from another status:
    ``is_a`` only). ``fr2`` per ticket: an agent-created ticket (its earliest public comment,
    at created_at, is an agent's) starts the first-reply clock at the requester's first
    comment, every other ticket at created_at; the clock stops at the first agent reply or
    solve after the start. ``nr``: after that stop, a per-instant state machine: at each
    distinct instant, only requester activity -> waiting, only agent activity -> idle, both ->
    the state flips (an A stops a running instance and the U at that very instant starts
    nothing; or the U starts one that the A cannot stop); instance k runs from the k-th
    idle -> waiting instant to the k-th waiting -> idle one.
    """
    kind = ev.column("kind")
    actor = ev.column("actor")
    is_comment = _mask(pc.equal(kind, "comment")) & _mask(ev.column("public"))
    ev_u = is_comment & _mask(pc.equal(actor, "end_user"))
    ev_a = is_comment & _mask(pc.equal(actor, "agent"))
    ev_tk = _np(ev, "ticket_id").astype(np.int64, copy=False)
    ev_t = _np(ev, "t_s").astype(np.int64, copy=False)
    ev_ord = _np(ev, "ord").astype(np.int64, copy=False)
    ev_f = _np(ev, "f").astype(np.int64, copy=False)
    st_status = st.column("status")
    st_solve = (
        (_np(st, "ord").astype(np.int64, copy=False) > -1_000_000)
        & _mask(pc.is_in(st_status, value_set=_SOLVED_STATUSES))
        & ~_mask(pc.fill_null(pc.equal(st.column("prev_status"), st_status), False))
    )
    c_rows, s_rows = np.flatnonzero(ev_u | ev_a), np.flatnonzero(st_solve)
    n_c, n_s = len(c_rows), len(s_rows)
    a_tk = np.concatenate([ev_tk[c_rows], _np(st, "ticket_id").astype(np.int64, copy=False)[s_rows]])
    a_t = np.concatenate([ev_t[c_rows], _np(st, "t_s").astype(np.int64, copy=False)[s_rows]])
    a_f = np.concatenate([ev_f[c_rows], _np(st, "f").astype(np.int64, copy=False)[s_rows]])
    a_ord = np.concatenate([ev_ord[c_rows], _np(st, "ord").astype(np.int64, copy=False)[s_rows]])
    a_u = np.concatenate([ev_u[c_rows], np.zeros(n_s, dtype=bool)])
    a_reply = np.concatenate([ev_a[c_rows], np.zeros(n_s, dtype=bool)])
    a_a = a_reply | np.concatenate([np.zeros(n_c, dtype=bool), np.ones(n_s, dtype=bool)])
    acts = pa.table({
        "ticket_id": a_tk, "t_s": a_t,
        "ord": a_ord,
        "f": a_f, "is_u": a_u, "is_agent_reply": a_reply, "is_a": a_a,
    })

    tk_ids = _np(tk, "ticket_id").astype(np.int64, copy=False)
    n_tk = len(tk_ids)
    a_pos = np.searchsorted(tk_ids, a_tk)  # each activity's ticket, as a position in tk
    created = _np(tk, "created_s").astype(np.int64, copy=False)
    # agent-created: the earliest public comment by (t_s, ord), at created_at, is an agent's
    pc_rows = np.flatnonzero(is_comment)
    o = pc_rows[np.lexsort((ev_ord[pc_rows], ev_t[pc_rows], ev_tk[pc_rows]))]
    first_c = o[_run_starts(ev_tk[o])]
    pos_c = np.searchsorted(tk_ids, ev_tk[first_c])
    agent_created = np.zeros(n_tk, dtype=bool)
    agent_created[pos_c] = (ev_t[first_c] == created[pos_c]) & ev_a[first_c]
    # the requester's first comment (time and business position)
    u_rows = np.flatnonzero(a_u)
    u_t = np.full(n_tk, np.iinfo(np.int64).max, dtype=np.int64)
    u_f = np.full(n_tk, np.iinfo(np.int64).max, dtype=np.int64)
    u_pos = a_pos[u_rows]
    np.minimum.at(u_t, u_pos, a_t[u_rows])
    np.minimum.at(u_f, u_pos, a_f[u_rows])
    has_u = u_t != np.iinfo(np.int64).max
    start_ok = ~agent_created | has_u
    start_s = np.where(agent_created, u_t, created)
    start_f = np.where(agent_created, u_f, _np(tk, "f_created").astype(np.int64, copy=False))

    # agent activity sorted by (ticket, t): the first one after a start is one searchsorted
    a_rows = np.flatnonzero(a_a)
    a_rows = a_rows[np.lexsort((a_t[a_rows], a_tk[a_rows]))]
    t_lo = int(min(a_t.min() if len(a_t) else 0, start_s[start_ok].min() if start_ok.any() else 0))
    t_hi = int(max(a_t.max() if len(a_t) else 0, start_s[start_ok].max() if start_ok.any() else 0))
    width = t_hi - t_lo + 2
    a_key = a_tk[a_rows] * width + (a_t[a_rows] - t_lo)
    # the first agent activity strictly after the start (len(a_rows): none)
    j = np.searchsorted(a_key, tk_ids * width + (np.where(start_ok, start_s, t_lo) - t_lo), side="right")
    jj = np.minimum(j, max(len(a_rows) - 1, 0))
    stop_ok = start_ok & (j < len(a_rows))
    if len(a_rows):
        stop_ok &= a_tk[a_rows][jj] == tk_ids
    stop_s = a_t[a_rows][jj] if len(a_rows) else np.zeros(n_tk, dtype=np.int64)
    stop_f = a_f[a_rows][jj] if len(a_rows) else np.zeros(n_tk, dtype=np.int64)
    # Zendesk's first reply time: created_at -> the first public agent comment after it; on
    # agent-created tickets the second one (the first is the opening); and the reply count
    r_rows = np.flatnonzero(a_reply)
    replies = np.bincount(a_pos[r_rows], minlength=n_tk).astype(np.int64)
    r_rows = r_rows[a_t[r_rows] >= created[a_pos[r_rows]]]
    r_rows = r_rows[np.lexsort((a_ord[r_rows], a_t[r_rows], a_tk[r_rows]))]
    r_rank = _rank_in_runs(_run_starts(a_tk[r_rows]))
    r_pick = r_rows[r_rank == np.where(agent_created[a_pos[r_rows]], 2, 1)]
    reply_ok = np.zeros(n_tk, dtype=bool)
    reply_s = np.zeros(n_tk, dtype=np.int64)
    reply_f = np.zeros(n_tk, dtype=np.int64)
    pick_pos = a_pos[r_pick]
    reply_ok[pick_pos] = True
    reply_s[pick_pos] = a_t[r_pick]
    reply_f[pick_pos] = a_f[r_pick]
    fr2 = pa.table({
        "ticket_id": tk_ids,
        "reply_s": pa.array(reply_s, pa.int64(), mask=~reply_ok),
        "reply_f": pa.array(reply_f, pa.int64(), mask=~reply_ok),
        "replies": replies,
        "pol": tk.column("pol"),
        "cal": tk.column("cal"),
        "agent_created": agent_created,
        "start_s": pa.array(start_s, pa.int64(), mask=~start_ok),
        "start_f": pa.array(start_f, pa.int64(), mask=~start_ok),
        "stop_s": pa.array(stop_s, pa.int64(), mask=~stop_ok),
        "stop_f": pa.array(stop_f, pa.int64(), mask=~stop_ok),
    })

    # next reply: activity after the first-reply stop, one row per (ticket, instant)
    after = stop_ok[a_pos] & (a_t > stop_s[a_pos])
    x = np.flatnonzero(after)
    x = x[np.lexsort((a_t[x], a_tk[x]))]
    x_tk, x_t = a_tk[x], a_t[x]
    new_instant = np.ones(len(x), dtype=bool)
    if len(x) > 1:
        new_instant[1:] = (x_tk[1:] != x_tk[:-1]) | (x_t[1:] != x_t[:-1])
    g = np.flatnonzero(new_instant)
    empty = np.zeros(0, dtype=np.int64)
    if len(g):
        g_tk, g_t = x_tk[g], x_t[g]
        g_f = np.minimum.reduceat(a_f[x], g)
        g_u = np.maximum.reduceat(a_u[x], g)
        g_a = np.maximum.reduceat(a_a[x], g)
    else:
        g_tk = g_t = g_f = empty
        g_u = g_a = np.zeros(0, dtype=bool)
    n_g = len(g_tk)
    first_g = _run_starts(g_tk)
    rows = np.arange(n_g, dtype=np.int64)
    is_reset = g_u != g_a  # only one side acted: the state is set
    is_flip = g_u & g_a  # both acted: the state flips
    reset_val = g_u.astype(np.int64)  # U only -> waiting (1), A only -> idle (0)
    ticket_start = np.maximum.accumulate(np.where(first_g, rows, 0)) if n_g else empty
    last_reset = np.maximum.accumulate(np.where(is_reset, rows, -1)) if n_g else empty
    has_reset = last_reset >= ticket_start
    flips = np.cumsum(is_flip)
    flips_before_start: np.ndarray = flips[ticket_start] - is_flip[ticket_start]
    base_flips = np.where(has_reset, flips[np.maximum(last_reset, 0)], flips_before_start)
    base_val = np.where(has_reset, reset_val[np.maximum(last_reset, 0)], 0)
    state_after = (base_val + flips - base_flips) % 2
    state_before = np.zeros(n_g, dtype=np.int64)
    if n_g > 1:
        state_before[1:] = state_after[:-1]
    state_before[first_g] = 0
    starts = np.flatnonzero(g_u & (state_before == 0))
    stops = np.flatnonzero(g_a & (state_before == 1))

    # starts and stops alternate per ticket, so the k-th stop closes the k-th start
    k_start = _rank_in_runs(_run_starts(g_tk[starts]))
    k_stop = _rank_in_runs(_run_starts(g_tk[stops]))
    stop_key = g_tk[stops] * (n_g + 1) + k_stop
    want = g_tk[starts] * (n_g + 1) + k_start
    at = np.searchsorted(stop_key, want)
    at_c = np.minimum(at, max(len(stops) - 1, 0))
    matched = (at < len(stops)) & (stop_key[at_c] == want) if len(stops) else np.zeros(len(starts), dtype=bool)
    nr = pa.table({
        "ticket_id": g_tk[starts],
        "instance": k_start,
        "start_s": g_t[starts],
        "start_f": g_f[starts],
        "stop_s": pa.array(g_t[stops][at_c] if len(stops) else np.zeros(len(starts), np.int64),
                           pa.int64(), mask=~matched),
        "stop_f": pa.array(g_f[stops][at_c] if len(stops) else np.zeros(len(starts), np.int64),
                           pa.int64(), mask=~matched),
    })
    return acts, fr2, nr


def _with_ids(table: pa.Table, ids: pa.Array) -> pa.Table:
    """Swap the dense integer ticket keys back for the ticket ids."""
    i = table.schema.get_field_index("ticket_id")
    return table.set_column(i, "ticket_id", pc.take(ids, table.column(i)))


def _nullif_empty(values: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


def _segments(tk: pa.Table, ev: pa.Table, as_of_s: int) -> pa.Table:
    """The status x group x assignee timeline: change points sorted by (ticket, t, ord), values
    forward-filled (numpy over sorted arrays; no per-ticket loop).

    Each ticket's first row (at created_at, ``ord`` below every event's) sets all three values:
    status ``new``, the initial group / assignee (the first group / assignee event's
    ``from_value``, or the ticket's current value when it has none). So a running maximum of
    "last row that set this value" never crosses into another ticket.
    """
    string = pa.string()
    kind = ev.column("kind")
    h = ev.select(["ticket_id", "t_s", "ord", "f", "kind", "from_value", "to_value"]).filter(
        pc.is_in(kind, value_set=_HOLDER_KINDS)
    )
    h_kind = h.column("kind")
    is_s, is_g, is_a = (_mask(pc.equal(h_kind, k)) for k in ("status", "group", "assignee"))
    n_tk, n_h = tk.num_rows, h.num_rows
    tk_ids = _np(tk, "ticket_id").astype(np.int64, copy=False)
    h_ids = _np(h, "ticket_id").astype(np.int64, copy=False)
    h_t = _np(h, "t_s").astype(np.int64, copy=False)
    h_ord = _np(h, "ord").astype(np.int64, copy=False)
    ticket = np.concatenate([tk_ids, h_ids])
    t_s = np.concatenate([_np(tk, "created_s").astype(np.int64), h_t])
    ord_ = np.concatenate([np.full(n_tk, -1_000_000, dtype=np.int64), h_ord])
    f = np.concatenate([_np(tk, "f_created").astype(np.int64), _np(h, "f").astype(np.int64)])
    order = np.lexsort((ord_, t_s, ticket))

    # initial holders: the first group / assignee event's from_value, else the current value
    h_sorted = order[order >= n_tk] - n_tk  # holder rows in time order

    from_ok = _mask(pc.is_valid(h.column("from_value")))

    def initial(is_kind: np.ndarray, now: str) -> pa.ChunkedArray:
        # like SQL arg_min(from_value, (t_s, ord)): the earliest non-NULL from_value; a ticket
        # with such events but none of them non-NULL starts with NULL
        rows_k = h_sorted[is_kind[h_sorted]]
        if len(rows_k) == 0:
            return tk.column(now)
        has = np.zeros(n_tk, dtype=bool)
        has[np.searchsorted(tk_ids, np.unique(h_ids[rows_k]))] = True
        rows_v = rows_k[from_ok[rows_k]]
        first_ids, first_at = np.unique(h_ids[rows_v], return_index=True)
        pick = np.zeros(n_tk, dtype=np.int64)
        got = np.zeros(n_tk, dtype=bool)
        where = np.searchsorted(tk_ids, first_ids)
        pick[where] = rows_v[first_at]
        got[where] = True
        first_from = _nullif_empty(h.column("from_value").take(pa.array(pick, mask=~got)))
        return pc.if_else(pa.array(has), first_from, tk.column(now))

    def values(first: pa.ChunkedArray | pa.Array, later: pa.ChunkedArray) -> pa.ChunkedArray:
        return pa.chunked_array([*pa.chunked_array([first]).cast(string).chunks, *later.cast(string).chunks], string)

    to_value = h.column("to_value")
    null_str = pa.nulls(n_h, string)
    sources = {
        "status": (values(pa.array(["new"] * n_tk, string), pc.if_else(pa.array(is_s), to_value, null_str)), is_s),
        "group": (values(initial(is_g, "group_now"), pc.if_else(pa.array(is_g), _nullif_empty(to_value), null_str)), is_g),
        "assignee_id": (
            values(initial(is_a, "assignee_now"), pc.if_else(pa.array(is_a), _nullif_empty(to_value), null_str)), is_a,
        ),
    }
    n = n_tk + n_h
    rows = np.arange(n, dtype=np.int64)
    ticket_o, t_o, f_o = ticket[order], t_s[order], f[order]
    first = _run_starts(ticket_o)
    last = np.ones(n, dtype=bool)
    last[:-1] = first[1:]
    filled = {}
    for name, (src, is_set_h) in sources.items():
        is_set = np.concatenate([np.ones(n_tk, dtype=bool), is_set_h])[order]
        idx = np.maximum.accumulate(np.where(is_set, rows, 0))
        filled[name] = src.take(pa.array(order[idx]))
    f_asof_tk = _np(tk, "f_asof").astype(np.int64)
    tk_pos = np.searchsorted(tk_ids, ticket_o)
    end_s = np.empty(n, dtype=np.int64)
    end_f = np.empty(n, dtype=np.int64)
    if n:
        end_s[:-1], end_f[:-1] = t_o[1:], f_o[1:]
    end_s[last] = as_of_s
    end_f[last] = f_asof_tk[tk_pos[last]]
    return pa.table(
        {
            "ticket_id": ticket_o,
            "segment": _rank_in_runs(first).astype(np.int32),
            "t_s": t_o,
            "ord": ord_[order],
            "f": f_o,
            "status": filled["status"],
            "group": filled["group"],
            "assignee_id": filled["assignee_id"],
            "end_s": end_s,
            "end_f": end_f,
            "is_last": last,
        }
    )


def _stations(seg: pa.Table) -> pa.Table:
    """Distinct non-empty assignees and groups held per ticket (over its timeline)."""
    ticket = _np(seg, "ticket_id").astype(np.int64, copy=False)
    n = int(ticket.max()) + 1 if len(ticket) else 0
    out: dict[str, Any] = {"ticket_id": np.arange(n, dtype=np.int64)}
    for name, col in (("n_assignees", "assignee_id"), ("n_groups", "group")):
        enc = pc.dictionary_encode(seg.column(col).combine_chunks())
        codes = enc.indices.to_numpy(zero_copy_only=False)
        non_empty = np.asarray(pc.not_equal(enc.dictionary, "").to_numpy(zero_copy_only=False), dtype=bool)
        ok = _mask(pc.is_valid(enc.indices))
        codes = np.where(ok, np.nan_to_num(codes, nan=0), 0).astype(np.int64)
        ok &= non_empty[codes] if len(non_empty) else ok
        width = max(len(non_empty), 1)
        pairs = np.unique(ticket[ok] * width + codes[ok])
        out[name] = np.bincount(pairs // width, minlength=n).astype(np.int64)
    return pa.table(out)


def _segments_output(seg: pa.Table) -> pa.Table:
    """ticket_segments rows (CONTRACT §4) from the forward-filled timeline."""
    t_s = _np(seg, "t_s").astype(np.int64, copy=False)
    end_s = _np(seg, "end_s").astype(np.int64, copy=False)
    is_last = _np(seg, "is_last").astype(bool, copy=False)
    ts = pa.timestamp("us")
    # The open last segment of a solved/closed ticket has no duration: time spent "in solved"
    # is not a measure, and leaving it empty keeps incremental builds (which do not recompute
    # finished tickets when as_of moves) equal to full builds. Open tickets' last segments run
    # to as_of and are recomputed by every build.
    final = is_last & np.asarray(
        pc.fill_null(pc.is_in(seg.column("status"), value_set=pa.array(["solved", "closed"])), False), dtype=bool
    )
    business = (_np(seg, "end_f").astype(np.int64) - _np(seg, "f").astype(np.int64)) / 60.0
    return pa.table(
        {
            "ticket_id": seg.column("ticket_id"),
            "segment": seg.column("segment"),
            "started_at": pa.array(t_s * 1_000_000, ts),
            "ended_at": pa.array(end_s * 1_000_000, ts, mask=is_last),
            "status": seg.column("status"),
            "group": seg.column("group"),
            "assignee_id": seg.column("assignee_id"),
            "calendar_minutes": pa.array((end_s - t_s) / 60.0, mask=final),
            "business_minutes": pa.array(business, mask=final),
        }
    )
