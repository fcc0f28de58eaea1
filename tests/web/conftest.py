"""Dashboard test fixtures: a store with two generated tenants, built with the demo config.

Tenant ``acme`` holds a few hundred realistic tickets (``deskpulse.sample.generate`` with the
``acme`` id prefix: ``acme-T-…``, agents ``acme-agt-…``), tenant ``beta`` fewer, prefixed
``beta-``; both are imported and built (SLA tables) with ``examples/demo/deskpulse.yaml`` as
of the end of their generated window. A tenant ``empty`` has nothing. The store is shared by
the session (the page tests only read) and exists on DuckDB and, when reachable, PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from deskpulse.config import load_config
from deskpulse.pipeline import import_files
from deskpulse.sample import generate
from deskpulse.serve.app import create_app
from deskpulse.serve.auth import create_token
from deskpulse.settings import Settings
from deskpulse.sla.build import build
from deskpulse.store import open_store

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO_ROOT / "examples" / "demo" / "deskpulse.yaml"
SECRET = "web-test-secret-" + "w" * 40
START = dt.date(2026, 1, 5)  # a Monday: reproducible files whatever the day the tests run
TENANTS = {"acme": (500, 3, 42), "beta": (150, 4, 28)}  # tickets, seed, days


@dataclass(frozen=True)
class WebStore:
    url: str
    as_of: dict[str, dt.datetime]


def seed_store(url: str, work: Path) -> dict[str, dt.datetime]:
    cfg = load_config(DEMO_CONFIG)
    store = open_store(url)
    as_of: dict[str, dt.datetime] = {}
    try:
        for tenant, (n, seed, days) in TENANTS.items():
            res = generate(n, seed, work / tenant, start=START, days=days, tenant_hint=tenant)
            repo = store.tenant(tenant)
            import_files(repo, res.tickets_path, res.events_path)
            build(repo, cfg, as_of=res.window_end_at)
            as_of[tenant] = res.window_end_at
    finally:
        store.close()
    return as_of


@pytest.fixture(scope="session", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def web_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebStore]:
    import psycopg

    from tests.conftest import PG_URL

    work = Path(tmp_path_factory.mktemp("web"))
    schema = None
    if request.param == "duckdb":
        url = str(work / "web.duckdb")
    else:
        request.getfixturevalue("pg_available")
        schema = f"dp_web_{uuid.uuid4().hex[:10]}"
        url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
        with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as con:
            con.execute(f"CREATE SCHEMA {schema}")
    as_of = seed_store(url, work)
    yield WebStore(url, as_of)
    if schema is not None:
        with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as con:
            con.execute(f"DROP SCHEMA {schema} CASCADE")


def make_settings(url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": url, "jwt_secret": SECRET, "config": DEMO_CONFIG, **overrides}
    return Settings(**values)


def token(tenant: str = "acme", role: str = "viewer", **kwargs: Any) -> str:
    return create_token(SECRET, tenant_id=tenant, role=role, **kwargs)


def bearer(tenant: str = "acme", role: str = "viewer") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(tenant, role)}"}


@pytest.fixture(scope="session")
def web(web_store: WebStore) -> Iterator[TestClient]:
    """The app on the seeded store (no cookie: requests authenticate with a bearer header)."""
    with TestClient(create_app(make_settings(web_store.url)), follow_redirects=False) as client:
        yield client


@pytest.fixture
def browser_client(web_store: WebStore) -> Iterator[TestClient]:
    """A fresh client with its own cookie jar, for the login flow."""
    with TestClient(create_app(make_settings(web_store.url)), follow_redirects=False,
                    base_url="http://testserver") as client:
        yield client
