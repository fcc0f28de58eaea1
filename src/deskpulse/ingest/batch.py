"""Run one import's read + validate half: files in, :class:`ImportBatch` out.

The one job of this module: orchestrate an import — check the arguments, open the private
in-memory DuckDB connection, load the files (readers), map their columns (mapping / presets),
validate (validate) and hand back Arrow tables plus rejects and warnings. It never prints and
touches no database but its own in-memory one.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from deskpulse import model
from deskpulse.errors import BadInputError, UsageError
from deskpulse.ingest.mapping import FileMapping, Mapping, check_tz, load_mapping, normalize_preset
from deskpulse.ingest.readers import Loader, Opened
from deskpulse.ingest.sql import ident
from deskpulse.ingest.validate import (
    Col,
    Validated,
    event_plan,
    ticket_plan,
    validate_events,
    validate_tickets,
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


@dataclass
class Tables:
    """What a pipeline produced."""

    tickets: Validated | None
    events: Validated | None
    sort_events: bool = False  # presets derive events out of order: sort them by seq


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
    known = None
    if known_ticket_ids is not None:
        arr = known_ticket_ids
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        known = arr if pa.types.is_string(arr.type) else arr.cast(pa.string())
    with tempfile.TemporaryDirectory(prefix="deskpulse-import-") as tmp:
        con = duckdb.connect(":memory:")
        try:
            con.execute("SET TimeZone = ?", [zone])
            con.execute("SET temp_directory = ?", [str(Path(tmp) / "spill")])
            con.execute("SET preserve_insertion_order = true")
            run = Run(
                con=con,
                tmpdir=Path(tmp),
                tz=zone,
                loader=Loader(con, Path(tmp), warnings),
                warnings=warnings,
                reporter=Reporter(progress, _stages(name, events_path is not None)),
                known=known,
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
            batch = _collect(tables, warnings)
            run.reporter.finish()
            return batch
        finally:
            con.close()


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
    opened: Opened, fm: FileMapping, canonical: tuple[str, ...], required: tuple[str, ...]
) -> tuple[dict[str, Col], list[tuple[str, str]]]:
    """Canonical column -> source, from the mapping's ``columns``/``constants`` or the header.

    Returns the sources and the file's columns nobody claimed, as (label, SQL) for ``extra``.
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
                cols[c] = Col(sql=f"r.{ident(phys[src])}", label=src)
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
        cols[c] = Col(sql=f"r.{ident(phys[src])}", label=src)
        used.add(src)
    unknown = [(label, f"r.{ident(name)}") for name, label in opened.columns if label not in used]
    return cols, unknown


def source_columns(opened: Opened) -> dict[str, str]:
    """Source column label -> SQL over ``r`` (for ``reject_values``)."""
    return {label: f"r.{ident(name)}" for name, label in opened.columns}


def _empty(v: Validated, file: str, path: Path) -> None:
    if v.rows_read == 0:
        raise BadInputError(
            f"{file}: empty file: no data rows", file=str(path), reason="empty file"
        )


def all_ticket_ids(run: Run, tickets: Validated | None) -> pa.Array:
    """Ids an event may reference: this import's valid tickets and the store's."""
    parts = []
    if tickets is not None:
        parts.append(tickets.table.column("ticket_id").combine_chunks())
    if run.known is not None:
        parts.append(run.known)
    if not parts:
        return pa.array([], pa.string())
    return pc.unique(pa.concat_arrays([a.cast(pa.string()) for a in parts]))


def _canonical(run: Run, tickets: Path, events: Path | None, m: Mapping, fmt: str | None) -> Tables:
    rep = run.reporter
    rep.stage("read tickets")
    opened_t = run.loader.open(
        tickets,
        "tickets",
        fmt=fmt or m.format,
        null_values=m.tickets.null_values,
        delimiter=m.tickets.delimiter,
    )
    rep.stage("validate tickets")

    def go_tickets(op: Opened) -> Validated:
        cols, unknown = resolve_columns(op, m.tickets, model.TICKET_COLUMNS, model.TICKET_REQUIRED)
        plan = ticket_plan(
            cols, m.tickets, run.tz, extra_columns=unknown, reject_cols=source_columns(op)
        )
        return validate_tickets(run.con, op.source, plan)

    res_t = with_retry(opened_t, go_tickets)
    _empty(res_t, opened_t.source.file, tickets)
    res_e = None
    if events is not None:
        rep.stage("read events")
        opened_e = run.loader.open(
            events,
            "events",
            fmt=fmt or m.format,
            null_values=m.events.null_values,
            delimiter=m.events.delimiter,
        )
        rep.stage("validate events")
        ids = all_ticket_ids(run, res_t)

        def go_events(op: Opened) -> Validated:
            cols, unknown = resolve_columns(
                op, m.events, (*model.EVENT_COLUMNS, "extra"), model.EVENT_REQUIRED
            )
            plan = event_plan(
                cols, m.events, run.tz, reject_cols=source_columns(op), extra_columns=unknown
            )
            return validate_events(run.con, op.source, plan, ids)

        res_e = with_retry(opened_e, go_events)
        _empty(res_e, opened_e.source.file, events)
    return Tables(res_t, res_e)


# --- results ----------------------------------------------------------------------------------------


def _sorted_rejects(t: pa.Table) -> pa.Table:
    if t.num_rows <= 1:
        return t
    return t.take(pc.sort_indices(t, sort_keys=[("row", "ascending"), ("column", "ascending")]))


def _collect(tables: Tables, warnings: list[str]) -> ImportBatch:
    tickets = events = None
    rejects = [model.REJECT_SCHEMA.empty_table()]
    rows: dict[str, int] = {"tickets": 0, "events": 0}
    if tables.tickets is not None:
        t = tables.tickets
        tickets = (
            t.table.sort_by("__row").select(list(model.TICKET_COLUMNS)).cast(model.TICKET_SCHEMA)
        )
        rejects.append(_sorted_rejects(t.rejects))
        rows["tickets"] = t.rows_read
    if tables.events is not None:
        e = tables.events
        ev = e.table.sort_by("seq") if tables.sort_events else e.table
        events = ev.select(EVENT_OUT_SCHEMA.names).cast(EVENT_OUT_SCHEMA)
        rejects.append(_sorted_rejects(e.rejects))
        rows["events"] = e.rows_read
    rej = pa.concat_tables([r.cast(model.REJECT_SCHEMA) for r in rejects])
    if rej.num_rows:
        log.info("import: %d reject rows", rej.num_rows)
    return ImportBatch(
        tickets=tickets, events=events, rejects=rej, rows_read=rows, warnings=warnings
    )
