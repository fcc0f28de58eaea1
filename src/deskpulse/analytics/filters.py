"""The window and filters every analytics query takes, turned into one parameterised predicate.

``Filters`` is what the CLI options (``--days``, ``--from/--to``, ``--group`` …), the HTTP
query parameters and the report settings all become. :meth:`Filters.ticket_predicate`
returns SQL over a tickets alias plus its parameters: values always travel as parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final

from deskpulse.errors import UsageError

#: Filterable ticket dimensions: option name -> column.
DIMENSIONS: Final[dict[str, str]] = {
    "group": "group",
    "category": "category",
    "priority": "priority",
    "channel": "channel",
    "brand": "brand",
    "region": "region",
    "agent": "assignee_id",
    "tier": "tier",
    "organization": "organization",
}


@dataclass(frozen=True)
class Filters:
    """A time window over ``created_at`` (``[start_at, end_at)``, naive UTC) and equality filters."""

    start_at: datetime | None = None
    end_at: datetime | None = None
    values: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        *,
        days: int | None = None,
        from_at: datetime | None = None,
        to_at: datetime | None = None,
        now: datetime,
        **values: str | None,
    ) -> Filters:
        """From CLI/API arguments: ``--days N`` ends at ``to_at`` (default now)."""
        unknown = set(values) - set(DIMENSIONS)
        if unknown:
            raise UsageError(f"unknown filter {sorted(unknown)[0]!r}; use {', '.join(DIMENSIONS)}")
        end = to_at or (now if days is not None or from_at is None else None)
        start = from_at
        if days is not None:
            if days <= 0:
                raise UsageError("--days must be positive")
            if from_at is not None:
                raise UsageError("give either --days or --from, not both")
            start = (end or now) - timedelta(days=days)
        if start is not None and end is not None and start >= end:
            raise UsageError(f"empty window: {start:%Y-%m-%d %H:%M} is not before {end:%Y-%m-%d %H:%M}")
        return cls(start_at=start, end_at=end, values={k: v for k, v in values.items() if v})

    def with_values(self, **values: str) -> Filters:
        return replace(self, values={**self.values, **values})

    def ticket_predicate(self, alias: str = "t", prefix: str = "f_") -> tuple[str, dict[str, Any]]:
        """``(sql, params)``: the window on ``alias.created_at`` and each equality filter."""
        parts = [f"{alias}.deleted_at IS NULL"]
        params: dict[str, Any] = {}
        if self.start_at is not None:
            parts.append(f"{alias}.created_at >= ${prefix}start")
            params[f"{prefix}start"] = self.start_at
        if self.end_at is not None:
            parts.append(f"{alias}.created_at < ${prefix}end")
            params[f"{prefix}end"] = self.end_at
        for name, value in sorted(self.values.items()):
            column = DIMENSIONS[name]
            parts.append(f'{alias}."{column}" = ${prefix}{name}')
            params[f"{prefix}{name}"] = value
        return " AND ".join(parts), params

    def describe(self) -> str:
        """Human words for headers: ``2026-10-27 → 2026-11-26 · group=Billing``."""
        window = (
            f"{self.start_at:%Y-%m-%d} → {self.end_at:%Y-%m-%d}"
            if self.start_at and self.end_at
            else "all time"
        )
        extra = " · ".join(f"{k}={v}" for k, v in sorted(self.values.items()))
        return window + (f" · {extra}" if extra else "")
