"""Validate source rows against the canonical schemas, set-based, in one streaming DuckDB pass.

The one job of this module: given a source relation (a ``read_csv(...)`` call or a staged table)
and a description of where each canonical column comes from, produce

* an Arrow table of valid canonical rows (tickets: one per ticket_id; events: plus ``seq``), and
* an Arrow table of rejects, one row per failing row × column (file, row, column, value, reason).

How: one SQL query reads the source once and computes every canonical value (TRY_CAST /
TRY_STRPTIME for timestamps, typed Parquet timestamps converted directly, list lookups against
bound alias lists for enumerations after a comparison with the canonical spellings) and one
``__bad`` flag per row (the OR of all checks); it streams into Arrow (``run_plan``, presets) or
into a temp table of the connection (``stage_*``, the import of canonical files). Only the rows
flagged bad keep their source text, and the reject rows are computed by a second query over
that (small) subset. Event → ticket existence is an Arrow ``is_in`` against the valid ticket
ids; duplicate ticket ids are ranked with a window over the duplicated ids only. No Python runs
per row.

Timestamps: a value with ``Z`` or an offset is that instant; a value without one is local
wall-clock time in the import's time zone (the DuckDB session's ``TimeZone`` setting, or
``timezone(tz, …)`` for ``timestamp_format`` values). Local times that do not exist (the hour
skipped when clocks spring forward) are read with the offset in force before the change, i.e.
shifted forward by the gap (02:30 on New York's spring-forward day is 03:30 EDT = 07:30Z); local
times that occur twice (fall back) are read as the second occurrence, in standard time (01:30 on
New York's fall-back day is 01:30 EST = 06:30Z). This is what ICU and PostgreSQL do.
Everything is returned as naive UTC; instants outside 1900–2200 are rejected as bad timestamps.
Identifiers (ticket_id, actor_id, …) are taken verbatim; blank values count as missing.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from deskpulse import model
from deskpulse.ingest.mapping import BUILTIN_ALIASES, FileMapping, fold, resolve_value
from deskpulse.ingest.sql import Params, ident, norm_sql, render, run

TS_MIN = "TIMESTAMP '1900-01-01 00:00:00'"
TS_MAX = "TIMESTAMP '2200-01-01 00:00:00'"
MISSING = "missing required value"
UNKNOWN_TICKET = "event for a ticket that is neither in this import nor in the store"

TICKET_TEXT = (
    "ticket_id",
    "channel",
    "category",
    "group",
    "brand",
    "region",
    "organization",
    "tier",
    "requester_id",
    "assignee_id",
    "subject",
    "description",
)
BOOL_WORDS = {
    "true": "true",
    "t": "true",
    "1": "true",
    "yes": "true",
    "y": "true",
    "public": "true",
    "false": "false",
    "f": "false",
    "0": "false",
    "no": "false",
    "n": "false",
    "private": "false",
    "internal": "false",
}
ALLOWED: dict[str, tuple[str, ...]] = {
    "status": model.STATUSES,
    "priority": model.PRIORITIES,
    "satisfaction": model.SATISFACTION,
    "kind": model.EVENT_KINDS,
    "actor": model.ACTORS,
}


@dataclass(frozen=True)
class Col:
    """Where one canonical column comes from, as SQL over the source relation (alias ``r``).

    ``typed``: the SQL already yields the canonical type (e.g. a UTC TIMESTAMP) — no parsing.
    ``native``: for a typed source column (a Parquet timestamp), SQL with one ``{}`` slot (the
    raw column) that yields the naive UTC TIMESTAMP; ``sql`` is then the column itself, which
    keeps its type and is turned into text only where a reject reports it.
    ``const``: a constant (from ``constants:``) instead of a column. ``label`` is the column name
    rejects report (the source column's name).
    """

    sql: str
    label: str
    typed: bool = False
    const: str | None = None
    native: str | None = None

    def expr(self, p: Params) -> str:
        return f"CAST({p.add(self.const)} AS VARCHAR)" if self.const is not None else self.sql


@dataclass
class Source:
    """A relation to validate: SQL usable in FROM (with its parameters) and how rows are numbered."""

    sql: str  # table name or table function call
    file: str  # label for rejects
    params: Params = field(default_factory=lambda: Params("s"))
    row_sql: str | None = None  # SQL over ``r`` for the 1-based data row; None = scan position + 1
    malformed: list[tuple[int, str, str]] = field(default_factory=list)  # (row, line, reason)


@dataclass
class Check:
    """One validation rule: ``bad`` is SQL over the typed/raw columns (true = reject)."""

    bad: str
    label: str  # reported column
    value: str | None  # SQL for the reported value (a raw column), None = empty
    reason: str  # SQL for the reason (a bound parameter or a CASE)


@dataclass
class Plan:
    """The columns and checks of one validation query."""

    params: Params = field(default_factory=lambda: Params("v"))
    raws: list[tuple[str, str]] = field(default_factory=list)  # (L1 name, SQL over r) - text
    levels: list[list[tuple[str, str]]] = field(default_factory=lambda: [[], []])  # typed, by level
    outputs: list[str] = field(default_factory=list)  # canonical output columns, in order
    hidden: list[str] = field(default_factory=list)  # intermediate typed columns checks refer to
    checks: list[Check] = field(default_factory=list)
    id_label: str = "ticket_id"  # reported name of the ticket_id column
    seq_from_row: bool = False  # events: seq = data row - 1

    def raw(self, name: str, sql: str) -> str:
        self.raws.append((name, sql))
        return name

    def typed(self, name: str, sql: str, level: int = 0) -> None:
        self.levels[level].append((name, sql))

    def check(self, bad: str, label: str, value: str | None, reason: str) -> None:
        self.checks.append(Check(bad, self.params.add(label), value, reason))

    def why(self, text: str) -> str:
        return self.params.add(text)


@dataclass
class Validated:
    """Valid rows (Arrow, canonical columns plus ``__row``) and reject rows (REJECT_SCHEMA)."""

    table: pa.Table
    rejects: pa.Table
    rows_read: int


# --- SQL building blocks ------------------------------------------------------------------------


def ts_sql(raw: str, formats: tuple[str, ...], tz: str, p: Params) -> str:
    """SQL turning text ``raw`` into a naive UTC TIMESTAMP (NULL when it does not parse)."""
    if formats:
        fmts = p.add(list(formats))
        if any("%z" in f or "%Z" in f for f in formats):
            return f"make_timestamp(epoch_us(try_strptime(trim({raw}), {fmts})))"
        naive = f"try_strptime(trim({raw}), {fmts})"
        if tz == "UTC":
            return naive
        return f"make_timestamp(epoch_us(timezone({p.add(tz)}, {naive})))"
    # ISO 8601: TIMESTAMPTZ honours Z/offsets and reads naive values in the session TimeZone.
    # The first non-blank character must be a digit (TRY_CAST also accepts words like 'epoch').
    parsed = f"make_timestamp(epoch_us(TRY_CAST({raw} AS TIMESTAMPTZ)))"
    return (
        f"CASE WHEN {raw} >= '0' AND {raw} < ':' THEN {parsed} "
        f"WHEN ltrim({raw}) >= '0' AND ltrim({raw}) < ':' THEN {parsed} END"
    )


def ts_bad(val: str) -> str:
    return f"({val} IS NULL OR NOT ({val} BETWEEN {TS_MIN} AND {TS_MAX}))"


def ts_reason(formats: tuple[str, ...], tz: str) -> str:
    if formats:
        return f"bad timestamp: expected {' or '.join(repr(f) for f in formats)}"
    return f"bad timestamp: expected ISO 8601 (without an offset read as {tz})"


def _spellings(key: str) -> set[str]:
    return {key, key.lower(), key.upper(), key.title(), key.capitalize()}


def lookup_sql(
    raw: str, pairs: dict[str, str], extra: dict[str, str], p: Params, *, free: bool = False
) -> str:
    """SQL mapping text ``raw`` through an alias table.

    ``pairs``: built-in aliases (key -> canonical); ``extra``: the mapping file's value map
    (key -> canonical or alias; it wins). Exact spellings are tried first (a bound list lookup),
    then the value folded (trimmed, lower-cased, whitespace/underscores collapsed). With ``free``
    an unmapped value keeps its text (free-text columns); otherwise it becomes NULL.
    """
    table: dict[str, str] = {}
    for k, v in pairs.items():
        table[k] = v
    for v in set(pairs.values()):
        table.setdefault(v, v)
    resolved = {k: (v if free else (resolve_value(v, "", pairs) or v)) for k, v in extra.items()}
    exact: dict[str, str] = {}
    folded: dict[str, str] = {}
    for k, v in itertools.chain(table.items(), resolved.items()):
        for s in _spellings(k):
            if s in resolved and k not in resolved:
                continue  # never let a built-in spelling shadow a mapping-file key
            exact[s] = v
        folded[fold(k)] = v
    for k, v in resolved.items():  # mapping file wins
        exact[k] = v
        folded[fold(k)] = v
    k1, c1 = p.add(list(exact)), p.add(list(exact.values()))
    k2, c2 = p.add(list(folded)), p.add(list(folded.values()))
    tail = f", {raw}" if free else ""
    lookup = f"coalesce(({c1})[list_position({k1}, {raw})], ({c2})[list_position({k2}, {norm_sql(raw)})]{tail})"
    # Fast path: a value that is already canonical (it maps to itself) is compared with a few
    # constants instead of searched in the lists; the lists only see the other spellings.
    # Equalities, not IN / list_contains: DuckDB turns a constant IN list of 6+ values into a
    # join, and the validation query must keep the file's row order (rows are numbered by it).
    same = sorted(k for k, v in exact.items() if k == v)
    if free or not same:
        return lookup
    hit = " OR ".join(f"{raw} = {p.add(k)}" for k in same)
    return f"CASE WHEN {hit} THEN {raw} ELSE {lookup} END"


def tags_sql(raw: str) -> str:
    """Tags as one space-separated string: JSON arrays, commas and blanks all become one space."""
    listed = (
        f"CASE WHEN left({raw}, 1) = '[' AND json_valid({raw}) "
        f"THEN array_to_string(json_extract_string({raw}, '$[*]'), ' ') ELSE {raw} END"
    )
    return f"NULLIF(trim(regexp_replace({listed}, '[\\s,]+', ' ', 'g')), '')"


def extra_sql(names: list[tuple[str, str]], p: Params) -> str:
    """JSON object text of (key, raw column) pairs with non-null values; NULL when none."""
    if not names:
        return "CAST(NULL AS VARCHAR)"
    entries = ", ".join(f"struct_pack(k := {p.add(k)}, v := {c})" for k, c in names)
    return (
        f"CASE WHEN coalesce({', '.join(c for _, c in names)}) IS NULL THEN NULL ELSE "
        f"CAST(to_json(map_from_entries(list_filter([{entries}], lambda e: e.v IS NOT NULL))) AS VARCHAR) END"
    )


def text(col: Col, p: Params) -> str:
    """Source value as text (empty values are already NULL: the readers' null tokens)."""
    return f"CAST({col.expr(p)} AS VARCHAR)"


def missing(expr: str) -> str:
    """SQL: the value is missing (NULL or only blanks)."""
    # only values whose first character sorts before '!' (blanks, control characters) can be blank
    return f"({expr} IS NULL OR ({expr} < '!' AND trim({expr}) = ''))"


# --- running a plan ----------------------------------------------------------------------------------


def _query(src: Source, plan: Plan, skip: tuple[str, ...] = ()) -> tuple[str, Params]:
    """The one validation query: canonical values, ``__bad`` and, for bad rows only, ``__rej``
    (a JSON array of the failing checks' column/value/reason)."""
    p = src.params.merged(plan.params)
    l1 = [f"{sql} AS {ident(n)}" for n, sql in plan.raws]
    if src.row_sql is not None:
        l1.append(f"{src.row_sql} AS __row")
    q = render("SELECT {cols} FROM {src} AS r", cols=", ".join(l1) or "1 AS __dummy", src=src.sql)
    for level in plan.levels:
        if level:
            cols = ", ".join(f"{sql} AS {ident(n)}" for n, sql in level)
            q = render("SELECT *, {cols} FROM ({q})", cols=cols, q=q)
    bad = " OR ".join(f"coalesce({c.bad}, FALSE)" for c in plan.checks) or "FALSE"
    q = render("SELECT *, ({bad}) AS __bad FROM ({q})", bad=bad, q=q)
    items = ", ".join(
        f"CASE WHEN coalesce({c.bad}, FALSE) THEN struct_pack(c := CAST({c.label} AS VARCHAR), "
        f"v := CAST({c.value or 'NULL'} AS VARCHAR), r := CAST({c.reason} AS VARCHAR)) END"
        for c in plan.checks
    )
    rej = (
        f"CASE WHEN __bad THEN CAST(to_json(list_filter([{items}], lambda x: x IS NOT NULL)) AS VARCHAR) END"
        if plan.checks
        else "CAST(NULL AS VARCHAR)"
    )
    keep = [ident(c) for c in plan.outputs if c not in skip] + ["__bad", f"{rej} AS __rej"]
    if src.row_sql is not None:
        keep.append("__row")
    return render("SELECT {cols} FROM ({q})", cols=", ".join(keep), q=q), p


def run_plan(con: duckdb.DuckDBPyConnection, src: Source, plan: Plan) -> pa.Table:
    """Run the validation query: every row, its canonical values, ``__bad`` and ``__row``."""
    sql, p = _query(src, plan)
    values = p.used_in(sql)
    table = (
        con.sql(sql, params=values).to_arrow_table() if values else con.sql(sql).to_arrow_table()
    )
    if src.row_sql is None:
        table = table.append_column(
            "__row", pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64))
        )
    return table


