"""Routing test fixtures: one migrated store per backend for the module, a fresh tenant per test.

Migrating a PostgreSQL schema costs about a second; the routing tests therefore share one
store per backend and module and isolate themselves by tenant (the store scopes every read
to one tenant, which the isolation tests check separately). ``T0`` is the fixed instant the
golden cases are written against.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from deskpulse.model import TICKET_SCHEMA
from deskpulse.store import Store, TenantStore, open_store

T0 = datetime(2026, 3, 2, 10, 0, 0)  # a Monday, 10:00 UTC


def pg_schema_url() -> tuple[str, str]:
    """A fresh PostgreSQL schema (created) and its URL."""
    import psycopg

    from tests.conftest import PG_URL

    schema = f"dp_rt_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as con:
        con.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in PG_URL else "?"
    return schema, f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


def drop_schema(schema: str) -> None:
    import psycopg

    from tests.conftest import PG_URL

    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as con:
        con.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated store URL per backend, shared by the module's tests."""
    schema = None
    if request.param == "duckdb":
        url = str(Path(tmp_path_factory.mktemp("routing")) / "routing.duckdb")
    else:
        request.getfixturevalue("pg_available")
        schema, url = pg_schema_url()
    open_store(url).close()  # migrate once
    yield url
    if schema is not None:
        drop_schema(schema)


@pytest.fixture(scope="module")
def shared_store(shared_url: str) -> Iterator[Store]:
    s = open_store(shared_url, migrate=False)
    yield s
    s.close()


@pytest.fixture
def tenant(shared_store: Store) -> TenantStore:
    """A tenant of its own on the shared store."""
    return shared_store.tenant(f"t-{uuid.uuid4().hex[:8]}")


def add_tickets(repo: TenantStore, rows: list[dict[str, Any]], loaded_at: datetime = T0) -> None:
    """Tickets with defaults: created an hour before T0, status new."""
    full = []
    for r in rows:
        r = {"created_at": T0 - timedelta(hours=1), "status": "new", **r}
        r.setdefault("updated_at", r["created_at"])
        full.append(r)
    repo.upsert_tickets(pa.Table.from_pylist(full, schema=TICKET_SCHEMA), loaded_at)
