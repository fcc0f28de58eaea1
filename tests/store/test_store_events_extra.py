"""Events keep unknown columns in ``extra``; the fast DuckDB write path stores what the staged
path stores (same ticket hashes, same event dedup on the natural key, same seq) on DuckDB and
PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from deskpulse.errors import StorageError
from deskpulse.model import EVENT_COLUMNS, EVENT_SCHEMA, TICKET_COLUMNS, TICKET_SCHEMA
from deskpulse.store import TenantStore, open_store
from deskpulse.store import tenant as tenant_mod
from deskpulse.store.tenant import with_hashes

NOW = datetime(2026, 1, 1)
LATER = datetime(2026, 1, 2)


def tickets(*rows: dict[str, Any]) -> pa.Table:
    base = {"created_at": datetime(2026, 1, 1, 9), "updated_at": datetime(2026, 1, 1, 9), "status": "open"}
    return pa.Table.from_pylist([{**base, **r} for r in rows], schema=TICKET_SCHEMA)


def events(*rows: dict[str, Any], extra: bool = False) -> pa.Table:
    base = {"ticket_id": "T1", "event_at": datetime(2026, 1, 1, 9), "kind": "comment",
            "actor": "end_user", "public": True}
    schema = EVENT_SCHEMA.append(pa.field("extra", pa.string())) if extra else EVENT_SCHEMA
    table = pa.Table.from_pylist([{**base, **r} for r in rows], schema=schema)
    return table.append_column("seq", pa.array(range(len(rows)), pa.int64()))


def stored_events(repo: TenantStore) -> list[dict[str, Any]]:
    cols = ", ".join(f'"{c}"' for c in (*EVENT_COLUMNS, "extra", "seq"))
    return repo.query(f"SELECT {cols} FROM ticket_events ORDER BY seq").to_pylist()


def stored_tickets(repo: TenantStore) -> list[dict[str, Any]]:
    cols = ", ".join(f'"{c}"' for c in (*TICKET_COLUMNS, "row_hash", "loaded_at"))
    return repo.query(f"SELECT {cols} FROM tickets ORDER BY ticket_id").to_pylist()


def test_migration_adds_a_nullable_extra_text_column_to_events(store) -> None:  # type: ignore[no-untyped-def]
    rows = store.execute(
        "SELECT data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = 'ticket_events' AND column_name = 'extra' "
        "AND table_schema = current_schema()"
    )
    assert len(rows) == 1
    assert rows[0][0].upper() in ("TEXT", "VARCHAR")
    assert rows[0][1] == "YES"


def test_extra_is_stored_but_not_part_of_the_natural_key(repo: TenantStore) -> None:
    repo.upsert_tickets(tickets({"ticket_id": "T1"}), NOW)
    first = events({"extra": '{"Sentiment": "angry"}'}, {"actor": "agent", "extra": None}, extra=True)
    assert repo.insert_events(first, NOW).inserted == 2
    # same canonical rows, other extra values: nothing changes, the first extra stays
    again = events({"extra": '{"Sentiment": "calm"}'}, {"actor": "agent", "extra": "{}"}, extra=True)
    counts = repo.insert_events(again, LATER)
    assert (counts.inserted, counts.unchanged) == (0, 2)
    # a table without an extra column stores NULL
    repo.insert_events(events({"actor": "system"}), LATER)
    got = [(r["actor"], r["extra"]) for r in stored_events(repo)]
    assert got == [("end_user", '{"Sentiment": "angry"}'), ("agent", None), ("system", None)]


def test_hashes_equal_the_in_memory_reference(repo: TenantStore) -> None:
    t = tickets({"ticket_id": "T1", "group": ""}, {"ticket_id": "T2", "subject": "Ünïcode ✓", "tags": None})
    repo.upsert_tickets(t, NOW)
    want_t = with_hashes(t, "row_hash", TICKET_COLUMNS).column("row_hash").to_pylist()
    assert [r["row_hash"] for r in stored_tickets(repo)] == want_t


def test_events_carry_no_stored_key(store) -> None:  # type: ignore[no-untyped-def]
    """Migration 0010: events are deduplicated on their columns; no event_key column is left."""
    rows = store.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = 'ticket_events' AND table_schema = current_schema()"
    )
    assert "event_key" not in {r[0] for r in rows}


def test_the_natural_key_compares_values_exactly(repo: TenantStore) -> None:
    """NULL and '' are different values; so are rows whose texts would join to the same string
    (what an md5 over the joined text could not tell apart); equal rows, NULLs included, are one."""
    repo.upsert_tickets(tickets({"ticket_id": "T1"}), NOW)
    ev = events(
        {"from_value": ""},
        {"from_value": None},
        {"from_value": "a\x1fb", "to_value": None},
        {"from_value": "a", "to_value": "b"},
        {"actor_id": None, "field": None},
        {"public": False},
        {"event_at": datetime(2026, 1, 1, 9, 0, 0, 500000)},
    )
    assert repo.insert_events(ev, NOW).inserted == 6  # row 4 equals row 1 (NULLs equal)
    again = repo.insert_events(ev, LATER)
    assert (again.inserted, again.unchanged) == (0, 7)
    got = [(r["from_value"], r["to_value"], r["public"], r["seq"]) for r in stored_events(repo)]
    assert got == [("", None, True, 0), (None, None, True, 1), ("a\x1fb", None, True, 2),
                   ("a", "b", True, 3), (None, None, False, 5), (None, None, True, 6)]


def test_dedup_within_the_input_and_against_the_store(repo: TenantStore) -> None:
    repo.upsert_tickets(tickets({"ticket_id": "T1"}, {"ticket_id": "T2"}), NOW)
    a, b, c = {"actor": "agent"}, {"actor": "end_user"}, {"ticket_id": "T2"}
    first = repo.insert_events(events(a, b, a, c, b), NOW)  # rows 2 and 4 repeat 0 and 1
    assert (first.inserted, first.unchanged) == (3, 2)
    assert [r["seq"] for r in stored_events(repo)] == [0, 1, 3]  # the first of each, input order
    d = {"kind": "status", "to_value": "solved"}
    second = repo.insert_events(events(b, d, d, a), LATER)  # seq continues after the highest (3)
    assert (second.inserted, second.unchanged) == (1, 3)
    assert [(r["kind"], r["seq"]) for r in stored_events(repo)][-1] == ("status", 5)


def test_exact_dedup_path_gives_the_same_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB: rows colliding in the cheap pre-check hash are still deduplicated exactly (on the
    natural-key columns)."""
    a, b, c = {"actor": "agent"}, {"actor": "end_user"}, {"ticket_id": "T2"}
    batches = [events(a, b, a, c, b), events(b, {"kind": "status", "to_value": "open"}, c, a, a)]

    def load(url: str) -> list[Any]:
        s = open_store(url)
        repo = s.tenant("acme")
        repo.upsert_tickets(tickets({"ticket_id": "T1"}, {"ticket_id": "T2"}), NOW)
        counts = [repo.insert_events(x, NOW) for x in batches]
        rows = stored_events(repo)
        s.close()
        return [[(k.inserted, k.unchanged) for k in counts], rows]

    normal = load(str(tmp_path / "normal.duckdb"))
    assert normal[0] == [(3, 2), (1, 4)]
    monkeypatch.setattr(tenant_mod, "_cheap_hash_sql", lambda columns: "CAST(42 AS UBIGINT)")
    assert load(str(tmp_path / "collide.duckdb")) == normal


