"""Zendesk preset on fixtures shaped like the Incremental Export API's responses."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from deskpulse import model
from deskpulse.errors import BadInputError
from deskpulse.ingest import EVENT_OUT_SCHEMA, ImportBatch, read_import

Write = Callable[[str, str | bytes], Path]


def _zd(fixtures: Path) -> ImportBatch:
    z = fixtures / "zendesk"
    return read_import(z / "tickets", z / "ticket_events.json", preset="zendesk")


def test_ticket_pages(fixtures: Path) -> None:
    b = _zd(fixtures)
    assert b.tickets is not None and b.tickets.schema == model.TICKET_SCHEMA
    t = {r["ticket_id"]: r for r in b.tickets.to_pylist()}
    assert sorted(t) == ["101", "102", "103"]
    # 101 appears on both pages: the later version wins
    t101 = t["101"]
    assert t101["status"] == "pending" and t101["updated_at"] == datetime(2024, 3, 5, 16, 30)
    assert t101["satisfaction"] == "offered"
    assert (
        t101["channel"],
        t101["category"],
        t101["group"],
        t101["organization"],
        t101["brand"],
    ) == (
        "email",
        "question",
        "360001",
        "7001",
        "360000456",
    )
    assert (t101["requester_id"], t101["assignee_id"], t101["tags"]) == ("9001", "501", "login vip")
    extra = json.loads(t101["extra"])
    assert extra["custom_fields"] == [{"id": 360011, "value": "eu"}]
    assert extra["custom_status_id"] == 12 and "status" not in extra and "fields" not in extra
    assert t["102"]["channel"] == "phone" and t["102"]["priority"] is None  # voice -> phone
    assert (t["103"]["status"], t["103"]["deleted_at"]) == ("closed", datetime(2024, 3, 5, 17, 0))
    assert b.warnings == ["tickets: 1 earlier version(s) of tickets superseded by later pages"]
    assert b.rows_read == {"tickets": 3, "events": 5}


def test_ticket_events(fixtures: Path) -> None:
    b = _zd(fixtures)
    assert b.events is not None and b.events.schema == EVENT_OUT_SCHEMA
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
        )
        for r in b.events.to_pylist()
    ]
    at1, at2, at3 = (
        datetime(2024, 3, 4, 9, 15),
        datetime(2024, 3, 4, 10),
        datetime(2024, 3, 5, 16, 30),
    )
    assert got == [
        (
            "101",
            at1,
            "comment",
            "end_user",
            "9001",
            True,
            None,
            None,
            None,
        ),  # the requester wrote it
        ("101", at1, "status", "end_user", "9001", True, None, "new", None),
        ("101", at1, "priority", "end_user", "9001", True, None, "high", None),
        ("101", at2, "comment", "agent", "501", True, None, None, None),
        (
            "101",
            at2,
            "status",
            "agent",
            "501",
            True,
            "new",
            "open",
            None,
        ),  # incremental-events shape
        ("101", at2, "assignee", "agent", "501", True, None, "501", None),
        ("101", at2, "group", "agent", "501", True, None, "360001", None),
        ("101", at3, "comment", "agent", "501", False, None, None, None),  # private note
        (
            "101",
            at3,
            "status",
            "agent",
            "501",
            True,
            "open",
            "pending",
            None,
        ),  # audit (field_name) shape
        ("101", at3, "field", "agent", "501", True, None, "eu", "360011"),
        (
            "102",
            datetime(2024, 3, 4, 11),
            "status",
            "system",
            "-1",
            True,
            None,
            "new",
            None,
        ),  # via Rule
        (
            "102",
            datetime(2024, 3, 4, 11),
            "comment",
            "system",
            "-1",
            True,
            None,
            None,
            None,
        ),  # no sideload
    ]
    assert b.events["seq"].to_pylist() == list(range(12))
    rej = [(r["file"], r["row"], r["column"], r["value"]) for r in b.rejects.to_pylist()]
    assert rej == [("ticket_events.json", 5, "ticket_id", "999")]


def test_jsonl_of_tickets_and_custom_statuses(fixtures: Path, write: Write) -> None:
    m = write(
        "zd.yml",
        "preset: zendesk\nzendesk:\n  custom_statuses: {15: In Progress, 16: Waiting on Vendor}\nvalues:\n  status: {Waiting on Vendor: hold}\n",
    )
    b = read_import(fixtures / "zendesk" / "tickets.jsonl", mapping=m)
    assert b.tickets is not None
    t = {r["ticket_id"]: r for r in b.tickets.to_pylist()}
    assert (t["201"]["status"], t["201"]["channel"], t["201"]["satisfaction"]) == (
        "open",
        "chat",
        "good",
    )
    assert t["202"]["status"] == "hold"
    assert b.events is None
    assert b.warnings == []  # JSON Lines of tickets: no pages, no end_of_stream to check


def test_incomplete_export_is_reported(write: Write) -> None:
    page = {
        "tickets": [{"id": 1, "created_at": "2024-01-01T00:00:00Z", "status": "new"}],
        "after_cursor": "x",
        "end_of_stream": False,
    }
    b = read_import(write("p.json", json.dumps(page)), preset="zendesk")
    assert b.warnings == ["p.json: no page says end_of_stream: true (the export may be incomplete)"]


def test_zendesk_whole_file_errors(write: Write, tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="empty file"):
        read_import(write("p.json", ""), preset="zendesk")
    with pytest.raises(BadInputError, match="unreadable file"):
        read_import(write("q.json", "{not json"), preset="zendesk")
    with pytest.raises(BadInputError, match="no such file"):
        read_import(tmp_path / "missing.json", preset="zendesk")
