"""``generate()``: realistic, deterministic sample helpdesk data in the contract's input format.

Orchestrates the sample package: draws arrivals, people and ticket attributes, simulates every
lifecycle, derives the tickets' latest state from the events and writes ``tickets``, ``events``
and ``agents`` files (CSV or Parquet) into one directory. Same arguments → byte-identical files.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import numbers
import re
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from deskpulse.errors import UsageError
from deskpulse.model import (
    ACTORS,
    EVENT_KINDS,
    EVENT_SCHEMA,
    PRIORITIES,
    SATISFACTION,
    STATUSES,
    TICKET_SCHEMA,
)
from deskpulse.sample import profile as P
from deskpulse.sample.arrivals import LocalClock, draw_arrivals
from deskpulse.sample.clock import NEVER_AT
from deskpulse.sample.lifecycle import (
    FIELDS,
    Events,
    Simulation,
    TicketDraft,
    Vocab,
)
from deskpulse.sample.population import (
    Agents,
    all_shifts,
    build_agents,
    build_customers,
    pick_requesters,
)
from deskpulse.sample.routing import Patterns, Router, build_patterns, region_holidays
from deskpulse.sample.state import TicketState, derive_state
from deskpulse.sample.text import TicketText, build_text
from deskpulse.sample.write import (
    EVENT_CHUNK_ROWS,
    iso_utc,
    numbered_ids,
    take_codes,
    timestamps_us,
    write_batches,
    write_table,
)

log = logging.getLogger(__name__)

DAY_SECONDS = 86400
FORMATS = ("csv", "parquet")
#: Tickets one agent handles per working day; sets the size of the roster.
TICKETS_PER_AGENT_DAY = 14.0
AGENT_SCHEMA = pa.schema([
    pa.field("agent_id", pa.string(), nullable=False),
    pa.field("name", pa.string()),
    pa.field("group", pa.string()),
    pa.field("region", pa.string()),
    pa.field("timezone", pa.string()),
    pa.field("shift", pa.string()),
    pa.field("skills", pa.string()),
])


@dataclass(frozen=True)
class GenerateResult:
    """What :func:`generate` wrote: paths, row counts and the simulated window."""

    out_dir: Path
    tickets_path: Path
    events_path: Path
    agents_path: Path
    n_tickets: int
    n_events: int
    n_agents: int
    seed: int
    fmt: str
    start: dt.date
    days: int
    #: First instant after the window (naive UTC): the natural ``--as-of`` of a build.
    window_end_at: dt.datetime
    elapsed_seconds: float


def default_start(days: int, today: dt.date | None = None) -> dt.date:
    """``days`` before today (UTC), moved back to that week's Monday."""
    today = today or dt.datetime.now(dt.UTC).date()
    first = today - dt.timedelta(days=days)
    return first - dt.timedelta(days=first.weekday())


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _slug(text: str | None) -> str | None:
    if text is None:
        return None
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or None


