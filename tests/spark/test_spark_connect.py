"""The build over Spark Connect (``--master sc://host:port``, issue 11 item 1): a real Spark
Connect server — pyspark's own ``SparkConnectServer`` on ``local[2]``, one per test session
(``connect_server`` in conftest) — runs the build that a separate client process submits;
results equal the DuckDB build column by column, in lake mode and in store mode (the CLI,
``DESKPULSE_SPARK_MASTER=sc://127.0.0.1:PORT``) and on the golden SLA cases (one tenant per
case, each with its config and as_of, through :func:`deskpulse.spark.build.run_build`).

Clients run in processes of their own: pyspark cannot hold a Connect session next to this
process's classic local[2] session. The server's log shows that it ran the tasks.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.feather as feather
import pytest

from tests.spark.conftest import (
    DEMO_CONFIG,
    Built,
    ConnectServer,
    assert_same,
    assert_store_built_like,
    child_env,
    copy_store,
    golden_store,
    store_tables,
)

pytestmark = pytest.mark.spark
REPO = Path(__file__).resolve().parents[2]
DESKPULSE = str(Path(sys.executable).parent / "deskpulse")
TIMEOUT_S = 600


def run_client(cmd: list[str], server: ConnectServer, *, without_java: bool = False) -> str:
    """Run a client process against the server; its stdout. The server must run tasks for it.
    ``without_java``: the client sees no Java (PATH holds only the venv, no JAVA_HOME)."""
    before = server.tasks_run()
    env = child_env(DESKPULSE_SPARK_MASTER=server.url, PYTHONPATH=str(REPO))
    if without_java:
        env.pop("JAVA_HOME", None)
        env["PATH"] = str(Path(sys.executable).parent)
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, timeout=TIMEOUT_S, check=False)  # noqa: S603
    assert proc.returncode == 0, (proc.stderr.decode(errors="replace")[-4000:]
                                  + "\n--- server log ---\n" + server.log_tail())
    assert server.tasks_run() > before, "the Spark Connect server ran no task for this build"
    return proc.stdout.decode()


def test_connect_lake_build_equals_duckdb(connect_server: ConnectServer, generated: Built, tmp_path: Path) -> None:
    """export-lake, then `build --engine spark --lake` over sc:// from a client without Java,
    then load-results: equal."""
    from deskpulse.spark.lake import export_lake, load_results
    from deskpulse.store import open_store

    lake = tmp_path / "lake"
    with open_store(str(generated.store_path), migrate=False) as store:
        export_lake(store, str(lake), ["acme"])
    cmd = [DESKPULSE, "--tenant", "acme", "--config", str(DEMO_CONFIG), "build", "--engine", "spark",
           "--lake", str(lake), "--as-of", generated.as_of.isoformat(), "--format", "json"]
    out = json.loads(run_client(cmd, connect_server, without_java=True))
    assert out["tenants"] == ["acme"] and out["tickets"] == generated.tables["ticket_metrics"].num_rows
    with open_store(str(tmp_path / "serving.duckdb")) as store:
        load_results(store, str(lake), ["acme"])
        got = store_tables(store, "acme")
    for name, expected in generated.tables.items():
        assert_same(expected, got[name], f"connect lake: {name}")


def test_connect_store_build_equals_duckdb(connect_server: ConnectServer, generated: Built, tmp_path: Path) -> None:
    """`build --engine spark` over sc:// without --lake: the client reads the store, the server
    builds, the client writes the four tables and build_state back (emptied beforehand)."""
    from deskpulse.store import open_store

    db = str(copy_store(generated, tmp_path / "connect.duckdb"))
    with open_store(db, migrate=False) as store:
        for name in (*generated.tables, "build_state"):
            store.execute(f"DELETE FROM {name} WHERE tenant_id = 'acme'")
    cmd = [DESKPULSE, "--db", db, "--tenant", "acme", "--config", str(DEMO_CONFIG), "build", "--engine", "spark",
           "--as-of", generated.as_of.isoformat(), "--format", "json"]
    summary = json.loads(run_client(cmd, connect_server))
    assert summary["mode"] == "full (spark)"
    assert summary["tickets_total"] == generated.tables["ticket_metrics"].num_rows
    assert_store_built_like(db, generated, "connect store")


def test_connect_golden_cases_equal_duckdb(connect_server: ConnectServer, tmp_path: Path) -> None:
    """Every golden SLA case in one Spark job over sc:// (a Connect session in the client, no
    JVM there), equal to the DuckDB build case by case."""
    from deskpulse.store import open_store

    db = tmp_path / "golden.duckdb"
    tenants = golden_store(db)
    out = tmp_path / "connect_results"
    info = json.loads(run_client([sys.executable, "-m", "tests.spark.connect_client", connect_server.url,
                                  str(db), str(out)], connect_server).strip().splitlines()[-1])
    assert info["session"] == "pyspark.sql.connect.session.SparkSession" and not info["client_jvm"], info
    assert info["tenants"] == sorted(tenants)
    assert info["slots"] == 2, info  # the server's local[2], counted without a SparkContext
    got = {name: feather.read_table(str(out / f"{name}.arrow")) for name in ("ticket_metrics", "ticket_sla",
                                                                            "ticket_segments", "backlog_daily")}
    with open_store(str(db), migrate=False) as store:
        for tenant in tenants:
            expected = store_tables(store, tenant)
            for name, table in got.items():
                mine = table.filter(pc.equal(table.column("tenant_id"), tenant))
                assert_same(expected[name], mine.drop_columns(["tenant_id", "created_month"]), f"{tenant}: {name}")


def test_unreachable_connect_server_fails_fast(connect_available: bool, tmp_path: Path) -> None:
    """Nothing listening at the sc:// address: exit 6 within seconds, naming the address
    (pyspark's client alone retries for minutes without a word)."""
    from deskpulse.spark.cluster import free_port

    url = f"sc://127.0.0.1:{free_port()}"
    cmd = [DESKPULSE, "--tenant", "acme", "--config", str(DEMO_CONFIG), "build", "--engine", "spark",
           "--lake", str(tmp_path / "lake")]
    started = time.monotonic()
    proc = subprocess.run(cmd, env=child_env(DESKPULSE_SPARK_MASTER=url), capture_output=True, timeout=120,  # noqa: S603
                          check=False)
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 6, err
    assert f"cannot reach Spark Connect at {url}" in " ".join(err.split()), err
    assert time.monotonic() - started < 60


@pytest.mark.parametrize(("url", "address"), [
    ("sc://127.0.0.1:15003", ("127.0.0.1", 15003)),
    ("sc://spark.example.com", ("spark.example.com", 15002)),
    ("sc://host:443/;token=abc;use_ssl=true", ("host", 443)),
    ("sc://[::1]:15004", ("::1", 15004)),
    ("sc://[::1]", ("::1", 15002)),
])
def test_connect_address(url: str, address: tuple[str, int]) -> None:
    from deskpulse.spark.session import connect_address

    assert connect_address(url) == address
