"""Ticket routes: list (filters, keyset pagination, sort), urgent tickets, one ticket, its history,
its SLA instances and its metrics.

Seed 004's paths (``GET /tickets``, ``/tickets/urgent``, ``/tickets/{id}``,
``/tickets/{id}/history``) are on ``root_router``: the app mounts them at the root and under
``/api/v1`` with the same handlers; they accept seed 004's ``tenant_id`` query parameter (the
token's tenant or 404). ``/tickets/{id}/sla`` and ``/tickets/{id}/metrics`` exist only under
``/api/v1`` (``router``). Static paths (``/tickets/urgent``) are declared before the
``{ticket_id}`` paths; the app orders routers across modules (see ``serve/app.py``).

Every query runs through the caller's :class:`~deskpulse.store.TenantStore`, so another
tenant's ticket is simply not found: the same 404 body as a ticket that does not exist.
"""

from __future__ import annotations

import base64
import enum
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from deskpulse.errors import NotFoundError
from deskpulse.serve.deps import ReadRepo, TenantParam
from deskpulse.serve.routes._shared import (
    ERROR_RESPONSES,
    WHEN_PATTERN,
    aware,
    check_range,
    in_list,
    invalid,
    parse_when,
    quoted,
    shape_row,
    table_columns,
    ticket_columns,
    urgency_expr,
)
from deskpulse.store import TenantStore
from deskpulse.store.schema import TICKET_METRICS_COLUMNS, TICKET_SLA_COLUMNS

root_router = APIRouter(tags=["tickets"], responses=ERROR_RESPONSES)
router = APIRouter(tags=["tickets"], responses=ERROR_RESPONSES)

MAX_LIMIT = 500


class Status(enum.StrEnum):
    new = "new"
    open = "open"
    pending = "pending"
    hold = "hold"
    solved = "solved"
    closed = "closed"


class Priority(enum.StrEnum):
    urgent = "urgent"
    high = "high"
    normal = "normal"
    low = "low"


class Urgency(enum.StrEnum):
    high = "high"
    medium = "medium"
    low = "low"


class SlaStatus(enum.StrEnum):
    met = "met"
    breached = "breached"
    active = "active"
    paused = "paused"
    active_breached = "active_breached"
    not_applicable = "not_applicable"


class ListFormat(enum.StrEnum):
    json = "json"
    csv = "csv"
    xlsx = "xlsx"


class Sort(enum.StrEnum):
    newest = "-created_at"
    oldest = "created_at"
    recently_updated = "-updated_at"
    least_recently_updated = "updated_at"


# --- response models ------------------------------------------------------------------------


class Ticket(BaseModel):
    """A ticket as stored (CONTRACT §1), timestamps in UTC; classification when present."""

    ticket_id: str
    created_at: datetime
    updated_at: datetime
    status: str
    priority: str | None = None
    channel: str | None = None
    category: str | None = None
    group: str | None = None
    brand: str | None = None
    region: str | None = None
    organization: str | None = None
    tier: str | None = None
    requester_id: str | None = None
    assignee_id: str | None = None
    subject: str | None = None
    description: str | None = None
    tags: str | None = None
    deleted_at: datetime | None = None
    satisfaction: str | None = None
    first_reply_at: datetime | None = None
    solved_at: datetime | None = None
    urgency: str | None = Field(None, description="Classification (column `urgency`, else `extra.urgency`).")
    sentiment: str | None = None
    requires_action: bool | None = None
    extra: dict[str, Any] | None = Field(None, description="Input columns outside the canonical schema.")


class TicketPage(BaseModel):
    """One page of tickets; pass ``next_cursor`` as ``cursor`` for the next one."""

    items: list[Ticket]
    next_cursor: str | None = Field(None, description="Opaque; null on the last page.")
    limit: int
    sort: str
    total: int | None = Field(None, description="Matching tickets (only with include_total=true).")


