"""Ticket lifecycles as an event stream, simulated for all tickets at once, round by round.

Every step (creation, triage, assignment, first reply, pending/open/hold cycles with requester
replies, escalation, reassignment, solve, reopen, close, satisfaction rating) is a numpy
operation over the tickets still in that step; there is no per-ticket Python loop. Agents act
in business time on their shifts (:mod:`deskpulse.sample.routing`), requesters in their local
waking hours, automations (auto-solve, auto-close) in wall-clock time. Events are collected as
integer codes (:class:`EventLog`) and become strings only when written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from deskpulse.model import ACTORS, EVENT_KINDS, PRIORITIES, SATISFACTION, STATUSES
from deskpulse.sample import profile as P
from deskpulse.sample.arrivals import LocalClock
from deskpulse.sample.clock import NEVER_AT
from deskpulse.sample.population import Agents
from deskpulse.sample.routing import FOLLOW_THE_SUN, ON_CALL, Patterns, Router

I64 = NDArray[np.int64]
Codes = NDArray[np.integer[Any]]
Mask = NDArray[np.bool_]

MINUTE = 60
HOUR = 3600
DAY = 86400

K_STATUS, K_COMMENT, K_ASSIGNEE, K_GROUP, K_PRIORITY, K_FIELD = (
    EVENT_KINDS.index(k) for k in ("status", "comment", "assignee", "group", "priority", "field")
)
A_AGENT, A_END_USER, A_SYSTEM = (ACTORS.index(a) for a in ("agent", "end_user", "system"))
NEW, OPEN, PENDING, HOLD, SOLVED, CLOSED = (STATUSES.index(s) for s in STATUSES)
URGENT = PRIORITIES.index("urgent")
#: Field names of ``field`` events.
FIELDS = ("tags", "satisfaction")
F_TAGS, F_SATISFACTION = 0, 1
# what started the wait before an agent's next action
TRIG_CUSTOMER, TRIG_SELF, TRIG_HOLD_END, TRIG_HANDOVER = 0, 1, 2, 3


@dataclass(frozen=True)
class Vocab:
    """Integer codes of from/to values: fixed enums, agents, then per-ticket tag strings."""

    n_agents: int
    n_tickets: int
    status: int = 0
    priority: int = len(STATUSES)
    group: int = len(STATUSES) + len(PRIORITIES)
    satisfaction: int = len(STATUSES) + len(PRIORITIES) + len(P.GROUPS)
    agent: int = len(STATUSES) + len(PRIORITIES) + len(P.GROUPS) + len(SATISFACTION)

    @property
    def tags(self) -> int:
        """Code of ticket ``i``'s initial tags is ``tags + i``."""
        return self.agent + self.n_agents

    @property
    def tags_escalated(self) -> int:
        """Code of ticket ``i``'s tags after escalation is ``tags_escalated + i``."""
        return self.tags + self.n_tickets

    def fixed_strings(self, agent_ids: tuple[str, ...]) -> list[str]:
        """The strings of every code below :attr:`tags`."""
        return [*STATUSES, *PRIORITIES, *P.GROUPS, *SATISFACTION, *agent_ids]


@dataclass(frozen=True)
class Events:
    """The event stream as parallel arrays, sorted by ticket then event_at (input order kept)."""

    ticket: NDArray[np.int32]
    at: I64
    kind: NDArray[np.int8]
    actor: NDArray[np.int8]
    agent: NDArray[np.int32]  # -1 = no actor_id
    public: Mask
    from_code: NDArray[np.int32]  # -1 = empty
    to_code: NDArray[np.int32]
    field: NDArray[np.int8]  # -1 = empty

    def __len__(self) -> int:
        return len(self.at)


