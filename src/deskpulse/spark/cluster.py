"""A throwaway Spark standalone cluster on this machine, for tests and benchmarks.

A master and N workers are started with pyspark's own ``bin/spark-class``
(``org.apache.spark.deploy.master.Master`` / ``…deploy.worker.Worker``) on 127.0.0.1 and free
ports, in the foreground (``SPARK_NO_DAEMONIZE``), as children of this process. Stopping the
cluster stops exactly those processes, by pid (workers first, then the master). Nothing here
is needed to *use* a real cluster: point ``DESKPULSE_SPARK_MASTER`` at it (docs/scaling.md).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from deskpulse.errors import ComponentMissingError
from deskpulse.spark.session import require_pyspark

log = logging.getLogger(__name__)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalCluster:
    """A running standalone cluster started by :func:`start_cluster`."""

    master_url: str
    ui_url: str
    processes: dict[str, subprocess.Popen[bytes]]
    work_dirs: dict[str, Path]
    #: ``SPARK_CONF_DIR`` for drivers started in another process (holds spark-defaults.conf).
    conf_dir: Path
    logs: list[Path] = field(default_factory=list)

    @property
    def workers(self) -> list[str]:
        return list(self.work_dirs)

    def workers_alive(self) -> int:
        """Workers the master reports ALIVE (0 if the master does not answer)."""
        try:
            with urllib.request.urlopen(self.ui_url + "/json/", timeout=5) as r:  # noqa: S310 - our own http URL
                state = json.load(r)
        except OSError:
            return 0
        return sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")

    def executor_logs(self, worker: str) -> list[Path]:
        return sorted(self.work_dirs[worker].glob("app-*/*/stderr"))

    def tasks_run(self, worker: str) -> int:
        """Tasks the worker's executors started (from their logs)."""
        return sum(p.read_text(errors="replace").count("Running task") for p in self.executor_logs(worker))

    def executor_pids(self, worker: str) -> list[int]:
        """Pids of the worker's child processes (its executors)."""
        pid = self.processes[worker].pid
        kids: list[int] = []
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                kids += [int(x) for x in (task / "children").read_text().split()]
            except OSError:
                continue
        return kids

    def log_tail(self, chars: int = 2000) -> str:
        return "\n".join(p.read_text(errors="replace")[-chars:] for p in self.logs if p.exists())

    def stop(self) -> None:
        """Stop exactly the processes this cluster started: workers first, then the master."""
        for proc in reversed(list(self.processes.values())):
            _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def start_cluster(
    root: Path,
    *,
    workers: int = 2,
    cores: int = 1,
    memory: str = "1g",
    conf: Mapping[str, str] | None = None,
    timeout_s: float = 180.0,
) -> LocalCluster:
    """Start a master and ``workers`` workers (``cores`` cores, ``memory`` each) under ``root``
    and wait until all workers are ALIVE. ``conf`` goes to ``root/conf/spark-defaults.conf``
    (read by drivers started with ``SPARK_CONF_DIR`` pointing there). Executors' Python is this
    interpreter. Raises :class:`ComponentMissingError` if the cluster does not come up (the
    processes started so far are stopped)."""
    pyspark = require_pyspark()
    home = Path(pyspark.__file__).parent
    root.mkdir(parents=True, exist_ok=True)
    port, ui = free_port(), free_port()
    conf_dir = root / "conf"
    conf_dir.mkdir(exist_ok=True)
    (conf_dir / "spark-defaults.conf").write_text("".join(f"{k} {v}\n" for k, v in (conf or {}).items()))
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_NO_DAEMONIZE": "1", "PYSPARK_PYTHON": sys.executable}
    cls = str(home / "bin" / "spark-class")
    cluster = LocalCluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui}", {}, {}, conf_dir)

    def start(name: str, *args: str) -> None:
        path = root / f"{name}.log"
        cluster.logs.append(path)
        with path.open("wb") as out:
            cluster.processes[name] = subprocess.Popen(  # noqa: S603 - pyspark's own launcher
                [cls, *args], env=env, stdout=out, stderr=subprocess.STDOUT)

    try:
        start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
              "--port", str(port), "--webui-port", str(ui))
        for i in range(1, workers + 1):
            name = f"worker{i}"
            cluster.work_dirs[name] = root / name
            cluster.work_dirs[name].mkdir(exist_ok=True)
            start(name, "org.apache.spark.deploy.worker.Worker", cluster.master_url,
                  "--host", "127.0.0.1", "--cores", str(cores), "--memory", memory,
                  "--webui-port", str(free_port()), "--work-dir", str(cluster.work_dirs[name]))
        deadline = time.monotonic() + timeout_s
        while cluster.workers_alive() < workers:
            if time.monotonic() > deadline or any(p.poll() is not None for p in cluster.processes.values()):
                raise ComponentMissingError(f"the standalone Spark cluster did not start:\n{cluster.log_tail()}")
            time.sleep(1)
    except BaseException:
        cluster.stop()
        raise
    log.info("spark cluster: %s with %d workers (pids %s)", cluster.master_url, workers,
             [p.pid for p in cluster.processes.values()])
    return cluster
