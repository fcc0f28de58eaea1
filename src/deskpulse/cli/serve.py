"""Serving commands: ``deskpulse serve`` (the HTTP API under uvicorn) and ``deskpulse token create``.

``serve`` runs on the embedded DuckDB by default (one process: DuckDB files are opened by one
process at a time) and on PostgreSQL with several worker processes. The store is migrated
once before the workers start, so they never race on an empty database. Tokens are HS256
JWTs signed with ``DESKPULSE_JWT_SECRET``; ``token create`` prints one on stdout.
"""

from __future__ import annotations

import enum
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from deskpulse.cli.main import GLOBALS, ConfigOpt, DbOpt, TenantOpt, app, handle_errors, resolve
from deskpulse.cli.output import emit_json
from deskpulse.errors import ConfigError, UsageError

log = logging.getLogger(__name__)

token_app = typer.Typer(help="API tokens: `token create --tenant T --role viewer`.", no_args_is_help=True)
app.add_typer(token_app, name="token")

MIN_SECRET_BYTES = 32


class TokenRole(enum.StrEnum):
    admin = "admin"
    agent = "agent"
    viewer = "viewer"


class TokenFormat(enum.StrEnum):
    text = "text"
    json = "json"


def default_workers(dialect: str) -> int:
    """One process on DuckDB; on PostgreSQL one per CPU, at least 2 and at most 8."""
    if dialect == "duckdb":
        return 1
    return max(2, min(8, os.cpu_count() or 2))


