"""``deskpulse sql``: run one SELECT (text or a .sql file) over the tenant's tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deskpulse.cli.main import ConfigOpt, DbOpt, TenantOpt, app, handle_errors, open_repo, resolve
from deskpulse.cli.output import OutFormat, console, emit_rows


@app.command("sql")
@handle_errors
def sql_cmd(
    query: Annotated[str, typer.Argument(help="A SELECT statement, or a path to a .sql file.")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="NAME=VALUE for a $NAME in the query (repeatable)."),
    ] = None,
    fmt: Annotated[OutFormat, typer.Option("--format", help="table, json or csv on stdout.")] = OutFormat.table,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the result to a file (.csv .parquet .xlsx .jsonl).")
    ] = None,
    db: DbOpt = None,
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Run one SELECT over this tenant's tables, e.g. a BI query from examples/dashboards.

    Every tenant table the query names is filtered to --tenant by construction; values are
    bound as parameters: `deskpulse sql examples/dashboards/sla_overview.sql -p since=2026-10-01`.
    """
    from deskpulse.adhoc import load_query, run_query
    from deskpulse.errors import UsageError
    from deskpulse.pipeline import write_table

    params: dict[str, str] = {}
    for item in param or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--param {item!r}: use NAME=VALUE")
        params[name.strip()] = value
    text, source = load_query(query)
    repo = open_repo(resolve(db, tenant, config))
    table = run_query(repo, text, params, source=source)
    if out is not None:
        suffix = out.suffix.lower().lstrip(".")
        if suffix not in ("csv", "parquet", "xlsx", "jsonl"):
            raise UsageError(f"--out {out}: use a .csv, .parquet, .xlsx or .jsonl file")
        write_table(table, suffix, out)
        console.print(f"wrote {table.num_rows:,} rows to {out}")
        return
    emit_rows(table.to_pylist(), fmt, title=source, columns=table.column_names)
