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
