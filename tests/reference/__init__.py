"""Reference implementation of CONTRACT §3-§4 and the hand-checked golden SLA cases.

* :mod:`.calendar_reference` -- business time by walking instants (``business_seconds``,
  ``reach``, ``next_business_instant``, ``parse_calendars``, ``parse_duration``).
* :mod:`.sla_reference` -- ``compute(tickets, events, config, as_of)`` ->
  ``(ticket_metrics rows, ticket_sla rows)``.
* :func:`load_golden_cases` -- the cases of ``tests/golden/sla/*.yaml`` with their expected rows,
  and :func:`compare_tables` to diff any implementation's rows against them.
* :data:`SAMPLE_CONFIG` and :func:`random_workload` -- a config exercising every calendar feature
  and a seeded generator of canonical tickets/events, for differential and property tests.

Nothing here imports deskpulse except the constants of ``deskpulse.model``: the engine is tested
against this code, so the two must not share logic.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from deskpulse.model import EVENT_COLUMNS, STATUSES, TICKET_COLUMNS

from .calendar_reference import (
    business_seconds,
    next_business_instant,
    parse_calendars,
    parse_duration,
    reach,
)
from .sla_reference import TICKET_METRICS_COLUMNS, TICKET_SLA_COLUMNS, compute

__all__ = [
    "GOLDEN_DIR",
    "SAMPLE_CONFIG",
    "TICKET_METRICS_COLUMNS",
    "TICKET_SLA_COLUMNS",
    "GoldenCase",
    "business_seconds",
    "compare_tables",
    "compute",
    "load_golden_cases",
    "next_business_instant",
    "parse_calendars",
    "parse_duration",
    "random_workload",
    "reach",
]

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "golden" / "sla"

TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "ticket_metrics": ("ticket_id",),
    "ticket_sla": ("ticket_id", "metric", "instance"),
}
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "ticket_metrics": TICKET_METRICS_COLUMNS,
    "ticket_sla": TICKET_SLA_COLUMNS,
}
_TIMESTAMP_COLUMNS = frozenset(
    c for cols in TABLE_COLUMNS.values() for c in cols if c.endswith("_at")
)
_MINUTE_COLUMNS = frozenset(
    c for cols in TABLE_COLUMNS.values() for c in cols if c.endswith("_minutes")
)
_COUNT_COLUMNS = frozenset(
    {"instance", "reopens", "replies", "assignee_stations", "group_stations"}
)
#: Tolerance when an implementation reports minutes as floats: far below one second (1/60 min).
FLOAT_TOLERANCE_MINUTES = Fraction(1, 10**6)


# --- value normalisation ----------------------------------------------------------------------


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:  # pandas NA / NaT without importing pandas
        return bool(value != value)
    except (TypeError, ValueError):
        return type(value).__name__ in {"NAType", "NaTType"}


def to_utc_naive(value: Any) -> dt.datetime | None:
    """A timestamp (datetime, pandas Timestamp, ISO string, YAML date-time) as naive UTC."""
    if _is_empty(value):
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if isinstance(value, dt.datetime):
        instant: dt.datetime = value
        if instant.tzinfo is not None:
            instant = instant.astimezone(dt.UTC).replace(tzinfo=None)
        return instant
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    raise TypeError(f"not a timestamp: {value!r}")


def to_minutes(value: Any) -> Fraction | None:
    """An exact number of minutes: ints, decimals written in YAML (``12.5``), ``"725/3"``."""
    if _is_empty(value):
        return None
    if isinstance(value, Fraction):
        return value
    if isinstance(value, bool):
        raise TypeError(f"not a number of minutes: {value!r}")
    if isinstance(value, int | Decimal | str):
        return Fraction(str(value).strip())
    if isinstance(value, float):
        return Fraction(repr(value))
    return Fraction(str(value))  # numpy scalars and friends


# --- golden cases -----------------------------------------------------------------------------


@dataclass(frozen=True)
class GoldenCase:
    """One ``tests/golden/sla/*.yaml`` file: inputs and the hand-computed expected rows."""

    name: str
    path: Path
    description: str
    config: dict[str, Any]
    as_of: dt.datetime
    #: canonical ticket dicts (every column of deskpulse.model.TICKET_COLUMNS, naive UTC)
    tickets: list[dict[str, Any]]
    #: canonical event dicts (every column of deskpulse.model.EVENT_COLUMNS), in file order
    events: list[dict[str, Any]]
    #: expected rows with exact Fraction minutes and naive UTC datetimes
    ticket_metrics: list[dict[str, Any]]
    ticket_sla: list[dict[str, Any]]

    def __str__(self) -> str:  # pytest ids
        return self.name


def _canonical_ticket(raw: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(raw) - set(TICKET_COLUMNS)
    if unknown:
        raise ValueError(f"unknown ticket columns {sorted(unknown)}")
    ticket = {column: raw.get(column) for column in TICKET_COLUMNS}
    for column in ("created_at", "updated_at", "deleted_at", "first_reply_at", "solved_at"):
        ticket[column] = to_utc_naive(ticket[column])
    ticket["updated_at"] = ticket["updated_at"] or ticket["created_at"]
    ticket["ticket_id"] = str(ticket["ticket_id"])
    return ticket


def _canonical_event(raw: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(raw) - set(EVENT_COLUMNS)
    if unknown:
        raise ValueError(f"unknown event columns {sorted(unknown)}")
    event = {column: raw.get(column) for column in EVENT_COLUMNS}
    event["ticket_id"] = str(event["ticket_id"])
    event["event_at"] = to_utc_naive(event["event_at"])
    event["actor"] = event["actor"] or "system"
    event["public"] = True if event["public"] is None else bool(event["public"])
    return event


def _expected_row(raw: Mapping[str, Any], table: str, where: str) -> dict[str, Any]:
    columns = TABLE_COLUMNS[table]
    if set(raw) != set(columns):
        missing, extra = set(columns) - set(raw), set(raw) - set(columns)
        raise ValueError(f"{where}: missing columns {sorted(missing)}, unknown {sorted(extra)}")
    row: dict[str, Any] = {}
    for column in columns:
        value = raw[column]
        if column in _TIMESTAMP_COLUMNS:
            value = to_utc_naive(value)
        elif column in _MINUTE_COLUMNS:
            value = to_minutes(value)
        elif column in _COUNT_COLUMNS:
            value = None if value is None else int(value)
        elif value is not None:
            value = str(value)
        row[column] = value
    return row


def load_golden_case(path: Path) -> GoldenCase:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    expected = doc.get("expected") or {}
    as_of = to_utc_naive(doc["as_of"])
    assert as_of is not None
    return GoldenCase(
        name=path.stem,
        path=path,
        description=str(doc.get("description") or "").strip(),
        config=doc.get("config") or {},
        as_of=as_of,
        tickets=[_canonical_ticket(t) for t in doc.get("tickets") or []],
        events=[_canonical_event(e) for e in doc.get("events") or []],
        ticket_metrics=[
            _expected_row(r, "ticket_metrics", f"{path.name} ticket_metrics[{i}]")
            for i, r in enumerate(expected.get("ticket_metrics") or [])
        ],
        ticket_sla=[
            _expected_row(r, "ticket_sla", f"{path.name} ticket_sla[{i}]")
            for i, r in enumerate(expected.get("ticket_sla") or [])
        ],
    )


def load_golden_cases(directory: Path = GOLDEN_DIR) -> list[GoldenCase]:
    """Every golden SLA case, sorted by file name (use ``ids=str`` when parametrizing)."""
    return [load_golden_case(p) for p in sorted(directory.glob("*.yaml"))]


# --- comparing rows ---------------------------------------------------------------------------


def _same(column: str, expected: Any, actual: Any) -> bool:
    if expected is None or _is_empty(actual):
        return expected is None and _is_empty(actual)
    if column in _TIMESTAMP_COLUMNS:
        return bool(expected == to_utc_naive(actual))
    if column in _MINUTE_COLUMNS:
        got = to_minutes(actual)
        if isinstance(actual, float):  # floats cannot hold n/60 exactly
            return got is not None and abs(got - expected) <= FLOAT_TOLERANCE_MINUTES
        return bool(got == expected)
    if column in _COUNT_COLUMNS:
        return bool(int(actual) == expected)
    return bool(str(actual) == expected)


def compare_tables(
    table: str, expected: Iterable[Mapping[str, Any]], actual: Iterable[Mapping[str, Any]]
) -> list[str]:
    """Differences between expected and actual rows of ``ticket_metrics`` or ``ticket_sla``.

    Rows are matched on their key (ticket_id; ticket_id, metric, instance), order is ignored.
    Minutes compare exactly, or within 1e-6 minutes when the actual value is a float; empty
    matches None, NaN, NaT and pandas NA. Returns [] when the tables agree.
    """
    key_columns = TABLE_KEYS[table]

    def keyed(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, ...], Mapping[str, Any]]:
        result: dict[tuple[str, ...], Mapping[str, Any]] = {}
        for row in rows:
            key = tuple(str(row[c]) for c in key_columns)
            if key in result:
                raise ValueError(f"{table}: duplicate key {key}")
            result[key] = row
        return result

    want, got = keyed(expected), keyed(actual)
    problems = [f"{table} {key}: missing row" for key in want.keys() - got.keys()]
    problems += [f"{table} {key}: unexpected row" for key in got.keys() - want.keys()]
    for key in sorted(want.keys() & got.keys()):
        for column in TABLE_COLUMNS[table]:
            if column not in got[key]:
                problems.append(f"{table} {key}: column {column} missing")
            elif not _same(column, want[key][column], got[key][column]):
                problems.append(
                    f"{table} {key}: {column} expected {_show(want[key][column])},"
                    f" got {_show(got[key][column])}"
                )
    return sorted(problems)


def _show(value: Any) -> str:
    if isinstance(value, Fraction):
        return f"{value} (= {float(value):g} min = {value * 60} s)"
    if isinstance(value, dt.datetime):
        return value.isoformat() + "Z"
    return repr(value)


# --- random workloads for differential / property tests ---------------------------------------

#: A config touching every calendar feature of CONTRACT §2: split shift with day_length,
#: Saturday hours, country + explicit holidays, an overnight shift with a holiday, DST zones,
#: list matches, pause_on, a policy without next_response, and tickets that match nothing
#: (priority `low` outside emea/amer).
SAMPLE_CONFIG: dict[str, Any] = {
    "calendars": {
        "emea": {
            "timezone": "Europe/Berlin",
            "hours": {"mon-fri": ["08:00-12:00", "13:00-17:30"], "sat": ["10:00-14:00"]},
            "holidays": {"country": "DE", "subdivision": "BE", "dates": ["2026-03-27"]},
            "day_length": "8h30m",
        },
        "night": {
            "timezone": "America/New_York",
            "hours": {"mon-fri": ["22:00-06:00"], "sun": ["01:30-05:00"]},
            "holidays": {"dates": ["2026-03-09"]},
        },
        "apac": {"timezone": "Asia/Kolkata", "hours": {"mon-sat": ["09:30-18:00"]}},
    },
    "policies": [
        {
            "name": "p1",
            "match": {"priority": "urgent"},
            "calendar": "24x7",
            "targets": {"first_response": "15m", "next_response": "30m", "resolution": "2h"},
            "pause_on": ["hold"],
        },
        {
            "name": "p3-emea",
            "match": {"priority": ["normal", "low", "high"], "region": "emea"},
            "calendar": "emea",
            "targets": {"first_response": "2h", "next_response": "1h", "resolution": "1d4h"},
            "pause_on": ["pending", "hold"],
        },
        {
            "name": "amer-night",
            "match": {"region": "amer"},
            "calendar": "night",
            "targets": {"first_response": "1h", "next_response": "2h", "resolution": "1d"},
            "pause_on": ["pending"],
        },
        {
            "name": "apac",
            "match": {"priority": ["normal", "high"]},
            "calendar": "apac",
            "targets": {"first_response": "4h", "resolution": "2d"},
        },
    ],
}


def _event(ticket_id: str, at: dt.datetime, kind: str, actor: str, **values: Any) -> dict[str, Any]:
    """A canonical event row (public defaults to true)."""
    row = dict.fromkeys(EVENT_COLUMNS)
    row.update(ticket_id=ticket_id, event_at=at, kind=kind, actor=actor, public=True)
    row.update(values)
    return row


def random_workload(
    rng: random.Random,
    n_tickets: int = 20,
    start: dt.datetime = dt.datetime(2026, 3, 5),
    days: float = 6.0,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dt.datetime]:
    """Canonical tickets and events of ``n_tickets`` random tickets, and an ``as_of``.

    Tickets are created in ``[start, start + days)``; event times are whole seconds, often
    minute-aligned, sometimes equal (to exercise input order) and sometimes after ``as_of``.
    Some tickets have no events, some carry ``first_reply_at`` / ``solved_at`` columns.
    The default window spans the 2026-03-08 New York DST change, a Berlin holiday, a Saturday
    and the holiday-removed overnight shift of ``SAMPLE_CONFIG``.
    """

    def instant(base: dt.datetime, max_seconds: int) -> dt.datetime:
        seconds = rng.randrange(max_seconds)
        if rng.random() < 0.6:
            seconds -= seconds % 60  # minute-aligned, like most calendar boundaries
        return base + dt.timedelta(seconds=seconds)

    span = int(days * 86400)
    as_of = start + dt.timedelta(seconds=int(span * rng.uniform(0.6, 1.2)))
    tickets: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for i in range(n_tickets):
        created = instant(start, span)
        tid = f"R{i:04d}"
        ticket = dict.fromkeys(TICKET_COLUMNS)
        ticket.update(
            ticket_id=tid,
            created_at=created,
            updated_at=created,
            status=rng.choice(STATUSES),
            priority=rng.choice(["urgent", "high", "normal", "low", None]),
            region=rng.choice(["emea", "amer", "apac", None]),
        )
        # the optional columns used only for tickets without events (CONTRACT §1)
        if rng.random() < 0.3:
            ticket["first_reply_at"] = instant(created, 6 * 3600)
        if rng.random() < 0.3:
            ticket["solved_at"] = instant(created, 30 * 3600)
        tickets.append(ticket)

        # the opening comment: usually the end user's, sometimes an agent's (agent-created)
        opener = "agent" if rng.random() < 0.15 else "end_user"
        if rng.random() < 0.9:
            events.append(_event(tid, created, "comment", opener))
        at, status = created, "new"
        for _ in range(rng.randrange(0, 12)):
            gap = rng.choice([0, 0, 30, 60, 600, 1800, 3600, 4 * 3600, 16 * 3600])
            at = at + dt.timedelta(seconds=rng.randrange(gap + 1))
            roll = rng.random()
            if roll < 0.45:
                actor = rng.choice(["agent", "agent", "end_user", "system"])
                events.append(_event(tid, at, "comment", actor, public=rng.random() < 0.8))
            elif roll < 0.85:
                new_status = rng.choice(STATUSES)
                actor = rng.choice(["agent", "system"])
                events.append(
                    _event(
                        tid,
                        at,
                        "status",
                        actor,
                        from_value=status,
                        to_value=new_status,
                    )
                )
                status = new_status
            elif roll < 0.93:
                assignee = rng.choice(["a1", "a2", "a3", ""])
                events.append(_event(tid, at, "assignee", "system", to_value=assignee))
            else:
                group = rng.choice(["g1", "g2"])
                events.append(_event(tid, at, "group", "system", to_value=group))
    # Interleave tickets by time; the sort is stable, so each ticket's events keep their
    # generation order among equal event_at.
    events.sort(key=lambda e: e["event_at"])
    return tickets, events, as_of
