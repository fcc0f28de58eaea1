"""The engine-neutral group layer without Spark: splitting a tenant's tickets into hash groups
of whole tickets and running :func:`deskpulse.spark.groups.compute_group` per group gives the
DuckDB build's ticket_metrics, ticket_sla and ticket_segments, and the groups' backlog_daily
shares add up to the DuckDB build's backlog_daily exactly (docs/decisions.md D8)."""

from __future__ import annotations

import datetime as dt
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tests.spark.conftest import DEMO_CONFIG, assert_same, store_tables


@pytest.mark.parametrize("groups", [1, 3])
def test_groups_add_up_to_the_duckdb_build(tmp_path: Path, groups: int) -> None:
    import duckdb

    from deskpulse.analytics.backlog import build_backlog_daily
    from deskpulse.config import load_config
    from deskpulse.pipeline import import_files
    from deskpulse.sample.generate import generate
    from deskpulse.sla.build import build
    from deskpulse.sla.policies import load_sla_config
    from deskpulse.spark.groups import (
        EVENT_BUILD_COLUMNS,
        TICKET_BUILD_COLUMNS,
        TenantPlan,
        compute_group,
        pack,
        probe_schemas,
        unpack,
    )
    from deskpulse.store import open_store

    result = generate(400, 3, tmp_path / "data", start=dt.date(2026, 1, 5), days=20)
    as_of = result.window_end_at
    cfg = load_config(DEMO_CONFIG)
    sla = load_sla_config(cfg)
    with open_store(str(tmp_path / "s.duckdb")) as store:
        repo = store.tenant("acme")
        import_files(repo, tmp_path / "data" / "tickets.csv", tmp_path / "data" / "events.csv")
        build(repo, cfg, as_of=as_of, full=True)
        build_backlog_daily(repo, as_of=as_of)
        expected = store_tables(store, "acme")
        tk = repo.query("SELECT " + ", ".join(f'"{c}"' for c in TICKET_BUILD_COLUMNS) + " FROM tickets WHERE deleted_at IS NULL")
        ev = repo.query("SELECT " + ", ".join(f'"{c}"' for c in EVENT_BUILD_COLUMNS) + " FROM ticket_events")
    tk = tk.append_column("tenant_id", pa.array(["acme"] * tk.num_rows))
    bucket = {t: zlib.crc32(t.encode()) % groups for t in tk.column("ticket_id").to_pylist()}
    tb = np.array([bucket[t] for t in tk.column("ticket_id").to_pylist()])
    eb = np.array([bucket.get(t, -1) for t in ev.column("ticket_id").to_pylist()])
    plan = TenantPlan(sla, as_of, pc.min(tk.column("created_at")).as_py().date())
    schemas = probe_schemas(sla)
    packed = pa.concat_tables(
        pack("acme", compute_group("acme", tk.filter(pa.array(tb == b)), ev.filter(pa.array(eb == b)), plan))
        for b in range(groups)
    )
    for name in ("ticket_metrics", "ticket_sla", "ticket_segments"):
        got = unpack(packed, name, schemas)
        assert got.column_names[0] == "tenant_id" and got.column_names[-1] == "created_month"
        assert set(got.column("tenant_id").to_pylist()) == {"acme"}
        assert_same(expected[name], got.drop_columns(["tenant_id", "created_month"]), f"groups: {name}")
    partial = unpack(packed, "backlog_partial", schemas)
    con = duckdb.connect()
    con.register("p", partial)
    counts = ", ".join(f"CAST(sum({c}) AS INTEGER) AS {c}" for c in (
        "open_count", "arrivals", "completions", "wip", "lt_1d", "d1_3", "d3_7", "d7_30", "gt_30d", "at_risk_count"))
    summed = con.sql(
        f"SELECT date, dimension, value, {counts}, sum(sla_debt_seconds) / 60.0 AS sla_debt_minutes "  # noqa: S608
        "FROM p GROUP BY ALL"
    ).to_arrow_table()
    con.close()
    assert_same(expected["backlog_daily"], summed, "groups: backlog_daily")
