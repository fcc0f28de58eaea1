"""The store behaves the same on DuckDB and PostgreSQL: upserts, dedup, tenant scoping."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pytest

from deskpulse.errors import StorageError, UsageError
from deskpulse.model import EVENT_SCHEMA, TICKET_SCHEMA
from deskpulse.store import open_store

NOW = datetime(2026, 1, 1)


def tickets(*rows: dict) -> pa.Table:
    base = {"created_at": datetime(2026, 1, 1, 9), "updated_at": datetime(2026, 1, 1, 9), "status": "open"}
    return pa.Table.from_pylist([{**base, **r} for r in rows], schema=TICKET_SCHEMA)


def events(*rows: dict) -> pa.Table:
    base = {"event_at": datetime(2026, 1, 1, 9), "kind": "comment", "actor": "end_user", "public": True}
    return pa.Table.from_pylist([{**base, **r} for r in rows], schema=EVENT_SCHEMA)


def test_upsert_counts_inserted_updated_unchanged(repo):
    t = tickets({"ticket_id": "T1"}, {"ticket_id": "T2", "group": "Billing"})
    first = repo.upsert_tickets(t, NOW)
    assert (first.inserted, first.updated, first.unchanged) == (2, 0, 0)
    again = repo.upsert_tickets(t, NOW)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    changed = repo.upsert_tickets(tickets({"ticket_id": "T1", "status": "solved"}), NOW)
    assert (changed.inserted, changed.updated, changed.unchanged) == (0, 1, 0)
    rows = repo.query('SELECT ticket_id, status, "group" FROM tickets ORDER BY ticket_id').to_pylist()
    assert rows == [
        {"ticket_id": "T1", "status": "solved", "group": None},
        {"ticket_id": "T2", "status": "open", "group": "Billing"},
    ]


def test_events_deduplicated_on_the_whole_row_but_distinct_same_instant_kept(repo):
    repo.upsert_tickets(tickets({"ticket_id": "T1"}), NOW)
    ev = events(
        {"ticket_id": "T1"},
        {"ticket_id": "T1"},  # identical: one survives
        {"ticket_id": "T1", "actor": "agent"},  # same instant, different row: kept
    )
    first = repo.insert_events(ev, NOW)
    assert first.inserted == 2
    assert repo.insert_events(ev, NOW).inserted == 0
    order = repo.query("SELECT actor FROM ticket_events ORDER BY event_at, seq").column("actor").to_pylist()
    assert order == ["end_user", "agent"]  # input order kept for equal event_at


def test_null_and_empty_string_are_different_values(repo):
    repo.upsert_tickets(tickets({"ticket_id": "T1"}), NOW)
    ev = events({"ticket_id": "T1", "from_value": None}, {"ticket_id": "T1", "from_value": ""})
    assert repo.insert_events(ev, NOW).inserted == 2


def test_tenants_never_see_each_other(store):
    a, b = store.tenant("a"), store.tenant("b")
    a.upsert_tickets(tickets({"ticket_id": "T1"}), NOW)
    b.upsert_tickets(tickets({"ticket_id": "T1", "status": "pending"}, {"ticket_id": "T2"}), NOW)
    assert a.count("tickets") == 1
    assert b.count("tickets") == 2
    assert a.query("SELECT status FROM tickets").column("status").to_pylist() == ["open"]
    # a join, a subquery and a CTE are all scoped
    sql = """
        WITH x AS (SELECT ticket_id FROM tickets)
        SELECT count(*) AS n FROM x JOIN tickets t USING (ticket_id)
        WHERE t.ticket_id IN (SELECT ticket_id FROM tickets)
    """
    assert a.scalar(sql) == 1
    assert b.scalar(sql) == 2


def test_scoped_queries_reject_writes(repo):
    with pytest.raises(UsageError):
        repo.query("DELETE FROM tickets")


def test_replace_rows_only_touches_given_tickets(repo):
    from deskpulse.store.schema import TICKET_SEGMENTS_COLUMNS  # noqa: F401 - imported for shape

    data = pa.table({"ticket_id": ["T1", "T2"], "segment": [1, 1],
                     "started_at": [NOW, NOW], "ended_at": [None, None],
                     "status": ["new", "new"], "group": [None, None], "assignee_id": [None, None],
                     "calendar_minutes": [1.0, 2.0], "business_minutes": [1.0, 2.0]})
    repo.replace_rows("ticket_segments", data)
    repo.replace_rows("ticket_segments", data.slice(0, 1), ticket_ids=pa.array(["T1"]))
    assert repo.count("ticket_segments") == 2
    repo.replace_rows("ticket_segments", data.slice(0, 0), ticket_ids=pa.array(["T2"]))
    assert repo.query("SELECT ticket_id FROM ticket_segments").column("ticket_id").to_pylist() == ["T1"]


def test_migrate_is_idempotent(db_url):
    s = open_store(db_url)
    assert s.migrate() == s.migrate()
    s.close()


def test_bad_url_is_a_storage_error(tmp_path):
    with pytest.raises(StorageError):
        open_store("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(UsageError):
        open_store("mysql://x")


def test_serial_appends_keep_every_row_and_restore_the_threads(repo):
    data = pa.table({"ticket_id": [f"T{i}" for i in range(3)], "segment": [1, 1, 1], "status": ["open"] * 3,
                     "started_at": [datetime(2026, 1, 1)] * 3})
    before = repo.store.execute("SELECT current_setting('threads')") if repo.store.dialect == "duckdb" else None
    with repo.store.serial_appends():
        for k in range(3):
            repo.replace_rows("ticket_segments", data.slice(k, 1), ticket_ids=pa.array([], pa.string()))
    assert repo.scalar("SELECT count(*) FROM ticket_segments") == 3
    if before is not None:
        assert repo.store.execute("SELECT current_setting('threads')") == before
