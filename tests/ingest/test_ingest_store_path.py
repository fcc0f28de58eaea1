"""The import's fast paths: typed Parquet read in place, validation staged on the store's own
connection. Both must give exactly what the text path and the Arrow path give, on DuckDB and
PostgreSQL, and leave the store's connection as they found it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from deskpulse.errors import BadInputError
from deskpulse.ingest import read_import
from deskpulse.model import EVENT_COLUMNS, TICKET_COLUMNS
from deskpulse.pipeline import import_files
from deskpulse.store import TenantStore


def _tickets() -> pa.Table:
    return pa.table(
        {
            "ticket_id": ["T1", "T2", "T3", "T2", "T4"],
            "created_at": pa.array(
                [datetime(2026, 3, 8, 2, 30), datetime(2026, 1, 5, 9), datetime(1850, 1, 1),
                 datetime(2026, 1, 5, 9), datetime(2026, 1, 6)],
                pa.timestamp("ms"),
            ),
            "updated_at": pa.array(
                [None, datetime(2026, 1, 5, 10), None, datetime(2026, 1, 5, 11), None],
                pa.timestamp("us", tz="UTC"),
            ),
            "status": ["open", "Pending", "open", "solved", "N/A"],
            "priority": ["", "P1", None, "high", "low"],
            "Customer Tier": ["gold", "N/A", None, "", "silver"],
        }
    )


def _events() -> pa.Table:
    return pa.table(
        {
            "ticket_id": ["T1", "T2", "T9", "T1", "T1"],
            "event_at": pa.array(
                [datetime(2026, 3, 8, 3), datetime(2026, 1, 5, 10), datetime(2026, 1, 5, 10),
                 None, datetime(2026, 3, 8, 3)],
                pa.timestamp("us"),
            ),
            "kind": ["comment", "status", "comment", "comment", "comment"],
            "to_value": [None, "On-Hold", None, None, None],
            "public": [True, None, True, False, True],
            "Sentiment": ["angry", None, None, None, "angry"],
        }
    )


def _as_csv(table: pa.Table, path: Path, tz: str) -> None:
    """The same data as text: naive timestamps as local wall time, aware ones with an offset."""
    cols: dict[str, Any] = {}
    for f in table.schema:
        col = table.column(f.name)
        if pa.types.is_timestamp(f.type):
            vals = [
                None if v is None else (v.isoformat() if f.type.tz else v.strftime("%Y-%m-%d %H:%M:%S"))
                for v in col.to_pylist()
            ]
            cols[f.name] = pa.array(vals, pa.string())
        else:
            cols[f.name] = col
    pacsv.write_csv(pa.table(cols), path)


def test_typed_parquet_equals_the_same_data_as_csv(tmp_path: Path) -> None:
    tz = "America/New_York"
    pq.write_table(_tickets(), tmp_path / "t.parquet")
    pq.write_table(_events(), tmp_path / "e.parquet")
    _as_csv(_tickets(), tmp_path / "t.csv", tz)
    _as_csv(_events(), tmp_path / "e.csv", tz)
    p = read_import(tmp_path / "t.parquet", tmp_path / "e.parquet", tz=tz)
    c = read_import(tmp_path / "t.csv", tmp_path / "e.csv", tz=tz)
    assert p.tickets is not None and c.tickets is not None
    assert p.events is not None and c.events is not None
    assert p.tickets.to_pylist() == c.tickets.to_pylist()
    assert p.events.to_pylist() == c.events.to_pylist()
    # rejects: same rows, columns and reasons (values differ only in how a timestamp is spelled)
    key = [(r["row"], r["column"], r["reason"]) for r in p.rejects.to_pylist()]
    assert key == [(r["row"], r["column"], r["reason"]) for r in c.rejects.to_pylist()]
    assert (3, "created_at") in [(r, col) for r, col, _ in key]  # 1850: out of range
    assert (4, "event_at") in [(r, col) for r, col, _ in key]  # missing
    # naive parquet timestamps are local time in tz, spring-forward gap shifted forward
    t1 = p.tickets.to_pylist()[0]
    assert t1["created_at"] == datetime(2026, 3, 8, 7, 30)  # 02:30 does not exist -> 03:30 EDT
    assert json.loads(t1["extra"]) == {"Customer Tier": "gold"}
    t2 = next(r for r in p.tickets.to_pylist() if r["ticket_id"] == "T2")
    assert t2["updated_at"] == datetime(2026, 1, 5, 11)  # TIMESTAMPTZ keeps its instant
    assert t2["status"] == "solved"  # the later duplicate wins


def test_parquet_null_tokens_and_out_of_range_value_in_rejects(tmp_path: Path) -> None:
    m = tmp_path / "m.yml"
    m.write_text('null_values: ["N/A"]\n')
    pq.write_table(_tickets(), tmp_path / "t.parquet")
    b = read_import(tmp_path / "t.parquet", mapping=m)
    assert b.tickets is not None
    rej = {(r["row"], r["column"]): r for r in b.rejects.to_pylist()}
    assert rej[(3, "created_at")]["value"] == "1850-01-01 00:00:00"
    assert rej[(5, "status")]["reason"] == "missing required value"  # N/A is empty
    by_id = {r["ticket_id"]: r for r in b.tickets.to_pylist()}
    assert "T4" not in by_id and by_id["T1"]["priority"] is None


def _settings(repo: TenantStore) -> tuple[Any, ...]:
    return tuple(
        repo.store.execute(
            "SELECT current_setting('TimeZone'), current_setting('enable_progress_bar'), "
            "current_setting('memory_limit'), current_setting('preserve_insertion_order')"
        )[0]
    )


def _temp_objects(repo: TenantStore) -> list[str]:
    """Temp tables/views the import made (the classification after it keeps its own)."""
    rows = repo.store.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary UNION ALL "
        "SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal"
    )
    return [str(r[0]) for r in rows if not str(r[0]).startswith("_dp_classify")]


def _stored(repo: TenantStore) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    tc = ", ".join(f'"{c}"' for c in (*TICKET_COLUMNS, "row_hash"))
    ec = ", ".join(f'"{c}"' for c in (*EVENT_COLUMNS, "extra", "seq"))
    return (
        repo.query(f"SELECT {tc} FROM tickets ORDER BY ticket_id").to_pylist(),  # noqa: S608
        repo.query(f"SELECT {ec} FROM ticket_events ORDER BY seq").to_pylist(),  # noqa: S608
    )


def test_import_stores_what_read_import_returns_and_cleans_up(repo: TenantStore, tmp_path: Path) -> None:
    pq.write_table(_tickets(), tmp_path / "t.parquet")
    pq.write_table(_events(), tmp_path / "e.parquet")
    if repo.store.dialect == "duckdb":
        before = _settings(repo)
    b = read_import(tmp_path / "t.parquet", tmp_path / "e.parquet", tz="Europe/Berlin")
    s = import_files(repo, tmp_path / "t.parquet", tmp_path / "e.parquet", tz="Europe/Berlin",
                     rejects_path=tmp_path / "rej.csv")
    assert b.tickets is not None and b.events is not None
    assert (s.tickets_inserted, s.events_inserted, s.rejected) == (
        b.tickets.num_rows, b.events.num_rows - 1, b.rejects.num_rows)  # two events are identical
    tickets, events = _stored(repo)
    want_t = {r["ticket_id"]: r for r in b.tickets.to_pylist()}
    assert [{k: r[k] for k in TICKET_COLUMNS} for r in tickets] == [want_t[k] for k in sorted(want_t)]
    assert [(e["ticket_id"], e["seq"], e["extra"]) for e in events] == [
        ("T1", 0, '{"Sentiment":"angry"}'), ("T2", 1, None)]
    again = import_files(repo, tmp_path / "t.parquet", tmp_path / "e.parquet", tz="Europe/Berlin",
                         rejects_path=tmp_path / "rej.csv")
    assert (again.tickets_inserted, again.tickets_updated, again.events_inserted) == (0, 0, 0)
    assert _stored(repo) == (tickets, events)
    if repo.store.dialect == "duckdb":
        assert _settings(repo) == before
        assert _temp_objects(repo) == []


def test_strict_on_the_store_path_writes_nothing_and_cleans_up(repo: TenantStore, tmp_path: Path) -> None:
    pq.write_table(_tickets(), tmp_path / "t.parquet")
    with pytest.raises(BadInputError):
        import_files(repo, tmp_path / "t.parquet", strict=True, rejects_path=tmp_path / "r.csv")
    assert repo.count("tickets") == 0
    if repo.store.dialect == "duckdb":
        assert _temp_objects(repo) == []


def test_import_inside_an_open_transaction_uses_a_private_connection(repo: TenantStore, tmp_path: Path) -> None:
    pq.write_table(_tickets(), tmp_path / "t.parquet")
    with repo.store.transaction():
        s = import_files(repo, tmp_path / "t.parquet", rejects_path=tmp_path / "r.csv")
    assert s.tickets_inserted == repo.count("tickets") == 2  # T1 and the later T2


def test_aware_timestamps_keep_their_instant(tmp_path: Path) -> None:
    plus2 = timezone(timedelta(hours=2))
    pq.write_table(
        pa.table({"ticket_id": ["A"], "created_at": pa.array([datetime(2026, 1, 5, 12, tzinfo=plus2)],
                                                            pa.timestamp("us", tz="+02:00")),
                  "status": ["open"]}),
        tmp_path / "t.parquet",
    )
    b = read_import(tmp_path / "t.parquet", tz="Asia/Tokyo")
    assert b.tickets is not None
    assert b.tickets["created_at"].to_pylist() == [datetime(2026, 1, 5, 10, tzinfo=UTC).replace(tzinfo=None)]


def test_parquet_rows_are_numbered_in_file_order_across_row_groups(repo: TenantStore, tmp_path: Path) -> None:
    n = 5000
    ids = [f"T{i:05d}" for i in range(n)]
    status = ["open" if i % 1234 else "bogus" for i in range(n)]  # rows 1, 1235, 2469, 3703, 4937
    pq.write_table(pa.table({"ticket_id": ids, "created_at": ["2026-01-05"] * n, "status": status}),
                   tmp_path / "t.parquet", row_group_size=700)
    pq.write_table(pa.table({"ticket_id": ids, "event_at": ["2026-01-05T10:00:00Z"] * n,
                             "kind": ["comment"] * n}), tmp_path / "e.parquet", row_group_size=700)
    s = import_files(repo, tmp_path / "t.parquet", tmp_path / "e.parquet", rejects_path=tmp_path / "r.csv")
    rej = pacsv.read_csv(tmp_path / "r.csv").to_pylist()
    assert [(r["file"], r["row"], r["column"]) for r in rej if r["column"] == "status"] == [
        ("t.parquet", 1 + i, "status") for i in range(0, n, 1234)]
    assert s.events_inserted == n - 5  # the events of the rejected tickets are rejected too
    got = repo.query("SELECT ticket_id, seq FROM ticket_events ORDER BY seq").to_pylist()
    assert all(int(r["ticket_id"][1:]) == r["seq"] for r in got)  # seq = file row - 1