def finish(
    con: duckdb.DuckDBPyConnection,
    src: Source,
    plan: Plan,
    table: pa.Table,
    *,
    extra: list[tuple[pa.Array, str, str, str]] | None = None,
) -> Validated:
    """Split the query result into valid rows and rejects.

    ``extra``: more row-level failures computed outside SQL, as (mask, label, name of the
    output column holding the value, reason), e.g. events whose ticket is unknown.
    """
    rows_read = table.num_rows + len(src.malformed)
    bad = table.column("__bad")
    extra = extra or []
    for mask, *_ in extra:
        bad = pc.or_(bad, mask)
    any_bad = bool(pc.any(bad).as_py()) if table.num_rows else False
    rejects = _malformed(src)
    if any_bad:
        sub = table.filter(bad)
        parts = [rejects]
        rows = sub.column("__row")
        if pc.any(sub.column("__bad")).as_py():
            name = f"_bad_{id(sub)}"
            con.register(name, sub.select(["__row", "__rej"]).filter(sub.column("__bad")))
            try:
                got = con.sql(
                    render(
                        """
                        SELECT $f AS file, __row AS row, x.c AS "column", x.v AS value, x.r AS reason
                        FROM (SELECT __row,
                                     unnest(from_json(__rej, '[{{"c":"VARCHAR","v":"VARCHAR","r":"VARCHAR"}}]')) AS x
                              FROM {name})
                        """,
                        name=name,
                    ),
                    params={"f": src.file},
                ).to_arrow_table()
            finally:
                con.unregister(name)
            parts.append(got.cast(model.REJECT_SCHEMA))
        for mask, label, value, reason in extra:
            m = pc.filter(mask, bad)
            n = int(pc.sum(m).as_py() or 0)
            if n:
                parts.append(
                    pa.table(
                        {
                            "file": pa.array([src.file] * n, pa.string()),
                            "row": pc.filter(rows, m),
                            "column": pa.array([label] * n, pa.string()),
                            "value": pc.filter(sub.column(value), m).cast(pa.string()),
                            "reason": pa.array([reason] * n, pa.string()),
                        }
                    ).cast(model.REJECT_SCHEMA)
                )
        rejects = pa.concat_tables(parts)
        table = table.filter(pc.invert(bad))
    return Validated(table.select([*plan.outputs, "__row"]), rejects, rows_read)


