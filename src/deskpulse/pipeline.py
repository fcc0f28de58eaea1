"""The library's top-level operations: import files, add a ticket, export tables.

These functions are what the CLI, the HTTP API and the scheduler call; they hold no
presentation logic. Each takes a tenant-bound :class:`~deskpulse.store.TenantStore`.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from deskpulse.errors import BadInputError, UsageError
from deskpulse.instants import utcnow as utcnow  # re-exported: deskpulse.pipeline.utcnow
from deskpulse.store import TenantStore
from deskpulse.store.schema import EXPORTABLE

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]



@dataclass
class ImportSummary:
    """What one import did: the figures the CLI prints and the import log keeps."""

    tickets_read: int = 0
    events_read: int = 0
    tickets_inserted: int = 0
    tickets_updated: int = 0
    tickets_unchanged: int = 0
    events_inserted: int = 0
    events_unchanged: int = 0
    rejected: int = 0
    seconds: float = 0.0
    rejects_file: str | None = None
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_rejects(rejects: pa.Table, path: Path) -> None:
    """Write the rejects table (file, row, column, value, reason) as CSV or by extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(rejects, path)
    elif path.suffix in (".jsonl", ".json"):
        with path.open("w", encoding="utf-8") as fh:
            for row in rejects.to_pylist():
                fh.write(json.dumps(row, default=str) + "\n")
    else:
        import pyarrow.csv as pacsv

        pacsv.write_csv(rejects, path)


