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


def _required(what: str, problem: str | None) -> bool:
    """True when nothing is missing; otherwise skip, or fail under CI=true (CI must prove it)."""
    if problem is None:
        return True
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} must run under CI=true: {problem}")
    pytest.skip(problem)
    return False


@pytest.fixture(scope="session")
def spark_available() -> bool:
    return _required("Spark", spark_problem())


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


def assert_store_built_like(db: str, generated: Built, what: str) -> None:
    """The store at ``db`` holds ``generated``'s DuckDB results for tenant acme (all four
    tables, column by column) and a build_state of its as_of and config."""
    from deskpulse.store import open_store

    with open_store(db) as store:
        got = store_tables(store, "acme")
        state = store.execute("SELECT as_of, config_hash FROM build_state WHERE tenant_id = 'acme'")
    for name, expected in generated.tables.items():
        assert_same(expected, got[name], f"{what}: {name}")
    assert state[0][0] == generated.as_of and state[0][1] == generated.cfg.fingerprint


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


# --- Spark Connect: one local server per test session --------------------------------------------

#: Environment a Spark Connect client or server process must not inherit from this one (a
#: classic session here would make pyspark treat the child as launched by spark-submit, and
#: the connect-mode flags would make it skip the server).
CHILD_ENV_DROP = ("PYSPARK_GATEWAY_PORT", "PYSPARK_GATEWAY_SECRET", "SPARK_CONNECT_MODE_ENABLED",
                  "SPARK_REMOTE", "SPARK_LOCAL_REMOTE")
#: The server's own settings: small, like the local[2] session above.
CONNECT_SERVER_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
}


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment for a Spark child process (see :data:`CHILD_ENV_DROP`)."""
    env = {k: v for k, v in os.environ.items() if k not in CHILD_ENV_DROP}
    env.update(extra)
    return env


def connect_problem() -> str | None:
    """Why a Spark Connect server (Java, pyspark's connect jar) or client (grpcio & co.)
    cannot run here, or None."""
    problem = spark_problem()
    if problem is not None:
        return problem
    try:
        from pyspark.sql.connect.utils import check_dependencies

        check_dependencies("deskpulse")
    except ImportError as exc:
        return f"the Spark Connect client is missing ({exc}): pip install 'deskpulse[spark-connect]'"
    if connect_jar() is None:
        return "pyspark has no spark-connect jar (pyspark/jars/spark-connect_*.jar)"
    return None


def connect_jar() -> Path | None:
    import pyspark

    jars = sorted((Path(pyspark.__file__).parent / "jars").glob("spark-connect_*.jar"))
    return jars[-1] if jars else None


@dataclass
class ConnectServer:
    """A Spark Connect server (``local[2]``) started by :func:`start_connect_server`."""

    url: str
    process: Any  # subprocess.Popen[bytes]
    log: Path

    def tasks_run(self) -> int:
        """Tasks the server's executor has started so far (from its log)."""
        return self.log.read_text(errors="replace").count("Running task")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self) -> None:
        """Stop exactly what this server started: the JVM (its pid) and, should any outlive
        it, the Python workers it forked (their pids, checked by start time)."""
        import signal
        import subprocess

        children = _descendants(self.process.pid)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        for pid, started in children:
            if _start_time(pid) == started:  # still the same process: a worker left behind
                os.kill(pid, signal.SIGKILL)


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, start time) of every process below ``pid`` (Linux /proc)."""
    found: list[tuple[int, str]] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = [int(x) for x in (task / "children").read_text().split()]
            except OSError:
                continue
            for kid in kids:
                started = _start_time(kid)
                if started is not None:
                    found.append((kid, started))
                    todo.append(kid)
    return found


def start_connect_server(root: Path, *, timeout_s: float = 180.0) -> ConnectServer:
    """Start pyspark's own Spark Connect server (``bin/spark-submit --class
    org.apache.spark.sql.connect.service.SparkConnectServer``) on ``local[2]``, listening on a
    free port of 127.0.0.1, and wait until the port answers. Its Python workers run this
    interpreter (they import deskpulse). Raises RuntimeError with the log's tail if it does not
    come up (the process is stopped)."""
    import socket
    import subprocess
    import sys
    import time

    import pyspark

    from deskpulse.spark.cluster import free_port

    home = Path(pyspark.__file__).parent
    jar = connect_jar()
    assert jar is not None, "no spark-connect jar"
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = {**CONNECT_SERVER_CONF, "spark.connect.grpc.binding.address": "127.0.0.1",
            "spark.connect.grpc.binding.port": str(port), "spark.local.dir": str(root / "tmp"),
            "spark.sql.warehouse.dir": str(root / "warehouse")}
    cmd = [str(home / "bin" / "spark-submit"), "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
           "--master", "local[2]", "--driver-memory", SPARK_CONF["spark.driver.memory"],
           "--name", "deskpulse-connect-tests"]
    for key, value in conf.items():
        cmd += ["--conf", f"{key}={value}"]
    cmd.append(str(jar))
    env = child_env(SPARK_HOME=str(home), SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable)
    log = root / "connect-server.log"
    with log.open("wb") as out:  # spark-submit and spark-class exec: the pid is the JVM's
        proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    server = ConnectServer(f"sc://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the Spark Connect server exited ({proc.returncode}):\n{server.log_tail()}")
            with socket.socket() as s:
                s.settimeout(1)
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return server
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Spark Connect server did not listen within {timeout_s:.0f} s:\n"
                                   f"{server.log_tail()}")
            time.sleep(0.5)
    except BaseException:
        server.stop()
        raise


@pytest.fixture(scope="session")
def connect_available() -> bool:
    """Skips without Spark, Java or the Connect client, unless CI=true, where it fails."""
    return _required("Spark Connect", connect_problem())


@pytest.fixture(scope="session")
def connect_server(connect_available: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConnectServer]:
    """One Spark Connect server for the test session, stopped at its end."""
    try:
        server = start_connect_server(tmp_path_factory.mktemp("spark_connect"))
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()


def golden_plans() -> dict[str, tuple[Any, dt.datetime]]:
    """Every golden SLA case's (SlaConfig, as_of), by case name (the case's tenant)."""
    from deskpulse.config import parse_config
    from deskpulse.sla.policies import load_sla_config
    from tests.reference import load_golden_cases

    return {c.name: (load_sla_config(parse_config(c.config, c.name)), c.as_of) for c in load_golden_cases()}


def golden_store(path: Path) -> list[str]:
    """A DuckDB store at ``path`` holding every golden SLA case as a tenant named after the
    case, imported and built by the DuckDB build (+ backlog); returns the tenants."""
    from deskpulse.analytics.backlog import build_backlog_daily
    from deskpulse.config import parse_config
    from deskpulse.model import EVENT_SCHEMA, TICKET_SCHEMA
    from deskpulse.sla.build import build
    from deskpulse.store import open_store
    from tests.reference import load_golden_cases

    cases = load_golden_cases()
    with open_store(str(path)) as store:
        for case in cases:
            repo = store.tenant(case.name)
            rows = [{**t, "updated_at": t.get("updated_at") or t["created_at"]} for t in case.tickets]
            repo.upsert_tickets(pa.Table.from_pylist(rows, schema=TICKET_SCHEMA), case.as_of)
            events = pa.Table.from_pylist(case.events, schema=EVENT_SCHEMA)
            repo.insert_events(events.append_column("seq", pa.array(range(events.num_rows), pa.int64())), case.as_of)
            build(repo, parse_config(case.config, case.name), as_of=case.as_of, full=True)
            build_backlog_daily(repo, as_of=case.as_of)
    return [c.name for c in cases]
