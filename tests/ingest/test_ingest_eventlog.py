"""Event-log preset: a small hand-made log in the UCI shape, and the real UCI log."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pyarrow.compute as pc
import pytest

from deskpulse import model
from deskpulse.ingest import ImportBatch, read_import

from .conftest import REPO

UCI_MAPPING = REPO / "examples" / "mappings" / "uci_incident_event_log.yml"
UCI_DATA = REPO.parent / "shared" / "data" / "uci_incident_event_log.csv.gz"


def _sample(fixtures: Path) -> ImportBatch:
    return read_import(
        fixtures / "uci_sample.csv", preset="event-log", mapping=UCI_MAPPING, tz="America/Sao_Paulo"
    )


def test_tickets_from_the_last_row(fixtures: Path) -> None:
    b = _sample(fixtures)
    assert b.tickets is not None and b.tickets.schema == model.TICKET_SCHEMA
    t = {r["ticket_id"]: r for r in b.tickets.to_pylist()}
    assert list(t) == ["INC001", "INC002", "INC003"]
    inc1 = t["INC001"]
    # day-first local times in Sao Paulo (UTC-3 in 2016 after DST ended) -> UTC
    assert inc1["created_at"] == datetime(2016, 2, 29, 4, 16)
    assert inc1["updated_at"] == datetime(2016, 3, 5, 15, 0)
    assert inc1["solved_at"] == datetime(2016, 2, 29, 11, 53)
    assert (
        inc1["status"],
        inc1["priority"],
        inc1["channel"],
        inc1["group"],
        inc1["assignee_id"],
        inc1["requester_id"],
    ) == (
        "closed",
        "normal",
        "phone",
        "Group 56",
        "Resolver 7",
        "Caller 1",
    )
    extra = json.loads(inc1["extra"])
    assert (
        extra["made_sla"] == "true"
        and extra["impact"] == "2 - Medium"
        and extra["closed_code"] == "code 5"
    )
    assert (
        "sys_updated_at" not in extra and "number" not in extra and "cmdb_ci" not in extra
    )  # '?' is null
    assert (t["INC002"]["status"], t["INC002"]["priority"], t["INC002"]["updated_at"]) == (
        "open",
        "urgent",
        datetime(2016, 3, 13, 17, 30),  # 13/3: day first
    )
    assert t["INC003"]["status"] == "open" and t["INC003"]["channel"] == "web"


def test_status_histories_by_change_detection(fixtures: Path) -> None:
    b = _sample(fixtures)
    assert b.events is not None
    ev = [
        (r["ticket_id"], r["kind"], r["from_value"], r["to_value"], r["actor"])
        for r in b.events.to_pylist()
    ]
    assert [e for e in ev if e[0] == "INC001"] == [
        ("INC001", "status", None, "new", "agent"),  # first row: initial status
        ("INC001", "group", None, "Group 56", "agent"),
        ("INC001", "priority", None, "normal", "agent"),
        ("INC001", "status", "new", "open", "agent"),
        ("INC001", "assignee", None, "Resolver 7", "agent"),
        ("INC001", "status", "open", "solved", "agent"),  # same minute: ordered by sys_mod_count
        ("INC001", "status", "solved", "closed", "system"),  # Updated by 908
    ]
    # the -100 row is rejected and skipped: Active -> Awaiting User Info
    inc2 = [(k, f, to) for tid, k, f, to, _ in ev if tid == "INC002"]
    assert ("status", "open", "pending") in inc2 and ("priority", "high", "urgent") in inc2
    assert ("group", "Group 10", "Group 11") in inc2
    # rows out of file order are ordered by timestamp; the bad-timestamp row is rejected
    assert [(k, f, to) for tid, k, f, to, _ in ev if tid == "INC003"] == [
        ("status", None, "new"),
        ("priority", None, "low"),
        ("status", "new", "open"),
    ]
    assert b.events["seq"].to_pylist() == list(range(len(ev)))


def test_row_rejects(fixtures: Path) -> None:
    b = _sample(fixtures)
    rej = [(r["row"], r["column"], r["value"], r["reason"]) for r in b.rejects.to_pylist()]
    assert [(r, c, v) for r, c, v, _ in rej] == [
        (6, "incident_state", "-100"),
        (11, "sys_updated_at", "31/2/2016 10:00"),
    ]
    assert "not a state" in rej[0][3]
    assert b.rows_read == {"tickets": 11, "events": 18}


@pytest.mark.shared_data
@pytest.mark.skipif(not UCI_DATA.exists(), reason="shared data not present")
def test_real_uci_incident_log() -> None:
    b = read_import(UCI_DATA, preset="event-log", mapping=UCI_MAPPING, tz="America/Sao_Paulo")
    assert b.tickets is not None and b.events is not None
    assert b.tickets.num_rows == 24918
    assert len(b.tickets["ticket_id"].unique()) == 24918
    assert b.rows_read["tickets"] == 141712
    # the 5 rows with incident_state -100 are the only rejects
    assert b.rejects.num_rows == 5 and set(b.rejects["value"].to_pylist()) == {"-100"}
    status = b.events.filter(pc.equal(b.events["kind"], "status"))
    assert len(status["ticket_id"].unique()) == 24918  # every incident has a status history
    first = status.filter(pc.is_null(status["from_value"]))
    assert first.num_rows == 24918  # exactly one initial status event each
    assert set(b.tickets["status"].to_pylist()) <= set(model.STATUSES)
    assert b.events["seq"].to_pylist() == list(range(b.events.num_rows))
