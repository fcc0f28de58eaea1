"""What a dashboard URL asks for: the time range and dimension filters, and drill-down links.

Every filter lives in the query string, so a page's URL is a shareable view:

- ``range``: ``today``, ``7d``, ``30d``, ``90d`` or ``all`` (seed 002's selector), counted back
  from the last build's ``as_of`` exactly like the CLI's ``--range``
  (:func:`deskpulse.analytics.agents.range_filters`); or ``from``/``to`` dates (UTC days,
  ``to`` inclusive), which take precedence;
- one value each of ``group``, ``category``, ``priority``, ``channel``, ``brand``, ``region``,
  ``agent``, ``tier``, ``organization`` (the analytics :data:`~deskpulse.analytics.filters.DIMENSIONS`).

:class:`View` turns them into the library's :class:`~deskpulse.analytics.filters.Filters` and
back into URLs. :func:`tickets_url` is the drill-down: the tickets list (``/ui/tickets``) with
the window as ``created_from``/``created_to`` instants and the dimensions as the ticket
list's own filters (``agent`` becomes ``assignee``), plus whatever the clicked figure adds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import Request

from deskpulse.analytics.agents import RANGES, range_filters
from deskpulse.analytics.filters import DIMENSIONS, Filters
from deskpulse.analytics.results import NONE_VALUE
from deskpulse.serve.routes._shared import invalid

DEFAULT_RANGE: Final = "30d"
RANGE_LABELS: Final = {"today": "Today", "7d": "7 days", "30d": "30 days", "90d": "90 days", "all": "All time"}
#: Analytics dimension -> the ticket list's query parameter.
TICKET_PARAM: Final = {name: ("assignee" if name == "agent" else name) for name in DIMENSIONS}
#: Values that stand for "no value" in analytics breakdowns (no ticket-list filter selects them).
NO_VALUE: Final = frozenset({NONE_VALUE, "(unassigned)", "", "all"})
OPEN_STATUSES: Final = ("new", "open", "pending", "hold")
SOLVED_STATUSES: Final = ("solved", "closed")
MAX_VALUE_LENGTH: Final = 200


def _date(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise invalid(f"query.{name}", "expected a date YYYY-MM-DD", value) from exc


@dataclass(frozen=True)
class View:
    """The filters of a page URL (see the module doc)."""

    range: str = DEFAULT_RANGE
    date_from: date | None = None
    date_to: date | None = None  # inclusive
    dims: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_request(cls, request: Request, default_range: str = DEFAULT_RANGE) -> View:
        q = request.query_params
        name = q.get("range") or default_range
        if name not in RANGES:
            raise invalid("query.range", f"use one of {', '.join(RANGES)}", name)
        start, end = _date(q.get("from"), "from"), _date(q.get("to"), "to")
        if start is not None and end is not None and end < start:
            raise invalid("query.to", "the range is empty: 'to' is before 'from'", q.get("to"))
        dims: dict[str, str] = {}
        for dim in DIMENSIONS:
            value = (q.get(dim) or "").strip()
            if len(value) > MAX_VALUE_LENGTH:
                raise invalid(f"query.{dim}", "too long", value[:20])
            if value:
                dims[dim] = value
        return cls(range=name, date_from=start, date_to=end, dims=dims)

    @property
    def custom(self) -> bool:
        return self.date_from is not None or self.date_to is not None

    def filters(self, now: datetime) -> Filters:
        """The library's filters for this view; ``now`` is the last build's ``as_of``."""
        if self.custom:
            start = datetime.combine(self.date_from, datetime.min.time()) if self.date_from else None
            end = (datetime.combine(self.date_to, datetime.min.time()) + timedelta(days=1)
                   if self.date_to else None)
            dims: dict[str, str | None] = dict(self.dims)
            return Filters.build(days=None, from_at=start, to_at=end, now=now, **dims)
        return range_filters(self.range, now, **self.dims)

    def params(self, **changes: Any) -> dict[str, str]:
        """The view's query parameters, with ``changes`` (None removes a parameter)."""
        out: dict[str, str] = {}
        if self.custom:
            if self.date_from:
                out["from"] = self.date_from.isoformat()
            if self.date_to:
                out["to"] = self.date_to.isoformat()
        else:
            out["range"] = self.range
        out.update(self.dims)
        for key, value in changes.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = str(value)
        return out

    def url(self, path: str, **changes: Any) -> str:
        params = self.params(**changes)
        return f"{path}?{urlencode(params)}" if params else path

    def range_url(self, path: str, name: str) -> str:
        """This view on another range (custom dates dropped)."""
        return View(range=name, dims=self.dims).url(path)

    def describe(self) -> str:
        if self.custom:
            return f"{self.date_from or '…'} → {self.date_to or '…'}"
        return RANGE_LABELS.get(self.range, self.range)


def iso_z(at: datetime) -> str:
    """A naive-UTC instant as ISO 8601 with ``Z``."""
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def ticket_params(filters: Filters | None, **extra: Any) -> list[tuple[str, str]]:
    """Ticket-list query parameters for the tickets behind ``filters`` and ``extra``.

    ``extra`` values may be lists (repeated parameters); a dimension in ``extra`` replaces
    the filters' own; None or a "no value" marker leaves the parameter out.
    """
    pairs: dict[str, list[str]] = {}
    if filters is not None:
        if filters.start_at is not None:
            pairs["created_from"] = [iso_z(filters.start_at)]
        if filters.end_at is not None:
            pairs["created_to"] = [iso_z(filters.end_at)]
        for dim, value in filters.values.items():
            pairs[TICKET_PARAM.get(dim, dim)] = [value]
    for key, value in extra.items():
        key = TICKET_PARAM.get(key, key)
        if value is None:
            pairs.pop(key, None)
            continue
        values = [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
        values = [v for v in values if v not in NO_VALUE]
        if values:
            pairs[key] = values
        else:
            pairs.pop(key, None)
    return [(k, v) for k, vs in pairs.items() for v in vs]


def tickets_url(filters: Filters | None = None, **extra: Any) -> str:
    """The tickets list showing the tickets behind a figure (see :func:`ticket_params`)."""
    pairs = ticket_params(filters, **extra)
    return "/ui/tickets" + (f"?{urlencode(pairs)}" if pairs else "")


def day_window(day: date) -> dict[str, str]:
    """``created_from``/``created_to`` of one UTC day."""
    start = datetime.combine(day, datetime.min.time())
    return {"created_from": iso_z(start), "created_to": iso_z(start + timedelta(days=1))}


def day_url(filters: Filters, day: date, **extra: Any) -> str:
    """Tickets created on a UTC ``day`` (matching the filters' dimensions)."""
    dims = Filters(values=dict(filters.values))
    return tickets_url(dims, **day_window(day), **extra)


def query_pairs(params: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str:
    items = params.items() if isinstance(params, Mapping) else params
    return urlencode([(k, str(v)) for k, v in items if v is not None and v != ""])
