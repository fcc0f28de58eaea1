"""The SLA engine reproduces every hand-checked golden case (tests/golden/sla) exactly."""

from __future__ import annotations

import pyarrow as pa
import pytest
from tests.reference import compare_tables, load_golden_cases

from deskpulse.config import parse_config
from deskpulse.model import EVENT_SCHEMA, TICKET_SCHEMA
from deskpulse.sla.build import run_engine
from deskpulse.sla.policies import load_sla_config

CASES = load_golden_cases()


def run_case(case):  # type: ignore[no-untyped-def]
    sla = load_sla_config(parse_config(case.config, case.name))
    tickets = pa.Table.from_pylist(case.tickets, schema=TICKET_SCHEMA)
    events = pa.Table.from_pylist(case.events, schema=EVENT_SCHEMA)
    events = events.append_column("seq", pa.array(range(events.num_rows), pa.int64()))
    return run_engine(tickets, events, sla, case.as_of)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_golden_case(case) -> None:  # type: ignore[no-untyped-def]
    result = run_case(case)
    problems = compare_tables("ticket_sla", case.ticket_sla, result.ticket_sla.to_pylist())
    problems += compare_tables("ticket_metrics", case.ticket_metrics, result.ticket_metrics.to_pylist())
    assert not problems, "\n".join(problems)
