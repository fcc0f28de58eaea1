"""Lake layout and bad input, without Spark: export-lake writes Hive partitions by tenant and
created month; lake inputs that break CONTRACT §1 are rejected naming file and column; a
missing pyspark or Java is a clear error (exit 6) that says how to install it."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from deskpulse.errors import BadInputError, ComponentMissingError

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
runner = CliRunner()


def dp(*args: str) -> tuple[int, str]:
    from deskpulse.cli import app
    from deskpulse.cli.main import close_stores

    try:
        result = runner.invoke(app, list(args))
    finally:
        close_stores()
    return result.exit_code, result.output


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    """The golden fixture's tickets and events exported for tenants acme and beta."""
    db = str(tmp_path / "store.duckdb")
    for tenant in ("acme", "beta"):
        code, out = dp("--db", db, "--tenant", tenant, "import", str(GOLDEN / "tickets.csv"), str(GOLDEN / "events.csv"))
        assert code == 0, out
    code, out = dp("--db", db, "export-lake", str(tmp_path / "lake"), "--all-tenants", "--format", "json")
    assert code == 0, out
    return tmp_path / "lake"


def test_export_lake_layout(lake: Path) -> None:
    import pyarrow.dataset as ds

    from deskpulse.spark.lake import lake_tenants, validate_inputs

    months = sorted(p.name for p in (lake / "tickets" / "tenant_id=acme").iterdir())
    assert months and all(m.startswith("created_month=2026-") for m in months)
    events = ds.dataset(lake / "ticket_events", format="parquet", partitioning="hive").to_table()
    tickets = ds.dataset(lake / "tickets", format="parquet", partitioning="hive").to_table()
    assert set(events.column("tenant_id").to_pylist()) == {"acme", "beta"}
    assert "seq" in events.column_names and tickets.num_rows % 2 == 0
    # an event lives in its ticket's month
    month_of = {(r["tenant_id"], r["ticket_id"]): r["created_month"] for r in tickets.to_pylist()}
    assert all(month_of[(r["tenant_id"], r["ticket_id"])] == r["created_month"] for r in events.to_pylist())
    assert lake_tenants(str(lake)) == ["acme", "beta"]
    validate_inputs(str(lake))


def _first_file(lake: Path, table: str) -> Path:
    return sorted((lake / table).rglob("*.parquet"))[0]


def test_missing_lake_path(tmp_path: Path) -> None:
    from deskpulse.spark.lake import validate_inputs

    with pytest.raises(BadInputError, match="does not exist"):
        validate_inputs(str(tmp_path / "nowhere"))


def test_missing_required_column_names_file_and_column(lake: Path) -> None:
    from deskpulse.spark.lake import validate_inputs

    f = _first_file(lake, "tickets")
    pq.write_table(pq.read_table(f).drop_columns(["status"]), f)
    with pytest.raises(BadInputError, match="'status' is missing") as err:
        validate_inputs(str(lake))
    assert str(f) in err.value.message and err.value.details["column"] == "status"


def test_wrong_type_names_file_and_column(lake: Path) -> None:
    from deskpulse.spark.lake import validate_inputs

    f = _first_file(lake, "ticket_events")
    t = pq.read_table(f)
    i = t.schema.get_field_index("event_at")
    pq.write_table(t.set_column(i, "event_at", t.column(i).cast(pa.string())), f)
    with pytest.raises(BadInputError, match="'event_at' is string") as err:
        validate_inputs(str(lake))
    assert str(f) in err.value.message


def test_empty_partition_is_an_error(lake: Path) -> None:
    from deskpulse.spark.lake import validate_inputs

    empty = lake / "tickets" / "tenant_id=acme" / "created_month=2031-01"
    empty.mkdir()
    with pytest.raises(BadInputError, match="empty partition"):
        validate_inputs(str(lake))
    validate_inputs(str(lake), ["beta"])  # another tenant's partitions are not read


def test_missing_pyspark_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from deskpulse.spark.session import require_pyspark

    monkeypatch.setitem(sys.modules, "pyspark", None)
    with pytest.raises(ComponentMissingError, match=r"pip install 'deskpulse\[spark\]'"):
        require_pyspark()
    code, out = dp("--db", str(tmp_path / "s.duckdb"), "build", "--engine", "spark")
    assert code == 6 and "deskpulse[spark]" in out


def test_missing_java_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    import deskpulse.spark.session as session

    monkeypatch.setattr(SparkSession, "getActiveSession", classmethod(lambda cls: None))
    monkeypatch.setattr(session, "java_home", lambda: None)
    with pytest.raises(ComponentMissingError, match="Java is not installed"):
        session.spark_session("local[1]")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "oracle"], "unknown engine"),
        (["--lake", "x"], "need --engine spark"),
        (["--engine", "spark", "--all-tenants"], "--all-tenants needs --lake"),
        (["--engine", "postgres"], "needs a PostgreSQL store"),
    ],
)
def test_engine_usage_errors(args: list[str], message: str, tmp_path: Path) -> None:
    code, out = dp("--db", str(tmp_path / "s.duckdb"), "build", *args)
    assert code == 2 and message in out, out


def test_spark_connect_without_its_client_libraries_is_a_clear_error(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    """DESKPULSE_SPARK_MASTER=sc://… without pyspark's connect extra: exit 6 and how to install it."""
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    import deskpulse.spark.session as session

    monkeypatch.setattr(SparkSession, "getActiveSession", classmethod(lambda cls: None))
    monkeypatch.setitem(sys.modules, "grpc", None)  # as if grpcio were not installed
    with pytest.raises(ComponentMissingError, match=r"pyspark\[connect\]"):
        session.spark_session("sc://127.0.0.1:15002")
    monkeypatch.setenv("DESKPULSE_SPARK_MASTER", "sc://127.0.0.1:15002")
    code, out = dp("--db", str(tmp_path / "s.duckdb"), "build", "--engine", "spark")
    assert code == 6 and "pyspark[connect]" in out, out
