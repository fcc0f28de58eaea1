"""The Spark build (local[2]) gives exactly what the DuckDB build gives: ticket_metrics,
ticket_sla, ticket_segments and backlog_daily, column by column, on the golden SLA cases and on
a few thousand generated tickets; through the store and through the lake (export-lake, build
--lake, load-results)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from tests.spark.conftest import (
    DEMO_CONFIG,
    Built,
    assert_same,
    assert_store_built_like,
    copy_store,
    golden_plans,
    golden_store,
    store_tables,
)

pytestmark = pytest.mark.spark
runner = CliRunner()


def dp(*args: str) -> str:
    from deskpulse.cli import app
    from deskpulse.cli.main import close_stores

    try:
        result = runner.invoke(app, list(args))
    finally:
        close_stores()
    assert result.exit_code == 0, result.output
    return result.output


def test_golden_cases_equal_duckdb_build(spark: Any, tmp_path: Path) -> None:
    """All golden cases in one Spark job: one tenant per case, each with its config and as_of."""
    from deskpulse.spark.build import run_build
    from deskpulse.spark.jobs import read_store
    from deskpulse.store import open_store

    db = tmp_path / "golden.duckdb"
    tenants = golden_store(db)  # built by DuckDB: the expected tables
    plans = golden_plans()
    slas = {name: plans[name][0] for name in tenants}
    as_ofs = {name: plans[name][1] for name in tenants}
    with open_store(str(db)) as store:
        tickets, events = read_store(spark, store, tenants, max(as_ofs.values()))
        result = run_build(tickets, events, slas, as_ofs)
        try:
            assert sorted(result.plans) == sorted(tenants)
            got = {name: result.collect(name) for name in ("ticket_metrics", "ticket_sla", "ticket_segments", "backlog_daily")}
            for tenant in tenants:
                expected = store_tables(store, tenant)
                for name, table in got.items():
                    mine = table.filter(pa.compute.equal(table.column("tenant_id"), tenant))
                    assert_same(expected[name], mine.drop_columns(["tenant_id", "created_month"]), f"{tenant}: {name}")
        finally:
            result.unpersist()


def test_generated_store_build_equals_duckdb(spark: Any, generated: Built, tmp_path: Path) -> None:
    """`deskpulse build --engine spark` reads the store, writes the four tables and build_state."""
    db = str(copy_store(generated, tmp_path / "spark.duckdb"))
    out = dp("--db", db, "--tenant", "acme", "--config", str(DEMO_CONFIG), "build", "--engine", "spark",
             "--as-of", generated.as_of.isoformat(), "--format", "json")
    summary = json.loads(out)
    assert summary["mode"] == "full (spark)" and summary["tickets_total"] == generated.tables["ticket_metrics"].num_rows
    assert_store_built_like(db, generated, "store")


def test_lake_round_trip_equals_duckdb(spark: Any, generated: Built, tmp_path: Path) -> None:
    """export-lake -> build --engine spark --lake -> load-results into a fresh store."""
    import pyarrow.dataset as ds

    from deskpulse.store import open_store

    lake = tmp_path / "lake"
    dp("--db", str(generated.store_path), "--tenant", "acme", "export-lake", str(lake))
    assert (lake / "tickets" / "tenant_id=acme" / "created_month=2026-01").is_dir()
    assert (lake / "ticket_events" / "tenant_id=acme" / "created_month=2026-02").is_dir()
    out = dp("--tenant", "acme", "--config", str(DEMO_CONFIG), "build", "--engine", "spark", "--lake", str(lake),
             "--as-of", generated.as_of.isoformat(), "--format", "json")
    assert json.loads(out)["tenants"] == ["acme"]
    for name in ("ticket_metrics", "ticket_sla", "ticket_segments", "backlog_daily"):
        assert (lake / "results" / name / "tenant_id=acme" / "created_month=2026-01").is_dir(), name
    # the results are readable in place (DuckDB, the API's engine, reads Hive-partitioned Parquet)
    sla = ds.dataset(lake / "results" / "ticket_sla", format="parquet", partitioning="hive").to_table()
    assert sla.num_rows == generated.tables["ticket_sla"].num_rows
    fresh = str(tmp_path / "serving.duckdb")
    dp("--db", fresh, "--tenant", "acme", "load-results", str(lake))
    with open_store(fresh) as store:
        got = store_tables(store, "acme")
        state = store.execute("SELECT as_of FROM build_state WHERE tenant_id = 'acme'")
    for name, expected in generated.tables.items():
        assert_same(expected, got[name], f"lake: {name}")
    assert state[0][0] == generated.as_of


@pytest.mark.postgres
def test_postgres_store_build_equals_duckdb(spark: Any, generated: Built, pg_url: str) -> None:
    """Without --lake on a PostgreSQL store: Spark reads tickets and events from PostgreSQL and
    writes the four tables and build_state back into it, equal to the DuckDB build."""
    from deskpulse.pipeline import import_files
    from deskpulse.store import open_store

    with open_store(pg_url) as store:
        import_files(store.tenant("acme"), generated.data_dir / "tickets.csv", generated.data_dir / "events.csv")
    out = dp("--db", pg_url, "--tenant", "acme", "--config", str(DEMO_CONFIG), "build", "--engine", "spark",
             "--as-of", generated.as_of.isoformat(), "--format", "json")
    assert json.loads(out)["tickets_total"] == generated.tables["ticket_metrics"].num_rows
    with open_store(pg_url) as store:
        got = store_tables(store, "acme")
        state = store.execute("SELECT as_of, config_hash FROM build_state WHERE tenant_id = 'acme'")
    for name, expected in generated.tables.items():
        assert_same(expected, got[name], f"postgres: {name}")
    assert state[0][0] == generated.as_of and state[0][1] == generated.cfg.fingerprint
