"""Renderers: a :class:`ReportDocument` as HTML, PDF, XLSX or CSV files (or email attachments).

- **HTML**: one self-contained page (inline CSS and SVG charts), readable in a browser.
- **PDF**: the same page laid out for A4 landscape by WeasyPrint (no browser needed; it
  needs Debian's pango, see ``scripts/install_report_deps.sh``). Table headers repeat on every
  page, charts are never split.
- **XLSX**: a ``summary`` sheet (report, window, headline figures) and one sheet per table,
  with every column of the library's rows, unformatted (numbers stay numbers).
- **CSV**: one file per table, every column; instants as ``YYYY-MM-DDTHH:MM:SSZ`` and booleans
  as ``true``/``false``, as ``deskpulse export`` writes them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment

from deskpulse.errors import ComponentMissingError, UsageError
from deskpulse.reports.charts import chart_svg
from deskpulse.reports.document import ReportDocument, Table
from deskpulse.reports.names import FORMATS_HELP, ReportFormat

__all__ = ["FORMATS_HELP", "ReportFormat"]

MIME: Final = {
    ReportFormat.html: "text/html",
    ReportFormat.pdf: "application/pdf",
    ReportFormat.xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ReportFormat.csv: "text/csv",
}


def parse_formats(text: str | list[str]) -> list[ReportFormat]:
    """``"pdf,csv"`` (or a list) → formats, in order, without repeats."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[ReportFormat] = []
    for item in items:
        name = item.strip().lower()
        if not name:
            continue
        try:
            fmt = ReportFormat(name)
        except ValueError:
            raise UsageError(f"unknown report format {name!r}; use html, pdf, xlsx or csv") from None
        if fmt not in out:
            out.append(fmt)
    if not out:
        raise UsageError("give at least one report format (html, pdf, xlsx, csv)")
    return out


@dataclass(frozen=True)
class Attachment:
    """One rendered file: name, bytes and MIME type (``main/sub``)."""

    filename: str
    content: bytes
    mimetype: str


# --- HTML ----------------------------------------------------------------------------------------

CSS: Final = """
@page { size: A4 landscape; margin: 12mm 10mm 14mm 10mm;
        @bottom-right { content: "page " counter(page) " of " counter(pages);
                        font-size: 8pt; color: #777; } }
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; color: #222; margin: 24px;
       font-size: 13px; }
.print body, body.print { margin: 0; font-size: 8.5pt; }
h1 { font-size: 22px; margin: 0 0 4px 0; }
h2 { font-size: 16px; margin: 22px 0 6px 0; border-bottom: 2px solid #2f6fb0; padding-bottom: 2px; }
h3 { font-size: 13px; margin: 14px 0 4px 0; color: #2f6fb0; }
.meta { color: #666; font-size: 12px; margin-bottom: 12px; }
.figures { display: flex; flex-wrap: wrap; gap: 8px; margin: 10px 0; }
.figure { border: 1px solid #d6dde6; border-left: 5px solid #9aa7b5; padding: 6px 10px;
          min-width: 140px; background: #f8fafc; }
.figure.good { border-left-color: #3a9a5b; }
.figure.bad { border-left-color: #c0392b; }
.figure .label { font-size: 11px; color: #555; }
.figure .value { font-size: 20px; font-weight: bold; }
.figure .note { font-size: 10px; color: #777; }
.chart { margin: 8px 0; break-inside: avoid; page-break-inside: avoid; }
table.data { border-collapse: collapse; margin: 4px 0 10px 0; width: 100%; }
table.data th { background: #2f6fb0; color: #fff; text-align: left; padding: 3px 5px;
                font-weight: bold; }
table.data td { border-bottom: 1px solid #e3e7ec; padding: 2px 5px; vertical-align: top; }
table.data td.num, table.data th.num { text-align: right; }
table.data tr:nth-child(even) td { background: #f6f8fb; }
thead { display: table-header-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
.note { color: #666; font-size: 11px; }
.message { border: 1px solid #e0b252; background: #fff7e0; padding: 6px 10px; }
"""

PRINT_CSS: Final = """
body { margin: 0; font-size: 8.5pt; }
h1 { font-size: 16pt; } h2 { font-size: 12pt; } h3 { font-size: 10pt; }
.figure .value { font-size: 14pt; }
.figure { min-width: 110px; }
.figures { display: block; }
.figure { display: inline-block; margin: 0 6px 6px 0; vertical-align: top; }
table.data { font-size: 7.5pt; }
.chart svg { width: 100%; height: auto; max-width: 720px; }
"""

