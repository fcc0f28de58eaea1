"""How the Spark build writes its results into the lake: a failed write leaves every partition
of the previous build whole and readable (partitions are staged and renamed in at commit), and
a rebuild removes the months it no longer produces (no stale rows survive a rebuild)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tests.spark.conftest import Built

pytestmark = pytest.mark.spark


def _lake(generated: Built, tmp_path: Path) -> Path:
    from deskpulse.spark.lake import export_lake
    from deskpulse.store import open_store

    lake = tmp_path / "lake"
    with open_store(str(generated.store_path), migrate=False) as store:
        export_lake(store, str(lake), ["acme"])
    return lake


def _results(lake: Path) -> dict[str, pa.Table]:
    from deskpulse.spark.lake import RESULT_TABLES, read_result

    return {name: read_result(str(lake), name, "acme") for name in RESULT_TABLES}


def test_a_failed_write_leaves_the_previous_partitions_whole(
    spark: Any, generated: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyspark.sql import functions as F

    from deskpulse.spark.build import SparkBuild
    from deskpulse.spark.jobs import build_lake_on_spark

    lake = _lake(generated, tmp_path)
    build_lake_on_spark(spark, str(lake), generated.cfg, tenants=["acme"], as_of=generated.as_of)
    before = _results(lake)
    months = sorted(p.name for p in (lake / "results" / "ticket_sla" / "tenant_id=acme").iterdir())
    assert len(months) >= 2
    last = months[-1].split("=", 1)[1]
    original = SparkBuild.table

    def failing(self: SparkBuild, name: str) -> Any:
        df = original(self, name)
        if name != "ticket_sla":
            return df
        # the task writing the last month fails after the other months' tasks may have written
        return df.withColumn("metric", F.when(F.col("created_month") == F.lit(last), F.raise_error(F.lit("boom")))
                             .otherwise(F.col("metric")))

    monkeypatch.setattr(SparkBuild, "table", failing)
    with pytest.raises(Exception, match="boom"):
        build_lake_on_spark(spark, str(lake), generated.cfg, tenants=["acme"], as_of=generated.as_of)
    after = _results(lake)
    # ticket_sla: every partition is the previous build's, whole; nothing staged is visible
    assert after["ticket_sla"].sort_by([("ticket_id", "ascending"), ("metric", "ascending"), ("instance", "ascending")]
                                       ).equals(before["ticket_sla"].sort_by([("ticket_id", "ascending"), ("metric", "ascending"), ("instance", "ascending")]))
    assert sorted(p.name for p in (lake / "results" / "ticket_sla" / "tenant_id=acme").iterdir()) == months
    assert not [p for p in (lake / "results" / "ticket_sla").iterdir() if p.name.startswith(".spark-staging")]


def test_a_rebuild_removes_months_it_no_longer_produces(spark: Any, generated: Built, tmp_path: Path) -> None:
    from deskpulse.spark.jobs import build_lake_on_spark

    lake = _lake(generated, tmp_path)
    build_lake_on_spark(spark, str(lake), generated.cfg, tenants=["acme"], as_of=generated.as_of)
    months = sorted(p.name for p in (lake / "tickets" / "tenant_id=acme").iterdir())
    gone = months[-1]
    # every ticket of the last month is gone from the inputs (e.g. deleted upstream)
    for table in ("tickets", "ticket_events"):
        shutil.rmtree(lake / table / "tenant_id=acme" / gone)
    build_lake_on_spark(spark, str(lake), generated.cfg, tenants=["acme"], as_of=generated.as_of)
    for name in ("ticket_metrics", "ticket_sla", "ticket_segments"):
        assert not (lake / "results" / name / "tenant_id=acme" / gone).exists(), name
        assert (lake / "results" / name / "tenant_id=acme" / months[0]).is_dir(), name
    import pyarrow.dataset as ds

    left = ds.dataset(lake / "tickets", format="parquet", partitioning="hive").to_table(
        filter=ds.field("deleted_at").is_null())
    assert 0 < left.num_rows < generated.tables["ticket_metrics"].num_rows
    assert _results(lake)["ticket_metrics"].num_rows == left.num_rows
