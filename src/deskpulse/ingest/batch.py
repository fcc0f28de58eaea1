"""Run one import's read + validate half: files in, validated rows + rejects out.

The one job of this module: orchestrate an import — check the arguments, set up the DuckDB
connection it runs on, load the files (readers), map their columns (mapping / presets),
validate (validate) and hand back the valid rows plus rejects and warnings. ``read_import``
does it on a private in-memory connection and returns Arrow tables; ``staged_import`` does it
on a given connection (the store's own, for ``deskpulse import``) and leaves the valid rows of
canonical files there as temp views, so that they are written without being copied out. It
never prints and writes no table but its own temp tables, which it drops.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from deskpulse import model
from deskpulse.errors import BadInputError, UsageError
from deskpulse.ingest.mapping import FileMapping, Mapping, check_tz, load_mapping, normalize_preset
from deskpulse.ingest.readers import Loader, Opened
from deskpulse.ingest.sql import ident, render
from deskpulse.ingest.validate import (
    Col,
    Staged,
    Validated,
    event_plan,
    stage_events,
    stage_tickets,
    ticket_plan,
)

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

#: The events table handed back: the canonical columns, ``extra`` (JSON object text of the
#: file's unknown columns, or null) and ``seq`` (input order, 0-based).
EVENT_OUT_SCHEMA = pa.schema(
    [*model.EVENT_SCHEMA, pa.field("extra", pa.string()), pa.field("seq", pa.int64(), nullable=False)]
)

#: Header spellings accepted for a canonical column besides its own name (CONTRACT §1 a.k.a.).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {"category": ("type", "topic")}


@dataclass
class ImportBatch:
    """The validated content of one import, ready for the store."""

    tickets: pa.Table | None  # exactly model.TICKET_SCHEMA (validated, one row per ticket_id)
    events: pa.Table | None  # EVENT_OUT_SCHEMA: model.EVENT_SCHEMA, "extra", then "seq" = input order
    rejects: pa.Table  # model.REJECT_SCHEMA: file, row (1-based data row), column, value, reason
    rows_read: dict[str, int] = field(default_factory=dict)  # {"tickets": n, "events": m}
    warnings: list[str] = field(default_factory=list)


class Reporter:
    """Calls ``progress(stage, done, total)`` as stages start and when all are done."""

    def __init__(self, cb: Progress | None, stages: list[str]) -> None:
        self.cb = cb
        self.stages = stages
        self.done = 0
        self.t0 = time.perf_counter()

    def stage(self, name: str) -> None:
        log.debug(
            "%.2fs wall %.2fs cpu: %s", time.perf_counter() - self.t0, time.process_time(), name
        )
        if self.cb is not None:
            self.cb(name, self.done, len(self.stages))
        self.done += 1

    def finish(self) -> None:
        log.debug("%.2fs wall %.2fs cpu: done", time.perf_counter() - self.t0, time.process_time())
        if self.cb is not None:
            self.cb("done", len(self.stages), len(self.stages))


@dataclass
class Run:
    """Everything one import run shares: connection, temp dir, warnings, progress, known ids."""

    con: duckdb.DuckDBPyConnection
    tmpdir: Path
    tz: str
    loader: Loader
    warnings: list[str]
    reporter: Reporter
    known: pa.Array | None  # ids already in the store (string)
    #: the same as SQL on ``con`` (a query giving a ``ticket_id`` column, and its parameters)
    known_sql: tuple[str, dict[str, Any]] | None = None

    def known_ids(self) -> pa.Array | None:
        """The stored ids as Arrow (fetched through ``known_sql`` on first use)."""
        if self.known is None and self.known_sql is not None:
            sql, params = self.known_sql
            col = self.con.sql(sql, params=params or None).to_arrow_table().column(0)
            self.known = _as_string(col)
        return self.known


@dataclass
class Tables:
    """What a pipeline produced: Arrow tables (presets) or rows staged in temp tables."""

    tickets: Validated | Staged | None
    events: Validated | Staged | None
    sort_events: bool = False  # presets derive events out of order: sort them by seq


@dataclass
class StagedImport:
    """A validated import whose valid rows are still on the connection that read them.

    ``tickets`` / ``events`` are either Arrow tables (presets) or the names of temp views on
    that connection (canonical files: the rows were never copied out), with ``n_tickets`` /
    ``n_events`` valid rows. Views select exactly the columns of ``model.TICKET_SCHEMA`` and
    :data:`EVENT_OUT_SCHEMA`, in input order.
    """

    tickets: pa.Table | str | None
    events: pa.Table | str | None
    n_tickets: int
    n_events: int
    rejects: pa.Table
    rows_read: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


T = TypeVar("T")


def with_retry(opened: Opened, fn: Callable[[Opened], T]) -> T:
    """Run ``fn`` on an opened file; on a CSV read error let the reader recover and run again."""
    while True:
        try:
            return fn(opened)
        except duckdb.Error as exc:
            msg = str(exc).lower()
            if opened.retry is None or not ("csv" in msg or "unicode" in msg):
                raise
            opened = opened.retry(exc)


def read_import(
    tickets_path: Path,
    events_path: Path | None = None,
    *,
    fmt: str | None = None,
    mapping: Path | None = None,
    preset: str | None = None,
    tz: str = "UTC",
    known_ticket_ids: pa.Array | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> ImportBatch:
    """Read and validate an import (CONTRACT §1, §5); see docs/import.md.

    ``tickets_path`` / ``events_path``: the canonical tickets and events files (CSV, ``.csv.gz``,
    Parquet or JSON Lines; ``fmt`` overrides the extension), or the preset's inputs (Zendesk
    export files/folders/globs; the event-log file as ``tickets_path`` with no events file).
    ``mapping``: a mapping YAML (mapping.py). ``preset``: ``zendesk`` or ``event-log`` (or from
    the mapping). ``tz``: IANA zone for timestamps without an offset (a mapping's ``tz`` wins).
    ``known_ticket_ids``: ids already stored for this tenant (events may reference them).
    ``progress(stage, done, total)``: called as each stage starts and once at the end.
    Raises UsageError (bad arguments), ConfigError (bad mapping), BadInputError (bad file).

    Runs in a private in-memory DuckDB connection and returns Arrow tables; the import itself
    (:func:`deskpulse.pipeline.import_files`) uses :func:`staged_import` on the store's own
    connection instead, so that the valid rows are never copied out.
    """
    with tempfile.TemporaryDirectory(prefix="deskpulse-spill-") as spill:
        con = duckdb.connect(":memory:")
        try:
            con.execute("SET temp_directory = ?", [spill])
            with staged_import(
                con,
                tickets_path,
                events_path,
                fmt=fmt,
                mapping=mapping,
                preset=preset,
                tz=tz,
                known_ticket_ids=known_ticket_ids,
                progress=progress,
            ) as st:
                tickets = fetch_table(con, st.tickets, model.TICKET_SCHEMA)
                events = fetch_table(con, st.events, EVENT_OUT_SCHEMA)
                return ImportBatch(tickets, events, st.rejects, st.rows_read, st.warnings)
        finally:
            con.close()


def fetch_table(
    con: duckdb.DuckDBPyConnection, data: pa.Table | str | None, schema: pa.Schema
) -> pa.Table | None:
    if data is None or isinstance(data, pa.Table):
        return data
    """An import's valid rows as Arrow: ``data`` itself, or the temp view it names on ``con``."""
    return con.sql(render("SELECT * FROM {v}", v=data)).to_arrow_table().cast(schema)


def _as_string(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return arr if pa.types.is_string(arr.type) else arr.cast(pa.string())


#: Settings an import needs on the connection it runs on; restored afterwards.
_SESSION = {"preserve_insertion_order": "true", "enable_progress_bar": "false"}


@contextmanager
def _session(con: duckdb.DuckDBPyConnection, zone: str) -> Iterator[None]:
    """Time zone of the import, file-order temp tables and no progress bar (DuckDB would draw
    it on stdout); the connection's own values come back afterwards."""
    names = ["TimeZone", *_SESSION]
    old = con.execute(
        "SELECT " + ", ".join(f"current_setting('{n}')" for n in names)
    ).fetchall()[0]
    con.execute("SET TimeZone = ?", [zone])
    for name, value in _SESSION.items():
        con.execute(f"SET {name} = {value}")
    try:
        yield
    finally:
        with suppress(duckdb.Error):
            con.execute("SET TimeZone = ?", [str(old[0])])
            for name, value in zip(_SESSION, old[1:], strict=True):
                con.execute(f"SET {name} = {'true' if value else 'false'}")


def _temp_objects(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    rows = con.execute(
        "SELECT 'VIEW', view_name FROM duckdb_views() WHERE temporary AND NOT internal "
        "UNION ALL SELECT 'TABLE', table_name FROM duckdb_tables() WHERE temporary"
    ).fetchall()
    return {(str(k), str(n)) for k, n in rows}


@contextmanager
def staged_import(
    con: duckdb.DuckDBPyConnection,
    tickets_path: Path,
    events_path: Path | None = None,
    *,
    fmt: str | None = None,
    mapping: Path | None = None,
    preset: str | None = None,
    tz: str = "UTC",
    known_ticket_ids: pa.Array | None = None,
    known_sql: tuple[str, dict[str, Any]] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Iterator[StagedImport]:
    """Read and validate an import on ``con``, leaving canonical files' valid rows in temp
    views of ``con`` for the caller to write; every temp table and view made here is dropped
    on exit. Arguments as :func:`read_import`; the stored ids come either as Arrow
    (``known_ticket_ids``) or as SQL on ``con`` (``known_sql``: a query giving ``ticket_id``,
    and its parameters). ``con`` must not be inside a transaction (a failed CSV scan is retried).
    """
    if not isinstance(tz, str) or not check_tz(tz):
        raise UsageError(f"unknown time zone {tz!r}: use an IANA name such as Europe/Berlin", tz=tz)
    m = load_mapping(Path(mapping)) if mapping is not None else Mapping()
    name = None
    if preset is not None:
        name = normalize_preset(preset)
        if name is None:
            raise UsageError(f"unknown preset {preset!r}: use zendesk or event-log", preset=preset)
        if m.preset is not None and m.preset != name:
            raise UsageError(
                f"--preset {name} contradicts preset: {m.preset} in {m.label}", preset=preset
            )
    name = name or m.preset
    if fmt is not None and fmt.strip().lower() not in ("csv", "parquet", "jsonl", "json", "ndjson"):
        raise UsageError(f"unknown format {fmt!r}: use csv, parquet or jsonl", format=fmt)
    zone = m.tz or tz
    if name == "event-log" and events_path is not None:
        raise UsageError("the event-log preset derives events from one file: give no events file")

    warnings: list[str] = []
    known = _as_string(known_ticket_ids) if known_ticket_ids is not None else None
    before = _temp_objects(con)
    try:
        with tempfile.TemporaryDirectory(prefix="deskpulse-import-") as tmp, _session(con, zone):
            run = Run(
                con=con,
                tmpdir=Path(tmp),
                tz=zone,
                loader=Loader(con, Path(tmp), warnings, tz=zone),
                warnings=warnings,
                reporter=Reporter(progress, _stages(name, events_path is not None)),
                known=known,
                known_sql=known_sql,
            )
            if name == "zendesk":
                from deskpulse.ingest.presets import zendesk

                tables = zendesk.run(run, Path(tickets_path), _opt(events_path), m)
            elif name == "event-log":
                from deskpulse.ingest.presets import eventlog

                tables = eventlog.run(run, Path(tickets_path), m, fmt)
            else:
                tables = _canonical(run, Path(tickets_path), _opt(events_path), m, fmt)
            run.reporter.stage("collect")
            staged = _collect(tables, warnings)
            run.reporter.finish()
        yield staged
    finally:
        for kind, obj in sorted(_temp_objects(con) - before, key=lambda o: o[0] != "VIEW"):
            with suppress(duckdb.Error):  # an aborted transaction refuses; its rollback cleans up
                con.execute(f"DROP {kind} IF EXISTS {ident(obj)}")


def _opt(p: Path | None) -> Path | None:
    return Path(p) if p is not None else None


def _stages(preset: str | None, has_events: bool) -> list[str]:
    if preset == "event-log":
        return [
            "read event log",
            "validate rows",
            "derive events",
            "validate tickets",
            "validate events",
            "collect",
        ]
    if preset == "zendesk":
        base = ["read tickets", "validate tickets"]
        return base + (["read events", "validate events"] if has_events else []) + ["collect"]
    base = ["read tickets", "validate tickets"]
    return base + (["read events", "validate events"] if has_events else []) + ["collect"]


# --- canonical files ------------------------------------------------------------------------------


def _norm_header(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def resolve_columns(
    opened: Opened,
    fm: FileMapping,
    canonical: tuple[str, ...],
    required: tuple[str, ...],
    *,
    timestamps: tuple[str, ...] = (),
) -> tuple[dict[str, Col], list[tuple[str, str]]]:
    """Canonical column -> source, from the mapping's ``columns``/``constants`` or the header.

    Returns the sources and the file's columns nobody claimed, as (label, SQL) for ``extra``.
    A typed source's timestamp columns feed the canonical ``timestamps`` natively (no text).
    """
    file = opened.source.file
    phys = dict((label, name) for name, label in reversed(opened.columns))
    labels = [label for _, label in opened.columns]
    by_fold: dict[str, str] = {}
    by_norm: dict[str, str] = {}
    for c in labels:
        by_fold.setdefault(c.lower(), c)
        by_norm.setdefault(_norm_header(c), c)
    cols: dict[str, Col] = {}
    used: set[str] = set()
    for c in canonical:
        src: str | None = None
        if c == "extra":  # a re-imported export: its extra object is merged, not nested
            src = by_fold.get("extra")
            if src is not None:
                cols[c] = Col(sql=opened.text_sql(phys[src]), label=src)
                used.add(src)
            continue
        if c in fm.columns:
            want = fm.columns[c]
            src = want if want in phys else by_fold.get(want.strip().lower())
            if src is None:
                reason = "missing required column" if c in required else "missing mapped column"
                raise BadInputError(
                    f"{file}: missing required column {want!r} (mapped to {c})"
                    if c in required
                    else f"{file}: the mapping names column {want!r} for {c}, but the file has no such column",
                    file=file,
                    column=want,
                    reason=reason,
                )
        elif c in fm.constants:
            cols[c] = Col(sql="", label=c, const=fm.constants[c])
            continue
        else:
            src = c if c in phys else by_fold.get(c) or by_norm.get(c)
            for alt in HEADER_ALIASES.get(c, ()):
                if src is None and alt in by_norm and by_norm[alt] not in used:
                    src = by_norm[alt]
        if src is None:
            if c in required:
                raise BadInputError(
                    f"{file}: missing required column {c!r}",
                    file=file,
                    column=c,
                    reason="missing required column",
                )
            continue
        native = opened.native.get(phys[src]) if c in timestamps else None
        if native is not None:
            cols[c] = Col(sql=f"r.{ident(phys[src])}", label=src, native=native)
        else:
            cols[c] = Col(sql=opened.text_sql(phys[src]), label=src)
        used.add(src)
    unknown = [(label, opened.text_sql(name)) for name, label in opened.columns if label not in used]
    return cols, unknown


def source_columns(opened: Opened) -> dict[str, str]:
    """Source column label -> SQL over ``r`` (for ``reject_values``)."""
    return {label: opened.text_sql(name) for name, label in opened.columns}


def _empty(rows_read: int, file: str, path: Path) -> None:
    if rows_read == 0:
        raise BadInputError(
            f"{file}: empty file: no data rows", file=str(path), reason="empty file"
        )


def all_ticket_ids(run: Run, tickets: Validated | None) -> pa.Array:
    """Ids an event may reference: this import's valid tickets and the store's."""
    parts = []
    if tickets is not None:
        parts.append(tickets.table.column("ticket_id").combine_chunks())
    known = run.known_ids()
    if known is not None:
        parts.append(known)
    if not parts:
        return pa.array([], pa.string())
    return pc.unique(pa.concat_arrays([a.cast(pa.string()) for a in parts]))


def _ids_sql(run: Run, tickets: Staged) -> tuple[str, dict[str, Any]]:
    """SQL on ``run.con`` giving every ticket_id an event may reference."""
    ours = render("SELECT ticket_id FROM {v}", v=tickets.view)
    if run.known_sql is not None:
        sql, params = run.known_sql
        return render("{ours} UNION ALL {known}", ours=ours, known=sql), dict(params)
    if run.known is not None and len(run.known):
        run.con.register("_dp_known_ids", pa.table({"ticket_id": run.known}))
        return render("{ours} UNION ALL SELECT ticket_id FROM _dp_known_ids", ours=ours), {}
    return ours, {}


def _canonical(run: Run, tickets: Path, events: Path | None, m: Mapping, fmt: str | None) -> Tables:
    rep = run.reporter
    rep.stage("read tickets")
    opened_t = run.loader.open(
        tickets,
        "tickets",
        fmt=fmt or m.format,
        null_values=m.tickets.null_values,
        delimiter=m.tickets.delimiter,
        typed=True,
    )
    rep.stage("validate tickets")

    def go_tickets(op: Opened) -> Staged:
        cols, unknown = resolve_columns(
            op, m.tickets, model.TICKET_COLUMNS, model.TICKET_REQUIRED, timestamps=model.TICKET_TIMESTAMPS
        )
        plan = ticket_plan(
            cols, m.tickets, run.tz, extra_columns=unknown, reject_cols=source_columns(op)
        )
        return stage_tickets(run.con, op.source, plan)

    res_t = with_retry(opened_t, go_tickets)
    _empty(res_t.rows_read, opened_t.source.file, tickets)
    res_e = None
    if events is not None:
        rep.stage("read events")
        opened_e = run.loader.open(
            events,
            "events",
            fmt=fmt or m.format,
            null_values=m.events.null_values,
            delimiter=m.events.delimiter,
            typed=True,
        )
        rep.stage("validate events")
        ids_sql, ids_params = _ids_sql(run, res_t)

        def go_events(op: Opened) -> Staged:
            cols, unknown = resolve_columns(
                op, m.events, (*model.EVENT_COLUMNS, "extra"), model.EVENT_REQUIRED, timestamps=("event_at",)
            )
            plan = event_plan(
                cols, m.events, run.tz, reject_cols=source_columns(op), extra_columns=unknown
            )
            return stage_events(run.con, op.source, plan, ids_sql, ids_params)

        res_e = with_retry(opened_e, go_events)
        _empty(res_e.rows_read, opened_e.source.file, events)
    return Tables(res_t, res_e)


# --- results ----------------------------------------------------------------------------------------


def _sorted_rejects(t: pa.Table) -> pa.Table:
    if t.num_rows <= 1:
        return t
    return t.take(pc.sort_indices(t, sort_keys=[("row", "ascending"), ("column", "ascending")]))


def _collect(tables: Tables, warnings: list[str]) -> StagedImport:
    tickets: pa.Table | str | None = None
    events: pa.Table | str | None = None
    n_tickets = n_events = 0
    rejects = [model.REJECT_SCHEMA.empty_table()]
    rows: dict[str, int] = {"tickets": 0, "events": 0}
    t = tables.tickets
    if isinstance(t, Staged):
        tickets, n_tickets = t.view, t.valid
    elif t is not None:
        tt = t.table.sort_by("__row").select(list(model.TICKET_COLUMNS)).cast(model.TICKET_SCHEMA)
        tickets, n_tickets = tt, tt.num_rows
    if t is not None:
        rejects.append(_sorted_rejects(t.rejects))
        rows["tickets"] = t.rows_read
    e = tables.events
    if isinstance(e, Staged):
        events, n_events = e.view, e.valid
    elif e is not None:
        ev = e.table.sort_by("seq") if tables.sort_events else e.table
        et = ev.select(EVENT_OUT_SCHEMA.names).cast(EVENT_OUT_SCHEMA)
        events, n_events = et, et.num_rows
    if e is not None:
        rejects.append(_sorted_rejects(e.rejects))
        rows["events"] = e.rows_read
    rej = pa.concat_tables([r.cast(model.REJECT_SCHEMA) for r in rejects])
    if rej.num_rows:
        log.info("import: %d reject rows", rej.num_rows)
    return StagedImport(tickets, events, n_tickets, n_events, rej, rows, warnings)
