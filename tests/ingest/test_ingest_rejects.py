"""Row-level rejects (one per failing row x column, good rows kept) and whole-file errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from deskpulse.errors import BadInputError, UsageError
from deskpulse.ingest import ImportBatch, read_import

Write = Callable[[str, str | bytes], Path]

TICKETS = "ticket_id,created_at,status,priority,satisfaction\n"
GOOD = "T1,2026-01-05T10:00:00Z,open,,\n"


def rejects(b: ImportBatch) -> list[tuple[str, int, str | None, str | None, str]]:
    t = b.rejects
    return [(r["file"], r["row"], r["column"], r["value"], r["reason"]) for r in t.to_pylist()]


def one_ticket_file(write: Write) -> Path:
    return write("t.csv", TICKETS + GOOD)


@pytest.mark.parametrize(
    ("line", "column", "value", "reason_start"),
    [
        ("T2,2026-13-45 10:00,open,,", "created_at", "2026-13-45 10:00", "bad timestamp"),
        ("T2,yesterday,open,,", "created_at", "yesterday", "bad timestamp"),
        ("T2,epoch,open,,", "created_at", "epoch", "bad timestamp"),
        ("T2,2026-01-05,reopened-ish,,", "status", "reopened-ish", "unknown status"),
        ("T2,2026-01-05,open,P9,", "priority", "P9", "unknown priority"),
        ("T2,2026-01-05,open,,great", "satisfaction", "great", "unknown satisfaction"),
        (",2026-01-05,open,,", "ticket_id", None, "missing required value"),
        ("   ,2026-01-05,open,,", "ticket_id", None, "missing required value"),
        ("T2,,open,,", "created_at", None, "missing required value"),
        ("T2,2026-01-05,,,", "status", None, "missing required value"),
    ],
)
def test_ticket_row_rejects(
    write: Write, line: str, column: str, value: str | None, reason_start: str
) -> None:
    b = read_import(write("t.csv", TICKETS + GOOD + line + "\n"))
    assert b.tickets is not None and b.tickets.column("ticket_id").to_pylist() == ["T1"]
    got = rejects(b)
    assert len(got) == 1
    file, row, col, val, reason = got[0]
    assert (file, row, col, val) == ("t.csv", 2, column, value)
    assert reason.startswith(reason_start)
    assert b.rows_read["tickets"] == 2


def test_one_reject_row_per_failing_column(write: Write) -> None:
    b = read_import(write("t.csv", TICKETS + "T9,nope,weird,P7,\n"))
    assert b.tickets is not None and b.tickets.num_rows == 0
    assert sorted(str(r[2]) for r in rejects(b)) == ["created_at", "priority", "status"]


def test_duplicate_ticket_keeps_latest_updated_at(write: Write) -> None:
    csv = (
        "ticket_id,created_at,updated_at,status\n"
        "T1,2026-01-05T10:00:00Z,2026-01-06T10:00:00Z,solved\n"  # row 1: latest -> kept
        "T1,2026-01-05T10:00:00Z,2026-01-05T11:00:00Z,open\n"  # row 2
        "T2,2026-01-05T10:00:00Z,,new\n"  # row 3: tie with row 4 -> last in file kept
        "T2,2026-01-05T10:00:00Z,,open\n"  # row 4
    )
    b = read_import(write("t.csv", csv))
    assert b.tickets is not None
    assert dict(
        zip(b.tickets["ticket_id"].to_pylist(), b.tickets["status"].to_pylist(), strict=True)
    ) == {
        "T1": "solved",
        "T2": "open",
    }
    assert rejects(b) == [
        ("t.csv", 2, "ticket_id", "T1", "duplicate ticket_id: row 1 is kept (later updated_at)"),
        (
            "t.csv",
            3,
            "ticket_id",
            "T2",
            "duplicate ticket_id: row 4 is kept (same updated_at, later in the file)",
        ),
    ]


EVENTS = "ticket_id,event_at,kind,actor,public,from_value,to_value,field\n"


@pytest.mark.parametrize(
    ("line", "column", "value", "reason_start"),
    [
        ("T1,2026-01-05T11:00:00Z,escalation,,,,,", "kind", "escalation", "unknown kind"),
        ("T1,2026-01-05T11:00:00Z,comment,robot,,,,", "actor", "robot", "unknown actor"),
        ("T1,2026-01-05T11:00:00Z,comment,,perhaps,,,", "public", "perhaps", "bad boolean"),
        ("T1,not a time,comment,,,,,", "event_at", "not a time", "bad timestamp"),
        ("T1,2026-01-05T11:00:00Z,status,,,open,limbo,", "to_value", "limbo", "unknown status"),
        ("T1,2026-01-05T11:00:00Z,status,,,,,", "to_value", None, "missing required value"),
        ("T1,2026-01-05T11:00:00Z,priority,,,,P0,", "to_value", "P0", "unknown priority"),
        ("T1,2026-01-05T11:00:00Z,field,,,,x,", "field", None, "missing required value"),
        ("T1,,comment,,,,,", "event_at", None, "missing required value"),
        ("T1,2026-01-05T11:00:00Z,,,,,,", "kind", None, "missing required value"),
        (
            "T404,2026-01-05T11:00:00Z,comment,,,,,",
            "ticket_id",
            "T404",
            "event for a ticket that is neither",
        ),
    ],
)
def test_event_row_rejects(
    write: Write, line: str, column: str, value: str | None, reason_start: str
) -> None:
    ok = "T1,2026-01-05T10:30:00Z,comment,agent,true,,,\n"
    b = read_import(one_ticket_file(write), write("e.csv", EVENTS + ok + line + "\n"))
    assert b.events is not None and b.events.num_rows == 1
    assert b.events["seq"].to_pylist() == [0]
    got = rejects(b)
    assert len(got) == 1, got
    file, row, col, val, reason = got[0]
    assert (file, row, col, val) == ("e.csv", 2, column, value)
    assert reason.startswith(reason_start)


def test_events_may_reference_stored_tickets(write: Write) -> None:
    e = write(
        "e.csv",
        EVENTS + "T77,2026-01-05T11:00:00Z,comment,,,,,\nT78,2026-01-05T11:00:00Z,comment,,,,,\n",
    )
    b = read_import(one_ticket_file(write), e, known_ticket_ids=pa.array(["T77"]))
    assert b.events is not None and b.events["ticket_id"].to_pylist() == ["T77"]
    assert [r[3] for r in rejects(b)] == ["T78"]
    assert b.events["seq"].to_pylist() == [0]


def test_event_of_a_rejected_ticket_is_rejected(write: Write) -> None:
    t = write("t.csv", TICKETS + GOOD + "T2,garbage,open,,\n")
    e = write("e.csv", EVENTS + "T2,2026-01-05T11:00:00Z,comment,,,,,\n")
    b = read_import(t, e)
    assert [(r[0], r[2]) for r in rejects(b)] == [("t.csv", "created_at"), ("e.csv", "ticket_id")]


def test_malformed_csv_row_is_rejected_and_numbering_kept(write: Write) -> None:
    csv = TICKETS + GOOD + "T2,2026-01-05,open,,,EXTRA\n" + "T3,2026-01-05,open,,\n"
    b = read_import(write("t.csv", csv))
    assert b.tickets is not None and b.tickets["ticket_id"].to_pylist() == ["T1", "T3"]
    got = rejects(b)
    assert len(got) == 1 and got[0][1] == 2 and got[0][4].startswith("malformed CSV row")
    bad = TICKETS + GOOD + "T2,2026-01-05,open,,,EXTRA\n" + "T3,2026-01-05,nope,,\n"
    b = read_import(write("t2.csv", bad))
    assert [(r[1], r[2]) for r in rejects(b)] == [(2, None), (3, "status")]


def test_lines_starting_with_hash_are_data(write: Write) -> None:
    b = read_import(write("t.csv", TICKETS + "#7,2026-01-05,open,,\n"))
    assert b.tickets is not None and b.tickets["ticket_id"].to_pylist() == ["#7"]


# --- whole-file errors ------------------------------------------------------------------------------


def test_empty_file(write: Write) -> None:
    with pytest.raises(BadInputError, match=r"t\.csv: empty file"):
        read_import(write("t.csv", ""))


def test_header_only_file(write: Write) -> None:
    with pytest.raises(BadInputError, match="empty file: no data rows"):
        read_import(write("t.csv", TICKETS))


def test_missing_required_column_is_named(write: Write) -> None:
    with pytest.raises(BadInputError, match="missing required column 'status'") as exc:
        read_import(write("t.csv", "ticket_id,created_at\nT1,2026-01-05\n"))
    assert exc.value.details["column"] == "status"
    with pytest.raises(BadInputError, match="missing required column 'kind'"):
        read_import(one_ticket_file(write), write("e.csv", "ticket_id,event_at\nT1,2026-01-05\n"))


def test_unreadable_files(write: Write, tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="unreadable file: no such file"):
        read_import(tmp_path / "nope.csv")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(BadInputError, match="unreadable file: is a directory"):
        read_import(tmp_path / "dir.csv")
    with pytest.raises(BadInputError, match="unreadable file"):
        read_import(write("t.parquet", b"this is not parquet at all"))
    with pytest.raises(BadInputError, match="unreadable file"):
        read_import(write("t.csv.gz", b"\x1f\x8b\x08\x00broken gzip"))


def test_usage_errors(write: Write) -> None:
    t = one_ticket_file(write)
    with pytest.raises(UsageError, match="unknown time zone"):
        read_import(t, tz="Mars/Olympus")
    with pytest.raises(UsageError, match="unknown format"):
        read_import(t, fmt="xlsx")
    with pytest.raises(UsageError, match="cannot tell the format"):
        read_import(write("t.dat", TICKETS + GOOD))
    with pytest.raises(UsageError, match="unknown preset"):
        read_import(t, preset="freshdesk")
    with pytest.raises(UsageError, match="no events file"):
        read_import(t, t, preset="event-log")