def _malformed(src: Source) -> pa.Table:
    rows = [(src.file, row, None, line.rstrip("\r\n"), why) for row, line, why in src.malformed]
    return pa.Table.from_pylist(
        [dict(zip(model.REJECT_SCHEMA.names, r, strict=True)) for r in rows],
        schema=model.REJECT_SCHEMA,
    )


# --- tickets -----------------------------------------------------------------------------------------


def ticket_plan(
    cols: dict[str, Col],
    fm: FileMapping,
    tz: str,
    *,
    extra_columns: list[tuple[str, str]] | None = None,
    extra_col_sql: str | None = None,
    reject_cols: dict[str, str] | None = None,
) -> Plan:
    """The plan validating tickets. ``extra_columns``: (key, SQL over r) kept in ``extra``;
    ``extra_col_sql``: SQL over r giving the extra JSON text directly; ``reject_cols``: source
    column -> SQL over r, for ``reject_values``."""
    plan = Plan()
    p = plan.params
    guards = reject_value_checks(plan, fm, reject_cols or {})

    def guard(c: str) -> str:
        flag = guards.get(cols[c].label) if c in cols and cols[c].const is None else None
        return f" AND {flag} IS NULL" if flag else ""

    for c in TICKET_TEXT:
        name = f"__r_{c}"
        if c in cols:
            plan.raw(name, text(cols[c], p))
            expr = ident(name)
            if c in fm.values:
                expr = lookup_sql(expr, {}, fm.values[c], p, free=True)
        else:
            plan.raw(name, "CAST(NULL AS VARCHAR)")
            expr = "CAST(NULL AS VARCHAR)"
        plan.typed(c, expr)
    plan.check(
        f"{missing('ticket_id')}{guard('ticket_id')}",
        _label(cols, "ticket_id"),
        None,
        plan.why(MISSING),
    )

    why_ts = plan.why(ts_reason(fm.timestamp_format, tz))
    for c in model.TICKET_TIMESTAMPS:
        name = f"__r_{c}"
        native = cols[c].native if c in cols else None
        if native is not None:
            plan.raw(name, cols[c].sql)
            expr = native.format(name)
        elif c in cols and cols[c].typed:
            plan.raw(name, f"CAST({cols[c].sql} AS VARCHAR)")
            plan.raw(f"__t_{c}", f"CAST({cols[c].sql} AS TIMESTAMP)")
            expr = f"__t_{c}"
        elif c in cols:
            plan.raw(name, text(cols[c], p))
            expr = ts_sql(name, fm.timestamp_format, tz, p)
        else:
            plan.raw(name, "CAST(NULL AS VARCHAR)")
            expr = "CAST(NULL AS TIMESTAMP)"
        target = "__created" if c == "created_at" else ("__updated" if c == "updated_at" else c)
        plan.typed(target, expr)
        if c in model.TICKET_REQUIRED:
            plan.check(
                f"{ts_bad(target)}{guard(c)}",
                _label(cols, c),
                name,
                f"CASE WHEN {name} IS NULL THEN {plan.why(MISSING)} ELSE {why_ts} END",
            )
        else:
            plan.check(
                f"{name} IS NOT NULL AND {ts_bad(target)}{guard(c)}", _label(cols, c), name, why_ts
            )
    plan.hidden += ["__created", "__updated"]
    plan.typed("created_at", "__created", 1)
    plan.typed("updated_at", "coalesce(__updated, __created)", 1)

    for c in ("status", "priority", "satisfaction"):
        name = f"__r_{c}"
        if c in cols:
            plan.raw(name, text(cols[c], p))
            plan.typed(c, lookup_sql(name, BUILTIN_ALIASES[c], fm.values.get(c, {}), p))
        else:
            plan.raw(name, "CAST(NULL AS VARCHAR)")
            plan.typed(c, "CAST(NULL AS VARCHAR)")
        unknown = plan.why(
            f"unknown {c} (expected {', '.join(ALLOWED[c])}, an alias, or a value mapped under values.{c})"
        )
        if c == "status":
            plan.check(
                f"status IS NULL{guard(c)}",
                _label(cols, c),
                name,
                f"CASE WHEN {name} IS NULL THEN {plan.why(MISSING)} ELSE {unknown} END",
            )
        else:
            plan.check(
                f"{name} IS NOT NULL AND {ident(c)} IS NULL{guard(c)}",
                _label(cols, c),
                name,
                unknown,
            )

    if "tags" in cols:
        plan.raw("__r_tags", text(cols["tags"], p))
        plan.typed("tags", tags_sql("__r_tags"))
    else:
        plan.typed("tags", "CAST(NULL AS VARCHAR)")
    if extra_col_sql is not None:
        plan.raw("__extra", extra_col_sql)
    else:
        named = [
            (key, plan.raw(f"__e{i}", f"CAST({sql} AS VARCHAR)"))
            for i, (key, sql) in enumerate(extra_columns or [])
        ]
        if named:
            plan.typed("__extra", extra_sql(named, p))
        else:
            plan.raw("__extra", "CAST(NULL AS VARCHAR)")
    if "extra" in cols:  # an ``extra`` column (e.g. a deskpulse export): merge its object
        rx = plan.raw("__r_extra", text(cols["extra"], p))
        own = "coalesce(__extra, '{}')"
        merged = (
            f"CASE WHEN {rx} IS NULL THEN __extra "
            f"WHEN json_valid({rx}) AND json_type({rx}) = 'OBJECT' "
            f"THEN NULLIF(CAST(json_merge_patch({rx}, {own}) AS VARCHAR), '{{}}') "
            f"ELSE CAST(json_merge_patch({own}, json_object('extra', {rx})) AS VARCHAR) END"
        )
        plan.typed("extra", merged, 1)
    else:
        plan.typed("extra", "__extra", 1)
    plan.outputs = list(model.TICKET_COLUMNS)
    plan.id_label = _label(cols, "ticket_id")
    return plan


