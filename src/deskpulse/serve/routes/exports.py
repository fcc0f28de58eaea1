"""``GET /api/v1/export/{table}?format=csv|xlsx``: one of the tenant's tables, streamed.

The table is read in keyset chunks of :data:`CHUNK_ROWS` rows (ordered by its key, the same
order as ``deskpulse export``), so memory stays bounded whatever the table's size and other
requests interleave between chunks. CSV goes out chunk by chunk, byte-identical to
``deskpulse export TABLE --format csv`` (UTC timestamps with ``Z``). XLSX cannot be written
incrementally to a socket (a zip with a central directory), so the workbook is built in a
spooled temporary file (memory up to 16 MiB, then disk) and streamed from there; sheets hold
at most 1,048,575 data rows, so larger tables answer 400 and should be exported as CSV.
The first chunk is read before the response starts: a failing store still answers with the
error shape. Rows are the caller's tenant's only (``TenantStore``).
"""

from __future__ import annotations

import enum
import io
import logging
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.csv as pacsv
from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from deskpulse.errors import UsageError
from deskpulse.pipeline import _iso_utc  # the CLI export's timestamp rendering, shared on purpose
from deskpulse.serve.deps import ReadRepo
from deskpulse.serve.routes._shared import ERROR_RESPONSES, quoted
from deskpulse.store import TenantStore
from deskpulse.store.schema import EXPORTABLE

log = logging.getLogger(__name__)
router = APIRouter(tags=["export"], responses=ERROR_RESPONSES)

CHUNK_ROWS = 20_000
XLSX_MAX_ROWS = 1_048_575
_STREAM_BYTES = 64 * 1024

#: Each table's key: the export order and the keyset of its chunks.
KEYS: dict[str, tuple[str, ...]] = {
    "tickets": ("ticket_id",),
    "ticket_events": ("seq",),
    "ticket_metrics": ("ticket_id",),
    "ticket_sla": ("ticket_id", "metric", "instance"),
    "ticket_segments": ("ticket_id", "segment"),
    "backlog_daily": ("date", "dimension", "value"),
}


class ExportTable(enum.StrEnum):
    tickets = "tickets"
    ticket_events = "ticket_events"
    ticket_metrics = "ticket_metrics"
    ticket_sla = "ticket_sla"
    ticket_segments = "ticket_segments"
    backlog_daily = "backlog_daily"


class ExportFormat(enum.StrEnum):
    csv = "csv"
    xlsx = "xlsx"


def iter_chunks(repo: TenantStore, table: str, chunk_rows: int | None = None) -> Iterator[pa.Table]:
    """The tenant's rows of ``table`` in key order, ``chunk_rows`` at a time (at least one,
    possibly empty, chunk: it carries the columns)."""
    size = chunk_rows or CHUNK_ROWS
    columns = list(EXPORTABLE[table])
    key = KEYS[table]
    select = quoted([*columns, *(k for k in key if k not in columns)])
    order = quoted(key)
    after: tuple[Any, ...] | None = None
    while True:
        params: dict[str, Any] = {"chunk": size}
        where = "TRUE"
        if after is not None:
            where = f"({order}) > ({', '.join(f'$k{i}' for i in range(len(key)))})"
            params.update({f"k{i}": v for i, v in enumerate(after)})
        data = repo.query(
            f"SELECT {select} FROM {table} WHERE {where} ORDER BY {order} LIMIT $chunk",  # noqa: S608 - schema names
            **params,
        )
        if data.num_rows or after is None:
            yield data.select(columns)
        if data.num_rows < size:
            return
        after = tuple(data.column(k)[data.num_rows - 1].as_py() for k in key)


def _csv(chunks: Iterator[pa.Table]) -> Iterator[bytes]:
    header = True
    for chunk in chunks:
        buf = io.BytesIO()
        pacsv.write_csv(_iso_utc(chunk), buf,
                        pacsv.WriteOptions(include_header=header, quoting_style="needed"))
        header = False
        yield buf.getvalue()


def _xlsx(table: str, chunks: Iterator[pa.Table]) -> Iterator[bytes]:
    from openpyxl import Workbook

    with tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024) as tmp:
        wb = Workbook(write_only=True)
        ws = wb.create_sheet(table[:31])
        first = True
        for chunk in chunks:
            if first:
                ws.append(list(chunk.column_names))
                first = False
            names = chunk.column_names
            for row in _iso_utc(chunk).to_pylist():
                ws.append([row[c] for c in names])
        wb.save(tmp)
        tmp.seek(0)
        while block := tmp.read(_STREAM_BYTES):
            yield block


def _logged(stream: Iterator[bytes], table: str) -> Iterator[bytes]:
    try:
        yield from stream
    except Exception:  # the status line is gone: log and cut the response short
        log.exception("export of %s failed while streaming", table)
        raise


