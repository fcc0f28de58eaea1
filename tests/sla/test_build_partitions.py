"""The build in ticket-id ranges (several partitions, one transaction) stores exactly what one
partition stores, full and incremental, on DuckDB and PostgreSQL (ranges follow each store's
own ordering of ticket ids)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pyarrow as pa
import pytest
from tests.reference import SAMPLE_CONFIG, random_workload

from deskpulse.config import parse_config
from deskpulse.model import EVENT_SCHEMA, TICKET_SCHEMA
from deskpulse.sla import engine
from deskpulse.sla.build import build
from deskpulse.store import TenantStore, open_store

KEYS = {"ticket_metrics": "ticket_id", "ticket_sla": "ticket_id, metric, instance",
        "ticket_segments": "ticket_id, segment"}


def _tables(repo: TenantStore) -> dict[str, list[dict[str, object]]]:
    return {n: repo.query(f"SELECT * FROM {n} ORDER BY {k}").drop_columns(["tenant_id"]).to_pylist()  # noqa: S608
            for n, k in KEYS.items()}


def _load(repo: TenantStore, tickets: list[dict[str, object]], events: list[dict[str, object]],
          at: datetime) -> None:
    repo.upsert_tickets(pa.Table.from_pylist(tickets, schema=TICKET_SCHEMA), at)
    ev = pa.Table.from_pylist(events, schema=EVENT_SCHEMA)
    repo.insert_events(ev.append_column("seq", pa.array(range(ev.num_rows), pa.int64())), at)


def test_partitioned_build_equals_one_partition(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = parse_config(SAMPLE_CONFIG, "sample")
    tickets, events, as_of = random_workload(random.Random(11), n_tickets=40)
    for i, t in enumerate(tickets):  # mixed-case ids: byte order and collations may differ
        t["ticket_id"] = f"{'ab'[i % 2]}{'XY'[i % 3 % 2]}-{i:03d}"
    for e in events:
        e["ticket_id"] = next(t["ticket_id"] for t in tickets if t["ticket_id"].endswith(e["ticket_id"][-3:]))
    t0 = datetime(2026, 3, 1)
    store = open_store(db_url)
    try:
        repo = store.tenant("acme")
        _load(repo, tickets, [e for e in events if e["event_at"] <= as_of - timedelta(hours=6)], t0)
        first = as_of - timedelta(hours=3)
        one = build(repo, cfg, as_of=first, full=True)
        want_full = _tables(repo)
        monkeypatch.setattr(engine, "PARTITION_TICKETS", 3)
        many = build(repo, cfg, as_of=first, full=True)
        assert _tables(repo) == want_full
        assert (many.tickets_recomputed, many.sla_rows, many.notes) == (one.tickets_recomputed, one.sla_rows, one.notes)

        # later events arrive, as_of moves on: incremental in partitions of 3 == full in one,
        # every column (a finished ticket's open last segment carries no minutes)
        _load(repo, [], [e for e in events if e["event_at"] > as_of - timedelta(hours=6)], t0 + timedelta(days=1))
        inc = build(repo, cfg, as_of=as_of)
        assert inc.mode == "incremental"
        got_inc = _tables(repo)
        monkeypatch.setattr(engine, "PARTITION_TICKETS", 100_000)
        full = build(repo, cfg, as_of=as_of, full=True)
        assert full.mode == "full"
        assert got_inc == _tables(repo)
    finally:
        store.close()


def test_build_of_an_empty_tenant_reports_every_note_as_zero(db_url: str) -> None:
    with open_store(db_url) as store:
        summary = build(store.tenant("empty"), parse_config(SAMPLE_CONFIG, "sample"), as_of=datetime(2026, 1, 1))
    assert summary.tickets_total == 0 and summary.notes and set(summary.notes.values()) == {0}