def _label(cols: dict[str, Col], c: str) -> str:
    return cols[c].label if c in cols else c


def reject_value_checks(plan: Plan, fm: FileMapping, reject_cols: dict[str, str]) -> dict[str, str]:
    """Checks for ``reject_values`` (source column -> {value: reason}); returns column -> flag."""
    p = plan.params
    flags: dict[str, str] = {}
    for i, (src, vmap) in enumerate(fm.reject_values.items()):
        if src not in reject_cols or not vmap:
            continue
        raw = plan.raw(f"__rv{i}_v", f"CAST({reject_cols[src]} AS VARCHAR)")
        whens = " ".join(f"WHEN {p.add(v)} THEN {p.add(why)}" for v, why in vmap.items())
        flag = f"__rv{i}"
        plan.typed(flag, f"CASE trim({raw}) {whens} END")
        plan.hidden.append(flag)
        plan.check(f"{flag} IS NOT NULL", src, raw, flag)
        flags[src] = flag
    return flags


def validate_tickets(con: duckdb.DuckDBPyConnection, src: Source, plan: Plan) -> Validated:
    """Run a ticket plan, then reject duplicate ticket ids (latest updated_at wins, ties -> last)."""
    res = finish(con, src, plan, run_plan(con, src, plan))
    t = res.table
    name = f"_valid_{id(t)}"
    con.register(name, t.select(["ticket_id", "updated_at", "__row"]))
    try:
        dups = con.sql(
            render(
                """
            WITH d AS (SELECT ticket_id FROM {name} GROUP BY ticket_id HAVING count(*) > 1),
            ranked AS (
                SELECT v.__row, v.ticket_id, v.updated_at AS u,
                       row_number() OVER w AS rk, first_value(v.__row) OVER w AS kept_row,
                       first_value(v.updated_at) OVER w AS kept_u
                FROM {name} v SEMI JOIN d ON v.ticket_id = d.ticket_id
                WINDOW w AS (PARTITION BY v.ticket_id ORDER BY v.updated_at DESC, v.__row DESC))
            SELECT __row, ticket_id, 'duplicate ticket_id: row ' || kept_row || ' is kept (' ||
                   CASE WHEN kept_u > u THEN 'later updated_at' ELSE 'same updated_at, later in the file' END
                   || ')' AS reason
            FROM ranked WHERE rk > 1 ORDER BY __row
            """,
                name=name,
            )
        ).to_arrow_table()
    finally:
        con.unregister(name)
    if dups.num_rows:
        label = plan.id_label
        rej = pa.table(
            {
                "file": pa.array([src.file] * dups.num_rows, pa.string()),
                "row": dups.column("__row"),
                "column": pa.array([label] * dups.num_rows, pa.string()),
                "value": dups.column("ticket_id"),
                "reason": dups.column("reason"),
            }
        ).cast(model.REJECT_SCHEMA)
        res.rejects = pa.concat_tables([res.rejects, rej])
        res.table = t.filter(pc.invert(pc.is_in(t.column("__row"), value_set=dups.column("__row"))))
    return res


