"""Shared fixtures of the insight tests (risk, forecast, staffing, text): one generated and built
DuckDB store per session, copied into each test module (module scope), and CLI helpers.

Imported by the ``test_insights_*`` modules; kept out of conftest.py so that it never clashes with
the other analytics tests' fixtures.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG = REPO_ROOT / "examples" / "demo" / "deskpulse.yaml"
N_TICKETS = 3000
SEED = 5
START = dt.date(2026, 1, 5)  # a Monday; 120 days cross both DST changes and Easter
DAYS = 120
#: The CLI caches fitted breach models; tests keep that cache out of the home directory.
CACHE_DIR = tempfile.mkdtemp(prefix="deskpulse-test-cache-")


@dataclass(frozen=True)
class Built:
    """A built sample store: where it is and what went into it."""

    db: Path
    data: Path
    as_of: dt.datetime


def make_store(out: Path, n_tickets: int = N_TICKETS, *, db_url: str | None = None,
               data: Path | None = None) -> Built:
    """Generate (unless ``data`` is given), import and build a sample store as of the window end."""
    from deskpulse.config import load_config
    from deskpulse.pipeline import import_files
    from deskpulse.sample.generate import generate
    from deskpulse.sla.build import build
    from deskpulse.store import open_store

    if data is None:
        data = out / "data"
        generate(n_tickets, SEED, data, start=START, days=DAYS)
    as_of = dt.datetime.combine(START + dt.timedelta(days=DAYS), dt.time())
    url = db_url or str(out / "store.duckdb")
    store = open_store(url)
    try:
        repo = store.tenant("default")
        import_files(repo, data / "tickets.csv", data / "events.csv")
        build(repo, load_config(CONFIG), as_of=as_of)
    finally:
        store.close()
    return Built(db=Path(url) if db_url is None else Path("."), data=data, as_of=as_of)


@pytest.fixture(scope="session")
def insights_built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Generated once per test session."""
    return make_store(tmp_path_factory.mktemp("insights"))


@pytest.fixture(scope="module")
def insights_db(insights_built: Built, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """This module's own copy of the built store."""
    target = tmp_path_factory.mktemp("insights_module") / "store.duckdb"
    shutil.copy(insights_built.db, target)
    return Built(db=target, data=insights_built.data, as_of=insights_built.as_of)


@pytest.fixture(scope="module")
def insights_repo(insights_db: Built) -> Iterator[Any]:
    from deskpulse.store import open_store

    store = open_store(str(insights_db.db))
    yield store.tenant("default")
    store.close()


@pytest.fixture(scope="module")
def insights_cfg() -> Any:
    from deskpulse.config import load_config

    return load_config(CONFIG)


def run_cli(db: Path | str, *args: str) -> tuple[int, str]:
    """Run ``deskpulse --db DB --config demo ARGS`` in-process; (exit code, stdout)."""
    from typer.testing import CliRunner

    import deskpulse.cli  # noqa: F401 - registers the commands
    from deskpulse.cli.main import app, close_stores

    try:
        result = CliRunner().invoke(app, ["--db", str(db), "--config", str(CONFIG), *args],
                                    env={"DESKPULSE_CACHE_DIR": CACHE_DIR})
    finally:
        close_stores()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout


def cli_json(db: Path | str, *args: str) -> Any:
    code, out = run_cli(db, *args, "--format", "json")
    assert code == 0, out
    return json.loads(out)
