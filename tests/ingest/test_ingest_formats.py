"""Encodings, delimiters, compression, Parquet / JSON Lines, time zones and ``extra``."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from deskpulse.ingest import read_import

Write = Callable[[str, str | bytes], Path]


def test_utf8_bom_is_stripped(write: Write) -> None:
    data = "\ufeffticket_id,created_at,status\nT1,2026-01-05,open\n".encode()
    b = read_import(write("t.csv", data))
    assert b.tickets is not None and b.tickets["ticket_id"].to_pylist() == ["T1"]
    assert b.warnings == []


def test_latin1_cp1252_is_decoded_with_a_warning(write: Write) -> None:
    text = "ticket_id,created_at,status,subject\nT1,2026-01-05,open,Caf\u00e9 \u201cna\u00efve\u201d \u20ac5\nT2,2026-01-05,open,plain\n"
    b = read_import(write("tickets.csv", text.encode("cp1252")))
    assert b.tickets is not None
    assert b.tickets["subject"].to_pylist() == ["Caf\u00e9 \u201cna\u00efve\u201d \u20ac5", "plain"]
    assert b.warnings == ["tickets.csv: decoded as cp1252 (not valid UTF-8)"]
    assert b.rejects.num_rows == 0


def test_bad_bytes_after_the_sniffed_sample_are_decoded_too(write: Write) -> None:
    rows = "".join(f"T{i},2026-01-05,open,ok\n" for i in range(40000))
    data = (
        "ticket_id,created_at,status,subject\n" + rows
    ).encode() + "Tz,2026-01-05,open,\u00e9t\u00e9\n".encode("latin-1")
    b = read_import(write("t.csv", data))
    assert b.tickets is not None and b.tickets.num_rows == 40001
    assert b.tickets["subject"].to_pylist()[-1] == "\u00e9t\u00e9"
    assert any("cp1252" in w for w in b.warnings)


@pytest.mark.parametrize(("delim", "shown"), [(";", "';'"), ("\t", "tab"), ("|", "'|'")])
def test_other_delimiters_are_sniffed(write: Write, delim: str, shown: str) -> None:
    text = delim.join(["ticket_id", "created_at", "status", "subject"]) + "\n"
    text += delim.join(["T1", "2026-01-05", "open", '"a, b; c|d"']) + "\n"
    b = read_import(write("t.csv", text))
    assert b.tickets is not None and b.tickets["subject"].to_pylist() == ["a, b; c|d"]
    assert b.warnings == [f"t.csv: delimiter {shown} detected (not the usual ',')"]


def test_gzip_csv(write: Write) -> None:
    data = gzip.compress(b"ticket_id,created_at,status\nT1,2026-01-05,open\n")
    b = read_import(write("t.csv.gz", data))
    assert b.tickets is not None and b.tickets.num_rows == 1


def test_parquet(tmp_path: Path) -> None:
    t = pa.table(
        {
            "ticket_id": pa.array([1, 2]),
            "created_at": pa.array(
                [datetime(2026, 1, 5, 10), datetime(2026, 1, 6, 10)], pa.timestamp("us")
            ),
            "status": ["Open", "resolved"],
            "tags": pa.array([["a", "b"], None], pa.list_(pa.string())),
            "score": [1.5, None],
        }
    )
    pq.write_table(t, tmp_path / "t.parquet")
    pq.write_table(
        pa.table({"ticket_id": ["1"], "event_at": ["2026-01-05T11:00:00Z"], "kind": ["comment"]}),
        tmp_path / "e.parquet",
    )
    b = read_import(tmp_path / "t.parquet", tmp_path / "e.parquet", tz="Europe/Berlin")
    assert b.tickets is not None and b.events is not None
    assert b.tickets["ticket_id"].to_pylist() == ["1", "2"]
    assert b.tickets["created_at"].to_pylist() == [
        datetime(2026, 1, 5, 9),
        datetime(2026, 1, 6, 9),
    ]  # naive -> tz
    assert b.tickets["status"].to_pylist() == ["open", "solved"]
    assert b.tickets["tags"].to_pylist() == ["a b", None]
    assert [json.loads(x) if x else None for x in b.tickets["extra"].to_pylist()] == [
        {"score": "1.5"},
        None,
    ]
    assert b.events.num_rows == 1


def test_jsonl(write: Write) -> None:
    t = write(
        "t.jsonl",
        '{"ticket_id": "T1", "created_at": "2026-01-05T10:00:00Z", "status": "open", "tags": ["x", "y"], "meta": {"k": 1}}\n'
        '{"ticket_id": "T2", "created_at": "2026-01-05T10:00:00Z", "status": "bogus"}\n',
    )
    e = write(
        "e.jsonl",
        '{"ticket_id": "T1", "event_at": "2026-01-05T11:00:00Z", "kind": "comment", "public": false}\n',
    )
    b = read_import(t, e)
    assert b.tickets is not None and b.events is not None
    assert b.tickets["tags"].to_pylist() == ["x y"]
    assert json.loads(b.tickets["extra"][0].as_py()) == {"meta": '{"k":1}'}
    assert b.events["public"].to_pylist() == [False]
    assert [(r["row"], r["column"]) for r in b.rejects.to_pylist()] == [(2, "status")]


def test_format_override(write: Write) -> None:
    b = read_import(write("t.txt", "ticket_id,created_at,status\nT1,2026-01-05,open\n"), fmt="csv")
    assert b.tickets is not None and b.tickets.num_rows == 1


# --- time zones -------------------------------------------------------------------------------------


def _created(write: Write, values: list[str], tz: str) -> list[datetime | None]:
    text = "ticket_id,created_at,status\n" + "".join(
        f"T{i},{v},open\n" for i, v in enumerate(values)
    )
    b = read_import(write("t.csv", text), tz=tz)
    assert b.tickets is not None
    got: list[datetime | None] = b.tickets["created_at"].to_pylist()
    return got


def test_naive_times_are_read_in_tz_and_offsets_win(write: Write) -> None:
    got = _created(
        write,
        [
            "2026-01-15 09:00",
            "2026-07-15 09:00",
            "2026-01-15T09:00:00Z",
            "2026-01-15T09:00:00+05:30",
            "2026-01-15",
        ],
        "America/New_York",
    )
    assert got == [
        datetime(2026, 1, 15, 14, 0),  # EST, UTC-5
        datetime(2026, 7, 15, 13, 0),  # EDT, UTC-4
        datetime(2026, 1, 15, 9, 0),
        datetime(2026, 1, 15, 3, 30),
        datetime(2026, 1, 15, 5, 0),  # a date is local midnight
    ]


def test_dst_gap_and_repeated_hour(write: Write) -> None:
    """Documented in validate.py and docs/import.md: a local time that does not exist (spring
    forward) is shifted forward by the gap; one that occurs twice (fall back) is the second
    occurrence, in standard time -- as PostgreSQL does."""
    got = _created(
        write,
        ["2026-03-08 02:30", "2026-11-01 01:30", "2026-11-01 00:59", "2026-11-01 02:00"],
        "America/New_York",
    )
    assert got == [
        datetime(2026, 3, 8, 7, 30),  # 02:30 does not exist -> 03:30 EDT
        datetime(2026, 11, 1, 6, 30),  # 01:30 happens twice -> 01:30 EST (the second)
        datetime(2026, 11, 1, 4, 59),  # 00:59 EDT
        datetime(2026, 11, 1, 7, 0),  # 02:00 EST
    ]


def test_utc_default(write: Write) -> None:
    assert _created(write, ["2026-03-08 02:30"], "UTC") == [datetime(2026, 3, 8, 2, 30)]


# --- extra ---------------------------------------------------------------------------------------------


def test_unknown_columns_are_kept_in_extra(write: Write) -> None:
    text = 'ticket_id,created_at,status,Customer Tier,"odd ""name"""\nT1,2026-01-05,open,gold,x\nT2,2026-01-05,open,,\n'
    b = read_import(write("t.csv", text))
    assert b.tickets is not None
    assert json.loads(b.tickets["extra"][0].as_py()) == {"Customer Tier": "gold", 'odd "name"': "x"}
    assert b.tickets["extra"][1].as_py() is None


def test_extra_is_null_without_unknown_columns(write: Write) -> None:
    b = read_import(write("t.csv", "ticket_id,created_at,status\nT1,2026-01-05,open\n"))
    assert b.tickets is not None and b.tickets["extra"].to_pylist() == [None]


def test_header_spellings_and_type_alias(write: Write) -> None:
    b = read_import(
        write("t.csv", "Ticket ID,Created At,STATUS,Type\nT1,2026-01-05,open,billing\n")
    )
    assert b.tickets is not None
    assert b.tickets["category"].to_pylist() == ["billing"]
    assert b.tickets["extra"].to_pylist() == [None]


def test_an_extra_column_is_merged_not_nested(write: Write) -> None:
    text = 'ticket_id,created_at,status,extra,zone\nT1,2026-01-05,open,"{""a"": 1}",eu\nT2,2026-01-05,open,,\nT3,2026-01-05,open,plain,\n'
    b = read_import(write("t.csv", text))
    assert b.tickets is not None
    got = [json.loads(x) if x else None for x in b.tickets["extra"].to_pylist()]
    assert got == [{"a": 1, "zone": "eu"}, None, {"extra": "plain"}]