PAGE: Final = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ doc.title }} · {{ doc.tenant }}</title>
<style>{{ css | safe }}{% if for_pdf %}{{ print_css | safe }}{% endif %}</style></head>
<body>
<h1>{{ doc.title }}</h1>
<div class="meta">tenant <b>{{ doc.tenant }}</b> · {{ doc.window }} ·
data as of {{ when(doc.as_of) }} · generated {{ when(doc.generated_at) }}</div>
{% if doc.message %}<p class="message">{{ doc.message }}</p>{% endif %}
{% if doc.figures %}<div class="figures">
{% for f in doc.figures %}<div class="figure {{ f.tone.value }}"><div class="label">{{ f.label }}</div>
<div class="value">{{ f.value }}</div>{% if f.note %}<div class="note">{{ f.note }}</div>{% endif %}</div>
{% endfor %}</div>{% endif %}
{% if include_charts and charts %}<h2>Charts</h2>
{% for svg in charts %}<div class="chart">{{ svg | safe }}</div>{% endfor %}{% endif %}
{% for t in tables %}<h2>{{ t.title }}</h2>
{% if t.note %}<p class="note">{{ t.note }}</p>{% endif %}
{% if not t.rows %}<p class="note">{{ t.empty_message }}</p>{% endif %}
{% for heading, rows in t.sections() %}{% if t.split_by %}<h3>{{ heading }}</h3>{% endif %}
<table class="data"><thead><tr>{% for c in t.columns %}<th{% if c.numeric %} class="num"{% endif %}>{{ c.header }}</th>{% endfor %}</tr></thead>
<tbody>{% for r in shown(t, rows) %}<tr>{% for c in t.columns %}<td{% if c.numeric %} class="num"{% endif %}>{{ c.fmt(r.get(c.key)) }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table>
{% if t.display_limit and rows | length > t.display_limit %}<p class="note">{{ rows | length - t.display_limit }} more rows in the CSV / XLSX.</p>{% endif %}
{% endfor %}{% endfor %}
{% for n in doc.notes %}<p class="note">{{ n }}</p>{% endfor %}
<p class="note">deskpulse · report {{ doc.name }}</p>
</body></html>
"""

_ENV = Environment(autoescape=True, keep_trailing_newline=True)
_PAGE = _ENV.from_string(PAGE)


def _when(v: datetime | None) -> str:
    return "n/a" if v is None else v.strftime("%Y-%m-%d %H:%M UTC")


def _shown(t: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return rows[: t.display_limit] if t.display_limit else rows


def render_html(doc: ReportDocument, *, for_pdf: bool = False, include_charts: bool = True,
                tables: list[Table] | None = None) -> str:
    """The report as one self-contained HTML page."""
    return _PAGE.render(
        doc=doc, css=CSS, print_css=PRINT_CSS, for_pdf=for_pdf, include_charts=include_charts,
        charts=[chart_svg(c) for c in doc.charts], tables=doc.tables if tables is None else tables,
        when=_when, shown=_shown,
    )


# --- PDF ------------------------------------------------------------------------------------------


def render_pdf(doc: ReportDocument) -> bytes:
    """The report as PDF (WeasyPrint; ComponentMissingError when it or pango is missing)."""
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:  # OSError: the pango shared library is missing
        raise ComponentMissingError(
            "PDF reports need WeasyPrint and Debian's pango "
            f"(run scripts/install_report_deps.sh): {exc}"
        ) from exc
    pdf: bytes = HTML(string=render_html(doc, for_pdf=True)).write_pdf()
    return pdf


# --- XLSX -----------------------------------------------------------------------------------------


def _cell(v: Any) -> Any:
    if isinstance(v, list | tuple):
        return " ".join(str(x) for x in v)
    if isinstance(v, dict):
        return str(v)
    return v


def _sheet_names(tables: list[Table]) -> list[str]:
    used = {"summary"}
    out = []
    for t in tables:
        base = t.name[:31] or "table"
        name, k = base, 2
        while name in used:
            suffix = f"_{k}"
            name, k = base[: 31 - len(suffix)] + suffix, k + 1
        used.add(name)
        out.append(name)
    return out


def render_xlsx(doc: ReportDocument) -> bytes:
    """A workbook: ``summary`` then one sheet per table (header row = the row keys)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "summary"
    bold = Font(bold=True)
    meta = [("report", doc.name), ("title", doc.title), ("tenant", doc.tenant),
            ("window", doc.window), ("as_of", doc.as_of), ("generated_at", doc.generated_at)]
    for k, v in meta:
        ws.append([k, v])
    ws.append([])
    ws.append(["figure", "value", "note"])
    for c in ws[ws.max_row]:
        c.font = bold
    for row in doc.summary_rows():
        ws.append([row["figure"], row["value"], row["note"]])
    ws.column_dimensions["A"].width = 26
    ws.column_dimensions["B"].width = 34
    for t, name in zip(doc.tables, _sheet_names(doc.tables), strict=True):
        sheet = wb.create_sheet(name)
        keys = t.keys
        sheet.append(keys)
        for c in sheet[1]:
            c.font = bold
        for r in t.rows:
            sheet.append([_cell(r.get(k)) for k in keys])
        sheet.freeze_panes = "A2"
        for i, k in enumerate(keys, start=1):
            sheet.column_dimensions[sheet.cell(1, i).column_letter].width = max(10, min(40, len(k) + 2))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --- CSV ------------------------------------------------------------------------------------------


def csv_value(v: Any) -> str:
    """One CSV field, as ``deskpulse export`` writes values."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, list | tuple):
        return " ".join(str(x) for x in v)
    return str(v)


def render_csv(table: Table) -> bytes:
    """One table as CSV (UTF-8, header = the row keys)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    keys = table.keys
    w.writerow(keys)
    for r in table.rows:
        w.writerow([csv_value(r.get(k)) for k in keys])
    return buf.getvalue().encode("utf-8")


# --- files and attachments --------------------------------------------------------------------------


def attachments(doc: ReportDocument, formats: list[ReportFormat], *, stem: str | None = None) -> list[Attachment]:
    """Render ``doc`` in each format: one file each, CSV one file per table."""
    stem = stem or f"{doc.name}-{doc.tenant}-{doc.generated_at:%Y%m%d}"
    out: list[Attachment] = []
    for fmt in formats:
        if fmt is ReportFormat.html:
            out.append(Attachment(f"{stem}.html", render_html(doc).encode("utf-8"), MIME[fmt]))
        elif fmt is ReportFormat.pdf:
            out.append(Attachment(f"{stem}.pdf", render_pdf(doc), MIME[fmt]))
        elif fmt is ReportFormat.xlsx:
            out.append(Attachment(f"{stem}.xlsx", render_xlsx(doc), MIME[fmt]))
        else:
            out.extend(Attachment(f"{stem}_{t.name}.csv", render_csv(t), MIME[fmt]) for t in doc.tables)
    return out


def csv_paths(out: Path, doc: ReportDocument) -> dict[str, Path]:
    """Where ``--format csv --out OUT`` writes each table: ``OUT`` a directory (existing, or
    without a suffix) → ``OUT/<report>_<table>.csv``; else ``<OUT stem>_<table>.csv`` beside it."""
    if out.is_dir() or not out.suffix:
        return {t.name: out / f"{doc.name}_{t.name}.csv" for t in doc.tables}
    return {t.name: out.with_name(f"{out.stem}_{t.name}.csv") for t in doc.tables}


def write_report(doc: ReportDocument, fmt: ReportFormat, out: Path, *,
                 with_csv: bool = False) -> list[Path]:
    """Write ``doc`` to ``out`` in ``fmt``; ``with_csv`` adds the per-table CSVs beside it
    (the dashboard's HTML + CSV pair). Returns every path written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if fmt is ReportFormat.csv:
        paths = csv_paths(out, doc)
        for t in doc.tables:
            paths[t.name].parent.mkdir(parents=True, exist_ok=True)
            paths[t.name].write_bytes(render_csv(t))
            written.append(paths[t.name])
        return written
    if fmt is ReportFormat.html:
        out.write_text(render_html(doc), encoding="utf-8")
    elif fmt is ReportFormat.pdf:
        out.write_bytes(render_pdf(doc))
    else:
        out.write_bytes(render_xlsx(doc))
    written.append(out)
    if with_csv:
        for t in doc.tables:
            path = out.with_name(f"{out.stem}_{t.name}.csv")
            path.write_bytes(render_csv(t))
            written.append(path)
    return written
