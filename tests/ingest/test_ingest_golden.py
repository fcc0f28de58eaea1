"""The golden CSV pair: every value hand-checked against the contract (CONTRACT §1)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from deskpulse import model
from deskpulse.ingest import EVENT_OUT_SCHEMA, ImportBatch, read_import


def _golden(fixtures: Path) -> ImportBatch:
    return read_import(
        fixtures / "golden_tickets.csv", fixtures / "golden_events.csv", tz="Europe/Berlin"
    )


def test_golden_tickets(fixtures: Path) -> None:
    b = _golden(fixtures)
    assert b.tickets is not None
    assert b.tickets.schema == model.TICKET_SCHEMA
    rows = {r["ticket_id"]: r for r in b.tickets.to_pylist()}
    assert list(rows) == ["T-1", "T-2", "T-3"]
    t1, t2, t3 = rows["T-1"], rows["T-2"], rows["T-3"]
    assert t1["created_at"] == datetime(2026, 3, 2, 9, 0)
    assert t1["updated_at"] == datetime(2026, 3, 2, 12, 30)
    assert (t1["status"], t1["priority"], t1["channel"], t1["category"]) == (
        "solved",
        "high",
        "email",
        "billing",
    )
    assert (t1["group"], t1["requester_id"], t1["assignee_id"]) == ("Tier 1", "u1", "a1")
    assert t1["tags"] == "billing invoice"
    assert t1["region"] == "emea"
    assert json.loads(t1["extra"]) == {"plan_tier": "gold"}
    # naive 10:15 in Berlin (CET, UTC+1) is 09:15Z; updated_at defaults to created_at
    assert t2["created_at"] == datetime(2026, 3, 2, 9, 15)
    assert t2["updated_at"] == t2["created_at"]
    assert (t2["status"], t2["priority"], t2["assignee_id"], t2["tags"]) == (
        "open",
        "normal",
        None,
        None,
    )
    assert t2["extra"] is None  # the unknown column is empty on this row
    # an explicit offset wins over the import's zone
    assert t3["created_at"] == datetime(2026, 3, 3, 7, 0)
    assert t3["updated_at"] == datetime(2026, 3, 3, 8, 0)
    assert (t3["status"], t3["priority"], t3["category"]) == ("pending", None, None)
    assert t3["subject"] == "Refund, please"
    assert t3["tags"] == "vip"
    assert json.loads(t3["extra"]) == {"plan_tier": "silver"}
    for r in rows.values():
        assert r["deleted_at"] is None and r["solved_at"] is None and r["satisfaction"] is None


def test_golden_events(fixtures: Path) -> None:
    b = _golden(fixtures)
    assert b.events is not None
    assert b.events.schema == EVENT_OUT_SCHEMA
    assert b.events.schema.names[-1] == "seq"
    got = [
        (
            r["ticket_id"],
            r["event_at"],
            r["kind"],
            r["actor"],
            r["actor_id"],
            r["public"],
            r["from_value"],
            r["to_value"],
            r["field"],
            r["seq"],
        )
        for r in b.events.to_pylist()
    ]
    assert got == [
        ("T-1", datetime(2026, 3, 2, 9, 0), "comment", "end_user", "u1", True, None, None, None, 0),
        ("T-1", datetime(2026, 3, 2, 9, 30), "comment", "agent", "a1", True, None, None, None, 1),
        ("T-1", datetime(2026, 3, 2, 9, 30), "status", "agent", "a1", True, "new", "open", None, 2),
        (
            "T-1",
            datetime(2026, 3, 2, 12, 30),
            "status",
            "agent",
            "a1",
            True,
            "open",
            "solved",
            None,
            3,
        ),
        ("T-2", datetime(2026, 3, 2, 9, 15), "status", "system", None, True, None, "new", None, 4),
        ("T-2", datetime(2026, 3, 2, 10, 0), "comment", "agent", "a9", False, None, None, None, 5),
        (
            "T-3",
            datetime(2026, 3, 3, 7, 30),
            "priority",
            "system",
            None,
            True,
            None,
            "urgent",
            None,
            6,
        ),
        (
            "T-3",
            datetime(2026, 3, 3, 7, 45),
            "field",
            "agent",
            "a2",
            True,
            None,
            "enterprise",
            "plan",
            7,
        ),
    ]


def test_golden_counts_and_no_rejects(fixtures: Path) -> None:
    b = _golden(fixtures)
    assert b.rows_read == {"tickets": 3, "events": 8}
    assert b.rejects.num_rows == 0
    assert b.rejects.schema == model.REJECT_SCHEMA
    assert b.warnings == []


def test_tickets_only(fixtures: Path) -> None:
    b = read_import(fixtures / "golden_tickets.csv")
    assert b.events is None
    assert b.tickets is not None and b.tickets.num_rows == 3
    assert b.rows_read == {"tickets": 3, "events": 0}


def test_progress_is_reported(fixtures: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    read_import(
        fixtures / "golden_tickets.csv",
        fixtures / "golden_events.csv",
        progress=lambda *a: calls.append(a),
    )
    stages = [c[0] for c in calls]
    assert stages[0] == "read tickets" and stages[-1] == "done"
    assert "validate events" in stages
    dones = [c[1] for c in calls]
    assert dones == sorted(dones) and calls[-1][1] == calls[-1][2]
