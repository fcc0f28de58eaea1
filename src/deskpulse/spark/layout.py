"""How the Spark build splits tenants into groups and groups into tasks (pure Python, no pyspark).

The build's unit of work is a group of whole tickets of one tenant (docs/decisions.md D8).
This module decides, from the data size and the memory of one task:

- **tickets per group** — :func:`tickets_per_group`: ≈ 25,000 tickets per GB of executor heap
  per concurrently running task (heap ÷ executor cores; in local mode the driver's heap ÷
  local cores), between 5,000 and 100,000. A group's tickets and events are held whole by
  the JVM (the cogroup) and by the Python worker (the engine), so the group size is what
  bounds a task's memory;
- **groups per tenant** — :func:`plan_layout`: enough that no group exceeds that size and
  that there are ≈ 2 groups per core for balance, but no group below
  :data:`MIN_GROUP_TICKETS` (a group has a fixed cost). One huge tenant is spread over many
  groups (skew); small tenants keep one;
- **which task runs which group** — groups are packed into partitions (largest first, each
  into the least loaded partition that still has room, up to one group's size), and each
  group gets a *group key* (a long) that Spark's hash partitioning (Murmur3, seed 42,
  ``pmod``) sends to exactly its partition. Repartitioning both inputs by the group key into
  exactly that many partitions, and cogrouping by that one key, gives every large group a
  task of its own — no two large groups share a task by hash collision, no second shuffle,
  no adaptive coalescing — and packs small tenants together.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

#: Tickets per group per GB of heap of one running task (measured: docs/performance.md, Spark).
TICKETS_PER_TASK_GB: Final = 25_000
#: Bounds of the automatic group size.
MIN_TICKETS_PER_GROUP: Final = 5_000
MAX_TICKETS_PER_GROUP: Final = 100_000
#: A tenant is not split into groups smaller than this (each group has a fixed cost).
MIN_GROUP_TICKETS: Final = 1_000
#: Groups per core aimed at, for balance between tasks.
GROUPS_PER_CORE: Final = 2

_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)b?\s*$", re.IGNORECASE)


def memory_mb(value: str | None, default_mb: int = 1024) -> int:
    """A JVM memory setting (``"2g"``, ``"768m"``, ``"4096"`` = MiB) in MiB."""
    if not value:
        return default_mb
    m = _MEMORY.match(value)
    if not m:
        return default_mb
    number, unit = float(m.group(1)), m.group(2).lower()
    factor = {"k": 1 / 1024, "": 1, "m": 1, "g": 1024, "t": 1024 * 1024}[unit]
    return max(1, int(number * factor))


def tickets_per_group(task_heap_mb: int) -> int:
    """Automatic group size for a task with ``task_heap_mb`` MiB of heap."""
    n = int(TICKETS_PER_TASK_GB * task_heap_mb / 1024)
    return max(MIN_TICKETS_PER_GROUP, min(MAX_TICKETS_PER_GROUP, n // 1000 * 1000))


@dataclass(frozen=True)
class Layout:
    """Groups per tenant, the partition of every group, and the partitions' slot keys."""

    tickets_per_group: int
    #: groups (buckets) per tenant
    buckets: dict[str, int]
    #: (tenant, bucket) -> partition index
    partition_of: dict[tuple[str, int], int]
    #: (tenant, bucket) -> group key: a long, unique per group, that Spark's hash
    #: partitioning into :attr:`partitions` partitions sends to the group's partition
    group_keys: dict[tuple[str, int], int]
    partitions: int

    @property
    def groups(self) -> int:
        return sum(self.buckets.values())


def plan_layout(
    sizes: Mapping[str, int], *, cores: int, tickets_per_group: int, largest_buckets: int | None = None
) -> Layout:
    """Groups per tenant and their packing into partitions (see the module docstring).

    ``sizes``: tickets per tenant; ``cores``: task slots of the cluster; ``largest_buckets``
    forces the number of groups of the largest tenant (others scale down with their size).
    """
    total = sum(sizes.values())
    cores = max(1, cores)
    target = max(MIN_GROUP_TICKETS, tickets_per_group)
    balance = GROUPS_PER_CORE * cores
    buckets: dict[str, int] = {}
    for tenant, n in sizes.items():
        if largest_buckets is not None:
            largest = max(sizes.values())
            b = math.ceil(largest_buckets * n / largest) if largest else 1
        else:
            b = max(math.ceil(n / target), math.ceil(balance * n / total) if total else 1)
        buckets[tenant] = max(1, min(b, math.ceil(n / MIN_GROUP_TICKETS)))
    # partitions hold up to one group's worth of tickets, less when that leaves cores idle
    capacity = max(MIN_GROUP_TICKETS, min(target, math.ceil(total / balance) if total else target))
    groups = sorted(
        ((n / buckets[t], t, b) for t, n in sizes.items() for b in range(buckets[t])),
        key=lambda g: (-g[0], g[1], g[2]),
    )
    loads: list[tuple[float, int]] = []  # (tickets, partition) min-heap
    partition_of: dict[tuple[str, int], int] = {}
    count = 0
    for size, tenant, b in groups:
        if loads and loads[0][0] + size <= capacity:
            load, p = heapq.heappop(loads)
        else:
            load, p = 0.0, count
            count += 1
        partition_of[(tenant, b)] = p
        heapq.heappush(loads, (load + size, p))
    partitions = max(count, 1)
    return Layout(target, buckets, partition_of, group_keys(partition_of, partitions), partitions)


# --- Spark's hash partitioning, for choosing slot keys -----------------------------------------

_MASK: Final = 0xFFFFFFFF


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _MASK


def _mix_k1(k1: int) -> int:
    k1 = (k1 * 0xCC9E2D51) & _MASK
    k1 = _rotl(k1, 15)
    return (k1 * 0x1B873593) & _MASK


def _mix_h1(h1: int, k1: int) -> int:
    h1 ^= k1
    h1 = _rotl(h1, 13)
    return (h1 * 5 + 0xE6546B64) & _MASK


def spark_hash_long(value: int, seed: int = 42) -> int:
    """Spark's ``hash(CAST(value AS BIGINT))`` (``Murmur3_x86_32.hashLong``), a signed int."""
    v = value & 0xFFFFFFFFFFFFFFFF
    h1 = _mix_h1(seed & _MASK, _mix_k1(v & _MASK))
    h1 = _mix_h1(h1, _mix_k1(v >> 32))
    h1 ^= 8
    h1 ^= h1 >> 16
    h1 = (h1 * 0x85EBCA6B) & _MASK
    h1 ^= h1 >> 13
    h1 = (h1 * 0xC2B2AE35) & _MASK
    h1 ^= h1 >> 16
    return h1 - (1 << 32) if h1 & 0x80000000 else h1


def group_keys(partition_of: Mapping[tuple[str, int], int], partitions: int) -> dict[tuple[str, int], int]:
    """A distinct long per group such that Spark's ``repartition(partitions, col)`` sends it
    to the group's partition (``pmod(hash(key), partitions) == partition_of[group]``).

    Grouping the cogroup by this one key keeps the repartitioning: Spark adds no second
    exchange (with several grouping keys it re-shuffles by all of them)."""
    wanted: dict[int, list[tuple[str, int]]] = {}
    for group, p in sorted(partition_of.items()):
        wanted.setdefault(p, []).append(group)
    keys: dict[tuple[str, int], int] = {}
    missing, k = len(partition_of), 0
    while missing:
        waiting = wanted.get(spark_hash_long(k) % partitions)
        if waiting:
            keys[waiting.pop()] = k
            missing -= 1
        k += 1
    return keys