@dataclass
class EventLog:
    """Append-only buffer of event columns; :meth:`finish` sorts and cuts at the window end."""

    parts: list[tuple[NDArray[np.int32], I64, int, int, NDArray[np.int32], bool,
                      NDArray[np.int32], NDArray[np.int32], int]] = field(default_factory=list)

    def add(self, ticket: Codes, at: Codes | int, kind: int, actor: int, *,
            agent: Codes | int = -1, public: bool = True,
            from_code: Codes | int = -1, to_code: Codes | int = -1, field_code: int = -1) -> None:
        """Record one event per ticket in ``ticket`` (scalars broadcast)."""
        n = len(ticket)
        if n == 0:
            return
        self.parts.append((
            ticket.astype(np.int32),
            np.broadcast_to(np.asarray(at, dtype=np.int64), (n,)).copy(),
            kind, actor,
            np.broadcast_to(np.asarray(agent, dtype=np.int32), (n,)).copy(),
            public,
            np.broadcast_to(np.asarray(from_code, dtype=np.int32), (n,)).copy(),
            np.broadcast_to(np.asarray(to_code, dtype=np.int32), (n,)).copy(),
            field_code,
        ))

    def finish(self, origin_at: int, end_at: int) -> Events:
        """Drop events at or after ``end_at`` and sort by (ticket, event_at), stable."""
        sizes = [len(p[0]) for p in self.parts]

        at = np.concatenate([p[1] for p in self.parts])
        keep = at < end_at
        ticket = np.concatenate([p[0] for p in self.parts])[keep]
        at = at[keep]
        key = ticket.astype(np.int64) << 34 | (at - origin_at)
        order = np.argsort(key, kind="stable")
        del key
        positions = np.flatnonzero(keep)[order]
        del keep
        events = Events(
            ticket=ticket[order],
            at=at[order],
            kind=np.repeat(np.asarray([p[2] for p in self.parts], dtype=np.int8), sizes)[positions],
            actor=np.repeat(np.asarray([p[3] for p in self.parts], dtype=np.int8), sizes)[positions],
            agent=np.concatenate([p[4] for p in self.parts])[positions],
            public=np.repeat(np.asarray([p[5] for p in self.parts], dtype=np.bool_), sizes)[positions],
            from_code=np.concatenate([p[6] for p in self.parts])[positions],
            to_code=np.concatenate([p[7] for p in self.parts])[positions],
            field=np.repeat(np.asarray([p[8] for p in self.parts], dtype=np.int8), sizes)[positions],
        )
        self.parts.clear()
        return events


@dataclass(frozen=True)
class TicketDraft:
    """Per-ticket facts fixed before the simulation (arrays sorted by created_at)."""

    created_at: I64
    region: NDArray[np.int8]
    group_initial: NDArray[np.int8]
    group_routed: NDArray[np.int8]
    priority: NDArray[np.int8]
    tier: NDArray[np.int8]
    channel: NDArray[np.int8]
    complexity: NDArray[np.int8]
    sentiment: NDArray[np.int8]
    agent_created: Mask
    spam: Mask
    creator: I64  # agent who logged an agent-created ticket, else -1

    def __len__(self) -> int:
        return len(self.created_at)


@dataclass(frozen=True)
class Outcome:
    """What the simulation produced: the cut, sorted events and soft-deletion instants."""

    events: Events
    deleted_at: I64  # NEVER_AT = not deleted


def coverage_of(priority: NDArray[np.int8], tier: NDArray[np.int8],
                region: NDArray[np.int8]) -> NDArray[np.int8]:
    """Who may answer: on-call for urgent, follow-the-sun for high and enterprise, else region."""
    enterprise = P.TIERS.index("enterprise")
    cov = np.where(priority == URGENT, ON_CALL,
                   np.where((priority == 1) | (tier == enterprise), FOLLOW_THE_SUN, region))
    return cov.astype(np.int8)


