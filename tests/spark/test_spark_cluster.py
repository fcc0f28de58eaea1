"""The build on a real standalone Spark cluster: a master and two workers (1 core, 1 GB each)
started from pyspark's own ``bin/spark-class`` on 127.0.0.1 (:mod:`deskpulse.spark.cluster`), the build submitted by the CLI to
``spark://127.0.0.1:PORT`` as a separate process. Results equal the DuckDB build; both workers
ran tasks; an executor killed mid-build is retried and the result is still identical. The
fixture stops exactly the processes it started, by pid."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deskpulse.spark.cluster import LocalCluster, start_cluster
from tests.spark.conftest import DEMO_CONFIG, Built, assert_same, store_tables

pytestmark = pytest.mark.spark
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def cluster(spark_available: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    from deskpulse.errors import ComponentMissingError

    root = tmp_path_factory.mktemp("spark_cluster")
    # read by the driver that the CLI starts (SPARK_CONF_DIR): wait for both executors
    conf = {
        "spark.scheduler.minRegisteredResourcesRatio": "1.0",
        "spark.scheduler.maxRegisteredResourcesWaitingTime": "120s",
        "spark.executor.memory": "768m",
        "spark.driver.memory": "1g",
        "spark.sql.shuffle.partitions": "4",
        "spark.task.maxFailures": "4",
    }
    try:
        c = start_cluster(root, workers=2, cores=1, memory="1g", conf=conf)
    except ComponentMissingError as exc:
        pytest.fail(str(exc))
    try:
        yield c
    finally:
        c.stop()  # exactly the processes it started, by pid


def _build_cmd(cluster: LocalCluster, lake: Path, generated: Built) -> tuple[list[str], dict[str, str]]:
    cmd = [str(VENV_BIN / "deskpulse"), "--tenant", "acme", "--config", str(DEMO_CONFIG), "build",
           "--engine", "spark", "--lake", str(lake), "--as-of", generated.as_of.isoformat(), "--format", "json"]
    env = {**os.environ, "DESKPULSE_SPARK_MASTER": cluster.master_url, "SPARK_CONF_DIR": str(cluster.conf_dir),
           "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    return cmd, env


def _check_results(lake: Path, generated: Built, tmp_path: Path) -> None:
    from deskpulse.spark.lake import load_results
    from deskpulse.store import open_store

    with open_store(str(tmp_path / "serving.duckdb")) as store:
        load_results(store, str(lake), ["acme"])
        got = store_tables(store, "acme")
    for name, expected in generated.tables.items():
        assert_same(expected, got[name], f"cluster: {name}")


def _lake(generated: Built, tmp_path: Path) -> Path:
    from deskpulse.spark.lake import export_lake
    from deskpulse.store import open_store

    lake = tmp_path / "lake"
    with open_store(str(generated.store_path), migrate=False) as store:
        export_lake(store, str(lake), ["acme"])
    return lake


def test_cluster_build_equals_duckdb_even_with_an_executor_killed(
    cluster: LocalCluster, generated: Built, tmp_path: Path
) -> None:
    """The CLI submits the build to the two-worker cluster; once worker2's executor runs a
    task it is SIGKILLed. Spark reschedules its tasks (and recomputes its cached blocks), the
    build succeeds, the results equal the DuckDB build, and both workers ran tasks."""
    lake = _lake(generated, tmp_path)
    cmd, env = _build_cmd(cluster, lake, generated)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    killed: list[int] = []
    deadline = time.monotonic() + 600
    try:
        while not killed and proc.poll() is None and time.monotonic() < deadline:
            logs = cluster.executor_logs("worker2")
            if logs and "Running task" in logs[-1].read_text(errors="replace"):
                for pid in cluster.executor_pids("worker2"):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.2)
        out, err = proc.communicate(timeout=max(deadline - time.monotonic(), 1))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode(errors="replace")[-4000:]
    assert killed, "no executor of worker2 ran a task to kill"
    assert json.loads(out)["tenants"] == ["acme"]
    _check_results(lake, generated, tmp_path)
    ran = {w: cluster.tasks_run(w) for w in ("worker1", "worker2")}
    assert all(n > 0 for n in ran.values()), f"tasks per worker: {ran}"
