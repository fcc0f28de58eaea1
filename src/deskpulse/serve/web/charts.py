"""Chart specifications (Plotly JSON) built from the analytics results, with drill-down links.

The server sends each chart as a plain Plotly figure (``{"data": [...], "layout": {...}}``) in
a JSON block; ``static/app.js`` draws it with the bundled ``plotly.min.js`` (no CDN) and, on a
click, opens the point's ``customdata`` — a ``/ui/tickets?…`` URL listing the tickets behind
that point. Nothing is computed here: every value comes from a library result as is, only
unit conversions for display (minutes → hours) happen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, Final

COLORS: Final = {
    "blue": "#2f6fdf",
    "teal": "#1a9e8f",
    "orange": "#e8833a",
    "red": "#d64545",
    "purple": "#7a5cc7",
    "grey": "#8a94a6",
    "green": "#2e9d58",
    "yellow": "#d9a400",
}
SEVERITY_COLORS: Final = {"critical": "#b42318", "high": "#e8833a", "medium": "#d9a400", "low": "#8a94a6"}
AGE_COLORS: Final = ("#9cc3f5", "#5b9be8", "#2f6fdf", "#e8833a", "#b42318")
FONT: Final = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"

Figure = dict[str, Any]


def layout(height: int = 300, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "height": height,
        "margin": {"l": 52, "r": 16, "t": 12, "b": 44},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": FONT, "size": 12, "color": "#1f2933"},
        "legend": {"orientation": "h", "x": 0, "y": -0.18, "yanchor": "top"},
        "hovermode": "closest",
        "xaxis": {"gridcolor": "#e6eaf0", "zeroline": False, "automargin": True},
        "yaxis": {"gridcolor": "#e6eaf0", "zeroline": False, "automargin": True, "rangemode": "tozero"},
        "bargap": 0.25,
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return base


def figure(data: list[dict[str, Any]], **layout_extra: Any) -> Figure:
    return {"data": data, "layout": layout(**layout_extra)}


def target_line(value: float) -> dict[str, Any]:
    """A horizontal dashed line across the plot (e.g. the SLA target; captions name it)."""
    return {
        "type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": value, "y1": value,
        "layer": "above", "line": {"color": COLORS["red"], "width": 1.5, "dash": "dash"},
    }


def sla_attainment(
    rows: Sequence[tuple[str, float | None, float | None]],
    urls: Sequence[str],
    target: float,
    *,
    horizontal: bool = False,
) -> Figure:
    """Grouped bars per slice: first-response and resolution SLA compliance (%)."""
    labels = [r[0] for r in rows]
    series = (("First response", [r[1] for r in rows], COLORS["blue"]),
              ("Resolution", [r[2] for r in rows], COLORS["teal"]))
    data = []
    for name, values, color in series:
        trace: dict[str, Any] = {
            "type": "bar", "name": name, "marker": {"color": color}, "customdata": list(urls),
            "hovertemplate": "%{" + ("y" if horizontal else "x") + "}<br>" + name
            + ": %{" + ("x" if horizontal else "y") + ":.1f} %<br>click: the tickets<extra></extra>",
        }
        if horizontal:
            trace.update(x=values, y=labels, orientation="h")
        else:
            trace.update(x=labels, y=values)
        data.append(trace)
    if horizontal:
        fig = figure(data, height=max(260, 44 + 34 * len(rows)),
                     xaxis={"range": [0, 105], "dtick": 20, "ticksuffix": " %"},
                     yaxis={"autorange": "reversed", "rangemode": "normal"}, barmode="group")
        fig["layout"]["shapes"] = [{
            "type": "line", "yref": "paper", "y0": 0, "y1": 1, "xref": "x", "x0": target, "x1": target,
            "line": {"color": COLORS["red"], "width": 1.5, "dash": "dash"}}]
        return fig
    fig = figure(data, yaxis={"range": [0, 105], "dtick": 20, "ticksuffix": " %"}, barmode="group")
    fig["layout"]["shapes"] = [target_line(target)]
    return fig


def daily_lines(
    days: Sequence[date],
    series: Sequence[tuple[str, Sequence[float | int | None], str, str]],
    url_of: Callable[[date], str],
    *,
    y_title: str = "",
    y2_title: str | None = None,
) -> Figure:
    """Lines (or bars) per UTC day; ``series``: (name, values, color, kind) with kind
    ``line``, ``bar`` or ``line2`` (a line on a right-hand axis)."""
    x = [d.isoformat() for d in days]
    urls = [url_of(d) for d in days]
    data = []
    for name, values, color, kind in series:
        trace: dict[str, Any] = {"x": x, "y": list(values), "name": name, "customdata": urls,
                                 "hovertemplate": "%{x}<br>" + name + ": %{y:,}<extra></extra>"}
        if kind == "bar":
            trace.update(type="bar", marker={"color": color})
        else:
            trace.update(type="scatter", mode="lines+markers", line={"color": color, "width": 2},
                         marker={"size": 4})
            if kind == "line2":
                trace["yaxis"] = "y2"
        data.append(trace)
    extra: dict[str, Any] = {"yaxis": {"title": {"text": y_title}}, "xaxis": {"type": "date"}}
    if y2_title is not None:
        extra["yaxis2"] = {"title": {"text": y2_title}, "overlaying": "y", "side": "right",
                           "showgrid": False, "rangemode": "tozero", "automargin": True, "tickformat": ",d"}
        right = [v for _, values, _, kind in series if kind == "line2" for v in values if v is not None]
        if right and max(right) <= 10:  # a count axis: whole numbers only
            extra["yaxis2"]["dtick"] = 1
    return figure(data, barmode="group", **extra)


def bars(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | int | None], str]],
    urls: Sequence[str],
    *,
    horizontal: bool = False,
    colors: Sequence[str] | None = None,
    x_suffix: str = "",
    height: int | None = None,
    stacked: bool = False,
) -> Figure:
    """Bars per label (one trace per series), each bar opening its URL."""
    data = []
    for name, values, color in series:
        trace: dict[str, Any] = {"type": "bar", "name": name, "customdata": list(urls),
                                 "marker": {"color": list(colors) if colors else color}}
        if horizontal:
            trace.update(x=list(values), y=list(labels), orientation="h",
                         hovertemplate="%{y}<br>" + name + ": %{x:,.1f}" + x_suffix + "<extra></extra>")
        else:
            trace.update(x=list(labels), y=list(values),
                         hovertemplate="%{x}<br>" + name + ": %{y:,}" + x_suffix + "<extra></extra>")
        data.append(trace)
    h = height or (max(240, 40 + 30 * len(labels)) if horizontal else 300)
    extra: dict[str, Any] = {"barmode": "stack" if stacked else "group", "height": h}
    if horizontal:
        extra["yaxis"] = {"autorange": "reversed", "rangemode": "normal", "automargin": True}
        if x_suffix:
            extra["xaxis"] = {"ticksuffix": x_suffix}
    if len(series) == 1:
        extra["showlegend"] = False
    return figure(data, **extra)


def forecast(
    history: Sequence[tuple[date, int]],
    history_urls: Sequence[str],
    days: Sequence[date],
    mid: Sequence[float],
    lower: Sequence[float],
    upper: Sequence[float],
    naive: Sequence[float],
) -> Figure:
    """Daily arrivals: history (click: that day's tickets), forecast with its 80 % band."""
    fx = [d.isoformat() for d in days]
    data: list[dict[str, Any]] = [
        {"type": "bar", "name": "Arrivals", "x": [d.isoformat() for d, _ in history],
         "y": [n for _, n in history], "customdata": list(history_urls), "marker": {"color": "#9cc3f5"},
         "hovertemplate": "%{x}<br>arrivals: %{y:,}<br>click: the tickets<extra></extra>"},
        {"type": "scatter", "mode": "lines", "name": "80 % interval", "x": fx + fx[::-1],
         "y": list(upper) + list(lower)[::-1], "fill": "toself", "fillcolor": "rgba(47,111,223,0.15)",
         "line": {"width": 0}, "hoverinfo": "skip"},
        {"type": "scatter", "mode": "lines+markers", "name": "Forecast (ETS)", "x": fx, "y": list(mid),
         "line": {"color": COLORS["blue"], "width": 2}, "marker": {"size": 4},
         "hovertemplate": "%{x}<br>forecast: %{y:,.1f}<extra></extra>"},
        {"type": "scatter", "mode": "lines", "name": "Seasonal naive", "x": fx, "y": list(naive),
         "line": {"color": COLORS["grey"], "width": 1.5, "dash": "dot"},
         "hovertemplate": "%{x}<br>seasonal naive: %{y:,.1f}<extra></extra>"},
    ]
    return figure(data, xaxis={"type": "date"}, yaxis={"title": {"text": "tickets per day"}})


def heatmap(
    z: Sequence[Sequence[float | int | None]],
    x: Sequence[str],
    y: Sequence[str],
    urls: Sequence[Sequence[str]] | None,
    *,
    title: str,
    colorscale: str | list[list[Any]] | None = None,
    zmin: float | None = None,
    zmid: float | None = None,
) -> Figure:
    trace: dict[str, Any] = {
        "type": "heatmap", "z": [list(r) for r in z], "x": list(x), "y": list(y),
        "colorscale": colorscale or [[0, "#f1f6fe"], [1, "#1d4fa8"]],
        "hovertemplate": "%{y} %{x}<br>" + title + ": %{z}<extra></extra>", "xgap": 1, "ygap": 1,
        "colorbar": {"thickness": 10, "outlinewidth": 0},
    }
    if zmid is not None:
        trace["zmid"] = zmid
    if zmin is not None:
        trace["zmin"] = zmin
    if urls is not None:
        trace["customdata"] = [list(r) for r in urls]
    return figure([trace], height=280, yaxis={"autorange": "reversed", "rangemode": "normal"},
                  xaxis={"dtick": 2, "title": {"text": "hour"}})
