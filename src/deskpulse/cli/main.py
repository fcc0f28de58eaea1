"""The ``deskpulse`` command: global options, error translation and exit codes.

Commands live in sibling modules (``data``, ``sla``) and are thin adapters over the library.
Library errors become one-line messages with the CONTRACT §6 exit codes; ``--debug`` shows
the traceback.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from deskpulse.errors import ConfigError, DeskpulseError

app = typer.Typer(
    name="deskpulse",
    help=(
        "Support-operations analytics with exact business-hours SLA clocks.\n\n"
        "Typical flow: `deskpulse import tickets.csv events.csv`, `deskpulse build`, "
        "then `deskpulse export ticket_sla --format csv --out sla.csv`."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@dataclass
class Globals:
    """Options every command accepts (CONTRACT §6); command-level values win."""

    db: str | None = None
    tenant: str | None = None
    config: Path | None = None
    debug: bool = False


GLOBALS = Globals()
P = ParamSpec("P")
R = TypeVar("R")

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Store: a DuckDB file path or postgresql+psycopg://… (env DESKPULSE_DATABASE_URL, default ./deskpulse.duckdb)",
        show_default=False,
    ),
]
TenantOpt = Annotated[
    str | None,
    typer.Option("--tenant", help="Tenant id (env DESKPULSE_TENANT, default 'default')"),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Config YAML: SLA policies, calendars, thresholds (env DESKPULSE_CONFIG, default ./deskpulse.yaml)"
    ),
]


@app.callback()
def main(
    db: DbOpt = None,
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    log_level: Annotated[str | None, typer.Option("--log-level", help="Logging level.")] = None,
) -> None:
    """deskpulse: SLA clocks, backlog health and staffing from your helpdesk data."""
    GLOBALS.db, GLOBALS.tenant, GLOBALS.config, GLOBALS.debug = db, tenant, config, debug
    level = "DEBUG" if debug else (log_level or "WARNING")
    logging.basicConfig(level=level.upper(), format="%(levelname)s %(name)s: %(message)s")


@dataclass
class Context:
    """Resolved settings for one command run."""

    db: str
    tenant: str
    config: Path


def resolve(db: str | None = None, tenant: str | None = None, config: Path | None = None) -> Context:
    """Merge command options, global options and the environment/.env."""
    from deskpulse.settings import get_settings

    s = get_settings(
        database_url=db or GLOBALS.db,
        tenant=tenant or GLOBALS.tenant,
        config=config or GLOBALS.config,
    )
    if s.config != Path("deskpulse.yaml") and not s.config.exists():
        # an explicitly named config (option or env) must exist; only the default may be absent
        raise ConfigError(f"{s.config}: config file not found", path=str(s.config))
    return Context(db=s.database_url, tenant=s.tenant, config=s.config)


_STORES: dict[str, Any] = {}


def open_repo(ctx: Context) -> Any:
    """Open (and migrate) the store once per process and bind it to the context's tenant."""
    from deskpulse.store import open_store

    if ctx.db not in _STORES:
        _STORES[ctx.db] = open_store(ctx.db)
    return _STORES[ctx.db].tenant(ctx.tenant)


def close_stores() -> None:
    """Close every store this process opened (end of a command, or of a test)."""
    while _STORES:
        _STORES.popitem()[1].close()


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate a command: library errors become one stderr line and their exit code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except DeskpulseError as exc:
            if GLOBALS.debug:
                raise
            typer.secho(f"error: {exc.message}", err=True, fg=typer.colors.RED)
            raise typer.Exit(exc.exit_code) from exc

    return wrapper


def run() -> None:
    """Console-script entry point: translate errors into messages and exit codes.

    Exit codes: 0 success, 1 internal error, 2 usage error, 3 bad input / not found /
    conflict, 4 configuration, 5 storage, 6 missing optional component (see errors.py).
    """
    import deskpulse.cli  # noqa: F401 - registers every command on `app`

    try:
        # standalone_mode=False: click returns the exit code of typer.Exit instead of exiting
        rc = app(standalone_mode=False)
    except DeskpulseError as exc:
        if GLOBALS.debug:
            raise
        typer.secho(f"error: {exc.message}", err=True, fg=typer.colors.RED)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.secho("aborted", err=True)
        sys.exit(1)
    except Exception as exc:
        # click usage errors (typer bundles its own click, so match by shape, not class)
        code = getattr(exc, "exit_code", None)
        if callable(getattr(exc, "show", None)) and isinstance(code, int):
            exc.show()  # type: ignore[attr-defined]
            sys.exit(code)
        if GLOBALS.debug:
            raise
        typer.secho(
            f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
            err=True,
            fg=typer.colors.RED,
        )
        sys.exit(1)
    sys.exit(rc if isinstance(rc, int) else 0)
