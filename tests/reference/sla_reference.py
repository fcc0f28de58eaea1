"""Naive reference implementation of CONTRACT §3 (metric definitions) and §4 (output tables).

The fast SLA engine is tested against this module, so it is written for obviousness, not speed:
one ticket at a time, one event at a time, following the sentences of the contract in order.
It shares no code with ``deskpulse`` (only the status constants of ``deskpulse.model``); business
time comes from :mod:`calendar_reference`, which walks instants.

Where the contract leaves a choice open, the choice is written down in
``tests/golden/sla/README.md`` under "Interpretations" and referred to here as (I-n).

Conventions: instants are naive UTC ``datetime`` values with whole seconds (internally: integer
seconds since the epoch); minute columns are exact :class:`fractions.Fraction` values
(seconds / 60, never rounded); empty (NULL) is ``None``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from deskpulse.model import SOLVED_STATUSES, STATUSES

from .calendar_reference import (
    ALWAYS,
    Calendar,
    business_seconds_epoch,
    from_epoch,
    next_business_instant_epoch,
    parse_calendars,
    parse_duration,
    reach_epoch,
    to_epoch,
)

__all__ = [
    "METRICS",
    "TICKET_METRICS_COLUMNS",
    "TICKET_SLA_COLUMNS",
    "Policy",
    "compute",
    "match_policy",
    "parse_policies",
]

#: CONTRACT §4, in order.
TICKET_METRICS_COLUMNS = (
    "ticket_id",
    "policy",
    "calendar",
    "first_reply_at",
    "first_reply_calendar_minutes",
    "first_reply_business_minutes",
    "solved_at",
    "full_resolution_calendar_minutes",
    "full_resolution_business_minutes",
    "requester_wait_calendar_minutes",
    "requester_wait_business_minutes",
    "agent_wait_calendar_minutes",
    "agent_wait_business_minutes",
    "on_hold_calendar_minutes",
    "on_hold_business_minutes",
    "agent_work_calendar_minutes",
    "agent_work_business_minutes",
    "reopens",
    "replies",
    "assignee_stations",
    "group_stations",
)
TICKET_SLA_COLUMNS = (
    "ticket_id",
    "metric",
    "instance",
    "policy",
    "calendar",
    "target_minutes",
    "started_at",
    "due_at",
    "stopped_at",
    "elapsed_business_minutes",
    "paused_business_minutes",
    "status",
    "breached_at",
    "margin_minutes",
)
#: The SLA metrics (policy target keys) in the order their rows are emitted.
METRICS = ("first_response", "next_response", "resolution")

SOLVED = frozenset(SOLVED_STATUSES)  # {"solved", "closed"}

#: ticket_metrics status-time columns -> the statuses they count (CONTRACT §3).
STATUS_TIMES: dict[str, frozenset[str]] = {
    "requester_wait": frozenset({"new", "open", "hold"}),
    "agent_wait": frozenset({"pending"}),
    "on_hold": frozenset({"hold"}),
    "agent_work": frozenset({"new", "open"}),
}

#: Defaults of the seed-000 ``thresholds`` (used when neither policies nor thresholds are given).
DEFAULT_THRESHOLDS = {"first_response_minutes": 60, "resolution_hours": 24}


def minutes(seconds: int) -> Fraction:
    """Exact minutes of a whole number of seconds."""
    return Fraction(seconds, 60)


# --- configuration: policies (CONTRACT §2) ----------------------------------------------------


@dataclass(frozen=True)
class Policy:
    name: str
    #: dimension -> accepted values (a scalar in the YAML is a one-element tuple)
    match: tuple[tuple[str, tuple[str | None, ...]], ...]
    calendar: Calendar
    #: metric -> target in seconds, only the metrics the policy has a target for
    targets: tuple[tuple[str, int], ...]
    pause_on: frozenset[str]

    def target(self, metric: str) -> int | None:
        return dict(self.targets).get(metric)


def _match_value(value: Any) -> str | None:
    """Config values are compared as strings ("exact string match"); YAML may give ints/bools."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _threshold_seconds(value: Any, unit_seconds: int, what: str) -> int:
    seconds = Fraction(str(value)) * unit_seconds
    if seconds.denominator != 1 or seconds <= 0:
        raise ValueError(f"thresholds.{what}: {value!r} is not a positive whole number of seconds")
    return int(seconds)