# --- events ----------------------------------------------------------------------------------------------


def event_plan(
    cols: dict[str, Col],
    fm: FileMapping,
    tz: str,
    *,
    seq_sql: str | None = None,
    reject_cols: dict[str, str] | None = None,
    extra_columns: list[tuple[str, str]] | None = None,
) -> Plan:
    """The plan validating events. ``seq_sql``: SQL over r giving input order (default row - 1);
    ``extra_columns``: (key, SQL over r) kept in ``extra``, as for tickets; an ``extra`` column
    of the source (``cols["extra"]``, e.g. a deskpulse export) is merged into that object."""
    plan = Plan()
    p = plan.params
    guards = reject_value_checks(plan, fm, reject_cols or {})

    def guard(c: str) -> str:
        flag = guards.get(cols[c].label) if c in cols and cols[c].const is None else None
        return f" AND {flag} IS NULL" if flag else ""

    def raw(c: str) -> str:
        return plan.raw(f"__r_{c}", text(cols[c], p) if c in cols else "CAST(NULL AS VARCHAR)")

    for c in ("ticket_id", "actor_id", "field"):
        plan.typed(c, raw(c))
    plan.check(
        f"{missing('ticket_id')}{guard('ticket_id')}",
        _label(cols, "ticket_id"),
        None,
        plan.why(MISSING),
    )
    # event_at
    native = cols["event_at"].native if "event_at" in cols else None
    if native is not None:
        plan.raw("__r_event_at", cols["event_at"].sql)
        plan.typed("event_at", native.format("__r_event_at"))
    elif "event_at" in cols and cols["event_at"].typed:
        plan.raw("__r_event_at", f"CAST({cols['event_at'].sql} AS VARCHAR)")
        plan.raw("__t_event_at", f"CAST({cols['event_at'].sql} AS TIMESTAMP)")
        plan.typed("event_at", "__t_event_at")
    else:
        plan.typed("event_at", ts_sql(raw("event_at"), fm.timestamp_format, tz, p))
    plan.check(
        f"{ts_bad('event_at')}{guard('event_at')}",
        _label(cols, "event_at"),
        "__r_event_at",
        f"CASE WHEN __r_event_at IS NULL THEN {plan.why(MISSING)} "
        f"ELSE {plan.why(ts_reason(fm.timestamp_format, tz))} END",
    )
    # kind, actor, public
    plan.typed(
        "kind", lookup_sql(raw("kind"), BUILTIN_ALIASES["kind"], fm.values.get("kind", {}), p)
    )
    plan.check(
        f"kind IS NULL{guard('kind')}",
        _label(cols, "kind"),
        "__r_kind",
        f"CASE WHEN __r_kind IS NULL THEN {plan.why(MISSING)} "
        f"ELSE {plan.why('unknown kind (expected ' + ', '.join(model.EVENT_KINDS) + ')')} END",
    )
    plan.typed(
        "__actor", lookup_sql(raw("actor"), BUILTIN_ALIASES["actor"], fm.values.get("actor", {}), p)
    )
    plan.hidden.append("__actor")
    plan.typed("actor", "coalesce(__actor, 'system')", 1)
    plan.check(
        f"__r_actor IS NOT NULL AND __actor IS NULL{guard('actor')}",
        _label(cols, "actor"),
        "__r_actor",
        plan.why(f"unknown actor (expected {', '.join(model.ACTORS)} or an alias)"),
    )
    plan.typed("__public", lookup_sql(raw("public"), BOOL_WORDS, {}, p))
    plan.hidden.append("__public")
    plan.typed("public", "coalesce(__public, 'true') = 'true'", 1)
    plan.check(
        f"__r_public IS NOT NULL AND __public IS NULL{guard('public')}",
        _label(cols, "public"),
        "__r_public",
        plan.why("bad boolean (expected true/false)"),
    )
    # from/to: statuses and priorities mapped for status/priority events
    st = fm.values.get("status", {})
    pr = fm.values.get("priority", {})
    for c in ("from_value", "to_value"):
        r = raw(c)
        sv, pv = f"__st_{c}", f"__pr_{c}"
        plan.typed(
            sv,
            f"CASE WHEN {r} IS NOT NULL AND kind = 'status' THEN {lookup_sql(r, BUILTIN_ALIASES['status'], st, p)} END",
            1,
        )
        plan.typed(
            pv,
            f"CASE WHEN {r} IS NOT NULL AND kind = 'priority' THEN {lookup_sql(r, BUILTIN_ALIASES['priority'], pr, p)} END",
            1,
        )
        plan.hidden += [sv, pv]
        plan.check(
            f"kind = 'status' AND {r} IS NOT NULL AND {sv} IS NULL{guard(c)}",
            _label(cols, c),
            r,
            plan.why(f"unknown status (expected {', '.join(model.STATUSES)} or an alias)"),
        )
        plan.check(
            f"kind = 'priority' AND {r} IS NOT NULL AND {pv} IS NULL{guard(c)}",
            _label(cols, c),
            r,
            plan.why(f"unknown priority (expected {', '.join(model.PRIORITIES)} or an alias)"),
        )
    plan.levels.append([])
    for c in ("from_value", "to_value"):
        plan.typed(
            c,
            f"CASE kind WHEN 'status' THEN __st_{c} WHEN 'priority' THEN __pr_{c} ELSE __r_{c} END",
            2,
        )
    plan.check(
        f"kind = 'status' AND __r_to_value IS NULL{guard('to_value')}",
        _label(cols, "to_value"),
        None,
        plan.why("missing required value (a status event needs the new status in to_value)"),
    )
    plan.check(
        f"kind = 'field' AND field IS NULL{guard('field')}",
        _label(cols, "field"),
        None,
        plan.why("missing required value (a field event needs the field name)"),
    )
    named = [
        (key, plan.raw(f"__e{i}", f"CAST({sql} AS VARCHAR)"))
        for i, (key, sql) in enumerate(extra_columns or [])
    ]
    plan.typed("__extra", extra_sql(named, p) if named else "CAST(NULL AS VARCHAR)")
    plan.hidden.append("__extra")
    if "extra" in cols:  # merge the source's own extra object, exactly as ticket_plan does
        rx = plan.raw("__r_extra", text(cols["extra"], p))
        own = "coalesce(__extra, '{}')"
        plan.typed(
            "extra",
            f"CASE WHEN {rx} IS NULL THEN __extra "
            f"WHEN json_valid({rx}) AND json_type({rx}) = 'OBJECT' "
            f"THEN NULLIF(CAST(json_merge_patch({rx}, {own}) AS VARCHAR), '{{}}') "
            f"ELSE CAST(json_merge_patch({own}, json_object('extra', {rx})) AS VARCHAR) END",
            1,
        )
    else:
        plan.typed("extra", "__extra", 1)
    if seq_sql is not None:
        plan.raw("__seq", f"CAST({seq_sql} AS BIGINT)")
    plan.outputs = [*model.EVENT_COLUMNS, "extra", "seq"]
    plan.typed("seq", "__seq" if seq_sql is not None else "CAST(NULL AS BIGINT)", 2)
    plan.seq_from_row = seq_sql is None
    plan.id_label = _label(cols, "ticket_id")
    return plan


