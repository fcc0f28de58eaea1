"""The build on a real standalone Spark cluster: a master and two workers (1 core, 1 GB each)
started from pyspark's own ``bin/spark-class`` on 127.0.0.1 (:mod:`deskpulse.spark.cluster`), the build submitted by the CLI to
``spark://127.0.0.1:PORT`` as a separate process. Results equal the DuckDB build; both workers
ran tasks; a worker killed mid-build (its Worker daemon and its executor, SIGKILL) is survived —
Spark reruns the lost tasks on the other worker — and the result is still identical. The
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


def test_cluster_build_equals_duckdb_even_with_a_worker_killed(
    cluster: LocalCluster, generated: Built, tmp_path: Path
) -> None:
    """The CLI submits the build to the two-worker cluster; once worker2's executor runs a
    task, worker2 and its executor are SIGKILLed. Spark reschedules the lost tasks on worker1
    (and recomputes the lost cached blocks), the build succeeds, the results equal the DuckDB
    build, and both workers ran tasks."""
    lake = _lake(generated, tmp_path)
    cmd, env = _build_cmd(cluster, lake, generated)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    killed: list[int] = []
    deadline = time.monotonic() + 600
    try:
        while not killed and proc.poll() is None and time.monotonic() < deadline:
            logs = cluster.executor_logs("worker2")
            if logs and "Running task" in logs[-1].read_text(errors="replace"):
                # the whole worker goes, as when its machine dies: the Worker daemon and its executor
                executors = cluster.executor_pids("worker2")
                cluster.processes["worker2"].send_signal(signal.SIGKILL)
                killed.append(cluster.processes["worker2"].pid)
                for pid in executors:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                cluster.processes["worker2"].wait(timeout=30)
            time.sleep(0.2)
        out, err = proc.communicate(timeout=max(deadline - time.monotonic(), 1))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode(errors="replace")[-4000:]
    assert killed, "worker2 ran no task before the build ended: nothing was killed"
    assert json.loads(out)["tenants"] == ["acme"]
    _check_results(lake, generated, tmp_path)
    ran = {w: cluster.tasks_run(w) for w in ("worker1", "worker2")}
    assert all(n > 0 for n in ran.values()), f"tasks per worker: {ran}"
