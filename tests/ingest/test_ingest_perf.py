"""Scale check (opt-in: ``pytest -m slow tests/ingest``): 1M tickets / 10M events CSV pair.

The data is generated with a DuckDB ``range()`` query. The contract target is well under ~12 s
for read + validate on the project's 2-core machine; the assertion here is loose (machines
running other work at the same time are slower) and the measured times are logged.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import duckdb
import pytest

from deskpulse.ingest import read_import

log = logging.getLogger(__name__)

N_TICKETS = 1_000_000
EVENTS_PER_TICKET = 10


def generate(dir_: Path, n: int = N_TICKETS) -> tuple[Path, Path]:
    """Write tickets.csv (n rows) and events.csv (10 n rows) under ``dir_``."""
    con = duckdb.connect()
    t, e = dir_ / "tickets.csv", dir_ / "events.csv"
    con.execute(
        """
        COPY (
          SELECT 'T' || lpad(i::VARCHAR, 7, '0') AS ticket_id,
                 strftime(TIMESTAMP '2025-01-01' + to_seconds(i * 30), '%Y-%m-%dT%H:%M:%SZ') AS created_at,
                 strftime(TIMESTAMP '2025-01-01' + to_seconds(i * 30 + 86400), '%Y-%m-%dT%H:%M:%SZ') AS updated_at,
                 (['new','open','pending','hold','solved','closed'])[1 + i % 6] AS status,
                 (['urgent','high','normal','low'])[1 + i % 4] AS priority,
                 (['email','web','chat','phone'])[1 + i % 4] AS channel,
                 'cat' || (i % 20) AS category, 'grp' || (i % 12) AS "group",
                 'u' || (i % 50000) AS requester_id, 'a' || (i % 300) AS assignee_id,
                 'Subject line number ' || i AS subject, 'tag' || (i % 7) || ' tag' || (i % 11) AS tags
          FROM range($n) r(i)
        ) TO '"""
        + str(t).replace("'", "''")
        + """' (HEADER, DELIMITER ',')
        """,
        {"n": n},
    )
    con.execute(
        """
        COPY (
          SELECT 'T' || lpad((i // 10)::VARCHAR, 7, '0') AS ticket_id,
                 strftime(TIMESTAMP '2025-01-01' + to_seconds((i // 10) * 30 + (i % 10) * 600), '%Y-%m-%dT%H:%M:%SZ') AS event_at,
                 (['status','comment','comment','assignee','comment','status','group','comment','priority','status'])[1 + i % 10] AS kind,
                 (['agent','end_user','system'])[1 + i % 3] AS actor, 'a' || (i % 300) AS actor_id,
                 CASE WHEN i % 5 = 0 THEN 'false' ELSE 'true' END AS public,
                 CASE WHEN i % 10 = 5 THEN 'new' END AS from_value,
                 CASE WHEN i % 10 = 5 THEN 'open' WHEN i % 10 = 0 THEN 'new' WHEN i % 10 = 9 THEN 'solved'
                      WHEN i % 10 = 8 THEN 'high' END AS to_value,
                 NULL AS field
          FROM range($n) r(i)
        ) TO '"""
        + str(e).replace("'", "''")
        + """' (HEADER, DELIMITER ',')
        """,
        {"n": n * EVENTS_PER_TICKET},
    )
    con.close()
    return t, e


@pytest.mark.slow
def test_one_million_tickets_ten_million_events(tmp_path: Path) -> None:
    t, e = generate(tmp_path)
    wall, cpu = time.perf_counter(), time.process_time()
    b = read_import(t, e)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    log.warning("read_import 1M/10M: %.2f s wall, %.2f s CPU", wall, cpu)
    assert b.tickets is not None and b.events is not None
    assert b.tickets.num_rows == N_TICKETS
    assert b.events.num_rows == N_TICKETS * EVENTS_PER_TICKET
    assert b.rejects.num_rows == 0
    assert wall < 60
