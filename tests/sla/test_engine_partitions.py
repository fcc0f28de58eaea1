"""Running the engine in ticket partitions gives exactly the single-pass result."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest
from tests.reference import SAMPLE_CONFIG, random_workload

from deskpulse.config import parse_config
from deskpulse.model import EVENT_SCHEMA, TICKET_SCHEMA
from deskpulse.sla import engine
from deskpulse.sla.build import run_engine
from deskpulse.sla.policies import load_sla_config


def test_partitioned_equals_single_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    sla = load_sla_config(parse_config(SAMPLE_CONFIG, "sample"))
    tickets, events, as_of = random_workload(random.Random(5), n_tickets=60)
    ev = pa.Table.from_pylist(events, schema=EVENT_SCHEMA)
    ev = ev.append_column("seq", pa.array(range(ev.num_rows), pa.int64()))
    tk = pa.Table.from_pylist(tickets, schema=TICKET_SCHEMA)
    one = run_engine(tk, ev, sla, as_of)
    monkeypatch.setattr(engine, "PARTITION_TICKETS", 7)
    many = run_engine(tk, ev, sla, as_of)
    for name in ("ticket_metrics", "ticket_sla", "ticket_segments"):
        assert getattr(one, name).equals(getattr(many, name)), name
    assert one.notes == many.notes
