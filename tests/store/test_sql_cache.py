"""The transpiled-SQL cache (store/sql.py + deskpulse.cache): a second process gets the same
statement text from disk without importing sqlglot; a broken cache never breaks a query."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from deskpulse.store import sql

QUERY = "SELECT count(*) AS n FROM tickets t WHERE t.status = $status"


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("DESKPULSE_CACHE_DIR", str(tmp_path))
    sql._rewrite.cache_clear()
    yield tmp_path
    sql._rewrite.cache_clear()


def _entries(folder: Path) -> list[Path]:
    return [p for p in (folder / "sql").rglob("*") if p.is_file()]


def test_second_run_reads_the_statement_from_disk(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text, params = sql.scoped_sql(QUERY, "postgresql", "acme", {"status": "open"})
    assert "%(__tenant)s" in text and params == {"status": "open", "__tenant": "acme"}
    [entry] = _entries(cache_dir)
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600  # statements stay the user's own
    sql._rewrite.cache_clear()  # a new process, as far as the memory cache goes

    def no_sqlglot(*args: object) -> str:
        raise AssertionError("parsed again")

    monkeypatch.setattr(sql, "_transpile", no_sqlglot)
    assert sql.scoped_sql(QUERY, "postgresql", "acme", {"status": "open"})[0] == text


def test_a_fresh_process_does_not_import_sqlglot(cache_dir: Path) -> None:
    sql.scoped_sql(QUERY, "duckdb", "acme", {})  # warm the disk cache
    probe = (
        "import sys; from deskpulse.store.sql import scoped_sql; "
        f"scoped_sql({QUERY!r}, 'duckdb', 'acme', {{}}); print('sqlglot' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env={**os.environ, "DESKPULSE_CACHE_DIR": str(cache_dir)})
    assert out.stdout.strip() == "False"


def test_unscoped_duckdb_statements_are_neither_parsed_nor_cached(cache_dir: Path) -> None:
    assert sql.scoped_sql("DELETE FROM build_state", "duckdb", None, None)[0] == "DELETE FROM build_state"
    assert not (cache_dir / "sql").exists()


def test_an_unusable_cache_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("DESKPULSE_CACHE_DIR", str(blocker))
    sql._rewrite.cache_clear()
    text, _ = sql.scoped_sql(QUERY, "postgresql", "acme", {})
    assert "FROM (SELECT * FROM tickets WHERE tenant_id = %(__tenant)s) AS t" in text
    sql._rewrite.cache_clear()


def test_only_queries_can_be_scoped_cached_or_not(cache_dir: Path) -> None:
    from deskpulse.errors import UsageError

    for _ in range(2):
        with pytest.raises(UsageError):
            sql.scoped_sql("DELETE FROM tickets", "duckdb", "acme", None)
    assert not (cache_dir / "sql").exists()
