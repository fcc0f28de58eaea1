"""What a report is before it is rendered: a title, a window, headline figures, charts and tables.

A :class:`ReportDocument` is built by a report definition (:mod:`deskpulse.reports.definitions`)
from the analytics library's typed results and rendered by :mod:`deskpulse.reports.render`
into HTML, PDF, XLSX or CSV. Tables keep every column of the library's ``rows()`` (CSV and
XLSX carry them all, unformatted); :class:`Column` picks and formats the ones a reader sees in
HTML, PDF and the email summary.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

Formatter = Callable[[Any], str]


def fmt_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M")
    if isinstance(v, date):
        return v.isoformat()
    return str(v)


def fmt_int(v: Any) -> str:
    return "" if v is None else f"{int(v):,}"


def fmt_minutes(v: Any) -> str:
    """Minutes as ``42.5 min``, ``3.2 h`` or ``2.1 d`` (calendar units)."""
    if v is None:
        return ""
    m = float(v)
    if abs(m) < 120:
        return f"{m:,.1f} min"
    if abs(m) < 2880:
        return f"{m / 60:,.1f} h"
    return f"{m / 1440:,.1f} d"


def fmt_pct(v: Any) -> str:
    """A percentage already on 0..100."""
    return "" if v is None else f"{float(v):.1f}%"


def fmt_share(v: Any) -> str:
    """A share on 0..1 shown as a percentage."""
    return "" if v is None else f"{100 * float(v):.1f}%"


def fmt_float(v: Any) -> str:
    return "" if v is None else f"{float(v):,.1f}"


def fmt_yes(v: Any) -> str:
    return "" if v is None else ("yes" if v else "no")


class Tone(enum.StrEnum):
    """How a headline figure reads against its target."""

    neutral = "neutral"
    good = "good"
    bad = "bad"


@dataclass(frozen=True)
class Figure:
    """A headline figure (KPI): label, shown value, optional note and tone."""

    label: str
    value: str
    note: str = ""
    tone: Tone = Tone.neutral


@dataclass(frozen=True)
class Column:
    """A column shown to readers: the row key, its heading, its formatter, right-aligned?"""

    key: str
    header: str
    fmt: Formatter = fmt_text
    numeric: bool = True


@dataclass(frozen=True)
class Table:
    """One table of a report: every row of a library result, plus how readers see it.

    ``name`` names the CSV file and the XLSX sheet; ``split_by`` shows one sub-table per value
    of that column in HTML/PDF (``title`` then reads "<title> — <value>"); ``display_limit``
    caps the rows shown there (CSV and XLSX always hold all rows).
    """

    name: str
    title: str
    rows: list[dict[str, Any]]
    columns: Sequence[Column]
    split_by: str | None = None
    split_labels: dict[str, str] = field(default_factory=dict)
    display_limit: int | None = None
    note: str = ""
    empty_message: str = "no rows"

    @property
    def keys(self) -> list[str]:
        """Every column of the rows, in first-seen order (CSV/XLSX header)."""
        out: dict[str, None] = {}
        for r in self.rows:
            for k in r:
                out.setdefault(k, None)
        if not out:
            for c in self.columns:
                out.setdefault(c.key, None)
        return list(out)

    def sections(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """(heading, rows) pieces for HTML/PDF, split by ``split_by`` in first-seen order."""
        if self.split_by is None:
            return [(self.title, self.rows)]
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in self.rows:
            groups.setdefault(str(r.get(self.split_by)), []).append(r)
        return [
            (f"{self.title} — {self.split_labels.get(k, k)}", rows) for k, rows in groups.items()
        ]


@dataclass(frozen=True)
class BarChart:
    """Bars of labelled values (vertical for series over time, horizontal for categories)."""

    title: str
    labels: list[str]
    values: list[float]
    unit: str = ""
    horizontal: bool = False
    target: float | None = None
    series_name: str = ""


@dataclass(frozen=True)
class LineChart:
    """One or more series over the same x labels."""

    title: str
    labels: list[str]
    series: dict[str, list[float]]
    unit: str = ""


Chart = BarChart | LineChart


@dataclass(frozen=True)
class ReportDocument:
    """A rendered-to-be report."""

    name: str
    title: str
    tenant: str
    window: str
    as_of: datetime | None
    generated_at: datetime
    figures: list[Figure] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    message: str | None = None

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)

    def summary_rows(self) -> list[dict[str, Any]]:
        """The headline figures as rows (the XLSX summary sheet, the email body)."""
        return [{"figure": f.label, "value": f.value, "note": f.note} for f in self.figures]
