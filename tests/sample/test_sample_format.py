"""generate(): files, contract format (CONTRACT §1, deskpulse.model schemas), determinism, API."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from sample_helpers import DAYS, N_TICKETS, SEED, START, Sample, csv_header, read_csv_strings

from deskpulse.errors import UsageError
from deskpulse.model import (
    ACTORS,
    EVENT_COLUMNS,
    EVENT_KINDS,
    EVENT_SCHEMA,
    PRIORITIES,
    SATISFACTION,
    STATUSES,
    TICKET_COLUMNS,
    TICKET_SCHEMA,
    TICKET_TIMESTAMPS,
)
from deskpulse.sample import GenerateResult, default_start, generate
from deskpulse.sample import profile as P

ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _values(table: pa.Table, column: str) -> set[str | None]:
    return set(table[column].to_pylist())


def test_files_and_counts(sample: Sample) -> None:
    r = sample.result
    assert r.tickets_path.name == "tickets.csv" and r.events_path.name == "events.csv"
    assert r.agents_path.name == "agents.csv"
    assert r.n_tickets == N_TICKETS == sample.tickets.num_rows
    assert r.n_events == sample.events.num_rows
    assert r.n_agents == sample.agents.num_rows
    assert 8 * N_TICKETS <= r.n_events <= 14 * N_TICKETS
    assert r.start == START and r.days == DAYS
    assert r.window_end_at == dt.datetime(2026, 7, 4)


def test_headers_follow_the_canonical_schemas(sample: Sample) -> None:
    header = csv_header
    assert header(sample.result.tickets_path) == list(TICKET_COLUMNS)
    assert header(sample.result.events_path) == list(EVENT_COLUMNS)
    assert header(sample.result.agents_path) == [
        "agent_id", "name", "group", "region", "timezone", "shift", "skills"]


def test_timestamps_are_iso_utc_whole_seconds(sample: Sample) -> None:
    for column in TICKET_TIMESTAMPS:
        values = [v for v in sample.tickets[column].to_pylist() if v is not None]
        assert all(ISO_Z.match(v) for v in values), column
    assert all(ISO_Z.match(v) for v in sample.events["event_at"].to_pylist())
    raw = sample.result.events_path.read_text(encoding="utf-8").splitlines()[1:50]
    assert all(re.match(r'^"[^"]+","\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",', line) for line in raw)


def test_enums_and_required_columns(sample: Sample) -> None:
    t, e = sample.tickets, sample.events
    for column in ("ticket_id", "created_at", "updated_at", "status"):
        assert t[column].null_count == 0, column
    assert t["ticket_id"].to_pylist() == sorted(set(t["ticket_id"].to_pylist()))
    assert _values(t, "status") <= set(STATUSES)
    assert _values(t, "priority") <= set(PRIORITIES)
    assert _values(t, "satisfaction") <= {*SATISFACTION, None}
    assert _values(t, "channel") == set(P.CHANNELS)
    assert _values(t, "category") == set(P.CATEGORIES)
    assert _values(t, "group") == set(P.GROUPS)
    assert _values(t, "region") == set(P.REGION_NAMES)
    assert _values(t, "tier") == set(P.TIERS)
    assert _values(t, "brand") == {f"Lumen {s}" for s in P.BRAND_SUFFIXES}
    assert t["extra"].null_count == t.num_rows
    for column in ("ticket_id", "event_at", "kind", "actor", "public"):
        assert e[column].null_count == 0, column
    assert _values(e, "kind") == set(EVENT_KINDS)
    assert _values(e, "actor") == set(ACTORS)
    assert _values(e, "public") == {"true", "false"}
    assert _values(e, "field") == {None, "tags", "satisfaction"}


def test_parquet_has_the_exact_arrow_schemas_and_the_same_data(
        sample: Sample, sample_parquet: GenerateResult) -> None:
    r = sample_parquet
    assert r.tickets_path.suffix == ".parquet" and r.events_path.suffix == ".parquet"
    tickets = pq.read_table(r.tickets_path)
    events = pq.read_table(r.events_path)
    assert tickets.schema.equals(TICKET_SCHEMA)
    assert events.schema.equals(EVENT_SCHEMA)
    assert pq.read_table(r.agents_path).num_rows == sample.agents.num_rows
    # same seed, same arguments: the parquet files hold the CSV's data
    assert tickets["ticket_id"].to_pylist() == sample.tickets["ticket_id"].to_pylist()
    seconds = pc.cast(tickets["created_at"], pa.timestamp("s"))
    as_text = pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%SZ")
    assert as_text.to_pylist() == sample.tickets["created_at"].to_pylist()
    assert events.num_rows == sample.events.num_rows
    assert events["kind"].to_pylist() == sample.events["kind"].to_pylist()
    public = ["true" if p else "false" for p in events["public"].to_pylist()]
    assert public == sample.events["public"].to_pylist()


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path) -> None:
    kwargs = {"start": START, "days": 60}
    a = generate(1500, 5, tmp_path / "a", **kwargs)
    b = generate(1500, 5, tmp_path / "b", **kwargs)
    c = generate(1500, 6, tmp_path / "c", **kwargs)
    for name in ("tickets_path", "events_path", "agents_path"):
        assert _digest(getattr(a, name)) == _digest(getattr(b, name)), name
    assert _digest(a.tickets_path) != _digest(c.tickets_path)
    assert _digest(a.events_path) != _digest(c.events_path)


def test_tenant_hint_relabels_only(tmp_path: Path) -> None:
    plain = generate(600, SEED, tmp_path / "plain", start=START, days=30)
    acme = generate(600, SEED, tmp_path / "acme", start=START, days=30, tenant_hint="Acme Corp")
    a, b = read_csv_strings(plain.tickets_path), read_csv_strings(acme.tickets_path)
    assert a["created_at"].to_pylist() == b["created_at"].to_pylist()
    assert a["status"].to_pylist() == b["status"].to_pylist()
    assert plain.n_events == acme.n_events
    assert b["ticket_id"][0].as_py() == "ACME-CORP-000001"
    assert all(v.startswith("Acme Corp ") for v in b["brand"].to_pylist())
    assert all(v.startswith("acme-corp-usr-") for v in b["requester_id"].to_pylist())
    assert all(v.startswith("acme-corp-agt-") for v in read_csv_strings(acme.agents_path)["agent_id"].to_pylist())


def test_default_start_is_a_monday_days_before_today() -> None:
    today = dt.date(2026, 11, 26)
    start = default_start(180, today)
    assert start.weekday() == 0
    assert today - dt.timedelta(days=186) <= start <= today - dt.timedelta(days=180)
    assert default_start(180).weekday() == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_tickets": 0}, "--tickets"),
        ({"seed": -1}, "--seed"),
        ({"fmt": "xlsx"}, "format"),
        ({"days": 0}, "days"),
    ],
)
def test_bad_arguments_are_usage_errors(tmp_path: Path, kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"n_tickets": 10, "seed": 1, "out_dir": tmp_path, "start": START}
    args.update(kwargs)
    with pytest.raises(UsageError, match=match):
        generate(**args)  # type: ignore[arg-type]


def test_tiny_and_short_runs_work(tmp_path: Path) -> None:
    result = generate(1, SEED, tmp_path / "one", start=START, days=1)
    assert result.n_tickets == 1 and result.n_events >= 3
    result = generate(50, SEED, tmp_path / "week", start=START, days=7)
    assert read_csv_strings(result.tickets_path).num_rows == 50