@router.get(
    "/export/{table}",
    summary="Export a table (streamed)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}},
                     "description": "The table's rows of the caller's tenant."}},
)
def export_table(
    repo: ReadRepo,
    table: ExportTable,
    format: Annotated[ExportFormat, Query(description="csv (streamed by chunks) or xlsx.")] = ExportFormat.csv,
) -> StreamingResponse:
    """Stream one of the tenant's tables as CSV or XLSX, in the order ``deskpulse export`` uses."""
    name = table.value
    if format is ExportFormat.xlsx and repo.count(name) > XLSX_MAX_ROWS:
        raise UsageError(f"{name} has more rows than an XLSX sheet holds; export it as csv", table=name)
    chunks = iter_chunks(repo, name)
    first = next(chunks)  # errors here still get the error shape

    def all_chunks() -> Iterator[pa.Table]:
        yield first
        yield from chunks

    if format is ExportFormat.csv:
        body, media = _csv(all_chunks()), "text/csv; charset=utf-8"
    else:
        body, media = _xlsx(name, all_chunks()), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return StreamingResponse(_logged(body, name), media_type=media,
                             headers={"Content-Disposition": f'attachment; filename="{name}.{format.value}"'})


# --- results of the analytics library (metric endpoints: ?format=csv|xlsx) ----------------------

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cell(value: Any) -> Any:
    """A value for a CSV/XLSX cell: instants as ``…Z``, lists space separated, dicts as k=v."""
    import datetime as dt
    import math

    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _columns(rows: Iterable[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def _csv_value(value: Any) -> Any:
    v = _cell(value)
    return "" if v is None else ("true" if v is True else "false" if v is False else v)


def _rows_csv(rows: Iterable[dict[str, Any]], columns: list[str] | None = None, chunk: int = 1000) -> Iterator[bytes]:
    """CSV of ``rows`` (header = ``columns``, else the keys of a list's rows), yielded by chunks."""
    import csv

    if columns is None:
        rows = list(rows)
        columns = _columns(rows)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for i, row in enumerate(rows, 1):
        writer.writerow([_csv_value(row.get(c)) for c in columns])
        if i % chunk == 0:
            yield buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode()


def stream_rows(name: str, columns: list[str], rows: Iterable[dict[str, Any]], fmt: ExportFormat) -> StreamingResponse:
    """A long list (read lazily, page by page, by ``rows``) as a streamed CSV or XLSX download."""
    if fmt is ExportFormat.csv:
        return StreamingResponse(_logged(_rows_csv(rows, columns), name), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})

    def limited() -> Iterator[dict[str, Any]]:
        for i, row in enumerate(rows):
            if i >= XLSX_MAX_ROWS:
                raise UsageError(f"{name} has more rows than an XLSX sheet holds; export it as csv")
            yield row

    return StreamingResponse(_logged(_rows_xlsx([(name, limited())], {name: columns}), name), media_type=XLSX_MIME,
                             headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})


def _rows_xlsx(tables: Sequence[tuple[str, Iterable[dict[str, Any]]]],
               columns_of: dict[str, list[str]] | None = None) -> Iterator[bytes]:
    from openpyxl import Workbook

    with tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024) as tmp:
        wb = Workbook(write_only=True)
        for name, rows in tables:
            ws = wb.create_sheet(name[:31])
            if columns_of and name in columns_of:
                columns = columns_of[name]
            else:
                rows = list(rows)
                columns = _columns(rows)
            ws.append(columns)
            for row in rows:
                ws.append([_cell(row.get(c)) for c in columns])
        wb.save(tmp)
        tmp.seek(0)
        while block := tmp.read(_STREAM_BYTES):
            yield block


def rows_response(name: str, tables: list[tuple[str, list[dict[str, Any]]]], fmt: str,
                  table: str | None = None) -> StreamingResponse:
    """A result's tables as a streamed download: CSV (one table: ``table`` or the first, header
    = the row keys) or XLSX (one sheet per table). Rows beyond a sheet's capacity answer 400."""
    if not tables:
        raise UsageError(f"{name} has no table to export")
    if fmt == ExportFormat.csv:
        names = [t for t, _ in tables]
        chosen = table or names[0]
        if chosen not in names:
            raise UsageError(f"{name} has no table {chosen!r}; use {', '.join(names)}", table=chosen)
        rows = dict(tables)[chosen]
        filename = f"{name}.csv" if len(tables) == 1 else f"{name}_{chosen}.csv"
        return StreamingResponse(_logged(_rows_csv(rows), name), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    if any(len(rows) > XLSX_MAX_ROWS for _, rows in tables):
        raise UsageError(f"{name} has more rows than an XLSX sheet holds; export it as csv")
    return StreamingResponse(_logged(_rows_xlsx(list(tables)), name), media_type=XLSX_MIME,
                             headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
