"""Shared Typer options of the analytics commands: the window, the filters, the output format
and the store, declared once.

Every analytics command takes the same block of options (``--days``/``--from``/``--to``, the
dimension filters ``--group`` … ``--agent``, ``--format``, ``--db``/``--tenant``/``--config``).
Instead of repeating fifteen parameters per command, a command declares one parameter
annotated :data:`Common` (or :data:`CommonNoWindow` without the window options) and the
:func:`common_options` decorator expands it into the individual Typer options — the CLI
surface is the same as if they were written out — and hands the command a
:class:`CommonArgs` with the parsed values and :meth:`CommonArgs.filters`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final, TypeVar

import typer

from deskpulse.analytics.filters import Filters
from deskpulse.cli.main import ConfigOpt, DbOpt, TenantOpt
from deskpulse.cli.output import OutFormat

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
FormatOpt = Annotated[OutFormat, typer.Option("--format", help="table, json or csv.")]

#: The window options, in the order they appear in ``--help``.
WINDOW_OPTIONS: Final[tuple[tuple[str, Any], ...]] = (
    ("days", DaysOpt), ("from_", FromOpt), ("to", ToOpt),
)
#: The dimension filters (names as in :data:`deskpulse.analytics.filters.DIMENSIONS`).
FILTER_OPTIONS: Final[tuple[tuple[str, Any], ...]] = (
    ("group", GroupOpt), ("category", CategoryOpt), ("priority", PriorityOpt),
    ("channel", ChannelOpt), ("brand", BrandOpt), ("region", RegionOpt), ("agent", AgentOpt),
)
#: Output format and store options, last in ``--help``.
TAIL_OPTIONS: Final[tuple[tuple[str, Any, Any], ...]] = (
    ("fmt", FormatOpt, OutFormat.table), ("db", DbOpt, None), ("tenant", TenantOpt, None),
    ("config", ConfigOpt, None),
)


def make_filters(
    *,
    days: int | None,
    from_: str | None,
    to: str | None,
    now: datetime | None = None,
    **values: str | None,
) -> Filters:
    """Turn the CLI options into :class:`Filters` (``--days`` counts back from ``--to``/now)."""
    from deskpulse.instants import utcnow

    if from_ or to:  # the SLA package imports pandas: only when an instant must be parsed
        from deskpulse.instants import parse_instant
    return Filters.build(
        days=days,
        from_at=parse_instant(from_) if from_ else None,
        to_at=parse_instant(to) if to else None,
        now=now or utcnow(),
        **values,
    )


@dataclass(frozen=True)
class CommonArgs:
    """The parsed common options of one command run."""

    days: int | None = None
    from_: str | None = None
    to: str | None = None
    values: dict[str, str | None] = field(default_factory=dict)
    fmt: OutFormat = OutFormat.table
    db: str | None = None
    tenant: str | None = None
    config: Path | None = None

    def filters(self, now: datetime | None) -> Filters:
        """The window (relative windows count back from ``now``) and the dimension filters."""
        return make_filters(days=self.days, from_=self.from_, to=self.to, now=now, **self.values)


class _CommonMarker:
    """Annotation metadata telling :func:`common_options` which block to expand."""

    def __init__(self, window: bool) -> None:
        self.window = window


#: A command parameter receiving the window, the filters, the format and the store options.
Common = Annotated[CommonArgs, _CommonMarker(window=True)]
#: The same without ``--days/--from/--to`` (commands with their own ``--range``).
CommonNoWindow = Annotated[CommonArgs, _CommonMarker(window=False)]

F = TypeVar("F", bound=Callable[..., Any])


def _marker(annotation: Any) -> _CommonMarker | None:
    for meta in getattr(annotation, "__metadata__", ()):
        if isinstance(meta, _CommonMarker):
            return meta
    return None


def common_options(fn: F) -> F:
    """Expand a command's :data:`Common` / :data:`CommonNoWindow` parameter into the options.

    The other parameters keep their place; the window options come first, the filters after
    the command's own options, then ``--format`` and the store options (as before).
    """
    sig = inspect.signature(fn, eval_str=True)
    found = [(p.name, m) for p in sig.parameters.values() if (m := _marker(p.annotation))]
    if len(found) != 1:
        raise TypeError(f"{fn.__name__}: exactly one Common parameter expected")
    target, marker = found[0]
    window = list(WINDOW_OPTIONS) if marker.window else []
    kw = inspect.Parameter.KEYWORD_ONLY
    head = [inspect.Parameter(n, kw, annotation=a, default=None) for n, a in window]
    own = [p.replace(kind=kw) for p in sig.parameters.values() if p.name != target]
    tail = [inspect.Parameter(n, kw, annotation=a, default=None) for n, a in FILTER_OPTIONS]
    tail += [inspect.Parameter(n, kw, annotation=a, default=d) for n, a, d in TAIL_OPTIONS]
    params = [*head, *own, *tail]
    expanded = {p.name for p in (*head, *tail)}

    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> Any:
        args = {k: kwargs.pop(k) for k in list(kwargs) if k in expanded}
        common = CommonArgs(
            days=args.get("days"), from_=args.get("from_"), to=args.get("to"),
            values={n: args.get(n) for n, _ in FILTER_OPTIONS},
            fmt=args.get("fmt", OutFormat.table), db=args.get("db"), tenant=args.get("tenant"),
            config=args.get("config"),
        )
        return fn(**kwargs, **{target: common})

    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    del wrapper.__wrapped__  # typer must read the expanded signature, not fn's
    return wrapper  # type: ignore[return-value]
