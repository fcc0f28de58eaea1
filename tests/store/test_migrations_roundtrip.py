"""Every migration downgrades and upgrades again, on DuckDB and PostgreSQL.

Alembic walks the whole chain: base → head (by open_store) → base → head, then the store
opens at head with every tenant table present.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from deskpulse.store import open_store
from deskpulse.store.backend import MIGRATIONS_DIR, _register_duckdb_alembic, script_head
from deskpulse.store.schema import TENANT_TABLES


def _alembic(url: str, *steps: tuple[str, str]) -> None:
    _register_duckdb_alembic()
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    dsn = url if url.startswith("postgresql") else f"duckdb:///{url}"
    engine = sa.create_engine(dsn)
    try:
        for verb, target in steps:
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                getattr(command, verb)(cfg, target)
    finally:
        engine.dispose()


def test_down_to_base_and_up_again(db_url: str) -> None:
    store = open_store(db_url)
    assert store.schema_version() == script_head()
    store.close()
    _alembic(db_url, ("downgrade", "base"), ("upgrade", "head"))
    store = open_store(db_url)
    try:
        assert store.schema_version() == script_head()
        for table in TENANT_TABLES:
            assert store.execute(f"SELECT count(*) FROM {table}") == [(0,)], table  # noqa: S608
    finally:
        store.close()


def test_0010_downgrade_restores_the_md5_event_key(db_url: str) -> None:
    """Migration 0010 drops ``event_key``; going back to 0009 fills it with exactly the md5 the
    import stored (the in-memory reference), on DuckDB and PostgreSQL, and 0010 drops it again."""
    from datetime import datetime

    import pyarrow as pa

    from deskpulse.model import EVENT_COLUMNS, EVENT_SCHEMA, TICKET_SCHEMA
    from deskpulse.store.tenant import with_hashes

    store = open_store(db_url)
    repo = store.tenant("acme")
    at = datetime(2026, 1, 1, 9)
    repo.upsert_tickets(
        pa.Table.from_pylist(
            [{"ticket_id": "T1", "created_at": at, "updated_at": at, "status": "open"}],
            schema=TICKET_SCHEMA,
        ),
        at,
    )
    base = {"ticket_id": "T1", "event_at": at, "kind": "comment", "actor": "end_user", "public": True}
    ev = pa.Table.from_pylist(
        [
            base,
            {**base, "from_value": "", "public": False},
            {**base, "kind": "status", "to_value": "Ünïcode ✓", "actor_id": "a1"},
            {**base, "event_at": datetime(2026, 1, 1, 9, 0, 0, 250000), "field": "f"},
        ],
        schema=EVENT_SCHEMA,
    )
    repo.insert_events(ev, at)
    store.close()
    want = with_hashes(ev, "event_key", EVENT_COLUMNS).column("event_key").to_pylist()

    _alembic(db_url, ("downgrade", "0009"))
    engine = sa.create_engine(db_url if db_url.startswith("postgresql") else f"duckdb:///{db_url}")
    try:
        with engine.connect() as conn:
            got = [r[0] for r in conn.exec_driver_sql("SELECT event_key FROM ticket_events ORDER BY seq")]
    finally:
        engine.dispose()
    assert got == want
    _alembic(db_url, ("upgrade", "head"))
    store = open_store(db_url)
    try:
        cols = {r[0] for r in store.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'ticket_events' AND table_schema = current_schema()")}
        assert "event_key" not in cols
        assert store.tenant("acme").count("ticket_events") == 4
    finally:
        store.close()


def test_0011_sessions_valid_after_goes_and_comes_back(db_url: str) -> None:
    """Migration 0011 adds ``users.sessions_valid_after`` (microseconds kept); going back to 0010
    drops only that column (the users stay), and 0011 adds it again, empty."""
    from datetime import datetime

    from deskpulse.serve.users import authenticate, create_user, get_user, set_disabled

    def columns(store: object) -> set[str]:
        return {r[0] for r in store.execute(  # type: ignore[attr-defined]
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'users' AND table_schema = current_schema()")}

    password = "correct horse battery"
    store = open_store(db_url)
    try:
        create_user(store, "acme", "kim", password, "viewer")
        ended = datetime(2026, 3, 1, 9, 30, 15, 123456)
        assert set_disabled(store, "acme", "kim", True, now=ended).sessions_valid_after == ended
        set_disabled(store, "acme", "kim", False, now=ended)
    finally:
        store.close()
    _alembic(db_url, ("downgrade", "0010"))
    engine = sa.create_engine(db_url if db_url.startswith("postgresql") else f"duckdb:///{db_url}")
    try:
        with engine.connect() as conn:
            cols = {r[0] for r in conn.exec_driver_sql(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'users' AND table_schema = current_schema()")}
            rows = list(conn.exec_driver_sql("SELECT tenant_id, username, disabled FROM users"))
    finally:
        engine.dispose()
    assert "sessions_valid_after" not in cols and "password_hash" in cols
    assert [tuple(r) for r in rows] == [("acme", "kim", False)]
    _alembic(db_url, ("upgrade", "head"))
    store = open_store(db_url)
    try:
        assert "sessions_valid_after" in columns(store)
        assert get_user(store, "acme", "kim").sessions_valid_after is None
        assert authenticate(store, "kim", password).subject == "kim"
    finally:
        store.close()