def validate_events(
    con: duckdb.DuckDBPyConnection,
    src: Source,
    plan: Plan,
    ticket_ids: pa.Array,
) -> Validated:
    """Run an event plan; events whose ticket is not in ``ticket_ids`` are rejected."""
    table = run_plan(con, src, plan)
    tid = table.column("ticket_id")
    known = pc.is_in(tid, value_set=ticket_ids)
    unknown = pc.and_(pc.is_valid(tid), pc.invert(known))
    unknown = pc.fill_null(unknown, False)
    res = finish(
        con, src, plan, table, extra=[(unknown, plan.id_label, "ticket_id", UNKNOWN_TICKET)]
    )
    if plan.seq_from_row:
        seq = pc.subtract(res.table.column("__row"), 1)
        res.table = res.table.set_column(res.table.schema.get_field_index("seq"), "seq", seq)
    return res


# --- staged validation: valid rows stay in the connection ----------------------------------------------
#
# The import's main path. The validation query is materialised once into a temp table of the
# connection doing the work (the store's own DuckDB connection when the store is DuckDB), with
# every row, its canonical values, ``__bad`` and ``__rej``; rejects are read from the few bad
# rows, and a temp view exposes the valid rows. The store writes from that view: no Arrow copy
# of the batch, no second connection. Row numbers of a streamed CSV are the temp table's rowids
# (the table is written in file order: ``preserve_insertion_order``).


