"""Printing results: rich tables for people, JSON or CSV for machines (``--format``)."""

from __future__ import annotations

import csv
import enum
import json
import os
import sys
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

#: Piped or captured output (no terminal, no COLUMNS) gets wide tables instead of rich's
#: 80 columns, which would fold every cell of a wide metrics table character by character.
_PIPE_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200
console = Console(width=_PIPE_WIDTH)
err_console = Console(stderr=True)


class OutFormat(enum.StrEnum):
    """Terminal output formats of commands that print results."""

    table = "table"
    json = "json"
    csv = "csv"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 6)
    return value


def emit_json(payload: Any) -> None:
    """Machine-readable output on stdout and nothing else."""
    sys.stdout.write(json.dumps(payload, default=_plain, ensure_ascii=False, indent=2) + "\n")


def emit_rows(
    rows: Sequence[dict[str, Any]], fmt: OutFormat, *, title: str | None = None, columns: Sequence[str] | None = None
) -> None:
    """Print rows as a table, JSON array or CSV."""
    cols = list(columns or (rows[0].keys() if rows else []))
    if fmt is OutFormat.json:
        emit_json([{c: _plain(r.get(c)) for c in cols} for r in rows])
        return
    if fmt is OutFormat.csv:
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(cols)
        for r in rows:
            w.writerow(["" if r.get(c) is None else _plain(r.get(c)) for c in cols])
        return
    table = Table(title=title, show_lines=False, header_style="bold")
    for c in cols:
        table.add_column(c)
    for r in rows:
        table.add_row(*["" if r.get(c) is None else str(_plain(r.get(c))) for c in cols])
    console.print(table)
