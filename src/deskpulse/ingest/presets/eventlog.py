"""Event-log preset: a process-mining helpdesk log (one row per case update) → tickets + events.

The one job of this module: turn a log whose rows are snapshots of a case after each update
(case id, timestamp, status, resource, attributes — e.g. the UCI ServiceNow incident log) into
canonical tickets and events, configured by the mapping file's ``event_log`` section::

    event_log:
      case: number                  # case id column (default: columns.ticket_id)
      timestamp: sys_updated_at     # time of the row (required)
      order_by: [sys_mod_count]     # tie-breakers for rows with the same timestamp, then file order
      status: incident_state        # status column (default: columns.status), mapped via values.status
      actor_id: sys_updated_by      # who made the update (optional)
      system_actors: ["Updated by 908"]   # actor ids treated as actor=system
      default_actor: agent          # actor of every other update (agent | end_user | system)
      changes:                      # columns whose changes become events (change detection)
        assignee: assigned_to
        group: assignment_group
        priority: priority          # mapped via values.priority
      fields: [impact, urgency]     # more columns whose changes become kind=field events
      extra_exclude: []             # source columns not to copy into the ticket's extra

Rows are validated first (case id, timestamp, status, priority, ``reject_values``); rejected rows
take no part in what follows. Events are derived set-based: rows of a case are ordered by
timestamp, the ``order_by`` columns (numerically when they are numbers) and file order; LAG over
that order compares each row with the previous valid row of its case. The first row gives the
initial status event (from_value empty) and an event for each non-empty change column. Tickets
come from the last row of each case (top-level ``columns`` map its attributes), with
``updated_at`` = the case's latest timestamp and ``created_at`` from ``columns.created_at`` (or
the first timestamp); every unmapped column of the last row goes to ``extra``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from deskpulse import model
from deskpulse.ingest.mapping import BUILTIN_ALIASES, Mapping
from deskpulse.ingest.readers import Opened
from deskpulse.ingest.sql import Params, ident, render
from deskpulse.ingest.sql import run as sql
from deskpulse.ingest.validate import (
    Col,
    Plan,
    Source,
    Validated,
    event_plan,
    finish,
    lookup_sql,
    reject_value_checks,
    run_plan,
    text,
    ticket_plan,
    ts_bad,
    ts_reason,
    ts_sql,
    validate_events,
    validate_tickets,
)

if TYPE_CHECKING:
    from deskpulse.ingest.batch import Run, Tables

CHANGE_KINDS = ("assignee", "group", "priority")


@dataclass
class Options:
    case: str
    timestamp: str
    order_by: list[str] = field(default_factory=list)
    status: str = ""
    actor_id: str | None = None
    system_actors: list[str] = field(default_factory=list)
    default_actor: str = "agent"
    changes: dict[str, str] = field(default_factory=dict)
    fields: list[str] = field(default_factory=list)
    extra_exclude: list[str] = field(default_factory=list)


def parse_options(m: Mapping) -> Options:
    """Validate the ``event_log`` section (ConfigError naming the key on any problem)."""
    doc: dict[str, Any] = dict(m.options.get("event_log") or {})
    allowed = {f for f in Options.__dataclass_fields__}
    for k in doc:
        if k not in allowed:
            raise m.error(f"event_log.{k}", f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def one(key: str, default: str | None = None, required: bool = False) -> str | None:
        v = doc.get(key, default)
        if v is None:
            if required:
                raise m.error(f"event_log.{key}", "required")
            return None
        if not isinstance(v, str) or not v.strip():
            raise m.error(f"event_log.{key}", "must be a column name")
        return v

    def many(key: str) -> list[str]:
        v = doc.get(key) or []
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(
            isinstance(x, str | int) and not isinstance(x, bool) for x in v
        ):
            raise m.error(f"event_log.{key}", "must be a list of strings")
        return [str(x) for x in v]

    case = one("case", m.tickets.columns.get("ticket_id"), required=True)
    status = one("status", m.tickets.columns.get("status"), required=True)
    timestamp = one("timestamp", required=True)
    changes = doc.get("changes") or {}
    if not isinstance(changes, dict):
        raise m.error("event_log.changes", "must be a mapping kind -> column")
    for k, v in changes.items():
        if k not in CHANGE_KINDS:
            raise m.error(
                f"event_log.changes.{k}", f"not a change kind (one of {', '.join(CHANGE_KINDS)})"
            )
        if not isinstance(v, str) or not v:
            raise m.error(f"event_log.changes.{k}", "must be a column name")
    actor = doc.get("default_actor", "agent")
    if actor not in model.ACTORS:
        raise m.error("event_log.default_actor", f"must be one of {', '.join(model.ACTORS)}")
    assert case is not None and status is not None and timestamp is not None
    return Options(
        case=case,
        timestamp=timestamp,
        order_by=many("order_by"),
        status=status,
        actor_id=one("actor_id"),
        system_actors=many("system_actors"),
        default_actor=str(actor),
        changes={str(k): str(v) for k, v in changes.items()},
        fields=many("fields"),
        extra_exclude=many("extra_exclude"),
    )


def _phys(opened: Opened, name: str, key: str, m: Mapping) -> str:
    for phys, label in opened.columns:
        if label == name:
            return phys
    for phys, label in opened.columns:
        if label.lower() == name.strip().lower():
            return phys
    from deskpulse.errors import BadInputError

    raise BadInputError(
        f"{opened.source.file}: missing required column {name!r} (event_log.{key} in {m.label})",
        file=opened.source.file,
        column=name,
        reason="missing required column",
    )


def run(run_: Run, path: Path, m: Mapping, fmt: str | None) -> Tables:
    from deskpulse.ingest.batch import Tables, all_ticket_ids, resolve_columns, with_retry

    opts = parse_options(m)
    con = run_.con
    rep = run_.reporter
    fm = m.tickets
    rep.stage("read event log")
    opened = run_.loader.open(
        path, "log", fmt=fmt or m.format, null_values=fm.null_values, delimiter=fm.delimiter
    )
    file = opened.source.file

    def materialize(op: Opened) -> Opened:
        p = op.source.params
        row = f"{op.source.row_sql} AS __row0, " if op.source.row_sql else ""
        sql(con, "DROP TABLE IF EXISTS _el_src")
        sql(
            con,
            render(
                "CREATE TEMP TABLE _el_src AS SELECT {row}* FROM {src} AS r",
                row=row,
                src=op.source.sql,
            ),
            p,
        )
        if not op.source.row_sql:
            sql(con, "ALTER TABLE _el_src ADD COLUMN __row0 BIGINT")
            sql(con, "UPDATE _el_src SET __row0 = rowid + 1")
        return Opened(
            Source("_el_src", file, row_sql="r.__row0", malformed=op.source.malformed), op.columns
        )

    staged = with_retry(opened, materialize)
    rep.stage("validate rows")
    col = {
        "case": _phys(staged, opts.case, "case", m),
        "ts": _phys(staged, opts.timestamp, "timestamp", m),
        "status": _phys(staged, opts.status, "status", m),
    }
    actor_phys = _phys(staged, opts.actor_id, "actor_id", m) if opts.actor_id else None
    change_phys = {k: _phys(staged, v, f"changes.{k}", m) for k, v in opts.changes.items()}
    field_phys = {f: _phys(staged, f, "fields", m) for f in opts.fields}
    order_phys = [_phys(staged, o, "order_by", m) for o in opts.order_by]

    plan = Plan()
    p = plan.params
    rcols = {label: f"r.{ident(name)}" for name, label in staged.columns}
    guards = reject_value_checks(plan, fm, rcols)

    def g(label: str) -> str:
        return f" AND {guards[label]} IS NULL" if label in guards else ""

    def c(phys: str) -> Col:
        return Col(sql=f"r.{ident(phys)}", label=phys)

    plan.typed("case_id", plan.raw("__r_case", text(c(col["case"]), p)))
    plan.check(
        f"case_id IS NULL OR trim(case_id) = ''{g(opts.case)}",
        opts.case,
        None,
        plan.why("missing required value"),
    )
    plan.typed(
        "ts", ts_sql(plan.raw("__r_ts", text(c(col["ts"]), p)), fm.timestamp_format, run_.tz, p)
    )
    plan.check(
        f"{ts_bad('ts')}{g(opts.timestamp)}",
        opts.timestamp,
        "__r_ts",
        f"CASE WHEN __r_ts IS NULL THEN {plan.why('missing required value')} "
        f"ELSE {plan.why(ts_reason(fm.timestamp_format, run_.tz))} END",
    )
    st = plan.raw("__r_status", text(c(col["status"]), p))
    plan.typed("status", lookup_sql(st, BUILTIN_ALIASES["status"], fm.values.get("status", {}), p))
    plan.check(
        f"status IS NULL{g(opts.status)}",
        opts.status,
        st,
        f"CASE WHEN {st} IS NULL THEN {plan.why('missing required value')} ELSE "
        f"{plan.why('unknown status (expected ' + ', '.join(model.STATUSES) + ', an alias, or a value mapped under values.status)')} END",
    )
    outputs = ["case_id", "ts", "status"]
    if actor_phys:
        plan.typed("actor_id", plan.raw("__r_actor", text(c(actor_phys), p)))
        outputs.append("actor_id")
    for kind, phys in change_phys.items():
        r = plan.raw(f"__r_{kind}", text(c(phys), p))
        if kind == "priority":
            plan.typed(
                kind, lookup_sql(r, BUILTIN_ALIASES["priority"], fm.values.get("priority", {}), p)
            )
            plan.check(
                f"{r} IS NOT NULL AND priority IS NULL{g(opts.changes[kind])}",
                opts.changes[kind],
                r,
                plan.why(
                    "unknown priority (expected urgent, high, normal, low, an alias, or a value mapped under values.priority)"
                ),
            )
        else:
            plan.typed(kind, r)
        outputs.append(kind)
    for i, phys in enumerate(field_phys.values()):
        plan.typed(f"__f{i}", plan.raw(f"__r_f{i}", text(c(phys), p)))
        outputs.append(f"__f{i}")
    for i, phys in enumerate(order_phys):
        r = plan.raw(f"__r_o{i}", text(c(phys), p))
        plan.typed(f"__on{i}", f"TRY_CAST({r} AS DOUBLE)")
        plan.typed(f"__os{i}", r)
        outputs += [f"__on{i}", f"__os{i}"]
    plan.raw("__rid", "r.rowid")
    plan.typed("__rid2", "__rid")
    outputs.append("__rid2")
    plan.outputs = outputs
    rows = finish(con, staged.source, plan, run_plan(con, staged.source, plan))
    if rows.rows_read == 0:
        from deskpulse.errors import BadInputError

        raise BadInputError(
            f"{file}: empty file: no data rows", file=str(path), reason="empty file"
        )

    rep.stage("derive events")
    con.register("_el_ok_arrow", rows.table)
    sql(con, "CREATE TEMP TABLE _el_ok AS SELECT * FROM _el_ok_arrow")
    con.unregister("_el_ok_arrow")
    order = ", ".join(
        ["ts"] + [f"__on{i} NULLS LAST, __os{i}" for i in range(len(order_phys))] + ["__row"]
    )
    lags = ["lag(status) OVER w AS __p_status"]
    lags += [f"lag({ident(k)}) OVER w AS __p_{k}" for k in change_phys]
    lags += [f"lag(__f{i}) OVER w AS __p_f{i}" for i in range(len(field_phys))]
    sql(
        con,
        render(
            """
            CREATE TEMP TABLE _el_seq AS
            SELECT *, row_number() OVER w AS __k, count(*) OVER (PARTITION BY case_id) AS __n,
                   min(__row) OVER (PARTITION BY case_id) AS __first,
                   max(ts) OVER (PARTITION BY case_id) AS __last_ts,
                   min(ts) OVER (PARTITION BY case_id) AS __first_ts,
                   {lags}
            FROM _el_ok WINDOW w AS (PARTITION BY case_id ORDER BY {order})
            """,
            lags=", ".join(lags),
            order=order,
        ),
    )
    q = Params("e")
    sys_ids = q.add(opts.system_actors)
    actor = (
        f"CASE WHEN list_contains({sys_ids}, actor_id) THEN 'system' ELSE {q.add(opts.default_actor)} END"
        if actor_phys
        else q.add(opts.default_actor)
    )
    actor_id = "actor_id" if actor_phys else "CAST(NULL AS VARCHAR)"
    # one SELECT per event kind: (kind number, kind, previous value, value, field name, condition)
    branch = (
        "SELECT __row, __first, __k, {no} AS __kind_no, case_id, ts, {kind} AS kind, {prev} AS from_value, "
        "{cur} AS to_value, CAST({fld} AS VARCHAR) AS field, {actor} AS actor, {actor_id} AS actor_id "
        "FROM _el_seq WHERE {cond}"
    )
    specs = [
        (
            "0",
            "'status'",
            "__p_status",
            "status",
            "NULL",
            "__k = 1 OR status IS DISTINCT FROM __p_status",
        )
    ]
    for i, kind in enumerate(change_phys, start=1):
        col_ = ident(kind)
        specs.append(
            (
                str(i),
                q.add(kind),
                f"__p_{kind}",
                col_,
                "NULL",
                f"{col_} IS DISTINCT FROM __p_{kind}",
            )
        )
    for i, fname in enumerate(field_phys):
        specs.append(
            (
                str(10 + i),
                "'field'",
                f"__p_f{i}",
                f"__f{i}",
                q.add(fname),
                f"__f{i} IS DISTINCT FROM __p_f{i}",
            )
        )
    parts = [
        render(
            branch,
            no=no,
            kind=k,
            prev=prev,
            cur=cur,
            fld=fld,
            actor=actor,
            actor_id=actor_id,
            cond=cond,
        )
        for no, k, prev, cur, fld, cond in specs
    ]
    sql(
        con,
        render(
            """
            CREATE TEMP TABLE _el_events AS
            SELECT row_number() OVER (ORDER BY __first, __k, __kind_no) - 1 AS seq, *
            FROM ({union})
            """,
            union=" UNION ALL ".join(parts),
        ),
        q,
    )
    # tickets: the last valid row of each case
    rep.stage("validate tickets")
    sql(
        con,
        """
        CREATE TEMP TABLE _el_last AS
        SELECT s.*, l.__last_ts, l.__first_ts
        FROM _el_src s JOIN (SELECT __rid2, __last_ts, __first_ts FROM _el_seq WHERE __k = __n) l ON s.rowid = l.__rid2
        """,
    )
    last = Opened(Source("_el_last", file, row_sql="r.__row0"), staged.columns)
    cols, unknown = resolve_columns(last, fm, model.TICKET_COLUMNS, ())
    cols["ticket_id"] = Col(sql=f"r.{ident(col['case'])}", label=opts.case)
    cols["status"] = Col(sql=f"r.{ident(col['status'])}", label=opts.status)
    cols["updated_at"] = Col(sql="r.__last_ts", label=opts.timestamp, typed=True)
    if "created_at" not in cols:
        cols["created_at"] = Col(sql="r.__first_ts", label=opts.timestamp, typed=True)
    skip = {opts.timestamp, *opts.extra_exclude, "__row0"}
    extra = [
        (label, sql)
        for label, sql in unknown
        if label not in skip and label not in ("__last_ts", "__first_ts")
    ]
    tplan = ticket_plan(cols, fm, run_.tz, extra_columns=extra)
    tickets = validate_tickets(con, last.source, tplan)
    tickets.rows_read = rows.rows_read
    tickets.rejects = pa.concat_tables([rows.rejects, tickets.rejects])

    rep.stage("validate events")
    ev_src = Source("_el_events", file, row_sql="r.__row")
    ecols = {
        "ticket_id": Col("r.case_id", opts.case),
        "event_at": Col("r.ts", opts.timestamp, typed=True),
        "kind": Col("r.kind", "kind"),
        "actor": Col("r.actor", opts.actor_id or "actor"),
        "actor_id": Col("r.actor_id", opts.actor_id or "actor_id"),
        "from_value": Col("r.from_value", "from_value"),
        "to_value": Col("r.to_value", "to_value"),
        "field": Col("r.field", "field"),
    }
    eplan = event_plan(ecols, fm, run_.tz, seq_sql="r.seq")
    events: Validated = validate_events(con, ev_src, eplan, all_ticket_ids(run_, tickets))
    events.rows_read = int(con.execute("SELECT count(*) FROM _el_events").fetchall()[0][0])
    return Tables(tickets, events, sort_events=True)
