"""Rendering: the Jinja2 environment, display formatting and the HTML responses of the dashboard.

Templates live in ``serve/web/templates`` (autoescaped). Numbers are formatted here, never
computed: minutes become ``2h 05m``, ratios percentages, instants the dashboard's timezone
(UTC unless the config's ``dashboard.timezone`` says otherwise, and always labelled).
Every page answer carries security headers (a strict Content-Security-Policy: scripts only
from the dashboard's own static files, no inline script) and ``Cache-Control: no-store``:
pages hold tenant data.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from deskpulse import __version__

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def fmt_int(value: Any) -> str:
    if value is None:
        return "—"
    return f"{int(value):,}"


def fmt_num(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{float(value):,.{digits}f}"


def fmt_pct(value: Any, digits: int = 1) -> str:
    """A percentage already in 0..100."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{float(value):.{digits}f} %"


def fmt_ratio(value: Any, digits: int = 1) -> str:
    """A ratio in 0..1 as a percentage."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{100.0 * float(value):.{digits}f} %"


def fmt_minutes(value: Any) -> str:
    """Minutes for people: ``45m``, ``2h 05m``, ``3.4 d`` (negative: ``-2h 05m``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    m = float(value)
    sign = "-" if m < 0 else ""
    m = abs(m)
    if m < 60:
        return f"{sign}{m:.0f}m"
    if m < 48 * 60:
        h, rest = divmod(round(m), 60)
        return f"{sign}{h}h {rest:02d}m"
    return f"{sign}{m / 1440:.1f} d"


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def to_zone(value: datetime, tz: str) -> datetime:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(_zone(tz))


def fmt_dt(value: Any, tz: str = "UTC", seconds: bool = False) -> str:
    """An instant in the dashboard's timezone (naive values are UTC)."""
    if value is None:
        return "—"
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
    if isinstance(value, datetime):
        local = to_zone(value, tz)
        return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def iso_utc(value: Any) -> str:
    """An instant as ISO 8601 UTC with ``Z`` (for ``data-`` attributes read by the page's JS)."""
    if not isinstance(value, datetime):
        return ""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_json(value: Any) -> Markup:
    """JSON for a ``<script type="application/json">`` block (``</`` escaped)."""
    text = json.dumps(value, default=str, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)  # noqa: S704 - JSON with markup characters escaped above


def sort_value(value: Any) -> str:
    """The ``data-sort`` value of a table cell: numbers as numbers, empty last."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(float(value))
    if isinstance(value, datetime):
        return iso_utc(value)
    return str(value)


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("deskpulse.serve.web", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        int=fmt_int, num=fmt_num, pct=fmt_pct, ratio=fmt_ratio, minutes=fmt_minutes, dt=fmt_dt,
        iso=iso_utc, json=to_json, sortval=sort_value,
    )
    env.globals["version"] = __version__
    return env


def html(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with ``context`` (plus the request) into a page response."""
    body = environment().get_template(template).render(request=request, **context)
    return HTMLResponse(body, status_code=status_code, headers=SECURITY_HEADERS)


def render_error(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    return html(request, "error.html", status_code=status, title=title, message=message, ctx=None)
