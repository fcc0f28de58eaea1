"""The build on a real standalone Spark cluster: a master and two workers (1 core, 1 GB each)
started from pyspark's own ``bin/spark-class`` on 127.0.0.1, the build submitted by the CLI to
``spark://127.0.0.1:PORT`` as a separate process. Results equal the DuckDB build; both workers
ran tasks; an executor killed mid-build is retried and the result is still identical. The
fixture stops exactly the processes it started, by pid."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.spark.conftest import DEMO_CONFIG, Built, assert_same, store_tables

pytestmark = pytest.mark.spark
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    master_url: str
    ui_url: str
    processes: dict[str, subprocess.Popen[bytes]]
    work_dirs: dict[str, Path]
    conf_dir: Path
    logs: list[Path] = field(default_factory=list)

    def workers_alive(self) -> int:
        try:
            with urllib.request.urlopen(self.ui_url + "/json/", timeout=5) as r:
                state = json.load(r)
        except OSError:
            return 0
        return sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")

    def executor_logs(self, worker: str) -> list[Path]:
        return sorted(self.work_dirs[worker].glob("app-*/*/stderr"))

    def tasks_run(self, worker: str) -> int:
        return sum(p.read_text(errors="replace").count("Running task") for p in self.executor_logs(worker))

    def executor_pids(self, worker: str) -> list[int]:
        pid = self.processes[worker].pid
        kids: list[int] = []
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                kids += [int(x) for x in (task / "children").read_text().split()]
            except OSError:
                continue
        return kids


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster(spark_available: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    import pyspark

    home = Path(pyspark.__file__).parent
    root = tmp_path_factory.mktemp("spark_cluster")
    port, ui = free_port(), free_port()
    conf_dir = root / "conf"
    conf_dir.mkdir()
    # read by the driver that the CLI starts (SPARK_CONF_DIR): wait for both executors
    (conf_dir / "spark-defaults.conf").write_text(
        "spark.scheduler.minRegisteredResourcesRatio 1.0\n"
        "spark.scheduler.maxRegisteredResourcesWaitingTime 120s\n"
        "spark.executor.memory 768m\n"
        "spark.driver.memory 1g\n"
        "spark.sql.shuffle.partitions 4\n"
        "spark.task.maxFailures 4\n"
    )
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_NO_DAEMONIZE": "1", "PYSPARK_PYTHON": sys.executable}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    work: dict[str, Path] = {}
    logs: list[Path] = []
    cls = str(home / "bin" / "spark-class")

    def start(name: str, *args: str) -> None:
        log = root / f"{name}.log"
        logs.append(log)
        with log.open("wb") as out:
            procs[name] = subprocess.Popen([cls, *args], env=env, stdout=out, stderr=subprocess.STDOUT)

    try:
        start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
              "--port", str(port), "--webui-port", str(ui))
        for name in ("worker1", "worker2"):
            work[name] = root / name
            work[name].mkdir()
            start(name, "org.apache.spark.deploy.worker.Worker", f"spark://127.0.0.1:{port}",
                  "--host", "127.0.0.1", "--cores", "1", "--memory", "1g",
                  "--webui-port", str(free_port()), "--work-dir", str(work[name]))
        c = Cluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui}", procs, work, conf_dir, logs)
        deadline = time.monotonic() + 180
        while c.workers_alive() < 2:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs.values()):
                text = "\n".join(p.read_text(errors="replace")[-2000:] for p in logs)
                pytest.fail(f"the standalone cluster did not start:\n{text}")
            time.sleep(1)
        yield c
    finally:
        for proc in reversed(list(procs.values())):  # workers first, then the master
            _stop(proc)


def _build_cmd(cluster: Cluster, lake: Path, generated: Built) -> tuple[list[str], dict[str, str]]:
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
    cluster: Cluster, generated: Built, tmp_path: Path
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
