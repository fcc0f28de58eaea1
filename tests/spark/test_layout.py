"""How the Spark build splits the work (deskpulse.spark.layout): group size from a task's heap,
groups per tenant (skew: a huge tenant over many groups; small tenants packed together), and
group keys that Spark's own hash partitioning sends to their partitions (one exchange, no second)."""

from __future__ import annotations

from typing import Any

import pytest

from deskpulse.spark.layout import (
    MAX_TICKETS_PER_GROUP,
    MIN_GROUP_TICKETS,
    MIN_TICKETS_PER_GROUP,
    group_keys,
    memory_mb,
    plan_layout,
    spark_hash_long,
    tickets_per_group,
)


def test_memory_settings() -> None:
    assert memory_mb("2g") == 2048 and memory_mb("768m") == 768 and memory_mb("4096") == 4096
    assert memory_mb("1.5g") == 1536 and memory_mb(None) == 1024 and memory_mb("junk", 512) == 512


def test_group_size_follows_the_heap_of_a_task() -> None:
    assert tickets_per_group(1024) == 25_000
    assert tickets_per_group(2048) == 50_000
    assert tickets_per_group(128) == MIN_TICKETS_PER_GROUP
    assert tickets_per_group(64 * 1024) == MAX_TICKETS_PER_GROUP


def test_one_huge_tenant_gets_groups_of_at_most_the_target_each_in_its_own_partition() -> None:
    layout = plan_layout({"big": 4_000_000, "small": 3_000}, cores=2, tickets_per_group=50_000)
    assert layout.buckets["big"] == 80 and layout.buckets["small"] == 1
    big = {layout.partition_of[("big", b)] for b in range(80)}
    assert len(big) == 80  # no two large groups share a task
    assert layout.partitions == 81
    keys = layout.group_keys
    assert len(set(keys.values())) == layout.groups  # one key per group
    assert all(spark_hash_long(k) % layout.partitions == layout.partition_of[g] for g, k in keys.items())


def test_small_data_still_uses_every_core_and_no_tiny_groups() -> None:
    layout = plan_layout({"a": 100_000}, cores=8, tickets_per_group=50_000)
    assert layout.buckets["a"] == 16 and layout.partitions == 16
    tiny = plan_layout({"a": 1_500}, cores=8, tickets_per_group=50_000)
    assert tiny.buckets["a"] == 2 and all(1_500 / b >= MIN_GROUP_TICKETS / 2 for b in tiny.buckets.values())


def test_many_small_tenants_are_packed_into_few_partitions() -> None:
    sizes = {f"t{i:03d}": 2_000 for i in range(300)}
    layout = plan_layout(sizes, cores=2, tickets_per_group=50_000)
    assert layout.groups == 300 and layout.partitions == 12  # 600k tickets, <= 50k per partition
    assert set(layout.partition_of.values()) == set(range(layout.partitions))


def test_forced_buckets_scale_with_tenant_size() -> None:
    layout = plan_layout({"big": 100_000, "half": 50_000}, cores=2, tickets_per_group=50_000, largest_buckets=10)
    assert layout.buckets == {"big": 10, "half": 5}


def test_group_keys_land_in_their_partitions() -> None:
    for n in (1, 2, 7, 80):
        partition_of = {("t", b): b % n for b in range(3 * n)}
        keys = group_keys(partition_of, n)
        assert len(set(keys.values())) == 3 * n
        assert all(spark_hash_long(k) % n == partition_of[g] for g, k in keys.items())


@pytest.mark.spark
def test_hash_and_group_keys_match_spark(spark: Any) -> None:
    from pyspark.sql import functions as F

    values = [0, 1, -1, 42, 2**40 + 7, -(2**62), 123_456_789]
    rows = spark.createDataFrame([(v,) for v in values], "v long").select("v", F.hash("v").alias("h")).collect()
    assert [spark_hash_long(r["v"]) for r in rows] == [r["h"] for r in rows]
    layout = plan_layout({"big": 60_000, "small": 2_000}, cores=2, tickets_per_group=20_000)
    df = spark.createDataFrame([(k,) for k in layout.group_keys.values()], "k long").repartition(layout.partitions, "k")
    parts = dict(df.rdd.mapPartitionsWithIndex(lambda i, it: [(i, sorted(r[0] for r in it))]).collect())
    expected: dict[int, list[int]] = {p: [] for p in range(layout.partitions)}
    for g, k in layout.group_keys.items():
        expected[layout.partition_of[g]].append(k)
    assert parts == {p: sorted(ks) for p, ks in expected.items()}


@pytest.mark.spark
def test_the_cogroup_keeps_the_build_partitioning(spark: Any) -> None:
    """One exchange per input (the repartition by group key), none added for the cogroup."""
    from pyspark.sql import functions as F

    from deskpulse.spark.build import spark_schema
    from deskpulse.spark.groups import PACKED_SCHEMA

    tk = spark.range(100).select(F.col("id").alias("_group"), F.col("id").cast("string").alias("ticket_id"))
    ev = spark.range(300).select(F.pmod("id", 100).alias("_group"), F.col("id").cast("string").alias("ticket_id"))
    out = (tk.repartition(4, "_group").groupBy("_group").cogroup(ev.repartition(4, "_group").groupBy("_group"))
           .applyInArrow(lambda a, b: PACKED_SCHEMA.empty_table(), spark_schema(PACKED_SCHEMA)))
    plan = out._jdf.queryExecution().executedPlan().toString()
    assert plan.count("Exchange") == 2 and "ENSURE_REQUIREMENTS" not in plan, plan
