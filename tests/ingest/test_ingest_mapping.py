"""Column-mapping YAML files: the example mapping end to end, and every config error."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from deskpulse.errors import BadInputError, ConfigError
from deskpulse.ingest import read_import
from deskpulse.ingest.mapping import load_mapping

from .conftest import REPO

Write = Callable[[str, str | bytes], Path]
GENERIC = REPO / "examples" / "mappings" / "generic_helpdesk.yml"


def test_generic_helpdesk_mapping(fixtures: Path) -> None:
    b = read_import(
        fixtures / "generic_cases.csv", fixtures / "generic_case_history.csv", mapping=GENERIC
    )
    assert b.tickets is not None and b.events is not None
    t = {r["ticket_id"]: r for r in b.tickets.to_pylist()}
    assert list(t) == ["C-100", "C-101"]
    c100, c101 = t["C-100"], t["C-101"]
    assert c100["created_at"] == datetime(2026, 3, 2, 8, 0)  # %d.%m.%Y in Berlin (CET)
    assert c100["updated_at"] == datetime(2026, 3, 2, 16, 45)
    assert (c100["status"], c100["priority"], c100["group"], c100["channel"]) == (
        "pending",
        "high",
        "Billing",
        "email",
    )
    assert c100["tags"] == "billing urgent-ish"
    assert json.loads(c100["extra"]) == {"Region Code": "DE"}
    assert c101["created_at"] == datetime(2026, 3, 2, 9, 30)  # second format
    assert c101["updated_at"] == c101["created_at"]  # N/A is null -> defaults to created_at
    assert (c101["status"], c101["assignee_id"]) == ("open", None)  # built-in alias; '-' is null
    rej = [(r["file"], r["row"], r["column"], r["value"]) for r in b.rejects.to_pylist()]
    assert rej == [("generic_cases.csv", 3, "Severity", "Sev9")]
    e = [
        (r["ticket_id"], r["kind"], r["actor"], r["public"], r["from_value"], r["to_value"])
        for r in b.events.to_pylist()
    ]
    assert e == [
        ("C-100", "comment", "end_user", True, None, None),
        ("C-100", "comment", "agent", True, None, None),
        ("C-100", "status", "system", True, "new", "pending"),
        ("C-101", "assignee", "agent", True, None, "ag-7"),
    ]
    # the sniffed ';' delimiter is reported for both files
    assert sum("delimiter ';'" in w for w in b.warnings) == 2


def test_mapping_tz_wins_over_argument(fixtures: Path) -> None:
    b = read_import(fixtures / "generic_cases.csv", mapping=GENERIC, tz="Asia/Tokyo")
    assert b.tickets is not None
    assert b.tickets["created_at"][0].as_py() == datetime(2026, 3, 2, 8, 0)


def test_mapping_names_a_missing_column(write: Write) -> None:
    m = write("m.yml", "columns: {ticket_id: Case}\n")
    with pytest.raises(BadInputError, match="missing required column 'Case'"):
        read_import(write("t.csv", "ticket_id,created_at,status\nT1,2026-01-05,open\n"), mapping=m)


def test_constant_and_null_values(write: Write) -> None:
    m = write("m.yml", "constants: {priority: P1, region: emea}\nnull_values: ['?']\n")
    b = read_import(
        write("t.csv", "ticket_id,created_at,status,group\nT1,2026-01-05,open,?\n"), mapping=m
    )
    assert b.tickets is not None
    r = b.tickets.to_pylist()[0]
    assert (r["priority"], r["region"], r["group"]) == ("urgent", "emea", None)


@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        ("colums: {}\n", "colums"),
        ("columns: {ticketid: x}\n", "columns.ticketid"),
        ("columns: [a, b]\n", "columns"),
        ("values: {status: {Waiting: waiting-room}}\n", "values.status.Waiting"),
        ("values: {priority: {Sev1: P0}}\n", "values.priority.Sev1"),
        ("tz: Mars/Base\n", "tz"),
        ("timestamp_format: '%d/%m/%Y'\ntimestamp_format2: 1\n", "timestamp_format2"),
        ("timestamp_format: 'dd/mm/yyyy'\n", "timestamp_format"),
        ("null_values: {a: 1}\n", "null_values"),
        ("preset: freshdesk\n", "preset"),
        ("format: xlsx\n", "format"),
        ("delimiter: ';;'\n", "delimiter"),
        ("constants: {status: limbo}\n", "constants.status"),
        ("events: {columns: {when: x}}\n", "events.columns.when"),
        ("events: {values: {kind: {Note: memo}}}\n", "events.values.kind.Note"),
        ("version: 2\n", "version"),
        ("- a\n- b\n", "<root>"),
        ("columns: {ticket_id: [1\n", "<file>"),
        (
            "preset: event-log\nevent_log: {case: number, timestamp: t, bogus: 1}\n",
            "event_log.bogus",
        ),
        ("preset: event-log\nevent_log: {case: number, status: s}\n", "event_log.timestamp"),
        (
            "preset: event-log\nevent_log: {case: n, timestamp: t, status: s, changes: {owner: x}}\n",
            "event_log.changes.owner",
        ),
    ],
)
def test_config_errors_name_file_key_and_reason(write: Write, yaml_text: str, key: str) -> None:
    m = write("bad.yml", yaml_text)
    t = write("t.csv", "ticket_id,created_at,status,n,t,s\nT1,2026-01-05,open,1,2026-01-05,open\n")
    with pytest.raises(ConfigError) as exc:
        read_import(t, mapping=m)
    assert exc.value.details["key"] == key
    assert exc.value.details["file"].endswith("bad.yml")
    assert str(exc.value).startswith(str(m))


def test_unreadable_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_mapping(tmp_path / "missing.yml")


def test_example_mappings_load() -> None:
    for path in (REPO / "examples" / "mappings").glob("*.yml"):
        assert load_mapping(path).path == path
