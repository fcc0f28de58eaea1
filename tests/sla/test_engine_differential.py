"""Differential test: the vectorised engine equals the naive reference on random workloads.

The reference (tests/reference/sla_reference.py) walks the CONTRACT §3 rules ticket by ticket
and second by second with zoneinfo; it shares no code with the engine.
"""

from __future__ import annotations

import random

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.reference import SAMPLE_CONFIG, compare_tables, random_workload
from tests.reference.sla_reference import compute as reference_compute

from deskpulse.config import parse_config
from deskpulse.model import EVENT_SCHEMA, TICKET_SCHEMA
from deskpulse.sla.build import run_engine
from deskpulse.sla.policies import load_sla_config

SLA = load_sla_config(parse_config(SAMPLE_CONFIG, "sample"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**31 - 1))
def test_engine_matches_reference(seed: int) -> None:
    tickets, events, as_of = random_workload(random.Random(seed), n_tickets=12)
    want_metrics, want_sla = reference_compute(tickets, events, SAMPLE_CONFIG, as_of)
    ev = pa.Table.from_pylist(events, schema=EVENT_SCHEMA)
    ev = ev.append_column("seq", pa.array(range(ev.num_rows), pa.int64()))
    got = run_engine(pa.Table.from_pylist(tickets, schema=TICKET_SCHEMA), ev, SLA, as_of)
    problems = compare_tables("ticket_sla", want_sla, got.ticket_sla.to_pylist())
    problems += compare_tables("ticket_metrics", want_metrics, got.ticket_metrics.to_pylist())
    assert not problems, f"seed {seed}:\n" + "\n".join(problems[:20])