class TicketEvent(BaseModel):
    event_at: datetime
    kind: str
    actor: str
    actor_id: str | None = None
    public: bool
    from_value: str | None = None
    to_value: str | None = None
    field: str | None = None
    seq: int


class FieldChange(BaseModel):
    """A field-level change recorded by the ingestion service (``ticket_history``)."""

    field: str
    old: str | None = None
    new: str | None = None
    changed_at: datetime
    job_id: str | None = None


class TicketHistory(BaseModel):
    ticket_id: str
    events: list[TicketEvent] = Field(description="The audit stream, in event order.")
    changes: list[FieldChange] = Field(description="Field-level changes seen by ingestion (may be empty).")


class SlaInstance(BaseModel):
    """One row of ``ticket_sla`` (CONTRACT §4)."""

    metric: str
    instance: int
    policy: str
    calendar: str
    target_minutes: float | None = None
    started_at: datetime | None = None
    due_at: datetime | None = None
    stopped_at: datetime | None = None
    elapsed_business_minutes: float | None = None
    paused_business_minutes: float | None = None
    status: str
    breached_at: datetime | None = None
    margin_minutes: float | None = None
    root_cause_kind: str | None = None
    root_cause_value: str | None = None
    root_cause_share: float | None = None


class TicketSla(BaseModel):
    ticket_id: str
    as_of: datetime | None = Field(None, description="The build's as_of; null before the first build.")
    instances: list[SlaInstance]


class Metrics(BaseModel):
    """One row of ``ticket_metrics`` (CONTRACT §4): Zendesk-native ticket metrics."""

    policy: str | None = None
    calendar: str | None = None
    first_reply_at: datetime | None = None
    first_reply_calendar_minutes: float | None = None
    first_reply_business_minutes: float | None = None
    solved_at: datetime | None = None
    full_resolution_calendar_minutes: float | None = None
    full_resolution_business_minutes: float | None = None
    requester_wait_calendar_minutes: float | None = None
    requester_wait_business_minutes: float | None = None
    agent_wait_calendar_minutes: float | None = None
    agent_wait_business_minutes: float | None = None
    on_hold_calendar_minutes: float | None = None
    on_hold_business_minutes: float | None = None
    agent_work_calendar_minutes: float | None = None
    agent_work_business_minutes: float | None = None
    reopens: int
    replies: int
    assignee_stations: int
    group_stations: int


class TicketMetrics(BaseModel):
    ticket_id: str
    as_of: datetime | None = None
    metrics: Metrics | None = Field(None, description="Null until a build has computed this ticket.")


# --- queries ----------------------------------------------------------------------------------

_SORT_COLUMN = {Sort.newest: "created_at", Sort.oldest: "created_at",
                Sort.recently_updated: "updated_at", Sort.least_recently_updated: "updated_at"}


