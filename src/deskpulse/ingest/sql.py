"""SQL text helpers for ingest: quote identifiers safely and carry values as bound parameters.

Nothing user-provided is ever pasted into SQL text as a value: column names go through
:func:`ident` (double-quoted, embedded quotes doubled) and every value goes through
:class:`Params`, which hands out ``$pN`` placeholders and keeps the values for ``execute``.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import duckdb

log = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def ident(name: str) -> str:
    """Quote ``name`` as a SQL identifier (safe for any string, including quotes and spaces)."""
    return '"' + name.replace('"', '""') + '"'


class Params:
    """Named parameters of one statement: ``p.add(value)`` returns the placeholder to put in SQL."""

    def __init__(self, prefix: str = "p") -> None:
        self.prefix = prefix
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> str:
        key = f"{self.prefix}{len(self.values)}"
        while key in self.values:
            key += "_"
        self.values[key] = value
        return "$" + key

    def merged(self, other: Params) -> Params:
        """These parameters plus ``other``'s (their names must not clash)."""
        out = Params(self.prefix)
        out.values = {**self.values, **other.values}
        return out

    def used_in(self, sql: str) -> dict[str, Any]:
        """Only the parameters that ``sql`` refers to (DuckDB rejects unused ones)."""
        names = set(_PLACEHOLDER.findall(sql))
        return {k: v for k, v in self.values.items() if k in names}


def run(con: duckdb.DuckDBPyConnection, sql: str, params: Params | None = None) -> None:
    """Execute one statement with its parameters (only those it uses)."""
    values = params.used_in(sql) if params is not None else {}
    t0 = time.perf_counter()
    if values:
        con.execute(sql, values)
    else:
        con.execute(sql)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("%.3fs  %s", time.perf_counter() - t0, " ".join(sql.split())[:160])


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: Params | None = None) -> Any:
    """Execute a query and return the first column of its first row (None when empty)."""
    values = params.used_in(sql) if params is not None else {}
    cur = con.execute(sql, values) if values else con.execute(sql)
    rows = cur.fetchall()
    return rows[0][0] if rows else None


def norm_sql(expr: str) -> str:
    """SQL that folds a value the way alias keys are folded: trimmed, lower-case, runs of
    whitespace/underscores collapsed to one space."""
    return f"lower(regexp_replace(trim({expr}), '[\\s_]+', ' ', 'g'))"


def render(template: str, /, **parts: str) -> str:
    """Fill the ``{name}`` slots of a SQL template with SQL fragments.

    Fragments are built by this package only: identifiers through :func:`ident`, internal table
    names, expressions over them and ``$pN`` placeholders from :class:`Params` — never a value
    read from a file or a config (those are always bound parameters). Literal braces in the
    template are written doubled (``{{`` ``}}``).
    """
    return template.format_map(parts)