@app.command()
@handle_errors
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, max=64, help="Worker processes (default: 1 on DuckDB, one per CPU on PostgreSQL)."
    )] = None,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log", help="Log every request.")] = True,
    db: DbOpt = None,
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs) and the dashboard under uvicorn.

    ``--db``, ``--tenant`` and ``--config`` (global or here) apply like for every command: the
    config file (thresholds, SLA policies, the dashboard's timezone) is the one the API,
    the dashboard and the report worker read.
    """
    import uvicorn

    from deskpulse.serve.app import create_app
    from deskpulse.settings import get_settings
    from deskpulse.store import describe_url, open_store

    ctx = resolve(db, tenant, config)
    settings = get_settings(database_url=ctx.db, tenant=ctx.tenant, config=ctx.config)
    secret = settings.jwt_secret.get_secret_value()
    if not secret:
        raise ConfigError("DESKPULSE_JWT_SECRET is not set: the API cannot verify tokens "
                          "(set it in the environment or .env, e.g. `openssl rand -hex 32`)")
    if len(secret.encode()) < MIN_SECRET_BYTES:
        log.warning("DESKPULSE_JWT_SECRET is shorter than %d bytes; use a longer random secret", MIN_SECRET_BYTES)
    dialect, _ = describe_url(ctx.db)
    n = workers if workers is not None else default_workers(dialect)
    if dialect == "duckdb" and n > 1:
        raise UsageError("DuckDB is an embedded store that one process opens: use --workers 1, "
                         "or PostgreSQL (DESKPULSE_DATABASE_URL=postgresql+psycopg://…) for several workers")
    open_store(ctx.db).close()  # migrate once, before any worker opens the store
    level = "debug" if GLOBALS.debug else "info"
    if n == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level=level, access_log=access_log)
        return
    # Worker processes build their app from the environment: hand them the resolved settings.
    os.environ["DESKPULSE_DATABASE_URL"] = ctx.db
    os.environ["DESKPULSE_TENANT"] = ctx.tenant
    os.environ["DESKPULSE_CONFIG"] = str(ctx.config)
    run_workers("deskpulse.serve.app:create_app", host=host, port=port, workers=n, log_level=level,
                access_log=access_log)


def run_workers(app: str, *, host: str, port: int, workers: int, log_level: str, access_log: bool) -> None:
    """Run ``app`` (an import string of an app factory) in ``workers`` uvicorn processes."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from deskpulse.serve.app import TcpConfig

    # a worker that starts slowly (a busy machine, a cold import) is not killed after uvicorn's
    # 5 s default: the supervisor waits up to 60 s for its first health check
    config = TcpConfig(app, factory=True, host=host, port=port, workers=workers, log_level=log_level,
                       access_log=access_log, timeout_worker_healthcheck=60)
    sock = config.bind_socket()
    try:
        Multiprocess(config, sockets=[sock]).run()
    except TypeError:  # uvicorn < 0.30 takes the worker's target explicitly
        Multiprocess(config, target=uvicorn.Server(config).run, sockets=[sock]).run()  # type: ignore[call-arg]


@token_app.command("create")
@handle_errors
def token_create(
    role: Annotated[TokenRole, typer.Option("--role", help="viewer reads; agent also sets its availability; admin manages configuration.")],
    subject: Annotated[str | None, typer.Option("--subject", help="User id in the token (default: <role>@<tenant>).")] = None,
    ttl_days: Annotated[int, typer.Option("--ttl-days", min=1, max=3650, help="Days until the token expires.")] = 30,
    fmt: Annotated[TokenFormat, typer.Option("--format", help="text (the token alone) or json.")] = TokenFormat.text,
    tenant: TenantOpt = None,
) -> None:
    """Print a signed API token for a tenant and role (needs DESKPULSE_JWT_SECRET)."""
    import time

    from deskpulse.serve.auth import create_token
    from deskpulse.settings import get_settings

    settings = get_settings(tenant=tenant or GLOBALS.tenant)
    now = int(time.time())
    ttl = ttl_days * 86400
    if subject is not None and not subject.strip():
        raise UsageError("--subject must not be empty")
    token = create_token(settings.jwt_secret.get_secret_value(), tenant_id=settings.tenant, role=role.value,
                         subject=subject, ttl_seconds=ttl, now=now)
    if fmt is TokenFormat.json:
        emit_json({
            "token": token, "tenant_id": settings.tenant, "role": role.value,
            "subject": subject or f"{role.value}@{settings.tenant}",
            "expires_at": datetime.fromtimestamp(now + ttl, UTC).replace(tzinfo=None),
        })
        return
    sys.stdout.write(token + "\n")


# --- dashboard users ------------------------------------------------------------------------------

user_app = typer.Typer(help="Dashboard users: `user create --tenant T --role viewer USERNAME`.", no_args_is_help=True)
app.add_typer(user_app, name="user")

PASSWORD_ENV = "DESKPULSE_USER_PASSWORD"


def _password() -> str:
    """The password from DESKPULSE_USER_PASSWORD, else a hidden prompt with confirmation
    (never echoed or logged)."""
    value = os.environ.get(PASSWORD_ENV)
    if value:
        return value
    entered: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    return entered


def _store(db: str | None, tenant: str | None) -> tuple[Any, str]:
    from deskpulse.cli.main import open_repo

    repo = open_repo(resolve(db, tenant))
    return repo.store, repo.tenant_id


@user_app.command("create")
@handle_errors
def user_create(
    username: Annotated[str, typer.Argument(help="Login name, unique on this server (stored lower-case).")],
    role: Annotated[TokenRole, typer.Option("--role", help="viewer reads; agent also sets its availability; admin manages configuration.")],
    tenant: TenantOpt = None,
    db: DbOpt = None,
) -> None:
    """Create a dashboard user of a tenant; the password comes from a hidden prompt or
    DESKPULSE_USER_PASSWORD (never from an option: it would stay in the shell history)."""
    from deskpulse.serve.users import check_password, create_user, normalize_username

    normalize_username(username)
    store, tenant_id = _store(db, tenant)
    password = check_password(_password())
    user = create_user(store, tenant_id, username, password, role.value, created_by="cli")
    typer.echo(f"user {user.username} created (tenant {user.tenant_id}, role {user.role})")


@user_app.command("list")
@handle_errors
def user_list(tenant: TenantOpt = None, db: DbOpt = None,
              fmt: Annotated[TokenFormat, typer.Option("--format", help="text or json.")] = TokenFormat.text) -> None:
    """The tenant's dashboard users (never their password hashes)."""
    from deskpulse.serve.users import list_users

    store, tenant_id = _store(db, tenant)
    users = list_users(store, tenant_id)
    if fmt is TokenFormat.json:
        emit_json([u.as_dict() for u in users])
        return
    if not users:
        typer.echo(f"no users (tenant {tenant_id})")
    for u in users:
        state = "disabled" if u.disabled else ("locked" if u.locked_until else "active")
        typer.echo(f"{u.username}\t{u.role}\t{state}\tlast login {u.last_login_at or '-'}")


@user_app.command("set-password")
@handle_errors
def user_set_password(username: Annotated[str, typer.Argument(help="Login name.")],
                      tenant: TenantOpt = None, db: DbOpt = None) -> None:
    """Replace a user's password (prompt or DESKPULSE_USER_PASSWORD); lifts a lockout and ends the
    user's open sessions (their login tokens stop working within a second)."""
    from deskpulse.serve.users import set_password

    store, tenant_id = _store(db, tenant)
    user = set_password(store, tenant_id, username, _password())
    typer.echo(f"password of {user.username} changed")


@user_app.command("disable")
@handle_errors
def user_disable(username: Annotated[str, typer.Argument(help="Login name.")],
                 enable: Annotated[bool, typer.Option("--enable", help="Enable again instead.")] = False,
                 tenant: TenantOpt = None, db: DbOpt = None) -> None:
    """Stop a user from logging in; their login tokens stop working within a second (--enable
    revives none of them: the user logs in again)."""
    from deskpulse.serve.users import set_disabled

    store, tenant_id = _store(db, tenant)
    user = set_disabled(store, tenant_id, username, not enable)
    typer.echo(f"user {user.username} {'disabled' if user.disabled else 'enabled'}")


@user_app.command("remove")
@handle_errors
def user_remove(username: Annotated[str, typer.Argument(help="Login name.")],
                tenant: TenantOpt = None, db: DbOpt = None) -> None:
    """Delete a dashboard user (their login tokens stop working within a second)."""
    from deskpulse.serve.users import remove_user

    store, tenant_id = _store(db, tenant)
    user = remove_user(store, tenant_id, username)
    typer.echo(f"user {user.username} removed")