def import_files(
    repo: TenantStore,
    tickets_path: Path,
    events_path: Path | None = None,
    *,
    fmt: str | None = None,
    mapping: Path | None = None,
    preset: str | None = None,
    tz: str = "UTC",
    strict: bool = False,
    rejects_path: Path | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    """Validate and load a tickets file (and optionally an events file) in one transaction.

    Rows that fail validation go to the rejects file; with ``strict`` any reject fails the
    run before anything is written. Re-importing the same files changes nothing.

    On a DuckDB store the files are read and validated on the store's own connection, into
    temp tables, and written from there (:meth:`TenantStore.import_connection`): the valid rows
    are never copied out as Arrow. On PostgreSQL they are validated in a private in-memory
    DuckDB and written as Arrow.
    """
    import duckdb

    from deskpulse.ingest.batch import EVENT_OUT_SCHEMA, fetch_table, staged_import
    from deskpulse.model import TICKET_SCHEMA

    started = time.perf_counter()
    with ExitStack() as stack:
        con = stack.enter_context(repo.import_connection())
        in_store = con is not None
        known_sql = known_ids = None
        if con is not None:
            known_sql = (
                "SELECT ticket_id FROM tickets WHERE tenant_id = $tenant",
                {"tenant": repo.tenant_id},
            )
        else:
            spill = stack.enter_context(tempfile.TemporaryDirectory(prefix="deskpulse-spill-"))
            con = duckdb.connect(":memory:")
            stack.callback(con.close)
            con.execute("SET temp_directory = ?", [spill])
            known_ids = repo.ticket_ids()
        batch = stack.enter_context(
            staged_import(
                con,
                Path(tickets_path),
                Path(events_path) if events_path else None,
                fmt=fmt,
                mapping=Path(mapping) if mapping else None,
                preset=preset,
                tz=tz,
                known_ticket_ids=known_ids,
                known_sql=known_sql,
                progress=progress,
            )
        )
        summary = ImportSummary(
            tickets_read=batch.rows_read.get("tickets", 0),
            events_read=batch.rows_read.get("events", 0),
            rejected=batch.rejects.num_rows,
            warnings=list(batch.warnings),
        )
        if batch.rejects.num_rows:
            target = rejects_path or Path(str(tickets_path) + ".rejects.csv")
            write_rejects(batch.rejects, target)
            summary.rejects_file = str(target)
            if strict:
                first = batch.rejects.slice(0, 1).to_pylist()[0]
                raise BadInputError(
                    f"{batch.rejects.num_rows} row(s) rejected and --strict is set; nothing was "
                    f"written. First: {first['file']} row {first['row']} column {first['column']}: "
                    f"{first['reason']} (all rejects in {target})",
                    rejects_file=str(target),
                    rejected=batch.rejects.num_rows,
                )
        loaded_at = utcnow()
        with repo.store.transaction():
            if batch.tickets is not None:
                if progress:
                    progress("store tickets", 0, batch.n_tickets)
                if isinstance(batch.tickets, str) and in_store:
                    counts = repo.upsert_tickets_from(batch.tickets, loaded_at)
                else:
                    tickets = fetch_table(con, batch.tickets, TICKET_SCHEMA)
                    counts = repo.upsert_tickets(tickets, loaded_at)
                summary.tickets_inserted = counts.inserted
                summary.tickets_updated = counts.updated
                summary.tickets_unchanged = counts.unchanged
            if batch.events is not None:
                if progress:
                    progress("store events", 0, batch.n_events)
                if isinstance(batch.events, str) and in_store:
                    ev = repo.insert_events_from(batch.events, batch.n_events, loaded_at)
                else:
                    events = fetch_table(con, batch.events, EVENT_OUT_SCHEMA)
                    ev = repo.insert_events(events, loaded_at)
                summary.events_inserted = ev.inserted
                summary.events_unchanged = ev.unchanged
            summary.seconds = round(time.perf_counter() - started, 3)
            repo.store.execute(
                "INSERT INTO import_log (tenant_id, import_id, started_at, finished_at, source,"
                " status, summary) VALUES ($tenant, $id, $started, $finished, $source, 'ok',"
                " $summary)",
                {
                    "tenant": repo.tenant_id,
                    "id": uuid.uuid4().hex,
                    "started": loaded_at,
                    "finished": utcnow(),
                    "source": str(tickets_path) + (f" + {events_path}" if events_path else ""),
                    "summary": json.dumps(summary.as_dict()),
                },
            )
    # issue 7: imported tickets get urgency/sentiment/requires_action/classified_by (sync rules)
    from deskpulse.ingest.sync.reclassify import classify_imported

    if progress:
        progress("classify tickets", 0, summary.tickets_inserted + summary.tickets_updated)

    classify_imported(repo, loaded_at)
    log.info("import %s: %s", tickets_path, summary)
    return summary


def export_table(repo: TenantStore, table: str, fmt: str, out: Path) -> int:
    """Write one table of this tenant to ``out`` (csv, parquet, xlsx, jsonl); returns rows.

    Timestamps are written as UTC ISO 8601 with ``Z`` (CONTRACT §4).
    """
    if table not in EXPORTABLE:
        raise UsageError(f"unknown table {table!r}; choose one of: {', '.join(EXPORTABLE)}")
    columns = EXPORTABLE[table]
    select = ", ".join(f'"{c}"' for c in columns)
    order = {
        "tickets": "ticket_id",
        "ticket_events": "seq",
        "ticket_metrics": "ticket_id",
        "ticket_sla": "ticket_id, metric, instance",
        "ticket_segments": "ticket_id, segment",
        "backlog_daily": "date, dimension, value",
    }[table]
    data = repo.query(f"SELECT {select} FROM {table} ORDER BY {order}")  # noqa: S608 - fixed names
    write_table(data, fmt, out)
    return int(data.num_rows)


def _iso_utc(data: pa.Table) -> pa.Table:
    """Render timestamp columns as ``YYYY-MM-DDTHH:MM:SSZ`` strings for text formats."""
    import pyarrow.compute as pc

    for i, f in enumerate(data.schema):
        if pa.types.is_timestamp(f.type):
            whole = pc.cast(data.column(i), pa.timestamp("s"), safe=False)
            col = pc.strftime(whole, format="%Y-%m-%dT%H:%M:%SZ")
            data = data.set_column(i, f.name, col)
    return data


def write_table(data: pa.Table, fmt: str, out: Path) -> None:
    """Write an Arrow table as csv, parquet, xlsx or jsonl."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(data, out)
    elif fmt == "csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(_iso_utc(data), out, pacsv.WriteOptions(quoting_style="needed"))
    elif fmt == "jsonl":
        rows = _iso_utc(data).to_pylist()
        with out.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    elif fmt == "xlsx":
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet(out.stem[:31] or "data")
        ws.append(list(data.column_names))
        for row in _iso_utc(data).to_pylist():
            ws.append([row[c] for c in data.column_names])
        wb.save(out)
    else:
        raise UsageError(f"unknown format {fmt!r}; choose csv, parquet, xlsx or jsonl")