def parse_policies(config: Mapping[str, Any]) -> list[Policy]:
    """The ``policies`` section, or the derived ``default`` policy when it is absent or empty."""
    calendars = parse_calendars(config.get("calendars"))
    policies_spec = config.get("policies")
    if not policies_spec:  # (I-1) absent, null or [] -> derive `default` from thresholds
        thresholds = {**DEFAULT_THRESHOLDS, **(config.get("thresholds") or {})}
        return [
            Policy(
                name="default",
                match=(),
                calendar=calendars[ALWAYS],
                targets=(
                    (
                        "first_response",
                        _threshold_seconds(
                            thresholds["first_response_minutes"], 60, "first_response_minutes"
                        ),
                    ),
                    (
                        "resolution",
                        _threshold_seconds(
                            thresholds["resolution_hours"], 3600, "resolution_hours"
                        ),
                    ),
                ),
                pause_on=frozenset(),
            )
        ]
    policies = []
    for i, spec in enumerate(policies_spec):
        where = f"policies[{i}]"
        name = spec.get("name") or f"policy{i + 1}"
        cal_name = str(spec.get("calendar") or ALWAYS)
        if cal_name not in calendars:
            raise ValueError(f"{where}.calendar: unknown calendar {cal_name!r}")
        calendar = calendars[cal_name]
        match = []
        for key, wanted in (spec.get("match") or {}).items():
            values = wanted if isinstance(wanted, list | tuple) else [wanted]
            match.append((str(key), tuple(_match_value(v) for v in values)))
        targets = []
        for metric, text in (spec.get("targets") or {}).items():
            if metric not in METRICS:
                raise ValueError(f"{where}.targets.{metric}: unknown metric")
            seconds = parse_duration(text, calendar.day_seconds)
            if seconds <= 0:
                raise ValueError(f"{where}.targets.{metric}: a target must be > 0")
            targets.append((metric, seconds))
        policies.append(
            Policy(
                name=str(name),
                match=tuple(match),
                calendar=calendar,
                targets=tuple(targets),
                pause_on=frozenset(str(s) for s in spec.get("pause_on") or ()),
            )
        )
    return policies


def _ticket_value(ticket: Mapping[str, Any], key: str) -> str | None:
    """The ticket's current value of a dimension; unknown columns are looked up in ``extra``."""
    if key in ticket:
        value = ticket[key]
    else:
        extra = ticket.get("extra")
        extra_map = json.loads(extra) if isinstance(extra, str) and extra else (extra or {})
        value = extra_map.get(key) if isinstance(extra_map, Mapping) else None
    return None if value is None else str(value)


def match_policy(ticket: Mapping[str, Any], policies: Sequence[Policy]) -> Policy | None:
    """CONTRACT §2: all keys of ``match`` hold (equal, or equal to one of a list); first match wins."""
    for policy in policies:
        ok = True
        for key, accepted in policy.match:
            value = _ticket_value(ticket, key)
            # (I-2) a null in the config matches an empty value
            if not any(
                (v is None and not value) or (v is not None and v == value) for v in accepted
            ):
                ok = False
                break
        if ok:
            return policy
    return None


# --- the event stream of one ticket (CONTRACT §3 "Event order") -------------------------------


@dataclass(frozen=True)
class Event:
    at: int  # epoch seconds
    kind: str
    actor: str
    public: bool
    from_value: str | None
    to_value: str | None

    @property
    def is_public_agent_comment(self) -> bool:
        return self.kind == "comment" and self.public and self.actor == "agent"

    @property
    def is_public_end_user_comment(self) -> bool:
        return self.kind == "comment" and self.public and self.actor == "end_user"