def encode_cursor(sort: Sort, value: datetime, ticket_id: str) -> str:
    raw = json.dumps([sort.value, value.isoformat(), ticket_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: Sort) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        s, value, ticket_id = json.loads(raw)
        when = datetime.fromisoformat(value)
        if not isinstance(ticket_id, str) or when.tzinfo is not None:
            raise ValueError("bad cursor")
    except (ValueError, TypeError) as exc:
        raise invalid("query.cursor", "not a cursor returned by this endpoint", cursor) from exc
    if s != sort.value:
        raise invalid("query.cursor", f"this cursor belongs to sort={s}; pass the same sort", cursor)
    return when, ticket_id


class TicketQuery:
    """The filters of the ticket list, as one parameterised predicate over ``tickets``."""

    def __init__(self, repo: TenantStore) -> None:
        self.repo = repo
        self.where: list[str] = []
        self.params: dict[str, Any] = {}

    def values(self, column: str, name: str, values: list[str] | None) -> None:
        if values:
            self.where.append(in_list(column, name, [str(v) for v in values], self.params))

    def add(self, sql: str, **params: Any) -> None:
        self.where.append(sql)
        self.params.update(params)

    def urgency(self, values: list[Urgency] | None) -> None:
        if not values:
            return
        expr, _ = urgency_expr(self.repo)
        if expr is None:  # no urgency data in this schema: nothing can match
            self.where.append("FALSE")
            return
        self.values(expr, "urg", [v.value for v in values])

    def sla(self, values: list[SlaStatus] | None) -> None:
        if values:
            inner = in_list("s.status", "sla", [v.value for v in values], self.params)
            self.where.append(
                f"EXISTS (SELECT 1 FROM ticket_sla s WHERE s.ticket_id = tickets.ticket_id AND {inner})"  # noqa: S608
            )

    def predicate(self, extra: list[str] | None = None) -> str:
        parts = [*self.where, *(extra or [])]
        return " AND ".join(parts) if parts else "TRUE"


def ticket_page(
    repo: TenantStore, q: TicketQuery, *, sort: Sort, limit: int, cursor: str | None, page: int | None,
    include_total: bool,
) -> TicketPage:
    column = _SORT_COLUMN[sort]
    desc = sort.value.startswith("-")
    keyset: list[str] = []
    params = dict(q.params)
    if cursor is not None:
        if page is not None:
            raise invalid("query.page", "give either cursor or page, not both", page)
        value, ticket_id = decode_cursor(cursor, sort)
        keyset.append(f"({column}, ticket_id) {'<' if desc else '>'} ($cur_value, $cur_id)")
        params.update(cur_value=value, cur_id=ticket_id)
    # The sort columns are NOT NULL; spelling out PostgreSQL's default null order keeps the
    # transpiled ORDER BY servable by a btree index scan (DuckDB's default would add NULLS LAST).
    order = "DESC NULLS FIRST" if desc else "ASC NULLS LAST"
    columns = ticket_columns(repo)

    def fetch(extra: list[str], **more_params: Any) -> list[dict[str, Any]]:
        sql = (
            f"SELECT {quoted(columns)} FROM tickets WHERE {q.predicate([*keyset, *extra])} "  # noqa: S608 - names and placeholders only
            f"ORDER BY {column} {order}, ticket_id {order} LIMIT $limit OFFSET $offset"
        )
        found: list[dict[str, Any]] = repo.query(
            sql, **params, **more_params, limit=limit + 1, offset=((page or 1) - 1) * limit
        ).to_pylist()
        return found

    rows: list[dict[str, Any]] | None = None
    if repo.store.dialect == "duckdb" and page is None:
        # DuckDB has no index to stop after one page: a top-N over every column of the tenant's
        # tickets decompresses them all. Find the sort value of row limit+1 first (one column),
        # then read whole rows only from there on: 2-3x less work at 100k tickets per tenant.
        # PostgreSQL walks an index (migration 0003) and needs none of this.
        edge = repo.rows(
            f"SELECT {column} FROM tickets WHERE {q.predicate(keyset)} "  # noqa: S608
            f"ORDER BY {column} {order} LIMIT 1 OFFSET $limit",
            **params, limit=limit,
        )
        if edge:
            rows = fetch([f"{column} {'>=' if desc else '<='} $edge"], edge=edge[0][0])
            if len(rows) <= limit:  # rows vanished between the two reads: read plainly
                rows = None
    if rows is None:
        rows = fetch([])
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(sort, rows[-1][column], rows[-1]["ticket_id"]) if more and rows else None
    total = None
    if include_total:
        total = int(repo.scalar(f"SELECT count(*) FROM tickets WHERE {q.predicate()}", **q.params))  # noqa: S608
    return TicketPage(items=[Ticket(**shape_row(r)) for r in rows], next_cursor=next_cursor, limit=limit,
                      sort=sort.value, total=total)


def require_ticket(repo: TenantStore, ticket_id: str) -> None:
    """404 unless the caller's tenant has this ticket (another tenant's looks the same)."""
    if not repo.rows("SELECT 1 FROM tickets WHERE ticket_id = $id", id=ticket_id):
        raise NotFoundError("ticket not found", ticket_id=ticket_id)


def build_as_of(repo: TenantStore) -> datetime | None:
    rows = repo.rows("SELECT as_of FROM build_state")
    return aware(rows[0][0]) if rows else None


# --- parameters -------------------------------------------------------------------------------

Strings = Annotated[list[str] | None, Query()]
CreatedFrom = Annotated[str | None, Query(pattern=WHEN_PATTERN, description="Created at or after: YYYY-MM-DD or an ISO 8601 instant (UTC unless an offset is given).")]
CreatedTo = Annotated[str | None, Query(pattern=WHEN_PATTERN, description="Created before this instant; a date includes that whole day.")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]
PageSize = Annotated[int | None, Query(ge=1, le=MAX_LIMIT, description="Seed 004 alias of limit.")]
Page = Annotated[int | None, Query(ge=1, le=100_000, description="Seed 004 offset paging (1-based); prefer cursor.")]
Cursor = Annotated[str | None, Query(max_length=2000, description="next_cursor of the previous page.")]


def _filters(
    repo: TenantStore, *, status: list[Status] | None, priority: list[Priority] | None,
    urgency: list[Urgency] | None, group: list[str] | None, assignee: list[str] | None,
    requester: list[str] | None, channel: list[str] | None, category: list[str] | None,
    brand: list[str] | None, region: list[str] | None, tier: list[str] | None,
    organization: list[str] | None, sla_status: list[SlaStatus] | None,
    created_from: str | None, created_to: str | None, include_deleted: bool,
) -> TicketQuery:
    q = TicketQuery(repo)
    if not include_deleted:
        q.add("deleted_at IS NULL")
    q.values("status", "st", [s.value for s in status or []])
    q.values("priority", "pr", [p.value for p in priority or []])
    q.urgency(urgency)
    for column, name, values in (('"group"', "gr", group), ("assignee_id", "asg", assignee),
                                 ("requester_id", "req", requester), ("channel", "ch", channel),
                                 ("category", "cat", category), ("brand", "br", brand),
                                 ("region", "rg", region), ("tier", "ti", tier),
                                 ("organization", "org", organization)):
        q.values(column, name, values)
    q.sla(sla_status)
    start = parse_when(created_from, "query.created_from")
    stop = parse_when(created_to, "query.created_to", end=True)
    check_range(start, stop, "query.created_to")
    if start is not None:
        q.add("created_at >= $created_from", created_from=start)
    if stop is not None:
        q.add("created_at < $created_to", created_to=stop)
    return q


# --- routes -----------------------------------------------------------------------------------


@root_router.get("/tickets", response_model=TicketPage, summary="List tickets",
                 responses={200: {"content": {"text/csv": {}, "application/vnd.openxmlformats-officedocument"
                                                                ".spreadsheetml.sheet": {}},
                                  "description": "One page (JSON), or every match as CSV / XLSX (format=)."}})
def list_tickets(
    request: Request,
    repo: ReadRepo,
    _tenant: TenantParam,
    status: Annotated[list[Status] | None, Query(description="Repeat for several.")] = None,
    priority: Annotated[list[Priority] | None, Query()] = None,
    urgency: Annotated[list[Urgency] | None, Query(description="Classification; matches nothing when the store has no urgency data.")] = None,
    group: Strings = None,
    assignee: Strings = None,
    requester: Strings = None,
    channel: Strings = None,
    source: Annotated[list[str] | None, Query(description="Seed 004 alias of channel.")] = None,
    category: Strings = None,
    brand: Strings = None,
    region: Strings = None,
    tier: Strings = None,
    organization: Strings = None,
    sla_status: Annotated[list[SlaStatus] | None, Query(description="Tickets with an SLA instance in one of these states.")] = None,
    created_from: CreatedFrom = None,
    created_to: CreatedTo = None,
    include_deleted: Annotated[bool, Query(description="Include soft-deleted tickets.")] = False,
    sort: Annotated[Sort, Query(description="Sort key; '-' means newest first. Ties break on ticket_id.")] = Sort.newest,
    limit: Limit = 50,
    page_size: PageSize = None,
    cursor: Cursor = None,
    page: Page = None,
    include_total: Annotated[bool, Query(description="Also count all matching tickets.")] = False,
    format: Annotated[ListFormat, Query(description="json: one page; csv or xlsx: every matching ticket, streamed (the list's filters and sort; no paging).")] = ListFormat.json,
) -> TicketPage | Response:
    """Tickets of the caller's tenant, filtered; keyset pagination on (sort key, ticket_id).

    List parameters repeat (``status=open&status=pending``); different parameters combine with
    AND. Soft-deleted tickets are left out unless ``include_deleted=true``. ``format=csv|xlsx``
    exports every matching ticket instead of one page, read page by page while streaming.
    """
    q = _filters(repo, status=status, priority=priority, urgency=urgency, group=group, assignee=assignee,
                 requester=requester, channel=[*(channel or []), *(source or [])] or None, category=category,
                 brand=brand, region=region, tier=tier, organization=organization, sla_status=sla_status,
                 created_from=created_from, created_to=created_to, include_deleted=include_deleted)
    if format is not ListFormat.json:
        return export_tickets(repo, q, sort, format)

    def compute() -> bytes:
        return ticket_page(repo, q, sort=sort, limit=page_size or limit, cursor=cursor, page=page,
                           include_total=include_total).model_dump_json().encode()

    from deskpulse.serve.memo import remember
    from deskpulse.serve.routes.stats import cached, tenant_clock

    key = (repo.store.url, repo.tenant_id, "tickets", tuple(sorted(request.query_params.multi_items())))
    body, hit, found = cached(request, "list_cache", key, repo, compute)
    remember(request, body, {"X-List-Cache": "hit"}, found, tenant_clock(repo))
    return Response(body, media_type="application/json", headers={"X-List-Cache": "hit" if hit else "miss"})


def iter_tickets(repo: TenantStore, q: TicketQuery, sort: Sort) -> Iterator[dict[str, Any]]:
    """Every ticket matching ``q`` in ``sort`` order, read lazily in keyset pages of MAX_LIMIT."""
    cursor: str | None = None
    while True:
        page = ticket_page(repo, q, sort=sort, limit=MAX_LIMIT, cursor=cursor, page=None, include_total=False)
        for item in page.items:
            yield item.model_dump()
        if not page.next_cursor:
            return
        cursor = page.next_cursor


def export_tickets(repo: TenantStore, q: TicketQuery, sort: Sort, fmt: ListFormat) -> Response:
    """The filtered list as a streamed CSV/XLSX (``extra`` as JSON text, instants with ``Z``)."""
    from deskpulse.serve.routes.exports import ExportFormat, stream_rows

    columns = list(Ticket.model_fields)
    rows = iter_tickets(repo, q, sort)
    first = next(rows, None)  # errors before the status line still get the error shape

    def all_rows() -> Iterator[dict[str, Any]]:
        yield from ([first] if first is not None else [])
        yield from rows

    def shaped() -> Iterator[dict[str, Any]]:
        for row in all_rows():
            if row.get("extra") is not None:
                row["extra"] = json.dumps(row["extra"], sort_keys=True)
            yield row

    return stream_rows("tickets", columns, shaped(), ExportFormat(fmt.value))


@root_router.get("/tickets/urgent", response_model=TicketPage, summary="Urgent open tickets")
def urgent_tickets(
    repo: ReadRepo,
    _tenant: TenantParam,
    sort: Annotated[Sort, Query()] = Sort.newest,
    limit: Limit = 50,
    page_size: PageSize = None,
    cursor: Cursor = None,
    page: Page = None,
    include_total: bool = False,
) -> TicketPage:
    """Unsolved, not deleted tickets with priority ``urgent`` or urgency ``high`` (seed 004)."""
    q = TicketQuery(repo)
    q.add("deleted_at IS NULL")
    q.add("status NOT IN ('solved', 'closed')")
    expr, _ = urgency_expr(repo)
    q.add(f"(priority = 'urgent' OR {expr} = 'high')" if expr else "priority = 'urgent'")
    return ticket_page(repo, q, sort=sort, limit=page_size or limit, cursor=cursor, page=page,
                       include_total=include_total)


@root_router.get("/tickets/{ticket_id}", response_model=Ticket, summary="One ticket")
def get_ticket(repo: ReadRepo, _tenant: TenantParam, ticket_id: str) -> Ticket:
    """One ticket, soft-deleted ones included (``deleted_at`` says so)."""
    rows = repo.query(
        f"SELECT {quoted(ticket_columns(repo))} FROM tickets WHERE ticket_id = $id", id=ticket_id  # noqa: S608
    ).to_pylist()
    if not rows:
        raise NotFoundError("ticket not found", ticket_id=ticket_id)
    return Ticket(**shape_row(rows[0]))


@root_router.get("/tickets/{ticket_id}/history", response_model=TicketHistory, summary="Ticket history")
def ticket_history(repo: ReadRepo, _tenant: TenantParam, ticket_id: str) -> TicketHistory:
    """The ticket's events (status, comments, assignment, …) and ingestion's field changes."""
    require_ticket(repo, ticket_id)
    events = repo.query(
        "SELECT event_at, kind, actor, actor_id, public, from_value, to_value, field, seq "
        "FROM ticket_events WHERE ticket_id = $id ORDER BY event_at, seq",
        id=ticket_id,
    ).to_pylist()
    changes: list[dict[str, Any]] = []
    if {"field", "old", "new", "changed_at"} <= table_columns(repo.store, "ticket_history"):
        changes = repo.query(
            # ticket_history may not be a tenant table of the scoping layer (yet): the join
            # with the scoped tickets binds it to the caller's tenant either way.
            'SELECT h."field", h."old", h."new", h.changed_at, h.job_id FROM ticket_history h '
            "JOIN tickets t ON t.tenant_id = h.tenant_id AND t.ticket_id = h.ticket_id "
            'WHERE h.ticket_id = $id ORDER BY h.changed_at, h."field"',
            id=ticket_id,
        ).to_pylist()
    return TicketHistory(
        ticket_id=ticket_id,
        events=[TicketEvent(**shape_row(e)) for e in events],
        changes=[FieldChange(**shape_row(c)) for c in changes],
    )


@router.get("/tickets/{ticket_id}/sla", response_model=TicketSla, summary="Ticket SLA instances")
def ticket_sla(repo: ReadRepo, ticket_id: str) -> TicketSla:
    """The ticket's SLA instances (``ticket_sla``) as of the last build."""
    require_ticket(repo, ticket_id)
    cols = [c for c in TICKET_SLA_COLUMNS if c != "ticket_id"]
    rows = repo.query(
        f"SELECT {quoted(cols)} FROM ticket_sla WHERE ticket_id = $id ORDER BY metric, instance",  # noqa: S608
        id=ticket_id,
    ).to_pylist()
    return TicketSla(ticket_id=ticket_id, as_of=build_as_of(repo),
                     instances=[SlaInstance(**shape_row(r)) for r in rows])


@router.get("/tickets/{ticket_id}/metrics", response_model=TicketMetrics, summary="Ticket metrics")
def ticket_metrics(repo: ReadRepo, ticket_id: str) -> TicketMetrics:
    """The ticket's Zendesk-native metrics (``ticket_metrics``) as of the last build."""
    require_ticket(repo, ticket_id)
    cols = [c for c in TICKET_METRICS_COLUMNS if c != "ticket_id"]
    rows = repo.query(
        f"SELECT {quoted(cols)} FROM ticket_metrics WHERE ticket_id = $id", id=ticket_id  # noqa: S608
    ).to_pylist()
    return TicketMetrics(ticket_id=ticket_id, as_of=build_as_of(repo),
                         metrics=Metrics(**shape_row(rows[0])) if rows else None)
