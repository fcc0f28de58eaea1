"""Fixtures of the Spark tests: one local[2] SparkSession per test session, and datasets built
by the DuckDB build to compare with.

Tests marked ``spark`` skip when pyspark or Java is missing, except under CI=true, where they
fail: CI must prove the Spark build (`make test` installs the ``spark`` extra).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

#: Small memory and few partitions: the tests run on a 2-core machine shared with others.
SPARK_CONF = {
    "spark.driver.memory": "1g",
    "spark.executor.memory": "1g",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
}
GENERATED_TICKETS = 3000
GENERATED_START = dt.date(2026, 1, 5)
DEMO_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "demo" / "deskpulse.yaml"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = str(Path(__file__).parent)
    for item in items:
        if str(item.fspath).startswith(here):
            # py4j and pyspark leave sockets to the garbage collector
            item.add_marker(pytest.mark.filterwarnings("ignore::ResourceWarning"))
            item.add_marker(pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"))
            item.add_marker(pytest.mark.filterwarnings("ignore::DeprecationWarning:pyspark.*"))


def spark_problem() -> str | None:
    """Why a classic Spark session cannot start here, or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'deskpulse[spark]')"
    from deskpulse.spark.session import java_home

    if java_home() is None:
        return "Java is not installed"
    return None


@pytest.fixture(scope="session")
def spark_available() -> bool:
    problem = spark_problem()
    if problem is None:
        return True
    if os.environ.get("CI") == "true":
        pytest.fail(f"Spark must run under CI=true: {problem}")
    pytest.skip(problem)
    return False


@pytest.fixture(scope="session")
def spark(spark_available: bool) -> Iterator[Any]:
    from deskpulse.spark.session import spark_session

    session = spark_session("local[2]", app_name="deskpulse-tests", conf=SPARK_CONF)
    yield session
    session.stop()


@dataclass
class Built:
    """A DuckDB store holding tenant ``acme`` imported from generated files and built."""

    store_path: Path
    data_dir: Path
    as_of: dt.datetime
    cfg: Any
    tables: dict[str, pa.Table]


RESULT_KEYS = {
    "ticket_metrics": ["ticket_id"],
    "ticket_sla": ["ticket_id", "metric", "instance"],
    "ticket_segments": ["ticket_id", "segment"],
    "backlog_daily": ["date", "dimension", "value"],
}


def store_tables(store: Any, tenant: str) -> dict[str, pa.Table]:
    repo = store.tenant(tenant)
    return {
        name: repo.query(f"SELECT * FROM {name}").drop_columns(["tenant_id"]).sort_by([(k, "ascending") for k in keys])
        for name, keys in RESULT_KEYS.items()
    }


def assert_same(expected: pa.Table, actual: pa.Table, what: str) -> None:
    """Column by column, exactly (values cast to the expected column types, rows sorted)."""
    name = what.split(":")[-1].strip()
    keys = [(k, "ascending") for k in RESULT_KEYS[name]]
    assert actual.num_rows == expected.num_rows, f"{what}: {actual.num_rows} rows, expected {expected.num_rows}"
    missing = [c for c in expected.column_names if c not in actual.column_names]
    assert not missing, f"{what}: missing columns {missing}"
    actual = actual.select(expected.column_names).cast(expected.schema).sort_by(keys)
    expected = expected.sort_by(keys)
    bad = [c for c in expected.column_names if not actual.column(c).equals(expected.column(c))]
    detail = ""
    if bad:
        exp_rows = expected.select([*RESULT_KEYS[name], bad[0]]).to_pylist()
        got_rows = actual.select([*RESULT_KEYS[name], bad[0]]).to_pylist()
        diff = [(e, g) for e, g in zip(exp_rows, got_rows, strict=True) if e != g][:3]
        detail = f"; first differences (expected, spark): {diff}"
    assert not bad, f"{what}: columns differ: {bad}{detail}"


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """A few thousand generated tickets, imported and built by the DuckDB build (+ backlog)."""
    from deskpulse.analytics.backlog import build_backlog_daily
    from deskpulse.config import load_config
    from deskpulse.pipeline import import_files
    from deskpulse.sample.generate import generate
    from deskpulse.sla.build import build
    from deskpulse.store import open_store

    root = tmp_path_factory.mktemp("spark_generated")
    data = root / "data"
    result = generate(GENERATED_TICKETS, 11, data, start=GENERATED_START, days=45)
    as_of = result.window_end_at
    path = root / "duckdb.duckdb"
    cfg = load_config(DEMO_CONFIG)
    with open_store(str(path)) as store:
        repo = store.tenant("acme")
        import_files(repo, data / "tickets.csv", data / "events.csv")
        build(repo, cfg, as_of=as_of, full=True)
        build_backlog_daily(repo, as_of=as_of)
        tables = store_tables(store, "acme")
    return Built(path, data, as_of, cfg, tables)


def copy_store(built: Built, dest: Path) -> Path:
    shutil.copy(built.store_path, dest)
    return dest
