"""Shared fixtures: a fresh store on every backend (DuckDB file and PostgreSQL schema).

PostgreSQL tests use DESKPULSE_TEST_PG_URL (default: the local server, database ``test``),
each in a schema of its own. They skip when the server is unreachable, except under CI=true,
where they fail: CI must prove both backends.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# The test run never writes the user's cache (~/.cache/deskpulse): a folder of its own.
os.environ.setdefault("DESKPULSE_CACHE_DIR", tempfile.mkdtemp(prefix="deskpulse-test-cache-"))

PG_URL = os.environ.get(
    "DESKPULSE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def _pg_reachable() -> str | None:
    import psycopg

    try:
        with psycopg.connect(PG_URL.replace("+psycopg", ""), connect_timeout=3):
            return None
    except Exception as exc:  # any failure means "not reachable" here
        return str(exc)


@pytest.fixture(scope="session")
def pg_available() -> bool:
    problem = _pg_reachable()
    if problem is None:
        return True
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL must be reachable under CI=true: {problem}")
    pytest.skip(f"PostgreSQL not reachable: {problem}")
    return False


@pytest.fixture
def pg_url(pg_available: bool) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    import psycopg

    schema = f"dp_test_{uuid.uuid4().hex[:10]}"
    plain = PG_URL.replace("+psycopg", "")
    with psycopg.connect(plain, autocommit=True) as con:
        con.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(plain, autocommit=True) as con:
        con.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store URL on each backend."""
    if request.param == "duckdb":
        return str(tmp_path / "store.duckdb")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(db_url: str):  # type: ignore[no-untyped-def]
    from deskpulse.store import open_store

    s = open_store(db_url)
    yield s
    s.close()


@pytest.fixture
def repo(store):  # type: ignore[no-untyped-def]
    return store.tenant("acme")


@pytest.fixture(autouse=True)
def _close_cli_stores() -> Iterator[None]:
    """CLI commands keep their store open for the process; tests close them after each test."""
    yield
    from deskpulse.cli.main import close_stores

    close_stores()
