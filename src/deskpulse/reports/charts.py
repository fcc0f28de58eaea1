"""Static SVG charts, written here: no plotting library and no browser.

The same SVG text goes inline into the HTML report and, through WeasyPrint, into the PDF.
Bars for categories (horizontal) and for days (vertical, labels thinned), lines for series
over days; axes with round tick values; an optional dashed target line.
"""

from __future__ import annotations

import math
from html import escape
from typing import Final

from deskpulse.reports.document import BarChart, Chart, LineChart

PALETTE: Final = ("#2f6fb0", "#e07b39", "#3a9a5b", "#b54a7f", "#7a6bb5", "#8c8c3a")
FONT: Final = "DejaVu Sans, Helvetica, Arial, sans-serif"
WIDTH: Final = 720


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value``."""
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * exp >= value:
            return float(m * exp)
    return float(10 * exp)


def _num(v: float) -> str:
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:g}" if v == int(v) else f"{v:.1f}"


def _text(x: float, y: float, s: str, *, size: int = 10, anchor: str = "start",
          fill: str = "#333", weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-family="{FONT}" font-size="{size}" '
            f'text-anchor="{anchor}" fill="{fill}" font-weight="{weight}">{escape(s)}</text>')


def _short(label: str, n: int) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def _frame(title: str, width: int, height: int, body: list[str]) -> str:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">')
    parts = [head, f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
             _text(8, 18, title, size=13, weight="bold"), *body, "</svg>"]
    return "".join(parts)


def _empty(title: str) -> str:
    return _frame(title, WIDTH, 80, [_text(WIDTH / 2, 50, "no data", anchor="middle", fill="#888")])


def bar_svg(chart: BarChart) -> str:
    if not chart.values:
        return _empty(chart.title)
    return _hbars(chart) if chart.horizontal else _vbars(chart)


def _hbars(chart: BarChart) -> str:
    n = len(chart.values)
    row = 20
    left, right, top = 190, 70, 32
    height = top + n * row + 28
    plot_w = WIDTH - left - right
    top_v = _nice_max(max([*chart.values, chart.target or 0.0]))
    body: list[str] = []
    for k in range(5):
        v = top_v * k / 4
        x = left + plot_w * k / 4
        body.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + n * row}" '
                    'stroke="#e3e3e3" stroke-width="1"/>')
        body.append(_text(x, top + n * row + 14, _num(v), size=9, anchor="middle", fill="#666"))
    for i, (label, v) in enumerate(zip(chart.labels, chart.values, strict=True)):
        y = top + i * row
        w = plot_w * max(v, 0.0) / top_v
        body.append(_text(left - 6, y + 14, _short(label, 30), size=10, anchor="end"))
        body.append(f'<rect x="{left}" y="{y + 3:.1f}" width="{w:.1f}" height="{row - 6}" '
                    f'fill="{PALETTE[0]}"/>')
        body.append(_text(left + w + 4, y + 14, _num(v) + (chart.unit if chart.unit == "%" else ""),
                          size=9, fill="#444"))
    if chart.target is not None:
        x = left + plot_w * chart.target / top_v
        body.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{top + n * row}" '
                    'stroke="#c0392b" stroke-width="1.5" stroke-dasharray="4,3"/>')
        body.append(_text(x, top - 6, f"target {_num(chart.target)}", size=9, anchor="middle",
                          fill="#c0392b"))
    return _frame(chart.title, WIDTH, height, body)


def _axes(left: int, top: int, plot_w: int, plot_h: int, top_v: float, unit: str) -> list[str]:
    body: list[str] = []
    for k in range(5):
        v = top_v * k / 4
        y = top + plot_h - plot_h * k / 4
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                    'stroke="#e3e3e3" stroke-width="1"/>')
        body.append(_text(left - 6, y + 3, _num(v), size=9, anchor="end", fill="#666"))
    if unit:
        body.append(_text(left - 6, top - 8, unit, size=9, anchor="end", fill="#666"))
    return body


def _x_labels(labels: list[str], left: int, step: float, y: float) -> list[str]:
    every = max(1, math.ceil(len(labels) / 10))
    out = []
    for i, label in enumerate(labels):
        if i % every == 0 or i == len(labels) - 1 and len(labels) <= 10:
            out.append(_text(left + step * (i + 0.5), y, _short(label, 12), size=9,
                             anchor="middle", fill="#555"))
    return out


def _vbars(chart: BarChart) -> str:
    left, right, top, bottom = 56, 16, 34, 34
    height = 260
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    top_v = _nice_max(max([*chart.values, chart.target or 0.0]))
    n = len(chart.values)
    step = plot_w / n
    body = _axes(left, top, plot_w, plot_h, top_v, chart.unit)
    for i, v in enumerate(chart.values):
        h = plot_h * max(v, 0.0) / top_v
        x = left + step * i + step * 0.12
        body.append(f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{step * 0.76:.1f}" '
                    f'height="{h:.1f}" fill="{PALETTE[0]}"/>')
    if n <= 12:
        for i, v in enumerate(chart.values):
            h = plot_h * max(v, 0.0) / top_v
            body.append(_text(left + step * (i + 0.5), top + plot_h - h - 3, _num(v), size=8,
                              anchor="middle", fill="#444"))
    if chart.target is not None:
        y = top + plot_h - plot_h * chart.target / top_v
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                    'stroke="#c0392b" stroke-width="1.5" stroke-dasharray="4,3"/>')
    body += _x_labels(chart.labels, left, step, top + plot_h + 16)
    return _frame(chart.title, WIDTH, height, body)


def line_svg(chart: LineChart) -> str:
    if not chart.labels or not chart.series:
        return _empty(chart.title)
    left, right, top, bottom = 56, 16, 34, 50
    height = 270
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    top_v = _nice_max(max((max(s) if s else 0.0) for s in chart.series.values()))
    n = len(chart.labels)
    step = plot_w / n
    body = _axes(left, top, plot_w, plot_h, top_v, chart.unit)
    for k, (name, values) in enumerate(chart.series.items()):
        color = PALETTE[k % len(PALETTE)]
        pts = " ".join(
            f"{left + step * (i + 0.5):.1f},{top + plot_h - plot_h * max(v, 0.0) / top_v:.1f}"
            for i, v in enumerate(values)
        )
        body.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
        lx = left + 10 + k * 130
        body.append(f'<rect x="{lx}" y="{height - 14}" width="12" height="4" fill="{color}"/>')
        body.append(_text(lx + 16, height - 9, name, size=9))
    body += _x_labels(chart.labels, left, step, top + plot_h + 16)
    return _frame(chart.title, WIDTH, height, body)


def chart_svg(chart: Chart) -> str:
    """The SVG text of one chart."""
    if isinstance(chart, BarChart):
        return bar_svg(chart)
    return line_svg(chart)