def lognormal_seconds(rng: np.random.Generator, median_seconds: NDArray[np.float64] | float,
                      sigma: float, size: int) -> I64:
    """Lognormal durations in whole seconds (≥ 1)."""
    values = np.asarray(median_seconds, dtype=np.float64) * np.exp(rng.normal(0.0, sigma, size))
    return np.maximum(np.minimum(values, 60.0 * DAY), 1.0).astype(np.int64)


class Simulation:
    """Runs the lifecycle of every ticket; see the module docstring."""

    def __init__(self, rng: np.random.Generator, draft: TicketDraft, agents: Agents,
                 patterns: Patterns, router: Router, local_clock: LocalClock,
                 vocab: Vocab, end_at: int) -> None:
        self.rng = rng
        self.t = draft
        self.agents = agents
        self.patterns = patterns
        self.book = patterns.book
        self.router = router
        self.local_clock = local_clock
        self.vocab = vocab
        self.end_at = end_at
        self.log = EventLog()
        n = len(draft)
        self.n = n
        self.status = np.full(n, NEW, dtype=np.int8)
        self.agent = np.full(n, -1, dtype=np.int64)
        self.pattern = np.full(n, patterns.always, dtype=np.int64)
        self.group = draft.group_initial.copy()
        self.priority = draft.priority.copy()
        self.last_at = draft.created_at.copy()
        self.trigger_at = np.full(n, NEVER_AT, dtype=np.int64)
        self.trigger = np.zeros(n, dtype=np.int8)
        self.active = np.zeros(n, dtype=bool)
        self.reopened = np.zeros(n, dtype=bool)
        self.escalated = np.zeros(n, dtype=bool)
        self.system_solved = np.zeros(n, dtype=bool)
        self.solved_at = np.full(n, NEVER_AT, dtype=np.int64)
        self.first_wait_seconds = np.zeros(n, dtype=np.int64)
        self.coverage = coverage_of(draft.priority, draft.tier, draft.region)
        self.customer_pattern = patterns.customer(draft.region)
        self.deleted_at = np.full(n, NEVER_AT, dtype=np.int64)

    # --- helpers ------------------------------------------------------------------------------

    def _agent_code(self, agent: I64) -> I64:
        return np.where(agent >= 0, self.vocab.agent + agent, -1)

    def _follow_pattern(self, idx: I64, agent: I64) -> I64:
        """Urgent tickets stay on the on-call 24x7 clock; others follow the assignee's shift."""
        return np.where(self.priority[idx] == URGENT, self.patterns.always,
                        self.router.shift_pattern(agent))

    def _speed(self, idx: I64) -> NDArray[np.float64]:
        speed: NDArray[np.float64] = (np.asarray(P.PRIORITY_SPEED)[self.priority[idx]]
                                      * np.asarray(P.TIER_SPEED)[self.t.tier[idx]])
        return speed

    def _set_status(self, idx: I64, at: I64, to: NDArray[np.int8] | int, actor: int,
                    agent: I64 | int = -1) -> None:
        to_arr = np.broadcast_to(np.asarray(to, dtype=np.int8), idx.shape)
        change = to_arr != self.status[idx]
        at_arr = np.broadcast_to(at, idx.shape)
        agent_arr = np.broadcast_to(np.asarray(agent, dtype=np.int64), idx.shape)
        self.log.add(idx[change], at_arr[change], K_STATUS, actor, agent=agent_arr[change],
                     from_code=self.status[idx][change], to_code=to_arr[change])
        self.status[idx] = to_arr

    def _assign(self, idx: I64, at: I64, new_agent: I64, actor: int, by: I64 | int) -> None:
        old = self.agent[idx]
        self.log.add(idx, at, K_ASSIGNEE, actor, agent=by, from_code=self._agent_code(old),
                     to_code=self.vocab.agent + new_agent)
        self.agent[idx] = new_agent
        self.pattern[idx] = self._follow_pattern(idx, new_agent)

    # --- stages -------------------------------------------------------------------------------

    def run(self, origin_at: int) -> Outcome:
        """Simulate every ticket; events at or after the window end are dropped."""
        self._create()
        self._first_touch()
        for round_no in range(2, P.MAX_ROUNDS + 1):
            self._round(round_no)
        self._close_and_rate()
        return Outcome(events=self.log.finish(origin_at, self.end_at), deleted_at=self.deleted_at)

    def _create(self) -> None:
        t = self.t
        every = np.arange(self.n, dtype=np.int64)
        ac = t.agent_created
        creator = np.where(ac, t.creator, -1)
        actor = np.where(ac, A_AGENT, A_END_USER)
        for who in (A_END_USER, A_AGENT):
            sel = every[actor == who]
            self.log.add(sel, t.created_at[sel], K_STATUS, who, agent=creator[sel],
                         to_code=self.vocab.status + NEW)
            self.log.add(sel, t.created_at[sel], K_COMMENT, who, agent=creator[sel])
        self.log.add(every, t.created_at, K_GROUP, A_SYSTEM,
                     to_code=self.vocab.group + t.group_initial)
        # spam: soft-deleted by a Tier 1 agent, no further events
        spam = every[t.spam]
        pat = self.patterns.coverage(np.zeros(len(spam), dtype=np.int8) + P.GROUPS.index(P.T1),
                                     t.region[spam])
        self.deleted_at[spam] = self.book.add(
            t.created_at[spam], lognormal_seconds(self.rng, 40.0 * MINUTE, 1.0, len(spam)), pat)
        # agent-created: the creating agent owns it and sets the status at once
        sel = every[ac & ~t.spam]
        at = t.created_at[sel]
        self._assign(sel, at, creator[sel], A_AGENT, creator[sel])
        u = self.rng.random(len(sel))
        decision = np.select([u < 0.45, u < 0.75, u < 0.95], [SOLVED, PENDING, OPEN], HOLD)
        self._act(sel, at, decision.astype(np.int8), round_no=1, comment=False)

    def _first_touch(self) -> None:
        t = self.t
        rng = self.rng
        idx = np.flatnonzero(~t.agent_created & ~t.spam)
        created = t.created_at[idx]
        trigger = created.copy()
        # triage: misrouted tickets are moved by a Tier 1 agent before anyone answers
        mis = self.group[idx] != t.group_routed[idx]
        m_idx = idx[mis]
        t1 = np.full(len(m_idx), P.GROUPS.index(P.T1), dtype=np.int8)
        t1_cover = t.region[m_idx]
        triage_at = self.book.add(
            created[mis], lognormal_seconds(rng, P.TRIAGE_MEDIAN_MINUTES * MINUTE, 0.9, len(m_idx)),
            self.patterns.coverage(t1, t1_cover))
        triager = self.router.choose(rng, triage_at, t1, t1_cover)
        self.log.add(m_idx, triage_at, K_GROUP, A_AGENT, agent=triager,
                     from_code=self.vocab.group + self.group[m_idx],
                     to_code=self.vocab.group + t.group_routed[m_idx])
        self.group[m_idx] = t.group_routed[m_idx]
        trigger[mis] = triage_at
        self.last_at[m_idx] = triage_at
        # a share is auto-assigned by the round-robin trigger a few seconds later
        auto = (rng.random(len(idx)) < P.AUTO_ASSIGN_SHARE) & (self.priority[idx] != URGENT)
        a_idx = idx[auto]
        assign_at = trigger[auto] + rng.integers(5, 90, len(a_idx))
        who = self.router.choose(rng, assign_at, self.group[a_idx], self.coverage[a_idx])
        self._assign(a_idx, assign_at, who, A_SYSTEM, -1)
        self._set_status(a_idx, assign_at, OPEN, A_SYSTEM)
        trigger[auto] = assign_at
        self.last_at[a_idx] = assign_at
        # first public reply, in business time of whoever can pick it up
        weekday = self.local_clock.local_weekday(t.region[idx], created)
        median_seconds = (np.asarray(P.FIRST_REPLY_MEDIAN_MINUTES)[t.channel[idx]] * MINUTE
                          * self._speed(idx) * np.asarray(P.WEEKDAY_LOAD)[weekday])
        forgotten = rng.random(len(idx)) < P.FORGOTTEN_SHARE
        slowdown = np.where(forgotten, rng.uniform(*P.FORGOTTEN_FACTOR, len(idx)), 1.0)
        median_seconds = median_seconds * slowdown
        wait_seconds = lognormal_seconds(rng, median_seconds, P.FIRST_REPLY_SIGMA, len(idx))
        on_clock = np.where(auto, self.pattern[idx],
                            self.patterns.coverage(self.group[idx], self.coverage[idx]))
        reply_at = self.book.add(trigger, wait_seconds, on_clock)
        late = ~auto
        l_idx = idx[late]
        responder = self.router.choose(rng, reply_at[late], self.group[l_idx], self.coverage[l_idx])
        self._assign(l_idx, reply_at[late], responder, A_AGENT, responder)
        self.first_wait_seconds[idx] = reply_at - created
        self._act(idx, reply_at, self._decide(idx, 1), round_no=1)

    def _decide(self, idx: I64, round_no: int) -> NDArray[np.int8]:
        """The status an agent leaves the ticket in after a reply."""
        rng = self.rng
        cx = self.t.complexity[idx]
        if round_no >= P.MAX_ROUNDS:
            return np.full(len(idx), SOLVED, dtype=np.int8)
        solve_p = (np.asarray(P.SOLVE_BASE_BY_COMPLEXITY)[cx] + 0.16 * (round_no - 1)
                   + 0.3 * self.reopened[idx] + np.asarray(P.SOLVE_BONUS_BY_PRIORITY)[self.priority[idx]])
        hold_p = np.asarray(P.HOLD_SHARE_BY_COMPLEXITY)[cx] * np.where(self.priority[idx] == URGENT, 0.4, 1.0)
        u = rng.random(len(idx))
        v = rng.random(len(idx))
        rest = np.where(v < hold_p, HOLD,
                        np.where(v < hold_p + (1 - hold_p) * P.PENDING_SHARE_OF_REST, PENDING, OPEN))
        return np.where(u < np.minimum(solve_p, 0.97), SOLVED, rest).astype(np.int8)

    def _act(self, idx: I64, at: I64, decision: NDArray[np.int8], *, round_no: int,
             comment: bool = True, agent: I64 | None = None) -> None:
        """An agent's public reply at ``at`` leaving status ``decision``, then what follows.

        ``agent`` is who acts (default: the assignee).
        """
        rng = self.rng
        agent = self.agent[idx] if agent is None else agent
        if comment:
            note = (rng.random(len(idx)) < P.PRIVATE_NOTE_SHARE) | (decision == HOLD)
            n_idx = idx[note]
            note_at = at[note] - rng.integers(60, 900, len(n_idx))
            note_at = np.where(note_at > self.last_at[n_idx], note_at, at[note])
            self.log.add(n_idx, note_at, K_COMMENT, A_AGENT, agent=agent[note], public=False)
            self.log.add(idx, at, K_COMMENT, A_AGENT, agent=agent)
        self._set_status(idx, at, decision, A_AGENT, agent)
        self.last_at[idx] = at
        self.active[idx] = True
        self._after(idx, at, decision, round_no)

    def _customer_reply_at(self, idx: I64, after: I64, median_minutes: float,
                           sigma: float, *, blocked: bool = False) -> I64:
        """When the requester writes, in their waking hours (faster when ``blocked`` and urgent)."""
        median_seconds = median_minutes * MINUTE * (
            np.asarray(P.CUSTOMER_PRIORITY_SPEED)[self.priority[idx]] if blocked else 1.0)
        wait_seconds = lognormal_seconds(self.rng, median_seconds, sigma, len(idx))
        return self.book.add(after, wait_seconds, self.customer_pattern[idx])

    def _after(self, idx: I64, at: I64, decision: NDArray[np.int8], round_no: int) -> None:
        """Schedule what happens next: requester replies, automations, hold ends, reopens."""
        rng = self.rng
        solved = decision == SOLVED
        s_idx = idx[solved]
        self.solved_at[s_idx] = at[solved]
        self.active[s_idx] = False
        # reopen: the requester writes back before the ticket closes
        may = solved & ~self.reopened[idx] & (round_no < P.MAX_ROUNDS)
        may &= rng.random(len(idx)) < P.REOPEN_SHARE / 0.93
        r_idx = idx[may]
        back_at = self._customer_reply_at(r_idx, at[may], 14.0 * 60, 0.9)
        ok = back_at < at[may] + P.CLOSE_AFTER_SOLVED_DAYS * DAY - HOUR
        r_idx, back_at = r_idx[ok], back_at[ok]
        self.log.add(r_idx, back_at, K_COMMENT, A_END_USER)
        self._set_status(r_idx, back_at, OPEN, A_END_USER)
        self.reopened[r_idx] = True
        self._wait_for_agent(r_idx, back_at, TRIG_CUSTOMER)

        pending = decision == PENDING
        p_idx = idx[pending]
        answers = rng.random(len(p_idx)) < P.CUSTOMER_ANSWERS_PENDING
        a_idx = p_idx[answers]
        reply_at = self._customer_reply_at(a_idx, at[pending][answers],
                                           P.CUSTOMER_REPLY_MEDIAN_MINUTES, 1.3, blocked=True)
        self.log.add(a_idx, reply_at, K_COMMENT, A_END_USER)
        self._set_status(a_idx, reply_at, OPEN, A_END_USER)
        self._wait_for_agent(a_idx, reply_at, TRIG_CUSTOMER)
        q_idx = p_idx[~answers]
        auto_at = (at[pending][~answers] + P.PENDING_AUTO_SOLVE_DAYS * DAY
                   + rng.integers(0, HOUR, len(q_idx)))
        self._set_status(q_idx, auto_at, SOLVED, A_SYSTEM)
        self.solved_at[q_idx] = auto_at
        self.system_solved[q_idx] = True
        self.active[q_idx] = False

        still_open = decision == OPEN
        o_idx = idx[still_open]
        writes = rng.random(len(o_idx)) < 0.5
        w_idx = o_idx[writes]
        write_at = self._customer_reply_at(w_idx, at[still_open][writes],
                                           P.CUSTOMER_REPLY_MEDIAN_MINUTES, 1.3, blocked=True)
        self.log.add(w_idx, write_at, K_COMMENT, A_END_USER)
        self._wait_for_agent(w_idx, write_at, TRIG_CUSTOMER)
        self._wait_for_agent(o_idx[~writes], at[still_open][~writes], TRIG_SELF)

        hold = decision == HOLD
        h_idx = idx[hold]
        median_seconds = np.asarray(P.HOLD_MEDIAN_HOURS_BY_COMPLEXITY)[self.t.complexity[h_idx]] * HOUR
        long_hold = rng.random(len(h_idx)) < P.LONG_HOLD_SHARE
        median_seconds = np.where(long_hold, P.LONG_HOLD_MEDIAN_DAYS * DAY, median_seconds)
        hold_seconds = np.clip(lognormal_seconds(rng, median_seconds, 0.9, len(h_idx)), 2 * HOUR, 60 * DAY)
        end_at = at[hold] + hold_seconds
        ping = rng.random(len(h_idx)) < P.CUSTOMER_PINGS_DURING_HOLD
        ping_at = at[hold][ping] + (hold_seconds[ping] * rng.uniform(0.3, 0.8, int(ping.sum()))).astype(np.int64)
        self.log.add(h_idx[ping], ping_at, K_COMMENT, A_END_USER)
        self._wait_for_agent(h_idx, end_at, TRIG_HOLD_END)

    def _wait_for_agent(self, idx: I64, since: I64, trigger: int) -> None:
        self.trigger_at[idx] = since
        self.trigger[idx] = trigger
        self.active[idx] = True

    def _handover(self, idx: I64, round_no: int) -> None:
        """Escalations to Tier 2 and reassignments that happen before this round's reply."""
        rng = self.rng
        t = self.t
        factor = {2: 0.65, 3: 0.3}.get(round_no, 0.08)
        p_escalate = np.asarray(P.ESCALATION_SHARE_BY_COMPLEXITY)[t.complexity[idx]] * factor
        p_escalate = p_escalate * np.where(t.tier[idx] == P.TIERS.index("enterprise"), 1.6, 1.0)
        tier2 = P.GROUPS.index(P.TIER2)
        esc = (~self.escalated[idx]) & (self.group[idx] != tier2) & (rng.random(len(idx)) < p_escalate)
        e_idx = idx[esc]
        old = self.agent[e_idx]
        at = self.book.add(self.trigger_at[e_idx],
                           lognormal_seconds(rng, 30.0 * MINUTE, 0.8, len(e_idx)),
                           self.pattern[e_idx])
        self.log.add(e_idx, at, K_COMMENT, A_AGENT, agent=old, public=False)
        self.log.add(e_idx, at, K_GROUP, A_AGENT, agent=old,
                     from_code=self.vocab.group + self.group[e_idx], to_code=self.vocab.group + tier2)
        self.group[e_idx] = tier2
        new = self.router.choose(rng, at, self.group[e_idx], self.coverage[e_idx])
        self._assign(e_idx, at, new, A_AGENT, old)
        self.log.add(e_idx, at, K_FIELD, A_AGENT, agent=old, from_code=self.vocab.tags + e_idx,
                     to_code=self.vocab.tags_escalated + e_idx, field_code=F_TAGS)
        bump = (rng.random(len(e_idx)) < 0.35) & (self.priority[e_idx] > URGENT)
        b_idx = e_idx[bump]
        self.log.add(b_idx, at[bump], K_PRIORITY, A_AGENT, agent=old[bump],
                     from_code=self.vocab.priority + self.priority[b_idx],
                     to_code=self.vocab.priority + self.priority[b_idx] - 1)
        self.priority[b_idx] -= 1
        self.pattern[b_idx] = self._follow_pattern(b_idx, self.agent[b_idx])
        self.escalated[e_idx] = True
        self.last_at[e_idx] = at
        self._wait_for_agent(e_idx, at, TRIG_HANDOVER)

        moves = ~esc & (rng.random(len(idx)) < P.REASSIGN_SHARE) & (round_no <= 4)
        m_idx = idx[moves]
        old = self.agent[m_idx]
        at = self.book.add(self.trigger_at[m_idx],
                           lognormal_seconds(rng, 45.0 * MINUTE, 0.8, len(m_idx)),
                           self.pattern[m_idx])
        new = self.router.choose(rng, at, self.group[m_idx], self.coverage[m_idx])
        changed = new != old
        c_idx = m_idx[changed]
        self._assign(c_idx, at[changed], new[changed], A_AGENT, old[changed])
        self.last_at[c_idx] = at[changed]
        self._wait_for_agent(c_idx, at[changed], TRIG_HANDOVER)

    def _round(self, round_no: int) -> None:
        """One more agent action for every ticket that waits for one."""
        rng = self.rng
        idx = np.flatnonzero(self.active & (self.trigger_at < self.end_at))
        if len(idx) == 0:
            return
        self._handover(idx, round_no)
        trigger = self.trigger[idx]
        speed = self._speed(idx) * self.agents.speed[np.maximum(self.agent[idx], 0)]
        median_seconds = np.select(
            [trigger == TRIG_CUSTOMER, trigger == TRIG_SELF, trigger == TRIG_HOLD_END],
            [P.NEXT_REPLY_MEDIAN_MINUTES * MINUTE * speed,
             P.FOLLOW_UP_MEDIAN_MINUTES * MINUTE * speed,
             np.full(len(idx), 25.0 * MINUTE)],
            90.0 * MINUTE * speed,
        )
        wait_seconds = lognormal_seconds(rng, median_seconds, 1.0, len(idx))
        # follow-the-sun queues: whoever of the group is on shift answers when the assignee is off
        fts = self.coverage[idx] == FOLLOW_THE_SUN
        on_clock = np.where(fts, self.patterns.coverage(self.group[idx], self.coverage[idx]),
                            self.pattern[idx])
        at = self.book.add(self.trigger_at[idx], wait_seconds, on_clock)
        replier = self.agent[idx].copy()
        f = np.flatnonzero(fts)
        f = f[~self.book.is_open(at[f], self.router.shift_pattern(replier[f]))]
        replier[f] = self.router.choose(rng, at[f], self.group[idx][f], self.coverage[idx][f])
        # an occasional priority correction when the agent picks the ticket up again
        change = rng.random(len(idx)) < P.PRIORITY_CHANGE_SHARE
        c_idx = idx[change]
        old = self.priority[c_idx]
        up = rng.random(len(c_idx)) < np.where(old == 2, 0.6, np.where(old == 3, 1.0, 0.3))
        new = np.clip(np.where(up, old - 1, old + 1), 0, 3).astype(np.int8)
        moved = new != old
        self.log.add(c_idx[moved], at[change][moved], K_PRIORITY, A_AGENT,
                     agent=replier[change][moved],
                     from_code=self.vocab.priority + old[moved],
                     to_code=self.vocab.priority + new[moved])
        self.priority[c_idx] = new
        self.pattern[c_idx] = self._follow_pattern(c_idx, self.agent[c_idx])
        self.active[idx] = False
        self._act(idx, at, self._decide(idx, round_no), round_no=round_no, agent=replier)

    def _close_and_rate(self) -> None:
        """Auto-close solved tickets after a few days; some requesters rate the ticket."""
        rng = self.rng
        t = self.t
        idx = np.flatnonzero(self.status == SOLVED)
        solved_at = self.solved_at[idx]
        close_at = ((solved_at + P.CLOSE_AFTER_SOLVED_DAYS * DAY) // HOUR + 1) * HOUR
        close_at = close_at + rng.integers(0, 600, len(idx))
        eligible = (t.channel[idx] != P.CHANNELS.index("api")) & ~self.system_solved[idx]
        rate = eligible & (rng.random(len(idx)) < P.CSAT_RESPONSE_SHARE)
        r_idx = idx[rate]
        rated_at = self._customer_reply_at(r_idx, solved_at[rate] + DAY, 5.0 * 60, 1.0)
        in_time = rated_at < close_at[rate] - MINUTE
        r_idx, rated_at = r_idx[in_time], rated_at[in_time]
        p_bad = (P.CSAT_BAD_BASE + 0.2 * (t.sentiment[r_idx] < 0) + 0.2 * self.reopened[r_idx]
                 + 0.15 * (self.first_wait_seconds[r_idx] > DAY) + 0.1 * self.escalated[r_idx])
        score = np.where(rng.random(len(r_idx)) < p_bad, SATISFACTION.index("bad"),
                         SATISFACTION.index("good"))
        self.log.add(r_idx, rated_at, K_FIELD, A_END_USER,
                     from_code=self.vocab.satisfaction + SATISFACTION.index("offered"),
                     to_code=self.vocab.satisfaction + score, field_code=F_SATISFACTION)
        self._set_status(idx, close_at, CLOSED, A_SYSTEM)