@dataclass(frozen=True)
class StatusChange:
    at: int
    before: str  # the status per the timeline just before this event (from_value is not trusted)
    after: str

    @property
    def into_solved_or_closed(self) -> bool:
        """A "transition into solved or closed": it enters solved or closed from another status."""
        return self.after in SOLVED and self.before != self.after

    @property
    def is_resolution(self) -> bool:
        """(I-5) a solve: into solved, or into closed from an unsolved status."""
        if self.after == "solved":
            return self.before != "solved"
        return self.after == "closed" and self.before not in SOLVED

    @property
    def is_reopen(self) -> bool:
        """CONTRACT §3: a transition from solved to a status other than closed."""
        return self.before == "solved" and self.after not in SOLVED


def _instant(value: Any) -> int:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, dt.datetime):
        raise TypeError(f"expected a datetime, got {value!r}")
    return to_epoch(value)


def _present(value: Any) -> bool:
    return value is not None and value == value and value != ""  # value == value: not NaN


@dataclass
class Timeline:
    """Everything §3 needs to know about one ticket, as known at ``as_of``."""

    created: int
    as_of: int
    events: list[Event]  # ordered by event_at, input order kept for equal event_at
    changes: list[StatusChange]
    #: (start, end, status) pieces covering [created, as_of) (empty pieces dropped)
    segments: list[tuple[int, int, str]]
    status_at_as_of: str
    #: (I-12) no events up to as_of, the ticket row says solved/closed but has no solved_at:
    #: the instant of the solve, which stops the clocks, is unknown.
    solve_time_unknown: bool = False

    @classmethod
    def build(
        cls, ticket: Mapping[str, Any], raw_events: list[Mapping[str, Any]], as_of: int
    ) -> Timeline:
        created = _instant(ticket["created_at"])
        solve_time_unknown = False
        if not any(_instant(raw["event_at"]) <= as_of for raw in raw_events):
            # (I-12) CONTRACT §1 "Without events": use what the tickets table allows.
            raw_events = _fallback_events(ticket)
            solve_time_unknown = ticket.get("status") in SOLVED and not _present(
                ticket.get("solved_at")
            )
        events = []
        for raw in raw_events:
            at = _instant(raw["event_at"])
            if at > as_of:
                continue  # "A build with as_of ignores events after as_of"
            public = raw.get("public")
            events.append(
                Event(
                    at=at,
                    kind=str(raw["kind"]),
                    actor=str(raw.get("actor") or "system"),
                    public=True if public is None else bool(public),
                    from_value=raw.get("from_value"),
                    to_value=raw.get("to_value"),
                )
            )
        # sorted() is stable: events with the same event_at keep their input order.
        events.sort(key=lambda e: e.at)
        # (I-13) events before created_at are taken to happen at created_at (order kept).
        events = [e if e.at >= created else _replace_at(e, created) for e in events]

        # Status timeline: `new` at created_at; each status event sets the status to to_value.
        status = "new"
        changes = []
        for e in events:
            # (I-14) a status event whose to_value is not one of the six statuses changes nothing
            if e.kind == "status" and e.to_value in STATUSES:
                changes.append(StatusChange(e.at, status, str(e.to_value)))
                status = str(e.to_value)
        segments = []
        current, since = "new", created
        for change in changes:
            if change.at > since:
                segments.append((since, change.at, current))
                since = change.at
            current = change.after
        if as_of > since:
            segments.append((since, as_of, current))
        return cls(created, as_of, events, changes, segments, status, solve_time_unknown)

    def public_agent_comments(self) -> list[int]:
        return [e.at for e in self.events if e.is_public_agent_comment]

    def public_end_user_comments(self) -> list[int]:
        return [e.at for e in self.events if e.is_public_end_user_comment]

    def agent_created(self) -> bool:
        """The earliest public comment has event_at = created_at and actor = agent."""
        for e in self.events:
            if e.kind == "comment" and e.public:
                return e.at == self.created and e.actor == "agent"
        return False

    def reply_stop_after(self, start: int) -> int | None:
        """First public agent comment or transition into solved/closed strictly after ``start``."""
        candidates = [t for t in self.public_agent_comments() if t > start]
        candidates += [c.at for c in self.changes if c.into_solved_or_closed and c.at > start]
        return min(candidates, default=None)

    def last_resolution(self) -> int | None:
        """(I-5) the last solve (into solved, or into closed from an unsolved status)."""
        return max((c.at for c in self.changes if c.is_resolution), default=None)