def _rng(seed: int, stream: str) -> np.random.Generator:
    """An independent random stream per purpose, so streams do not shift each other."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, zlib.crc32(stream.encode())])))


def _epoch(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days * DAY_SECONDS


def _pick_rows(rng: np.random.Generator, table: NDArray[np.float64], row: NDArray[np.int64]) -> NDArray[np.int64]:
    """For each row index, a column drawn with that row's probabilities."""
    cum = np.cumsum(table / table.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(len(row))
    picked: NDArray[np.int64] = np.minimum((cum[row] <= u[:, None]).sum(axis=1),
                                           table.shape[1] - 1).astype(np.int64)
    return picked


@dataclass(frozen=True)
class _Tickets:
    """Ticket attributes in ticket order, plus names needed for the tickets table."""

    draft: TicketDraft
    brand: NDArray[np.int64]
    category: NDArray[np.int8]
    incident: NDArray[np.bool_]
    organization: NDArray[np.int64]
    requester: NDArray[np.int64]
    vip: NDArray[np.bool_]


@dataclass(frozen=True)
class _Mix:
    """Ticket attributes drawn independently of time (arrival order)."""

    brand: NDArray[np.int64]
    category: NDArray[np.int64]
    priority: NDArray[np.int64]
    channel: NDArray[np.int64]
    spam: NDArray[np.bool_]
    agent_created: NDArray[np.bool_]
    group_routed: NDArray[np.int64]
    group_initial: NDArray[np.int64]


def _ticket_mix(rng: np.random.Generator, n: int, tier: NDArray[np.int8], vip: NDArray[np.bool_],
                incident: NDArray[np.bool_]) -> _Mix:
    """Brand, category, priority, channel, spam, who creates it and where it is routed."""
    brand = np.where(incident, 0, rng.choice(len(P.BRAND_SUFFIXES), size=n, p=np.asarray(P.BRAND_SHARE)))
    category = _pick_rows(rng, np.asarray(P.CATEGORY_BY_BRAND), brand)
    category = np.where(incident, P.CATEGORIES.index("technical"), category)
    priority = _pick_rows(rng, np.asarray(P.PRIORITY_BY_CATEGORY), category)
    priority = np.where(incident, rng.choice(4, size=n, p=[0.15, 0.45, 0.4, 0.0]), priority)
    bump = (vip | (tier == P.TIERS.index("enterprise"))) & (rng.random(n) < 0.12) & (priority >= 2)
    priority = np.where(bump, priority - 1, priority)
    channel = rng.choice(len(P.CHANNELS), size=n, p=np.asarray(P.CHANNEL_SHARE))
    phone, email, api = (P.CHANNELS.index(c) for c in ("phone", "email", "api"))
    channel = np.where(incident & (channel == api), P.CHANNELS.index("web"), channel)
    spam = (rng.random(n) < P.SPAM_SHARE) & ~incident
    priority = np.where(spam, PRIORITIES.index("normal"), priority)
    agent_created = ((channel == phone) & (rng.random(n) < P.PHONE_AGENT_CREATED)) | (
        (channel == email) & (rng.random(n) < P.EMAIL_AGENT_CREATED))
    agent_created &= ~spam & ~incident
    enterprise_group = (tier == P.TIERS.index("enterprise")) & (rng.random(n) < 0.9)
    group_routed = np.where(enterprise_group, P.GROUPS.index(P.ENTERPRISE),
                            np.asarray([P.GROUPS.index(g) for g in P.CATEGORY_GROUP])[category])
    misrouted = np.isin(group_routed, (P.GROUPS.index(P.BILLING), P.GROUPS.index(P.TECHNICAL)))
    misrouted &= (priority != PRIORITIES.index("urgent")) & ~agent_created & ~spam
    misrouted &= rng.random(n) < P.MISROUTED_SHARE
    group_initial = np.where(misrouted, P.GROUPS.index(P.T1), group_routed)
    return _Mix(brand=brand, category=category, priority=priority, channel=channel, spam=spam,
                agent_created=agent_created, group_routed=group_routed, group_initial=group_initial)


def _draw_tickets(seed: int, n: int, start_at: int, days: int,
                  holidays: tuple[frozenset[dt.date], ...], local_clock: LocalClock,
                  patterns: Patterns, router: Router,
                  id_prefix: str) -> tuple[_Tickets, tuple[str, ...], tuple[str, ...]]:
    """Every ticket's fixed facts, sorted by creation time (= ticket number order)."""
    arrivals = draw_arrivals(_rng(seed, "arrivals"), n, start_at, days, holidays, local_clock)
    customers = build_customers(_rng(seed, "customers"), n, id_prefix)
    rng = _rng(seed, "attributes")
    region = arrivals.region
    requester = pick_requesters(rng, customers, region)
    tier = customers.requester_tier[requester]
    vip = customers.requester_vip[requester]
    mix = _ticket_mix(rng, n, tier, vip, arrivals.incident)
    # agents take calls and send outbound mail only on shift (out of hours: voicemail tickets);
    # chat is offline outside the group's shifts (those requests come in through the web form)
    line = patterns.coverage(mix.group_initial.astype(np.int8), region)
    on_shift = patterns.book.is_open(arrivals.created_at, line)
    agent_created = mix.agent_created & on_shift
    chat_off = (mix.channel == P.CHANNELS.index("chat")) & ~on_shift
    channel = np.where(chat_off, P.CHANNELS.index("web"), mix.channel)

    order = np.argsort(arrivals.created_at, kind="stable")
    created_at = arrivals.created_at[order]
    agent_created = agent_created[order]
    group_initial = mix.group_initial[order].astype(np.int8)
    creator = np.full(n, -1, dtype=np.int64)
    ac = np.flatnonzero(agent_created)
    creator[ac] = router.choose(rng, created_at[ac], group_initial[ac], region[order][ac])
    draft = TicketDraft(
        created_at=created_at,
        region=region[order],
        group_initial=group_initial,
        group_routed=mix.group_routed[order].astype(np.int8),
        priority=mix.priority[order].astype(np.int8),
        tier=tier[order].astype(np.int8),
        channel=channel[order].astype(np.int8),
        complexity=np.asarray(P.CATEGORY_COMPLEXITY, dtype=np.int8)[mix.category[order]],
        sentiment=np.zeros(n, dtype=np.int8),  # set from the text, see generate()
        agent_created=agent_created,
        spam=mix.spam[order],
        creator=creator,
    )
    tickets = _Tickets(
        draft=draft,
        brand=mix.brand[order],
        category=mix.category[order].astype(np.int8),
        incident=arrivals.incident[order],
        organization=customers.requester_org[requester[order]].astype(np.int64),
        requester=requester[order],
        vip=vip[order],
    )
    return tickets, customers.org_name, customers.requester_id


def generate(
    n_tickets: int,
    seed: int,
    out_dir: Path,
    *,
    start: dt.date | None = None,
    days: int = 180,
    tenant_hint: str | None = None,
    fmt: str = "csv",
) -> GenerateResult:
    """Write a realistic sample helpdesk into ``out_dir`` and return what was written.

    Files: ``tickets.<fmt>``, ``events.<fmt>``, ``agents.<fmt>`` (``fmt`` is ``csv`` or
    ``parquet``), columns and order as :data:`deskpulse.model.TICKET_SCHEMA` /
    :data:`~deskpulse.model.EVENT_SCHEMA`. Tickets arrive in [start, start + days) UTC; events
    after that window are not written (open tickets form the backlog), so the window end
    (``GenerateResult.window_end_at``) is the natural ``as_of``. ``start`` defaults to ``days``
    before today, moved back to a Monday — pass it explicitly for reproducible files across
    days. ``tenant_hint`` only relabels (ticket/agent/requester id prefixes, brand names); the
    random draws depend on ``seed`` alone. Raises :class:`~deskpulse.errors.UsageError` on bad
    arguments.
    """
    began = time.perf_counter()
    if not _is_int(n_tickets) or n_tickets < 1:
        raise UsageError(f"--tickets must be a positive integer, got {n_tickets!r}")
    if not _is_int(seed) or seed < 0:
        raise UsageError(f"--seed must be a non-negative integer, got {seed!r}")
    if not _is_int(days) or not 1 <= days <= 3660:
        raise UsageError(f"days must be between 1 and 3660, got {days!r}")
    if fmt not in FORMATS:
        raise UsageError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    n_tickets, seed, days = int(n_tickets), int(seed), int(days)
    if isinstance(start, dt.datetime):
        start = start.date()
    start = start or default_start(days)
    slug = _slug(tenant_hint)
    id_prefix = f"{slug}-" if slug else ""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    start_at = _epoch(start)
    end_at = start_at + days * DAY_SECONDS
    origin_at = start_at - 2 * DAY_SECONDS
    horizon_at = end_at + DAY_SECONDS
    holidays = region_holidays(start - dt.timedelta(days=7), start + dt.timedelta(days=days + 7))
    local_clock = LocalClock.build(origin_at, horizon_at)
    n_agents_target = max(30, round(n_tickets / days / TICKETS_PER_AGENT_DAY * 7 / 5))
    agents = build_agents(_rng(seed, "agents"), n_agents_target, id_prefix)
    patterns = build_patterns(agents, holidays, origin_at, horizon_at)
    router = Router(agents, patterns)
    tickets, org_names, requester_ids = _draw_tickets(
        seed, n_tickets, start_at, days, holidays, local_clock, patterns, router, id_prefix)
    draft = tickets.draft
    text = build_text(_rng(seed, "text"), tickets.category, draft.priority, draft.channel,
                      tickets.incident, draft.spam, tickets.vip, draft.agent_created)
    draft = dataclasses.replace(draft, sentiment=text.sentiment)
    log.info("sample: drew %d tickets and %d agents in %.1f s", n_tickets, len(agents),
             time.perf_counter() - began)

    vocab = Vocab(n_agents=len(agents), n_tickets=n_tickets)
    sim = Simulation(_rng(seed, "lifecycle"), draft, agents, patterns, router, local_clock, vocab, end_at)
    outcome = sim.run(origin_at)
    events = outcome.events
    state = derive_state(events, draft, vocab, end_at)
    log.info("sample: simulated %d events in %.1f s", len(events), time.perf_counter() - began)

    ext = "csv" if fmt == "csv" else "parquet"
    tickets_path = out_dir / f"tickets.{ext}"
    events_path = out_dir / f"events.{ext}"
    agents_path = out_dir / f"agents.{ext}"
    slug_title = slug.replace("-", " ").title() if slug else "Lumen"
    brands = [f"{slug_title} {suffix}" for suffix in P.BRAND_SUFFIXES]
    digits = max(6, len(str(n_tickets)))
    ticket_ids = numbered_ids(f"{slug.upper()}-" if slug else "T-", np.arange(1, n_tickets + 1), digits)

    ticket_table = _tickets_table(fmt, ticket_ids, tickets, text, state, outcome.deleted_at, end_at,
                                  brands, org_names, requester_ids, agents)
    write_table(ticket_table, tickets_path, fmt)
    del ticket_table
    write_batches(_event_batches(fmt, events, ticket_ids, vocab, agents, text),
                  _file_schema(EVENT_SCHEMA, fmt), events_path, fmt)
    write_table(_agents_table(agents), agents_path, fmt)
    elapsed = time.perf_counter() - began
    log.info("sample: wrote %s in %.1f s", out_dir, elapsed)
    return GenerateResult(
        out_dir=out_dir,
        tickets_path=tickets_path,
        events_path=events_path,
        agents_path=agents_path,
        n_tickets=n_tickets,
        n_events=len(events),
        n_agents=len(agents),
        seed=seed,
        fmt=fmt,
        start=start,
        days=days,
        window_end_at=dt.datetime(1970, 1, 1) + dt.timedelta(seconds=end_at),
        elapsed_seconds=elapsed,
    )


def _file_schema(schema: pa.Schema, fmt: str) -> pa.Schema:
    """The schema as written: for CSV, timestamps are ISO 8601 strings."""
    if fmt != "csv":
        return schema
    return pa.schema([
        pa.field(f.name, pa.string(), nullable=f.nullable) if pa.types.is_timestamp(f.type) else f
        for f in schema
    ])


def _ts(fmt: str, at: NDArray[np.int64], valid: NDArray[np.bool_] | None = None) -> pa.Array:
    return iso_utc(at, valid) if fmt == "csv" else timestamps_us(at, valid)


def _strings(values: tuple[str, ...] | list[str]) -> pa.Array:
    return pa.array(list(values), pa.string())


def _tickets_table(fmt: str, ticket_ids: pa.Array, tickets: _Tickets, text: TicketText,
                   state: TicketState, deleted_at: NDArray[np.int64], end_at: int,
                   brands: list[str], org_names: tuple[str, ...], requester_ids: tuple[str, ...],
                   agents: Agents) -> pa.Table:
    draft = tickets.draft
    n = len(draft)
    deleted_valid = deleted_at < end_at
    columns: dict[str, pa.Array] = {
        "ticket_id": ticket_ids,
        "created_at": _ts(fmt, draft.created_at),
        "updated_at": _ts(fmt, state.updated_at),
        "status": take_codes(_strings(STATUSES), state.status),
        "priority": take_codes(_strings(PRIORITIES), state.priority),
        "channel": take_codes(_strings(P.CHANNELS), draft.channel),
        "category": take_codes(_strings(P.CATEGORIES), tickets.category),
        "group": take_codes(_strings(P.GROUPS), state.group),
        "brand": take_codes(_strings(brands), tickets.brand),
        "region": take_codes(_strings(P.REGION_NAMES), draft.region),
        "organization": take_codes(_strings(org_names), tickets.organization),
        "tier": take_codes(_strings(P.TIERS), draft.tier),
        "requester_id": take_codes(_strings(requester_ids), tickets.requester),
        "assignee_id": take_codes(_strings(agents.agent_id), state.assignee),
        "subject": text.subject,
        "description": text.description,
        "tags": pc.if_else(pa.array(state.escalated), text.tags_escalated, text.tags),
        "deleted_at": _ts(fmt, np.where(deleted_valid, deleted_at, 0), deleted_valid),
        "satisfaction": take_codes(_strings(SATISFACTION), state.satisfaction),
        "first_reply_at": _ts(fmt, state.first_reply_at, state.first_reply_at < NEVER_AT),
        "solved_at": _ts(fmt, state.solved_at, state.solved_at < NEVER_AT),
        "extra": pa.nulls(n, pa.string()),
    }
    schema = _file_schema(TICKET_SCHEMA, fmt)
    return pa.Table.from_arrays([columns[name] for name in schema.names], schema=schema)


def _event_batches(fmt: str, events: Events, ticket_ids: pa.Array, vocab: Vocab, agents: Agents,
                   text: TicketText) -> Iterator[pa.RecordBatch]:
    schema = _file_schema(EVENT_SCHEMA, fmt)
    values = pa.concat_arrays([_strings(vocab.fixed_strings(agents.agent_id)), text.tags,
                               text.tags_escalated])
    kinds = _strings(EVENT_KINDS)
    actors = _strings(ACTORS)
    agent_ids = _strings(agents.agent_id)
    fields = _strings(FIELDS)
    for lo in range(0, len(events), EVENT_CHUNK_ROWS):
        hi = min(lo + EVENT_CHUNK_ROWS, len(events))
        columns = [
            pc.take(ticket_ids, pa.array(events.ticket[lo:hi])),
            _ts(fmt, events.at[lo:hi]),
            take_codes(kinds, events.kind[lo:hi]),
            take_codes(actors, events.actor[lo:hi]),
            take_codes(agent_ids, events.agent[lo:hi]),
            pa.array(events.public[lo:hi]),
            take_codes(values, events.from_code[lo:hi]),
            take_codes(values, events.to_code[lo:hi]),
            take_codes(fields, events.field[lo:hi]),
        ]
        yield pa.RecordBatch.from_arrays(columns, schema=schema)


def _agents_table(agents: Agents) -> pa.Table:
    shifts = all_shifts()
    return pa.Table.from_arrays([
        _strings(agents.agent_id),
        _strings(agents.name),
        _strings([P.GROUPS[g] for g in agents.group.tolist()]),
        _strings([P.REGIONS[r].name for r in agents.region.tolist()]),
        _strings([P.REGIONS[r].calendar.timezone for r in agents.region.tolist()]),
        _strings([shifts[k].shift.label for k in agents.shift.tolist()]),
        _strings(agents.skills),
    ], schema=AGENT_SCHEMA)
