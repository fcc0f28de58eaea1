"""A small, independent first-response SLA probe used to check the sample data's breach share.

Not the SLA engine: it only evaluates CONTRACT §3's first_reply clock (start at created_at or,
for agent-created tickets, at the first public end-user comment; stop at the first public agent
comment or transition into solved/closed strictly after the start) against the demo policies,
in business seconds of the policy's calendar, with the sample package's interval arithmetic.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml
from numpy.typing import NDArray

from deskpulse.calendar.spec import parse_calendars
from deskpulse.sample.clock import NEVER_AT, ClockBook, local_intervals

DEMO_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "demo" / "deskpulse.yaml"


def epoch_seconds(column: pa.ChunkedArray | pa.Array) -> NDArray[np.int64]:
    """Epoch seconds of an ISO 8601 ``...Z`` string or timestamp column (nulls → NEVER_AT)."""
    if pa.types.is_string(column.type):
        column = pc.strptime(column, format="%Y-%m-%dT%H:%M:%SZ", unit="s")
    seconds = pc.cast(pc.cast(column, pa.timestamp("s")), pa.int64())
    return np.asarray(pc.fill_null(seconds, int(NEVER_AT)).to_numpy(zero_copy_only=False), dtype=np.int64)


def first_response(tickets: pa.Table, events: pa.Table, as_of_s: int,
                   config_path: Path = DEMO_CONFIG) -> dict[str, Any]:
    """Per policy: tickets, breached (stopped late or still running past target), share."""
    raw = yaml.safe_load(config_path.read_text())
    specs = parse_calendars(raw.get("calendars"), str(config_path))
    created = epoch_seconds(tickets["created_at"])
    origin, horizon = int(created.min()) - 86400, as_of_s + 86400
    first_day = dt.date(1970, 1, 1) + dt.timedelta(days=origin // 86400 - 2)
    last_day = dt.date(1970, 1, 1) + dt.timedelta(days=horizon // 86400 + 2)
    names = sorted(specs)
    patterns = []
    for name in names:
        spec = specs[name]
        if spec.always:
            rows = np.asarray([[origin, horizon]], dtype=np.int64)
        else:
            week = [[(iv.start_minute, iv.end_minute) for iv in day] for day in spec.week]
            rows = local_intervals(spec.timezone, week, spec.holidays.dates_between(first_day, last_day),
                                   first_day, last_day)
        patterns.append((name, rows))
    book = ClockBook.build(patterns, origin, horizon)

    index = {tid: i for i, tid in enumerate(tickets["ticket_id"].to_pylist())}
    ev_ticket = np.asarray([index[t] for t in events["ticket_id"].to_pylist()], dtype=np.int64)
    ev_at = epoch_seconds(events["event_at"])
    kind = np.asarray(events["kind"].to_pylist(), dtype=object)
    actor = np.asarray(events["actor"].to_pylist(), dtype=object)
    public = np.asarray(events["public"].to_pylist(), dtype=bool)
    to_value = np.asarray(events["to_value"].to_pylist(), dtype=object)
    n = len(created)
    public_comment = (kind == "comment") & public

    def first_at(mask: NDArray[np.bool_]) -> NDArray[np.int64]:
        out = np.full(n, NEVER_AT, dtype=np.int64)
        np.minimum.at(out, ev_ticket[mask], ev_at[mask])
        return out

    earliest = first_at(public_comment)
    earliest_agent = first_at(public_comment & (actor == "agent"))
    agent_created = (earliest_agent == earliest) & (earliest == created)
    user_first = first_at(public_comment & (actor == "end_user"))
    start = np.where(agent_created, user_first, created)
    after = ev_at > start[ev_ticket]
    stop_reply = first_at(public_comment & (actor == "agent") & after)
    stop_solve = first_at((kind == "status") & np.isin(to_value, ["solved", "closed"]) & after)
    stop = np.minimum(stop_reply, stop_solve)

    columns = {name: np.asarray(tickets[name].to_pylist(), dtype=object)
               for name in ("priority", "tier", "region", "channel", "group", "category", "brand")}
    policy = np.full(n, -1, dtype=np.int64)
    for p, pol in enumerate(raw["policies"]):
        ok = policy < 0
        for key, value in (pol.get("match") or {}).items():
            values = value if isinstance(value, list) else [value]
            ok &= np.isin(columns[key], [str(v) for v in values])
        policy[ok] = p
    out: dict[str, Any] = {"tickets": 0, "breached": 0, "by_policy": {}}
    for p, pol in enumerate(raw["policies"]):
        sel = (policy == p) & (start < as_of_s)
        if "first_response" not in pol["targets"] or not sel.any():
            continue
        spec = specs[pol["calendar"]]
        target = spec.duration_seconds(pol["targets"]["first_response"])
        end = np.minimum(stop[sel], as_of_s)
        elapsed = book.open_seconds_between(start[sel], end, book.index(pol["calendar"]))
        breached = int((elapsed > target).sum())
        out["by_policy"][pol["name"]] = {"tickets": int(sel.sum()), "breached": breached,
                                         "share": breached / int(sel.sum())}
        out["tickets"] += int(sel.sum())
        out["breached"] += breached
    out["share"] = out["breached"] / max(out["tickets"], 1)
    return out