def _replace_at(event: Event, at: int) -> Event:
    return Event(at, event.kind, event.actor, event.public, event.from_value, event.to_value)


def _fallback_events(ticket: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """(I-12) A ticket without events up to as_of: its first_reply_at column stands for a public
    agent comment, and, when the row's status is solved or closed, its solved_at column for the
    transition into that status."""
    synthetic: list[Mapping[str, Any]] = []
    if _present(ticket.get("first_reply_at")):
        synthetic.append(
            {
                "event_at": ticket["first_reply_at"],
                "kind": "comment",
                "actor": "agent",
                "public": True,
            }
        )
    if ticket.get("status") in SOLVED and _present(ticket.get("solved_at")):
        synthetic.append(
            {"event_at": ticket["solved_at"], "kind": "status", "to_value": ticket["status"]}
        )
    return synthetic


# --- clocks -----------------------------------------------------------------------------------

#: A clock is a list of pieces (start, end, kind), kind "run" (counts as elapsed), "pause"
#: (counts as paused) or "off" (counts as neither: solved/closed time of a resolution clock).
Piece = tuple[int, int, str]


def evaluate_clock(
    *,
    ticket_id: str,
    metric: str,
    instance: int,
    policy: Policy,
    target: int,
    start: int,
    stop: int | None,
    pieces: list[Piece],
    as_of: int,
    running_at_as_of: bool,
) -> dict[str, Any]:
    """One ticket_sla row from a clock's pieces, following the §3 SLA bullets sentence by sentence."""
    cal = policy.calendar
    elapsed = sum(business_seconds_epoch(cal, s, e) for s, e, k in pieces if k == "run")
    paused = sum(business_seconds_epoch(cal, s, e) for s, e, k in pieces if k == "pause")

    # due_at: the instant at which running business time reaches the target ...
    due: int | None = None
    if elapsed >= target:  # ... for a clock that reached it: that instant
        acc = 0
        for s, e, kind in pieces:
            if kind != "run":
                continue
            here = business_seconds_epoch(cal, s, e)
            if acc + here >= target:
                due = reach_epoch(cal, s, target - acc)
                break
            acc += here
    elif stop is not None:  # ... projected without pauses from its stop
        due = reach_epoch(cal, stop, target - elapsed)
    elif running_at_as_of:  # ... or from as_of for an open running clock
        due = reach_epoch(cal, as_of, target - elapsed)
    # else: an open clock that is paused and has not reached its target: empty

    # breached_at: the first instant at which elapsed exceeds the target, i.e. the first
    # business instant >= due_at at which the clock runs. Never projected.
    breached_at: int | None = None
    if elapsed > target:
        assert due is not None
        for s, e, kind in pieces:
            if kind != "run" or e <= due:
                continue
            candidate = next_business_instant_epoch(cal, max(s, due))
            if candidate < e:
                breached_at = candidate
                break
        assert breached_at is not None, "elapsed > target implies a running business instant"

    if stop is not None:
        status = "met" if elapsed <= target else "breached"
    elif elapsed > target:
        status = "active_breached"
    elif not running_at_as_of:
        status = "paused"
    else:
        status = "active"

    return {
        "ticket_id": ticket_id,
        "metric": metric,
        "instance": instance,
        "policy": policy.name,
        "calendar": cal.name,
        "target_minutes": minutes(target),
        "started_at": from_epoch(start),
        "due_at": None if due is None else from_epoch(due),
        "stopped_at": None if stop is None else from_epoch(stop),
        "elapsed_business_minutes": minutes(elapsed),
        "paused_business_minutes": minutes(paused),
        "status": status,
        "breached_at": None if breached_at is None else from_epoch(breached_at),
        "margin_minutes": minutes(target - elapsed),
    }


def _not_applicable_row(ticket_id: str, policy: Policy) -> dict[str, Any]:
    """A first_response that never started: numeric and time columns empty (I-7)."""
    row: dict[str, Any] = dict.fromkeys(TICKET_SLA_COLUMNS)
    row.update(
        ticket_id=ticket_id,
        metric="first_response",
        instance=1,
        policy=policy.name,
        calendar=policy.calendar.name,
        status="not_applicable",
    )
    return row


def sla_rows(ticket_id: str, tl: Timeline, policy: Policy) -> list[dict[str, Any]]:
    """The ticket_sla rows of one ticket under its matched policy."""
    rows: list[dict[str, Any]] = []
    as_of = tl.as_of

    # first_reply: starts at created_at, or for an agent-created ticket at the first public
    # end-user comment; stops at the first public agent comment or transition into solved/closed
    # strictly after the start.
    first_start: int | None
    if tl.agent_created():
        first_start = min(tl.public_end_user_comments(), default=None)
    else:
        first_start = tl.created
    first_stop = None if first_start is None else tl.reply_stop_after(first_start)

    target = policy.target("first_response")
    if target is not None and not (tl.solve_time_unknown and first_stop is None):
        # (I-12) ... unless it was stopped by a solve whose time the tickets table does not give
        if first_start is None:
            rows.append(_not_applicable_row(ticket_id, policy))
        else:
            rows.append(
                evaluate_clock(
                    ticket_id=ticket_id,
                    metric="first_response",
                    instance=1,
                    policy=policy,
                    target=target,
                    start=first_start,
                    stop=first_stop,
                    pieces=[(first_start, first_stop if first_stop is not None else as_of, "run")],
                    as_of=as_of,
                    running_at_as_of=True,  # reply clocks run in every status, never paused
                )
            )

    # next_reply: after the first reply stopped, each public end-user comment strictly after the
    # previous stop starts an instance, stopped like first_reply.
    target = policy.target("next_response")
    if target is not None and first_stop is not None:
        previous_stop: int | None = first_stop
        instance = 0
        while previous_stop is not None:
            start = min(
                (t for t in tl.public_end_user_comments() if t > previous_stop), default=None
            )
            if start is None:
                break
            stop = tl.reply_stop_after(start)
            instance += 1
            rows.append(
                evaluate_clock(
                    ticket_id=ticket_id,
                    metric="next_response",
                    instance=instance,
                    policy=policy,
                    target=target,
                    start=start,
                    stop=stop,
                    pieces=[(start, stop if stop is not None else as_of, "run")],
                    as_of=as_of,
                    running_at_as_of=True,
                )
            )
            previous_stop = stop

    # resolution: starts at created_at; stops at the last solve, but only when the status at
    # as_of is solved or closed; off while solved/closed; paused in pause_on statuses.
    target = policy.target("resolution")
    if target is not None and not tl.solve_time_unknown:  # (I-12) no row rather than a guess
        stop = tl.last_resolution() if tl.status_at_as_of in SOLVED else None
        end = stop if stop is not None else as_of
        pieces: list[Piece] = []
        for s, e, status in tl.segments:  # the timeline starts at created_at
            e = min(e, end)
            if e <= s:
                continue
            if status in SOLVED:
                kind = "off"  # (I-8) solved beats pause_on, should pause_on list it
            elif status in policy.pause_on:
                kind = "pause"
            else:
                kind = "run"
            pieces.append((s, e, kind))
        rows.append(
            evaluate_clock(
                ticket_id=ticket_id,
                metric="resolution",
                instance=1,
                policy=policy,
                target=target,
                start=tl.created,
                stop=stop,
                pieces=pieces,
                as_of=as_of,
                running_at_as_of=tl.status_at_as_of not in policy.pause_on,
            )
        )
    return rows


# --- ticket_metrics (Zendesk-native definitions) ----------------------------------------------


def _stations(
    ticket: Mapping[str, Any],
    raw_events: Iterable[Mapping[str, Any]],
    kind: str,
    column: str,
    as_of: int,
) -> int:
    """(I-11) distinct non-empty values held: from/to values of the kind's events up to as_of;
    the ticket row's current value when there is no such event."""
    relevant = [e for e in raw_events if e["kind"] == kind and _instant(e["event_at"]) <= as_of]
    if not relevant:
        return 1 if _present(ticket.get(column)) else 0
    held = {
        str(e.get(side))
        for e in relevant
        for side in ("from_value", "to_value")
        if _present(e.get(side))
    }
    return len(held)


def metrics_row(
    ticket: Mapping[str, Any],
    raw_events: list[Mapping[str, Any]],
    tl: Timeline,
    policy: Policy | None,
    calendar: Calendar,
) -> dict[str, Any]:
    created = tl.created

    def business(a: int, b: int) -> Fraction:
        return minutes(business_seconds_epoch(calendar, a, b))

    # (I-9) Zendesk's first reply time: created_at -> first public agent comment; when an agent
    # created the ticket (public first comment), its second public agent comment. Solves and
    # private notes are not replies.
    agent_comments = tl.public_agent_comments()
    replies_after_creation = agent_comments[1:] if tl.agent_created() else agent_comments
    first_reply = replies_after_creation[0] if replies_after_creation else None

    solved = tl.last_resolution()  # (I-10) the latest solve, even if reopened since

    row: dict[str, Any] = {
        "ticket_id": ticket["ticket_id"],
        "policy": policy.name if policy else None,
        "calendar": calendar.name,
        "first_reply_at": None if first_reply is None else from_epoch(first_reply),
        "first_reply_calendar_minutes": None
        if first_reply is None
        else minutes(first_reply - created),
        "first_reply_business_minutes": None
        if first_reply is None
        else business(created, first_reply),
        "solved_at": None if solved is None else from_epoch(solved),
        "full_resolution_calendar_minutes": None if solved is None else minutes(solved - created),
        "full_resolution_business_minutes": None if solved is None else business(created, solved),
    }
    # (I-10) time in statuses from created_at up to as_of; 0 when never in them.
    for name, statuses in STATUS_TIMES.items():
        pieces = [(s, e) for s, e, status in tl.segments if status in statuses]
        row[f"{name}_calendar_minutes"] = minutes(sum(e - s for s, e in pieces))
        row[f"{name}_business_minutes"] = minutes(
            sum(business_seconds_epoch(calendar, s, e) for s, e in pieces)
        )
    row["reopens"] = sum(1 for c in tl.changes if c.is_reopen)
    row["replies"] = len(agent_comments)
    row["assignee_stations"] = _stations(ticket, raw_events, "assignee", "assignee_id", tl.as_of)
    row["group_stations"] = _stations(ticket, raw_events, "group", "group", tl.as_of)
    return {column: row[column] for column in TICKET_METRICS_COLUMNS}


# --- entry point ------------------------------------------------------------------------------


def compute(
    tickets: list[dict[str, Any]],
    events: list[dict[str, Any]],
    config: dict[str, Any],
    as_of: dt.datetime,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(ticket_metrics rows, ticket_sla rows) of CONTRACT §4 at ``as_of``.

    ``tickets``/``events`` are dicts with the canonical columns of ``deskpulse.model`` (naive UTC
    datetimes; missing optional columns may be left out). Rows come in ticket input order; a
    ticket's SLA rows in the order first_response, next_response 1, 2, ..., resolution.
    """
    as_of_s = to_epoch(as_of)
    policies = parse_policies(config)
    always = parse_calendars(config.get("calendars"))[ALWAYS]

    by_ticket: dict[str, list[Mapping[str, Any]]] = {}
    for event in events:  # keeps input order within a ticket
        by_ticket.setdefault(str(event["ticket_id"]), []).append(event)

    metrics: list[dict[str, Any]] = []
    slas: list[dict[str, Any]] = []
    seen: set[str] = set()
    for ticket in tickets:
        ticket_id = str(ticket["ticket_id"])
        if ticket_id in seen:
            raise ValueError(f"duplicate ticket_id {ticket_id!r}")
        seen.add(ticket_id)
        if _instant(ticket["created_at"]) > as_of_s:
            continue  # "ignores ... tickets created after it"
        raw_events = by_ticket.get(ticket_id, [])
        tl = Timeline.build(ticket, raw_events, as_of_s)
        policy = match_policy(ticket, policies)
        calendar = policy.calendar if policy else always  # (I-3)
        metrics.append(metrics_row(ticket, raw_events, tl, policy, calendar))
        if policy is not None:
            slas.extend(sla_rows(ticket_id, tl, policy))
    return metrics, slas