@dataclass
class Staged:
    """Validated rows left in a temp table; ``view`` selects the valid ones (canonical columns,
    events with ``seq``) in input order."""

    table: str  # temp table: every row, canonical values, __bad, __rej (and __row)
    view: str  # temp view: valid rows only
    file: str
    rows_read: int
    valid: int  # rows in ``view``
    rejects: pa.Table


def _row_sql(src: Source) -> str:
    """SQL over the staged table (alias ``s``) for a row's 1-based data row number."""
    return "s.__row" if src.row_sql is not None else "(s.rowid + 1)"


def stage_plan(con: duckdb.DuckDBPyConnection, src: Source, plan: Plan, table: str) -> tuple[int, int]:
    """Materialise the validation query into temp table ``table``; returns (rows, bad rows)."""
    # seq numbered from the row is computed by the view, not stored
    sql, p = _query(src, plan, ("seq",) if plan.seq_from_row else ())
    run(con, f"DROP TABLE IF EXISTS {table}")
    run(con, render("CREATE TEMP TABLE {t} AS {q}", t=table, q=sql), p)
    n, bad = con.execute(
        render("SELECT count(*), count(*) FILTER (WHERE __bad) FROM {t}", t=table)
    ).fetchall()[0]
    return int(n), int(bad)


def _staged_rejects(con: duckdb.DuckDBPyConnection, src: Source, table: str) -> pa.Table:
    """Reject rows (REJECT_SCHEMA) of the rows a staged validation flagged bad."""
    got = con.sql(
        render(
            """
            SELECT $f AS file, __r AS row, x.c AS "column", x.v AS value, x.r AS reason
            FROM (SELECT {row} AS __r,
                         unnest(from_json(s.__rej, '[{{"c":"VARCHAR","v":"VARCHAR","r":"VARCHAR"}}]')) AS x
                  FROM {t} s WHERE s.__bad)
            """,
            row=_row_sql(src),
            t=table,
        ),
        params={"f": src.file},
    ).to_arrow_table()
    return got.cast(model.REJECT_SCHEMA)


def _create_view(
    con: duckdb.DuckDBPyConnection, view: str, table: str, cols: list[str], drop: str | None, row: str
) -> None:
    keep = (
        render(" AND NOT EXISTS (SELECT 1 FROM {d} d WHERE d.__row = {row})", d=drop, row=row)
        if drop
        else ""
    )
    run(con, f"DROP VIEW IF EXISTS {view}")
    run(
        con,
        render(
            "CREATE TEMP VIEW {v} AS SELECT {cols} FROM {t} s WHERE NOT s.__bad{keep}",
            v=view,
            cols=", ".join(cols),
            t=table,
            keep=keep,
        ),
    )


