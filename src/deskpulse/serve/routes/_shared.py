"""Helpers shared by the API routers: time parameters, schema probes, row shaping, IN lists.

Not a router (it exposes none). Everything here is small and pure except
:func:`table_columns`, which asks the database once per store and table which columns exist
(migrations written by other engineers add optional columns such as ``tickets.urgency``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from deskpulse.instants import utcnow as utcnow  # re-exported for the routes
from deskpulse.model import TICKET_COLUMNS
from deskpulse.store import Store, TenantStore


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. not_found, validation_error.")
    message: str
    details: dict[str, Any]


class ErrorBody(BaseModel):
    """The one error shape of every 4xx and 5xx answer."""

    error: ErrorDetail


#: Error answers every authenticated route may give, documented in OpenAPI with their shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing, malformed, forged or expired bearer token."},
    404: {"model": ErrorBody, "description": "Not found for the token's tenant (another tenant's object, "
                                             "or a tenant_id other than the token's, looks the same)."},
    422: {"model": ErrorBody, "description": "A parameter failed validation."},
    503: {"model": ErrorBody, "description": "The store is unavailable."},
}

#: Optional ticket columns (migration 0004, classification) shown when the schema has them.
OPTIONAL_TICKET_COLUMNS = ("urgency", "sentiment", "requires_action")

_columns_lock = threading.Lock()
_columns: dict[tuple[str, str], frozenset[str]] = {}


def table_columns(store: Store, table: str) -> frozenset[str]:
    """The columns of ``table`` in the store's current schema (empty when it does not exist)."""
    key = (store.url, table)
    cached = _columns.get(key)
    if cached is not None:
        return cached
    rows = store.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = $table AND table_schema = current_schema()",
        {"table": table},
    )
    found = frozenset(str(r[0]) for r in rows)
    with _columns_lock:
        _columns[key] = found
    return found


def forget_columns() -> None:
    """Drop the column cache (tests that migrate a store in place)."""
    with _columns_lock:
        _columns.clear()


def ticket_columns(repo: TenantStore) -> list[str]:
    """Canonical ticket columns plus the optional ones this schema has, in output order."""
    have = table_columns(repo.store, "tickets")
    return [*TICKET_COLUMNS, *(c for c in OPTIONAL_TICKET_COLUMNS if c in have)]


def urgency_expr(repo: TenantStore, alias: str = "") -> tuple[str | None, str | None]:
    """SQL for a ticket's urgency and where it comes from: the ``urgency`` column (migration
    0004), else ``extra.urgency`` (an unknown input column kept by import), else (None, None)."""
    have = table_columns(repo.store, "tickets")
    p = f"{alias}." if alias else ""
    if "urgency" in have:
        return f"lower({p}urgency)", "column"
    if "extra" in have:
        return f"lower(json_extract_string(CAST({p}extra AS JSON), '$.urgency'))", "extra"
    return None, None


def quoted(columns: Iterable[str], alias: str = "") -> str:
    """A column list from our own schema (never from input), quoted."""
    p = f"{alias}." if alias else ""
    return ", ".join(f'{p}"{c}"' for c in columns)


def in_list(column: str, name: str, values: Sequence[Any], params: dict[str, Any]) -> str:
    """``column IN ($name0, $name1, …)`` with every value bound as a parameter."""
    names = []
    for i, v in enumerate(values):
        params[f"{name}{i}"] = v
        names.append(f"${name}{i}")
    return f"{column} IN ({', '.join(names)})"


#: What a date-or-instant parameter looks like (documented in OpenAPI; parse_when checks the rest).
WHEN_PATTERN = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}:?\d{2})?)?$"


def invalid(loc: str, message: str, value: Any = None) -> RequestValidationError:
    """A 422 in the API's validation-error shape for a parameter that parsed but makes no sense."""
    where, _, name = loc.partition(".")
    return RequestValidationError(
        [{"loc": (where, name), "msg": message, "type": "value_error", "input": value}]
    )


def parse_when(value: str | None, loc: str, *, end: bool = False) -> datetime | None:
    """A date (``YYYY-MM-DD``) or an ISO 8601 instant as naive UTC (the store's convention).

    A date means the whole day: as a start it is that midnight, as an ``end`` the next
    midnight (so ``to=2026-05-31`` includes May 31). An instant without an offset is UTC.
    """
    if value is None or value == "":
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day)
            return start + timedelta(days=1) if end else start
        instant = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError as exc:
        raise invalid(loc, "expected a date (YYYY-MM-DD) or an ISO 8601 instant", value) from exc
    if instant.tzinfo is not None:
        instant = instant.astimezone(UTC).replace(tzinfo=None)
    return instant


def check_range(start: datetime | None, stop: datetime | None, loc: str) -> None:
    if start is not None and stop is not None and start >= stop:
        raise invalid(loc, "the range is empty: the end must be after the start")


def aware(value: Any) -> Any:
    """Naive UTC datetimes from the store become timezone-aware (serialised with ``Z``)."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def shape_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """One stored row for JSON: aware timestamps, ``extra`` parsed into an object."""
    out = {k: aware(v) for k, v in row.items()}
    if "extra" in out:
        raw = out["extra"]
        if isinstance(raw, str) and raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = {"_raw": raw}
            out["extra"] = parsed if isinstance(parsed, dict) else {"_value": parsed}
        else:
            out["extra"] = None
    if "requires_action" in out and isinstance(out["requires_action"], str):
        out["requires_action"] = out["requires_action"].lower() in ("t", "true", "1")
    return out
