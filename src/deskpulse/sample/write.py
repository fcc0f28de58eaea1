"""Turning coded arrays into the contract's files: CSV (ISO 8601 ``Z`` strings) or Parquet.

Strings are built column-wise: timestamps and ids as fixed-width byte matrices wrapped in Arrow
string arrays, enum values with ``pyarrow.compute.take`` from small dictionaries. Events are
converted and written in chunks so memory stays flat on millions of rows.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from numpy.typing import NDArray

from deskpulse.sample.clock import NEVER_AT

I64 = NDArray[np.int64]
DAY = 86400
EVENT_CHUNK_ROWS = 1 << 20

_TIME_OF_DAY = np.frombuffer(
    "".join(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z" for s in range(DAY)).encode(),
    dtype=np.uint8,
).reshape(DAY, 9)


def _validity(valid: NDArray[np.bool_] | None) -> pa.Buffer | None:
    if valid is None or bool(valid.all()):
        return None
    return pa.py_buffer(np.packbits(valid, bitorder="little"))


def _fixed_width_strings(matrix: NDArray[np.uint8], valid: NDArray[np.bool_] | None) -> pa.Array:
    """An Arrow string array whose i-th value is row i of a (n, width) byte matrix."""
    n, width = matrix.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    null_count = 0 if valid is None else int(n - valid.sum())
    return pa.Array.from_buffers(
        pa.string(), n,
        [_validity(valid), pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(matrix))],
        null_count=null_count,
    )


def iso_utc(at: I64, valid: NDArray[np.bool_] | None = None) -> pa.Array:
    """``YYYY-MM-DDTHH:MM:SSZ`` strings of epoch seconds (invalid rows become nulls)."""
    at = np.asarray(at, dtype=np.int64)
    if len(at) == 0:
        return pa.array([], pa.string())
    safe = at if valid is None else np.where(valid, at, at[valid][0] if valid.any() else 0)
    day = safe // DAY
    first = int(day.min())
    dates = [
        (dt.date(1970, 1, 1) + dt.timedelta(days=d)).isoformat() + "T"
        for d in range(first, int(day.max()) + 1)
    ]
    date_bytes = np.frombuffer("".join(dates).encode(), dtype=np.uint8).reshape(len(dates), 11)
    matrix = np.empty((len(at), 20), dtype=np.uint8)
    matrix[:, :11] = date_bytes[day - first]
    matrix[:, 11:] = _TIME_OF_DAY[safe - day * DAY]
    return _fixed_width_strings(matrix, valid)


def timestamps_us(at: I64, valid: NDArray[np.bool_] | None = None) -> pa.Array:
    """Arrow ``timestamp('us')`` (naive UTC, CONTRACT model) of epoch seconds."""
    values = np.where(valid, at, 0) if valid is not None else at
    mask = None if valid is None else ~valid
    return pa.array(values * 1_000_000, type=pa.timestamp("us"), mask=mask)


def numbered_ids(prefix: str, numbers: I64, digits: int) -> pa.Array:
    """``prefix`` followed by each number zero-padded to ``digits`` (numbers must fit)."""
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)
    matrix = np.empty((len(numbers), len(head) + digits), dtype=np.uint8)
    matrix[:, : len(head)] = head
    rest = np.asarray(numbers, dtype=np.int64).copy()
    for pos in range(digits - 1, -1, -1):
        matrix[:, len(head) + pos] = 48 + rest % 10
        rest //= 10
    return _fixed_width_strings(matrix, None)


def take_codes(dictionary: pa.Array, codes: NDArray[np.integer], *, empty_below: int = 0) -> pa.Array:
    """Look codes up in a dictionary; codes below ``empty_below`` (e.g. -1) become nulls."""
    codes64 = np.asarray(codes, dtype=np.int64)
    mask = codes64 < empty_below
    index = pa.array(np.where(mask, 0, codes64), mask=mask if mask.any() else None)
    return pc.take(dictionary, index)


def never_to_valid(at: I64) -> NDArray[np.bool_]:
    """Rows whose instant is set (not :data:`NEVER_AT`)."""
    return np.asarray(at, dtype=np.int64) < NEVER_AT


def csv_options() -> pacsv.WriteOptions:
    """One CSV dialect for every file: header, comma, quotes where strings are."""
    return pacsv.WriteOptions(include_header=True, delimiter=",", batch_size=65536)


def _partial(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def write_table(table: pa.Table, path: Path, fmt: str) -> None:
    """Write one small-to-medium table as CSV or Parquet (complete file or none)."""
    tmp = _partial(path)
    try:
        if fmt == "csv":
            pacsv.write_csv(table, tmp, csv_options())
        else:
            pq.write_table(table, tmp, compression="zstd", row_group_size=EVENT_CHUNK_ROWS)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def write_batches(batches: Iterator[pa.RecordBatch], schema: pa.Schema, path: Path, fmt: str) -> None:
    """Stream record batches into one CSV or Parquet file (complete file or none)."""
    tmp = _partial(path)
    try:
        if fmt == "csv":
            with pacsv.CSVWriter(tmp, schema, write_options=csv_options()) as writer:
                for batch in batches:
                    writer.write_batch(batch)
        else:
            with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
                for batch in batches:
                    writer.write_batch(batch, row_group_size=EVENT_CHUNK_ROWS)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
