"""Ad-hoc SELECTs over one tenant's tables (``deskpulse sql``): the hook for BI queries.

A query is written in DuckDB's dialect with ``$name`` parameters, exactly like deskpulse's own
queries, and runs through the tenant-bound store: every tenant table it names is rewritten to
that tenant's rows (``store/sql.py``) and the text is transpiled for PostgreSQL. Only one
SELECT statement is accepted. This is a convenience for people who already hold the database,
not a sandbox: the HTTP API does not expose it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import sqlglot
from sqlglot import exp

from deskpulse.errors import BadInputError, UsageError
from deskpulse.store import TenantStore


def load_query(text_or_path: str) -> tuple[str, str]:
    """(SQL text, where it came from): a ``.sql`` file when one exists at that path."""
    path = Path(text_or_path)
    if text_or_path.endswith(".sql") or (len(text_or_path) < 4096 and path.is_file()):
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except OSError as exc:
            raise BadInputError(f"{path}: cannot read the query file: {exc}", path=str(path)) from exc
    return text_or_path, "<query>"


def check_select(sql: str, source: str = "<query>") -> set[str]:
    """Reject anything but one SELECT; return the ``$name`` parameters the query uses."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise BadInputError(f"{source}: cannot parse the SQL: {exc}", source=source) from exc
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise UsageError(f"{source}: give exactly one SELECT statement", source=source)
    return {p.name for p in statements[0].find_all(exp.Placeholder) if p.name}


def run_query(repo: TenantStore, sql: str, params: Mapping[str, str] | None = None,
              *, source: str = "<query>") -> pa.Table:
    """Run one SELECT over ``repo``'s tenant with bound ``params`` (values stay parameters)."""
    given = dict(params or {})
    wanted = check_select(sql, source)
    missing = sorted(wanted - set(given))
    if missing:
        raise UsageError(f"{source}: missing --param for {', '.join(missing)}", missing=missing)
    unused = sorted(set(given) - wanted)
    if unused:
        raise UsageError(f"{source}: the query has no parameter {', '.join(unused)}", unused=unused)
    return repo.query(sql.strip().rstrip(";"), **given)
