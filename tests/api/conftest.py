"""API test fixtures: two seeded tenants on each backend, an app per backend, tokens.

Tenant ``alpha`` holds A-… tickets (and ``SHARED-1``); tenant ``bravo`` holds B-… tickets
(and its own ``SHARED-1``). Alpha's data carries marker strings (``alpha-cust-``,
``zebrafish``) that must never appear in an answer to bravo. Both tenants are built (SLA
tables) as of the moment the session seeds them. The seeded store is shared by the tests of
a session (read-only tests); tests that write use the ``db_url`` fixture instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from deskpulse.config import parse_config
from deskpulse.model import EVENT_SCHEMA, TICKET_SCHEMA
from deskpulse.pipeline import utcnow
from deskpulse.serve.app import create_app
from deskpulse.serve.auth import create_token
from deskpulse.settings import Settings
from deskpulse.sla.build import build
from deskpulse.store import Store, TenantStore, open_store

SECRET = "test-secret-" + "x" * 40
ALPHA_MARKERS = ("alpha-cust-", "zebrafish", "A-0", "A-1")


@dataclass(frozen=True)
class Seeded:
    """A seeded store: its URL and the instant its data was built at."""

    url: str
    now: datetime


def ticket_rows(prefix: str, now: datetime) -> list[dict[str, Any]]:
    """Tickets of one tenant; alpha's are the detailed ones the tests reason about."""
    h = timedelta(hours=1)
    if prefix == "A":
        rows: list[dict[str, Any]] = [
            dict(ticket_id="A-001", created_at=now - 3 * h, status="open", priority="urgent", group="Billing",
                 assignee_id="agt-1", requester_id="alpha-cust-1", channel="email", category="billing",
                 subject="Refund not processed", description="Hello team, the refund for my zebrafish invoice is missing."),
            dict(ticket_id="A-002", created_at=now - 20 * h, status="open", priority="high", group="Billing",
                 assignee_id="agt-2", requester_id="alpha-cust-1", channel="web", category="billing",
                 subject="Refund request: duplicate charge", description="Please refund the duplicate charge."),
            dict(ticket_id="A-003", created_at=now - timedelta(minutes=50), status="pending", priority="normal",
                 group="Tech", assignee_id="agt-1", requester_id="alpha-cust-2", channel="chat", category="technical",
                 subject="Login broken after update", description="The login page is broken since the update."),
            dict(ticket_id="A-004", created_at=now - 5 * 24 * h, status="solved", priority="low", group="Tech",
                 assignee_id="agt-2", requester_id="alpha-cust-3", channel="email", category="technical",
                 subject="Export broken", description="CSV export is broken.", solved_at=now - 5 * 24 * h + 2 * h),
            dict(ticket_id="A-005", created_at=now - 10 * 24 * h, status="closed", priority="normal", group="Billing",
                 assignee_id="agt-1", requester_id="alpha-cust-3", channel="phone", category="billing",
                 subject="Invoice copy", description="I need a copy of my invoice."),
            dict(ticket_id="A-006", created_at=now - timedelta(minutes=30), status="new", priority="low",
                 group="Tech", requester_id="alpha-cust-4", channel="web", category="question",
                 subject="Question about zebrafish plan", description="What does the plan include?"),
            dict(ticket_id="A-007", created_at=now - 2 * 24 * h, status="hold", priority="high", group="Tech",
                 requester_id="alpha-cust-5", subject="Deleted ticket", description="Spam.",
                 deleted_at=now - 24 * h),
        ]
        for i in range(8, 31):  # bulk: pagination and filters
            rows.append(dict(
                ticket_id=f"A-{i:03d}", created_at=now - (7 * i) * h - timedelta(minutes=i),
                status=("new", "open", "pending", "hold", "solved", "closed")[i % 6],
                priority=("urgent", "high", "normal", "low")[i % 4], group=("Billing", "Tech", "Sales")[i % 3],
                assignee_id=f"agt-{i % 3}", requester_id=f"alpha-cust-{i % 7}", channel="email", category="misc",
                subject=f"Routine request {i}", description="Routine refund question about the invoice.",
            ))
        rows.append(dict(ticket_id="SHARED-1", created_at=now - 30 * h, status="open", priority="normal",
                         requester_id="alpha-cust-9", subject="Alpha shared zebrafish", description="alpha"))
    else:
        rows = [
            dict(ticket_id=f"B-{i:03d}", created_at=now - (5 * i + 1) * h, status=("open", "solved")[i % 2],
                 priority="normal", group="Printers", requester_id=f"bravo-cust-{i % 3}", channel="email",
                 subject=f"Printer jammed {i}", description="The printer is jammed again.")
            for i in range(1, 11)
        ]
        rows.append(dict(ticket_id="SHARED-1", created_at=now - 2 * h, status="pending", priority="low",
                         requester_id="bravo-cust-9", subject="Bravo shared printer", description="bravo"))
    for r in rows:
        r.setdefault("updated_at", r["created_at"])
    return rows


