"""Shared Typer options of analytics commands: the window, the filters and the output format."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from deskpulse.analytics.filters import Filters

DaysOpt = Annotated[int | None, typer.Option("--days", min=1, help="Tickets created in the last N days.")]
FromOpt = Annotated[str | None, typer.Option("--from", help="Window start (ISO 8601 date/instant, UTC).")]
ToOpt = Annotated[str | None, typer.Option("--to", help="Window end, exclusive (default now).")]
GroupOpt = Annotated[str | None, typer.Option("--group", help="Only this group/queue.")]
CategoryOpt = Annotated[str | None, typer.Option("--category", help="Only this category.")]
PriorityOpt = Annotated[str | None, typer.Option("--priority", help="Only this priority.")]
ChannelOpt = Annotated[str | None, typer.Option("--channel", help="Only this channel.")]
BrandOpt = Annotated[str | None, typer.Option("--brand", help="Only this brand.")]
RegionOpt = Annotated[str | None, typer.Option("--region", help="Only this region.")]
AgentOpt = Annotated[str | None, typer.Option("--agent", help="Only tickets assigned to this agent id.")]


def make_filters(
    *,
    days: int | None,
    from_: str | None,
    to: str | None,
    now: datetime | None = None,
    **values: str | None,
) -> Filters:
    """Turn the CLI options into :class:`Filters` (``--days`` counts back from ``--to``/now)."""
    from deskpulse.sla.build import parse_instant, utcnow

    return Filters.build(
        days=days,
        from_at=parse_instant(from_) if from_ else None,
        to_at=parse_instant(to) if to else None,
        now=now or utcnow(),
        **values,
    )
