"""Zendesk preset: Incremental Export JSON (tickets and ticket events) → canonical tables.

The one job of this module: read Zendesk's incremental export responses as the API returns them
and map them onto tickets and events (the full table is in docs/import.md).

Inputs: ``tickets_path`` — one page file (``{"tickets": [...], "after_cursor": …,
"end_of_stream": …}``), a folder or glob of page files (read in name order), or JSON Lines of
ticket objects (or of pages). ``events_path`` — the same for ``/incremental/ticket_events``
pages (``{"ticket_events": [...]}``), ideally with the ``comment_events`` sideload.

Mapping in short: ``id``→ticket_id; ``via.channel``→channel (voice→phone,
native_messaging→chat); ``type``→category; ``group_id``/``brand_id``/``organization_id`` →
group/brand/organization (as ids); ``tags`` list → space-separated; ``satisfaction_rating.score``
→ satisfaction; status ``deleted`` → closed with deleted_at = updated_at; a ``custom_status_id``
named under ``zendesk.custom_statuses`` takes that label (mapped through the status aliases and
``values.status``); every other ticket key → ``extra``. A ticket that appears in several pages
keeps its latest version (updated_at, then generated_timestamp, then page order).

Events: child events of each audit — Create/Change of status, priority, assignee_id, group_id →
kind status/priority/assignee/group (from previous_value to value; Create has no from); Change
of any other field → kind=field; Comment/VoiceComment → kind=comment with ``public`` (or
``comment_public`` without the sideload). Actor: author/updater ``-1`` or via Rule/Automation or
an id under ``zendesk.system_user_ids`` → system; the ticket's requester → end_user; anyone else
→ agent. Both child shapes are read: ``{"field_name": "status", "value": …}`` (audit style) and
``{"status": …, "previous_value": …}`` (incremental ticket events style).
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from deskpulse.errors import BadInputError
from deskpulse.ingest.mapping import Mapping
from deskpulse.ingest.sql import Params, render
from deskpulse.ingest.sql import run as sql
from deskpulse.ingest.validate import (
    Col,
    Source,
    Validated,
    event_plan,
    ticket_plan,
    validate_events,
    validate_tickets,
)

if TYPE_CHECKING:
    from deskpulse.ingest.batch import Run, Tables

#: Ticket keys mapped onto canonical columns (everything else goes to extra).
MAPPED_KEYS = [
    "id",
    "created_at",
    "updated_at",
    "status",
    "priority",
    "via",
    "type",
    "group_id",
    "brand_id",
    "organization_id",
    "requester_id",
    "assignee_id",
    "subject",
    "description",
    "tags",
    "satisfaction_rating",
    "fields",  # a duplicate of custom_fields
    "url",
]
#: Keys of a child event that are not the changed field.
CHILD_META = [
    "id",
    "via",
    "via_reference_id",
    "event_type",
    "type",
    "previous_value",
    "added_tags",
    "removed_tags",
    "audit_id",
    "created_at",
    "field_name",
    "value",
    "comment_present",
    "comment_public",
    "author_id",
    "body",
    "html_body",
    "plain_body",
    "public",
    "attachments",
    "metadata",
]
KIND_OF_FIELD = {
    "status": "status",
    "priority": "priority",
    "assignee_id": "assignee",
    "group_id": "group",
}


def _files(path: Path, what: str) -> list[str]:
    if path.is_dir():
        found = sorted(
            str(p)
            for p in path.iterdir()
            if p.is_file() and p.name.lower().endswith((".json", ".jsonl", ".json.gz", ".jsonl.gz"))
        )
        if not found:
            raise BadInputError(
                f"{path.name}: empty folder: no JSON files", file=str(path), reason="empty file"
            )
        return found
    if not path.exists() and any(ch in str(path) for ch in "*?["):
        found = sorted(glob.glob(str(path)))
        if not found:
            raise BadInputError(f"{path}: no files match", file=str(path), reason="unreadable file")
        return found
    if not path.exists():
        raise BadInputError(
            f"{path.name}: unreadable file: no such file", file=str(path), reason="unreadable file"
        )
    if path.stat().st_size == 0:
        raise BadInputError(f"{path.name}: empty file", file=str(path), reason="empty file")
    return [str(path)]


def _options(m: Mapping) -> tuple[dict[str, str], list[str]]:
    doc: dict[str, Any] = dict(m.options.get("zendesk") or {})
    for k in doc:
        if k not in ("custom_statuses", "system_user_ids"):
            raise m.error(f"zendesk.{k}", "unknown key (allowed: custom_statuses, system_user_ids)")
    cs = doc.get("custom_statuses") or {}
    if not isinstance(cs, dict) or not all(isinstance(v, str) for v in cs.values()):
        raise m.error("zendesk.custom_statuses", "must map custom status ids to status names")
    sys_ids = doc.get("system_user_ids") or []
    if not isinstance(sys_ids, list):
        raise m.error("zendesk.system_user_ids", "must be a list of user ids")
    return {str(k): str(v) for k, v in cs.items()}, [str(x) for x in sys_ids]


def _load_objects(con: duckdb.DuckDBPyConnection, table: str, files: list[str], label: str) -> None:
    p = Params()
    try:
        sql(con, f"DROP TABLE IF EXISTS {table}")
        sql(
            con,
            render(
                "CREATE TEMP TABLE {t} AS SELECT json FROM read_json_objects({files}, format = 'auto')",
                t=table,
                files=p.add(files),
            ),
            p,
        )
    except duckdb.Error as exc:
        msg = " ".join(str(exc).split())[:300]
        raise BadInputError(
            f"{label}: unreadable file: {msg}", file=label, reason="unreadable file"
        ) from exc


def _text(j: str) -> str:
    """SQL: a JSON value as text (strings unquoted, arrays space-joined, null → NULL)."""
    return (
        f"CASE json_type({j}) WHEN 'VARCHAR' THEN json_extract_string({j}, '$') "
        f"WHEN 'ARRAY' THEN array_to_string(json_extract_string({j}, '$[*]'), ' ') "
        f"WHEN 'NULL' THEN NULL ELSE CAST({j} AS VARCHAR) END"
    )


def run(run_: Run, tickets_path: Path, events_path: Path | None, m: Mapping) -> Tables:
    from deskpulse.ingest.batch import Tables, all_ticket_ids

    con = run_.con
    rep = run_.reporter
    custom, sys_ids = _options(m)
    rep.stage("read tickets")
    label = tickets_path.name or str(tickets_path)
    _load_objects(con, "_zd_tobj", _files(tickets_path, "tickets"), label)
    sql(
        con,
        """
        CREATE TEMP TABLE _zd_all AS
        WITH o AS (
            SELECT rowid AS oid, json,
                   CASE WHEN json_type(json, '$.tickets') = 'ARRAY' THEN json_extract(json, '$.tickets[*]')
                        WHEN json_type(json) = 'OBJECT' AND json_exists(json, '$.id') THEN [json]
                        ELSE CAST([] AS JSON[]) END AS l
            FROM _zd_tobj),
        u AS (SELECT oid, unnest(l) AS t, generate_subscripts(l, 1) AS i FROM o)
        SELECT row_number() OVER (ORDER BY oid, i) AS __row, t FROM u
        """,
    )
    pages = con.execute(
        "SELECT count(*) FILTER (WHERE json_exists(json, '$.tickets')), "
        "count(*) FILTER (WHERE json_extract_string(json, '$.end_of_stream') = 'true') FROM _zd_tobj"
    ).fetchall()[0]
    if pages and pages[0] and not pages[1]:
        run_.warnings.append(
            f"{label}: no page says end_of_stream: true (the export may be incomplete)"
        )
    sql(
        con,
        """
        CREATE TEMP TABLE _zd_t AS
        SELECT * EXCLUDE (__rk) FROM (
            SELECT *, row_number() OVER (
                PARTITION BY json_extract_string(t, '$.id')
                ORDER BY TRY_CAST(json_extract_string(t, '$.updated_at') AS TIMESTAMPTZ) DESC NULLS LAST,
                         TRY_CAST(json_extract_string(t, '$.generated_timestamp') AS BIGINT) DESC NULLS LAST,
                         __row DESC) AS __rk
            FROM _zd_all)
        WHERE __rk = 1 OR json_extract_string(t, '$.id') IS NULL
        """,
    )
    superseded = con.execute(
        "SELECT (SELECT count(*) FROM _zd_all) - (SELECT count(*) FROM _zd_t)"
    ).fetchall()[0]
    if superseded and superseded[0]:
        run_.warnings.append(
            f"{label}: {superseded[0]} earlier version(s) of tickets superseded by later pages"
        )

    rep.stage("validate tickets")
    src = Source("_zd_t", label, row_sql="r.__row")
    sp = src.params

    def js(path: str) -> str:
        return f"json_extract_string(r.t, '{path}')"

    status = js("$.status")
    if custom:
        status = (
            f"coalesce(({sp.add(list(custom.values()))})[list_position({sp.add(list(custom))}, "
            f"{js('$.custom_status_id')})], {status})"
        )
    status = f"CASE WHEN {js('$.status')} = 'deleted' THEN 'closed' ELSE {status} END"
    via = js("$.via.channel")
    cols = {
        "ticket_id": Col(js("$.id"), "id"),
        "created_at": Col(js("$.created_at"), "created_at"),
        "updated_at": Col(js("$.updated_at"), "updated_at"),
        "status": Col(status, "status"),
        "priority": Col(js("$.priority"), "priority"),
        "channel": Col(
            f"CASE {via} WHEN 'voice' THEN 'phone' WHEN 'native_messaging' THEN 'chat' ELSE {via} END",
            "via",
        ),
        "category": Col(js("$.type"), "type"),
        "group": Col(js("$.group_id"), "group_id"),
        "brand": Col(js("$.brand_id"), "brand_id"),
        "organization": Col(js("$.organization_id"), "organization_id"),
        "requester_id": Col(js("$.requester_id"), "requester_id"),
        "assignee_id": Col(js("$.assignee_id"), "assignee_id"),
        "subject": Col(js("$.subject"), "subject"),
        "description": Col(js("$.description"), "description"),
        "tags": Col("CAST(json_extract(r.t, '$.tags') AS VARCHAR)", "tags"),
        "satisfaction": Col(js("$.satisfaction_rating.score"), "satisfaction_rating"),
        "deleted_at": Col(
            f"CASE WHEN {js('$.status')} = 'deleted' THEN {js('$.updated_at')} END", "status"
        ),
    }
    known_keys = sp.add(MAPPED_KEYS)
    extra = (
        "NULLIF(CAST(to_json(map_from_entries(list_filter(map_entries(json_transform(r.t, '\"MAP(VARCHAR, JSON)\"')), "
        f"lambda e: NOT list_contains({known_keys}, e.key) AND json_type(e.value) <> 'NULL'))) AS VARCHAR), '{{}}')"
    )
    plan = ticket_plan(cols, m.tickets, run_.tz, extra_col_sql=extra)
    tickets = validate_tickets(con, src, plan)
    if tickets.rows_read == 0:
        run_.warnings.append(f"{label}: no tickets in the export")
    if events_path is None:
        return Tables(tickets, None)

    rep.stage("read events")
    elabel = events_path.name or str(events_path)
    _load_objects(con, "_zd_eobj", _files(events_path, "ticket events"), elabel)
    rep.stage("validate events")
    con.register("_zd_tix_arrow", tickets.table.select(["ticket_id", "requester_id"]))
    sql(con, "CREATE TEMP TABLE _zd_tix AS SELECT * FROM _zd_tix_arrow")
    con.unregister("_zd_tix_arrow")
    q = Params("z")
    meta = q.add(CHILD_META)
    sql(
        con,
        render(
            """
        CREATE TEMP TABLE _zd_ev AS
        WITH o AS (
            SELECT rowid AS oid,
                   CASE WHEN json_type(json, '$.ticket_events') = 'ARRAY' THEN json_extract(json, '$.ticket_events[*]')
                        WHEN json_type(json) = 'OBJECT' AND json_exists(json, '$.ticket_id') THEN [json]
                        ELSE CAST([] AS JSON[]) END AS l
            FROM _zd_eobj),
        e AS (SELECT row_number() OVER (ORDER BY oid, i) AS __row, ev FROM
                (SELECT oid, unnest(l) AS ev, generate_subscripts(l, 1) AS i FROM o)),
        c AS (
            SELECT __row, json_extract_string(ev, '$.ticket_id') AS ticket_id,
                   coalesce(make_timestamp(epoch_us(TRY_CAST(json_extract_string(ev, '$.created_at') AS TIMESTAMPTZ))),
                            make_timestamp(epoch_us(to_timestamp(TRY_CAST(json_extract_string(ev, '$.timestamp') AS DOUBLE)))))
                       AS event_at,
                   json_extract_string(ev, '$.updater_id') AS updater,
                   lower(coalesce(json_extract_string(ev, '$.via'), json_extract_string(ev, '$.via.channel'))) AS via,
                   unnest(coalesce(json_extract(ev, '$.child_events[*]'), CAST([] AS JSON[]))) AS ch,
                   generate_subscripts(coalesce(json_extract(ev, '$.child_events[*]'), CAST([] AS JSON[])), 1) AS j
            FROM e),
        f AS (
            SELECT *, coalesce(json_extract_string(ch, '$.event_type'), json_extract_string(ch, '$.type')) AS ctype,
                   coalesce(json_extract_string(ch, '$.field_name'),
                            CASE WHEN json_exists(ch, '$.status') THEN 'status'
                                 WHEN json_exists(ch, '$.priority') THEN 'priority'
                                 WHEN json_exists(ch, '$.assignee_id') THEN 'assignee_id'
                                 WHEN json_exists(ch, '$.group_id') THEN 'group_id'
                                 ELSE list_filter(json_keys(ch), lambda k: NOT list_contains({meta}, k))[1] END)
                       AS fname,
                   json_exists(ch, '$.field_name') AS audit_style
            FROM c)
        SELECT *, CASE WHEN audit_style THEN json_extract(ch, '$.value')
                       ELSE json_extract(ch, '/' || replace(replace(fname, '~', '~0'), '/', '~1')) END AS val
        FROM f
        """,
            meta=meta,
        ),
        q,
    )
    r = Params("y")
    sys_ids_p = r.add(sys_ids)
    kind_keys, kind_vals = r.add(list(KIND_OF_FIELD)), r.add(list(KIND_OF_FIELD.values()))
    sql(
        con,
        render(
            """
        CREATE TEMP TABLE _zd_events AS
        WITH req AS (
            SELECT ticket_id, requester_id FROM _zd_tix WHERE requester_id IS NOT NULL
            UNION ALL
            SELECT ticket_id, {val} FROM _zd_ev
            WHERE fname = 'requester_id' AND ctype = 'Create'
              AND ticket_id NOT IN (SELECT ticket_id FROM _zd_tix WHERE requester_id IS NOT NULL)),
        req1 AS (SELECT ticket_id, any_value(requester_id) AS requester_id FROM req GROUP BY ticket_id),
        x AS (
            SELECT v.__row, v.j, v.ticket_id, v.event_at, v.via, v.updater, v.ctype, v.fname,
                   CASE WHEN v.ctype IN ('Comment', 'VoiceComment') THEN 'comment'
                        WHEN v.ctype = 'Create' THEN ({kind_vals})[list_position({kind_keys}, v.fname)]
                        WHEN v.ctype = 'Change' THEN coalesce(({kind_vals})[list_position({kind_keys}, v.fname)], 'field')
                   END AS kind,
                   CASE WHEN v.ctype IN ('Comment', 'VoiceComment')
                        THEN coalesce(json_extract_string(v.ch, '$.author_id'), v.updater) ELSE v.updater END AS who,
                   CASE WHEN v.ctype IN ('Comment', 'VoiceComment')
                        THEN coalesce(json_extract_string(v.ch, '$.public'), json_extract_string(v.ch, '$.comment_public'))
                   END AS public,
                   CASE WHEN v.ctype = 'Change' THEN {prev} END AS from_value,
                   CASE WHEN v.ctype IN ('Create', 'Change') THEN {cur} END AS to_value,
                   req1.requester_id
            FROM _zd_ev v LEFT JOIN req1 ON req1.ticket_id = v.ticket_id)
        SELECT __row, row_number() OVER (ORDER BY __row, j) - 1 AS seq, ticket_id, event_at, kind,
               CASE WHEN who = '-1' OR list_contains({sys_ids_p}, who)
                         OR (kind <> 'comment' AND via IN ('rule', 'automation')) THEN 'system'
                    WHEN who = requester_id THEN 'end_user' ELSE 'agent' END AS actor,
               who AS actor_id, public, from_value, to_value,
               CASE WHEN kind = 'field' THEN fname END AS field
        FROM x
        WHERE kind IS NOT NULL
          AND NOT (kind = 'status' AND coalesce(to_value, '') = 'deleted')
        """,
            val=_text("val"),
            prev=_text("json_extract(v.ch, '$.previous_value')"),
            cur=_text("v.val"),
            kind_keys=kind_keys,
            kind_vals=kind_vals,
            sys_ids_p=sys_ids_p,
        ),
        r,
    )
    ev_src = Source("_zd_events", elabel, row_sql="r.__row")
    ecols = {
        "ticket_id": Col("r.ticket_id", "ticket_id"),
        "event_at": Col("r.event_at", "created_at", typed=True),
        "kind": Col("r.kind", "event_type"),
        "actor": Col("r.actor", "updater_id"),
        "actor_id": Col("r.actor_id", "updater_id"),
        "public": Col("r.public", "public"),
        "from_value": Col("r.from_value", "previous_value"),
        "to_value": Col("r.to_value", "value"),
        "field": Col("r.field", "field_name"),
    }
    eplan = event_plan(ecols, m.events, run_.tz, seq_sql="r.seq")
    events: Validated = validate_events(con, ev_src, eplan, all_ticket_ids(run_, tickets))
    n = con.execute("SELECT count(DISTINCT __row) FROM _zd_ev").fetchall()[0]
    events.rows_read = int(n[0]) if n else 0
    return Tables(tickets, events, sort_events=True)