def _stage_start(
    con: duckdb.DuckDBPyConnection, src: Source, plan: Plan, table: str
) -> tuple[int, int, str, list[pa.Table], str]:
    """The common first steps of :func:`stage_tickets` and :func:`stage_events`: validate the
    plan into ``table``; returns (rows, rows with a bad value, the row-number SQL, the rejects
    so far, the name of the cleared ``<table>_drop`` table for the rows a later check drops)."""
    n, n_bad = stage_plan(con, src, plan, table)
    parts = [_malformed(src)]
    if n_bad:
        parts.append(_staged_rejects(con, src, table))
    drop = f"{table}_drop"
    run(con, f"DROP TABLE IF EXISTS {drop}")
    return n, n_bad, _row_sql(src), parts, drop


def stage_tickets(
    con: duckdb.DuckDBPyConnection, src: Source, plan: Plan, table: str = "_dp_v_tickets"
) -> Staged:
    """Validate tickets into ``table``; duplicate ids are rejected as in :func:`validate_tickets`
    (latest updated_at wins, ties -> the later row). The valid rows are the view ``<table>_ok``."""
    n, n_bad, row, parts, drop = _stage_start(con, src, plan, table)
    run(
        con,
        render(
            """
            CREATE TEMP TABLE {drop} AS
            WITH v AS (SELECT s.ticket_id, s.updated_at, {row} AS __row FROM {t} s WHERE NOT s.__bad),
            d AS (SELECT ticket_id FROM v GROUP BY ticket_id HAVING count(*) > 1),
            ranked AS (
                SELECT v.__row, v.ticket_id, v.updated_at AS u,
                       row_number() OVER w AS rk, first_value(v.__row) OVER w AS kept_row,
                       first_value(v.updated_at) OVER w AS kept_u
                FROM v SEMI JOIN d ON v.ticket_id = d.ticket_id
                WINDOW w AS (PARTITION BY v.ticket_id ORDER BY v.updated_at DESC, v.__row DESC))
            SELECT __row, ticket_id, 'duplicate ticket_id: row ' || kept_row || ' is kept (' ||
                   CASE WHEN kept_u > u THEN 'later updated_at' ELSE 'same updated_at, later in the file' END
                   || ')' AS reason
            FROM ranked WHERE rk > 1
            """,
            drop=drop,
            row=row,
            t=table,
        ),
    )
    dups = con.sql(
        render(
            'SELECT $f AS file, __row AS row, $c AS "column", ticket_id AS value, reason '
            "FROM {drop} ORDER BY __row",
            drop=drop,
        ),
        params={"f": src.file, "c": plan.id_label},
    ).to_arrow_table()
    if dups.num_rows:
        parts.append(dups.cast(model.REJECT_SCHEMA))
    else:
        run(con, f"DROP TABLE {drop}")
    view = f"{table}_ok"
    _create_view(
        con, view, table, [f"s.{ident(c)}" for c in plan.outputs], drop if dups.num_rows else None, row
    )
    rejects = pa.concat_tables(parts)
    return Staged(table, view, src.file, n + len(src.malformed), n - n_bad - dups.num_rows, rejects)


def stage_events(
    con: duckdb.DuckDBPyConnection,
    src: Source,
    plan: Plan,
    ids_sql: str,
    ids_params: dict[str, object] | None = None,
    table: str = "_dp_v_events",
) -> Staged:
    """Validate events into ``table``; events whose ticket_id is not among ``ids_sql`` (SQL
    giving a ``ticket_id`` column: this import's valid tickets and the store's) are rejected,
    as in :func:`validate_events`. The valid rows, with ``seq``, are the view ``<table>_ok``."""
    n, n_bad, row, parts, drop = _stage_start(con, src, plan, table)
    stmt = render(
        """
        CREATE TEMP TABLE {drop} AS
        SELECT {row} AS __row, s.ticket_id, s.__bad FROM {t} s
        WHERE s.ticket_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM ({ids}) i WHERE i.ticket_id = s.ticket_id)
        """,
        drop=drop,
        row=row,
        t=table,
        ids=ids_sql,
    )
    if ids_params:
        con.execute(stmt, ids_params)
    else:
        con.execute(stmt)
    unknown = con.sql(
        render(
            'SELECT $f AS file, __row AS row, $c AS "column", ticket_id AS value, $r AS reason, '
            "__bad FROM {drop} ORDER BY __row",
            drop=drop,
        ),
        params={"f": src.file, "c": plan.id_label, "r": UNKNOWN_TICKET},
    ).to_arrow_table()
    dropped = 0
    if unknown.num_rows:
        parts.append(unknown.drop_columns(["__bad"]).cast(model.REJECT_SCHEMA))
        dropped = unknown.num_rows - int(pc.sum(unknown.column("__bad")).as_py() or 0)
    else:
        run(con, f"DROP TABLE {drop}")
    cols = [f"s.{ident(c)}" for c in plan.outputs if c != "seq"]
    cols.append(f"{row} - 1 AS seq" if plan.seq_from_row else "s.seq")
    _create_view(con, f"{table}_ok", table, cols, drop if unknown.num_rows else None, row)
    rejects = pa.concat_tables(parts)
    return Staged(
        table, f"{table}_ok", src.file, n + len(src.malformed), n - n_bad - dropped, rejects
    )
