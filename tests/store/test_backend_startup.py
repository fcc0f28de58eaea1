"""Store start-up: the cheap head-revision check agrees with Alembic; no DuckDB progress bar."""

from __future__ import annotations

from pathlib import Path

from deskpulse.store import open_store
from deskpulse.store.backend import MIGRATIONS_DIR, script_head


def test_script_head_equals_alembic_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert script_head() == ScriptDirectory.from_config(cfg).get_current_head()


def test_reopened_store_is_at_head_and_has_no_progress_bar(tmp_path: Path) -> None:
    path = str(tmp_path / "s.duckdb")
    open_store(path).close()
    store = open_store(path)
    try:
        assert store.schema_version() == script_head()
        assert store.execute("SELECT current_setting('enable_progress_bar')")[0][0] is False
    finally:
        store.close()