def event_rows(prefix: str, now: datetime) -> list[dict[str, Any]]:
    """Events: a creation comment per ticket; replies on some; A-004 solved."""
    out: list[dict[str, Any]] = []
    for t in ticket_rows(prefix, now):
        c = t["created_at"]
        out.append(dict(ticket_id=t["ticket_id"], event_at=c, kind="comment", actor="end_user", public=True))
        out.append(dict(ticket_id=t["ticket_id"], event_at=c, kind="status", actor="system", public=True,
                        from_value=None, to_value="new"))
    m = timedelta(minutes=1)
    if prefix == "A":
        a2 = now - timedelta(hours=20)
        a4 = now - timedelta(days=5)
        out += [
            dict(ticket_id="A-002", event_at=a2 + 30 * m, kind="comment", actor="agent", actor_id="agt-2", public=True),
            dict(ticket_id="A-002", event_at=a2 + 31 * m, kind="status", actor="agent", actor_id="agt-2",
                 public=True, from_value="new", to_value="open"),
            dict(ticket_id="A-004", event_at=a4 + 20 * m, kind="comment", actor="agent", actor_id="agt-2", public=True),
            dict(ticket_id="A-004", event_at=a4 + 120 * m, kind="status", actor="agent", actor_id="agt-2",
                 public=True, from_value="new", to_value="solved"),
            dict(ticket_id="A-001", event_at=now - 3 * 60 * m + m, kind="priority", actor="system", public=True,
                 from_value="high", to_value="urgent"),
        ]
    return out


def has_column(store: Store, table: str, column: str) -> bool:
    rows = store.execute(
        "SELECT count(*) FROM information_schema.columns "
        "WHERE table_name = $t AND column_name = $c AND table_schema = current_schema()",
        {"t": table, "c": column},
    )
    return bool(rows[0][0])


def set_urgency(store: Store, tenant: str, values: dict[str, str]) -> None:
    """Classification as ingestion writes it: the urgency column (0004), else extra.urgency."""
    for ticket_id, value in values.items():
        if has_column(store, "tickets", "urgency"):
            store.execute("UPDATE tickets SET urgency = $u WHERE tenant_id = $t AND ticket_id = $id",
                          {"u": value, "t": tenant, "id": ticket_id})
        else:
            store.execute("UPDATE tickets SET extra = $x WHERE tenant_id = $t AND ticket_id = $id",
                          {"x": f'{{"urgency": "{value}"}}', "t": tenant, "id": ticket_id})


def seed(store: Store, now: datetime) -> None:
    for tenant, prefix in (("alpha", "A"), ("bravo", "B")):
        repo: TenantStore = store.tenant(tenant)
        repo.upsert_tickets(pa.Table.from_pylist(ticket_rows(prefix, now), schema=TICKET_SCHEMA), now)
        repo.insert_events(pa.Table.from_pylist(event_rows(prefix, now), schema=EVENT_SCHEMA), now)
        build(repo, parse_config({}), as_of=now)
    set_urgency(store, "alpha", {"A-001": "high", "A-002": "high", "A-003": "medium", "A-006": "low"})


def make_app(url: str, **kwargs: Any) -> FastAPI:
    return create_app(Settings(database_url=url, jwt_secret=SecretStr(SECRET)), **kwargs)  # type: ignore[call-arg]


def headers(tenant: str = "alpha", role: str = "viewer", **kwargs: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(SECRET, tenant_id=tenant, role=role, **kwargs)}"}


def _pg_schema_url(base: str) -> tuple[str, str]:
    schema = f"dp_api_{uuid.uuid4().hex[:10]}"
    sep = "&" if "?" in base else "?"
    return schema, f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """A store with both tenants seeded and built, per backend, shared by the session."""
    import psycopg

    from tests.conftest import PG_URL

    schema = None
    if request.param == "duckdb":
        url = str(Path(tmp_path_factory.mktemp("api")) / "api.duckdb")
    else:
        request.getfixturevalue("pg_available")
        schema, url = _pg_schema_url(PG_URL)
        with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as con:
            con.execute(f"CREATE SCHEMA {schema}")
    now = utcnow()
    store = open_store(url)
    try:
        seed(store, now)
    finally:
        store.close()
    yield Seeded(url, now)
    if schema is not None:
        with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as con:
            con.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(scope="session")
def api(seeded: Seeded) -> Iterator[TestClient]:
    """A running app (lifespan entered) on the seeded store."""
    with TestClient(make_app(seeded.url)) as client:
        yield client


@pytest.fixture
def auth() -> Callable[..., dict[str, str]]:
    return headers


@pytest.fixture
def fresh(db_url: str) -> Iterator[tuple[TestClient, Store]]:
    """An app on an empty store of its own (with the store for writing), per backend."""
    with TestClient(make_app(db_url, read_pool=1)) as client:
        yield client, client.app.state.store  # type: ignore[attr-defined]


def env_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKPULSE_JWT_SECRET", SECRET)
    for name in ("DESKPULSE_DATABASE_URL", "DESKPULSE_TENANT"):
        if name in os.environ:
            monkeypatch.delenv(name)
