"""The tickets table's latest state, derived from the (already cut) event stream.

Status, group, assignee, priority, tags and updated_at are the last values the events set; so
the tickets table can never disagree with the events. first_reply_at and solved_at follow
CONTRACT §3 (first public agent comment after the start; last transition into solved while the
ticket is solved or closed); satisfaction follows the survey rules of the sample helpdesk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from deskpulse.model import SATISFACTION, STATUSES
from deskpulse.sample import profile as P
from deskpulse.sample.clock import NEVER_AT
from deskpulse.sample.lifecycle import (
    A_AGENT,
    A_END_USER,
    A_SYSTEM,
    CLOSED,
    F_SATISFACTION,
    F_TAGS,
    K_ASSIGNEE,
    K_COMMENT,
    K_FIELD,
    K_GROUP,
    K_PRIORITY,
    K_STATUS,
    SOLVED,
    Events,
    TicketDraft,
    Vocab,
)

I64 = NDArray[np.int64]
DAY = 86400


@dataclass(frozen=True)
class TicketState:
    """Per-ticket latest state (codes; -1 / NEVER_AT = empty)."""

    status: NDArray[np.int8]
    group: NDArray[np.int8]
    assignee: I64
    priority: NDArray[np.int8]
    escalated: NDArray[np.bool_]
    updated_at: I64
    first_reply_at: I64
    solved_at: I64
    satisfaction: NDArray[np.int8]


def _last(events: Events, mask: NDArray[np.bool_], values: I64, n: int, default: int) -> I64:
    """Per ticket, the value of the last event selected by ``mask`` (``default`` if none)."""
    out = np.full(n, default, dtype=np.int64)
    ticket = events.ticket[mask]
    if len(ticket):
        last = np.ones(len(ticket), dtype=bool)
        last[:-1] = ticket[1:] != ticket[:-1]
        out[ticket[last]] = values[mask][last]
    return out


def _first(events: Events, mask: NDArray[np.bool_], values: I64, n: int, default: int) -> I64:
    """Per ticket, the value of the first event selected by ``mask`` (``default`` if none)."""
    out = np.full(n, default, dtype=np.int64)
    ticket = events.ticket[mask]
    if len(ticket):
        first = np.ones(len(ticket), dtype=bool)
        first[1:] = ticket[1:] != ticket[:-1]
        out[ticket[first]] = values[mask][first]
    return out


def derive_state(events: Events, draft: TicketDraft, vocab: Vocab, end_at: int) -> TicketState:
    """The latest state of every ticket as of ``end_at`` (events are already cut there)."""
    n = len(draft)
    kind = events.kind
    to = events.to_code.astype(np.int64)
    at = events.at
    status = _last(events, kind == K_STATUS, to - vocab.status, n, STATUSES.index("new"))
    group = _last(events, kind == K_GROUP, to - vocab.group, n, -1)
    group = np.where(group < 0, draft.group_initial, group)
    assignee = _last(events, kind == K_ASSIGNEE, to - vocab.agent, n, -1)
    priority = _last(events, kind == K_PRIORITY, to - vocab.priority, n, -1)
    priority = np.where(priority < 0, draft.priority, priority)
    tags_event = (kind == K_FIELD) & (events.field == F_TAGS)
    escalated = _last(events, tags_event, to - vocab.tags_escalated, n, -1) >= 0
    updated_at = _last(events, np.ones(len(events), dtype=bool), at, n, 0)
    updated_at = np.where(updated_at > 0, updated_at, draft.created_at)

    # first reply (CONTRACT §3): start at created_at, or for an agent-created ticket at the first
    # public end-user comment; stop at the first public agent comment strictly after the start
    public_comment = (kind == K_COMMENT) & events.public
    first_user = _first(events, public_comment & (events.actor == A_END_USER), at, n, NEVER_AT)
    earliest = _first(events, public_comment, events.actor.astype(np.int64), n, -1)
    earliest_at = _first(events, public_comment, at, n, NEVER_AT)
    agent_created = (earliest == A_AGENT) & (earliest_at == draft.created_at)
    start = np.where(agent_created, first_user, draft.created_at)
    after_start = public_comment & (events.actor == A_AGENT) & (at > start[events.ticket])
    first_reply_at = _first(events, after_start, at, n, NEVER_AT)

    solved_now = (status == SOLVED) | (status == CLOSED)
    into_solved = (kind == K_STATUS) & (to == vocab.status + SOLVED)
    last_solved = _last(events, into_solved, at, n, NEVER_AT)
    solved_at = np.where(solved_now, last_solved, NEVER_AT)

    # satisfaction: surveys go out 24 h after an agent solved a non-API ticket
    solver = _last(events, into_solved, events.actor.astype(np.int64), n, -1)
    rating_event = (kind == K_FIELD) & (events.field == F_SATISFACTION)
    rating = _last(events, rating_event, to - vocab.satisfaction, n, -1)
    rated_at = _last(events, rating_event, at, n, -1)
    surveyed = (solver != A_SYSTEM) & (draft.channel != P.CHANNELS.index("api"))
    offered = surveyed & (solved_at + DAY <= end_at)
    satisfaction = np.where(offered, SATISFACTION.index("offered"), SATISFACTION.index("unoffered"))
    satisfaction = np.where(offered & (rating >= 0) & (rated_at > solved_at), rating, satisfaction)
    satisfaction = np.where(solved_now, satisfaction, -1)
    return TicketState(
        status=status.astype(np.int8),
        group=group.astype(np.int8),
        assignee=assignee,
        priority=priority.astype(np.int8),
        escalated=escalated,
        updated_at=updated_at,
        first_reply_at=first_reply_at,
        solved_at=solved_at,
        satisfaction=satisfaction.astype(np.int8),
    )
