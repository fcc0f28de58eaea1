"""Instants as the store keeps them (naive UTC, whole seconds): now, and parsing user input.

Kept free of heavy imports so that every command can name an instant without loading the SLA
engine, pandas or the calendars.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from deskpulse.errors import UsageError

__all__ = ["parse_instant", "utcnow"]


def utcnow() -> datetime:
    """Now as naive UTC with whole seconds (the store's convention)."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def parse_instant(text: str, *, now: datetime | None = None) -> datetime:
    """An instant as naive UTC: ISO 8601 (an offset is honoured; none means UTC), ``now``,
    ``today`` (00:00 UTC today) or ``yesterday`` (00:00 UTC yesterday)."""
    now = now or utcnow()
    word = text.strip().lower()
    if word == "now":
        return now
    if word == "today":
        return datetime.combine(now.date(), datetime.min.time())
    if word == "yesterday":
        return datetime.combine(now.date() - timedelta(days=1), datetime.min.time())
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            d = date.fromisoformat(text.strip())
        except ValueError as exc:
            raise UsageError(
                f"invalid instant {text!r}: use ISO 8601 (2026-03-06T09:30:00Z), now, today or yesterday"
            ) from exc
        return datetime.combine(d, datetime.min.time())
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.replace(microsecond=0)