def test_partitioned_anti_join_gives_the_same_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB: the comparison with stored events split into parts by ticket finds exactly the
    events the one-part comparison finds."""
    a, b, c = {"actor": "agent"}, {"actor": "end_user"}, {"ticket_id": "T2"}
    d, e = {"ticket_id": "T3", "kind": "status", "to_value": "open"}, {"ticket_id": "T4"}
    batches = [events(a, c, d), events(b, d, c, a, e, b, {**e, "field": "x"}), events(d, e, a)]

    def load(url: str) -> list[Any]:
        s = open_store(url)
        repo = s.tenant("acme")
        repo.upsert_tickets(tickets(*({"ticket_id": f"T{i}"} for i in range(1, 5))), NOW)
        counts = [repo.insert_events(x, NOW) for x in batches]
        rows = stored_events(repo)
        s.close()
        return [[(k.inserted, k.unchanged) for k in counts], rows]

    whole = load(str(tmp_path / "whole.duckdb"))
    assert whole[0] == [(3, 0), (3, 4), (0, 3)]
    monkeypatch.setattr(tenant_mod, "ANTI_JOIN_PARTITION_ROWS", 1)  # one part per stored event
    assert load(str(tmp_path / "parts.duckdb")) == whole


def test_ticket_upsert_insert_update_unchanged_in_one_call(repo: TenantStore) -> None:
    repo.upsert_tickets(tickets({"ticket_id": "T1"}, {"ticket_id": "T2"}), NOW)
    counts = repo.upsert_tickets(
        tickets({"ticket_id": "T1"}, {"ticket_id": "T2", "status": "solved"}, {"ticket_id": "T3"}), LATER
    )
    assert (counts.inserted, counts.updated, counts.unchanged) == (1, 1, 1)
    rows = {r["ticket_id"]: r for r in stored_tickets(repo)}
    assert rows["T1"]["loaded_at"] == NOW  # untouched
    assert (rows["T2"]["status"], rows["T2"]["loaded_at"]) == ("solved", LATER)
    assert rows["T3"]["loaded_at"] == LATER
    want = with_hashes(tickets({"ticket_id": "T2", "status": "solved"}), "row_hash", TICKET_COLUMNS)
    assert rows["T2"]["row_hash"] == want.column("row_hash")[0].as_py()


def test_writes_leave_other_tenants_alone(store) -> None:  # type: ignore[no-untyped-def]
    a, b = store.tenant("a"), store.tenant("b")
    a.upsert_tickets(tickets({"ticket_id": "T1"}), NOW)
    a.insert_events(events({}), NOW)
    # b's first load is the plain-append path even though the table has a's rows
    assert b.upsert_tickets(tickets({"ticket_id": "T1", "status": "hold"}), NOW).inserted == 1
    assert b.insert_events(events({}), NOW).inserted == 1
    assert a.query("SELECT status FROM tickets").column("status").to_pylist() == ["open"]
    assert [r["seq"] for r in stored_events(b)] == [0]
    assert a.count("ticket_events") == 1 and b.count("ticket_events") == 1


def test_duckdb_progress_bar_setting_is_restored(tmp_path: Path) -> None:
    s = open_store(str(tmp_path / "s.duckdb"))
    before = s.execute("SELECT current_setting('enable_progress_bar')")[0][0]
    repo = s.tenant("acme")
    repo.upsert_tickets(tickets({"ticket_id": "T1"}), NOW)
    repo.insert_events(events({}), NOW)
    assert s.execute("SELECT current_setting('enable_progress_bar')")[0][0] == before
    s.close()


def test_repeated_finds_exactly_the_values_seen_twice() -> None:
    got = tenant_mod._repeated(np.array([5, 1, 5, 9, 1, 5, 7], np.uint64))
    assert got.to_pylist() == [1, 5]
    assert len(tenant_mod._repeated(np.array([3], np.uint64))) == 0
    assert len(tenant_mod._repeated(np.array([], np.uint64))) == 0


@pytest.mark.postgres
def test_both_backends_store_identical_rows(tmp_path: Path, pg_url: str) -> None:
    a, b = {"actor": "agent"}, {"actor": "end_user", "extra": '{"k": 1}'}
    rounds = [
        (tickets({"ticket_id": "T1"}, {"ticket_id": "T2", "tags": "x y"}),
         events(a, b, a, {"ticket_id": "T2"}, extra=True)),
        (tickets({"ticket_id": "T1", "status": "pending"}, {"ticket_id": "T3"}),
         events(b, {"kind": "field", "field": "f", "to_value": ""}, b, extra=True)),
    ]
    got = []
    for url in (str(tmp_path / "same.duckdb"), pg_url):
        s = open_store(url)
        repo = s.tenant("acme")
        counts = []
        for t, e in rounds:
            counts.append((repo.upsert_tickets(t, NOW), repo.insert_events(e, NOW)))
        got.append((counts, stored_tickets(repo), stored_events(repo)))
        s.close()
    assert got[0] == got[1]


def test_import_keeps_unknown_event_columns(tmp_path: Path) -> None:
    from deskpulse.pipeline import import_files

    (tmp_path / "t.csv").write_text("ticket_id,created_at,status\nT1,2026-01-01T09:00:00Z,open\n")
    (tmp_path / "e.csv").write_text(
        "ticket_id,event_at,kind,actor,Channel Detail,Sentiment\n"
        "T1,2026-01-01T09:00:00Z,comment,end_user,web form,angry\n"
        "T1,2026-01-01T09:05:00Z,comment,agent,,\n"
    )
    s = open_store(str(tmp_path / "s.duckdb"))
    repo = s.tenant("acme")
    summary = import_files(repo, tmp_path / "t.csv", tmp_path / "e.csv")
    assert summary.events_inserted == 2
    assert not [w for w in summary.warnings if "ignored" in w]
    extra = [r["extra"] for r in stored_events(repo)]
    assert json.loads(extra[0]) == {"Channel Detail": "web form", "Sentiment": "angry"}
    assert extra[1] is None
    again = import_files(repo, tmp_path / "t.csv", tmp_path / "e.csv")
    assert (again.events_inserted, again.events_unchanged) == (0, 2)
    s.close()


def test_a_failed_write_raises_storage_error_and_leaves_the_store_usable(store) -> None:  # type: ignore[no-untyped-def]
    repo = store.tenant("acme")
    twice = tickets({"ticket_id": "T1"}, {"ticket_id": "T1", "status": "hold"})  # breaks the key
    with pytest.raises(StorageError):
        repo.upsert_tickets(twice, NOW)
    assert repo.count("tickets") == 0
    with pytest.raises(StorageError), store.transaction():  # inside an outer transaction too
        repo.insert_events(events({}), NOW)
        repo.upsert_tickets(twice, NOW)
    assert repo.count("ticket_events") == 0
    assert repo.upsert_tickets(tickets({"ticket_id": "T1"}), NOW).inserted == 1
    assert repo.insert_events(events({}), NOW).inserted == 1


def test_export_of_events_carries_extra(repo: TenantStore, tmp_path: Path) -> None:
    """`deskpulse export ticket_events` keeps the unknown source columns (CONTRACT §1/§5)."""
    from deskpulse.pipeline import export_table

    repo.upsert_tickets(tickets({"ticket_id": "T1"}), NOW)
    repo.insert_events(events({"extra": '{"Sentiment": "angry"}'}, extra=True), NOW)
    out = tmp_path / "events.jsonl"
    assert export_table(repo, "ticket_events", "jsonl", out) == 1
    row = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert row["extra"] == '{"Sentiment": "angry"}'
    assert list(row)[-1] == "extra"
