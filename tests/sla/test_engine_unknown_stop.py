"""A solved ticket without events or solved_at whose first_reply_at lies after as_of.

Found by the differential test (seed 2226): the first_reply_at column stands for a reply only up
to as_of (CONTRACT §1), so it stops nothing here; the solve that stopped the first_response
clock has no known time, hence no row (D5) -- as the reference implementation says.
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from deskpulse.config import parse_config
from deskpulse.model import EVENT_SCHEMA, TICKET_SCHEMA
from deskpulse.sla.build import run_engine
from deskpulse.sla.policies import load_sla_config

CFG = {"policies": [{"name": "p", "calendar": "24x7", "targets": {"first_response": "1h", "resolution": "8h"}}]}
CREATED = datetime(2026, 3, 8, 15, 56)


def _sla_metrics(first_reply_at: datetime | None, as_of: datetime) -> list[str]:
    tk = pa.Table.from_pylist(
        [{"ticket_id": "A", "created_at": CREATED, "updated_at": CREATED, "status": "solved",
          "first_reply_at": first_reply_at}],
        schema=TICKET_SCHEMA,
    )
    ev = EVENT_SCHEMA.empty_table().append_column("seq", pa.array([], pa.int64()))
    r = run_engine(tk, ev, load_sla_config(parse_config(CFG, "t")), as_of)
    return [row["metric"] for row in r.ticket_sla.to_pylist()]


def test_first_reply_after_as_of_stops_nothing() -> None:
    assert _sla_metrics(datetime(2026, 3, 8, 21, 23, 13), datetime(2026, 3, 8, 21, 14)) == []


def test_first_reply_before_as_of_stops_the_first_response_clock() -> None:
    assert _sla_metrics(datetime(2026, 3, 8, 16, 10), datetime(2026, 3, 8, 21, 14)) == ["first_response"]


def test_no_first_reply_means_no_row() -> None:
    assert _sla_metrics(None, datetime(2026, 3, 8, 21, 14)) == []
