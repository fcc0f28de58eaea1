"""Reports as a reader sees them: the PDF rendered to PNG pages (not blank) with the expected
tables in its text, the XLSX re-opened and compared cell by cell with the library's results,
the CSVs and the dashboard written by the CLI."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from deskpulse.analytics.agents import agent_performance
from deskpulse.analytics.backlog import backlog_report
from deskpulse.analytics.bottlenecks import bottlenecks
from deskpulse.analytics.resolution import resolution, response_times
from deskpulse.reports.definitions import REPORTS, ReportParams, build_report
from deskpulse.reports.render import (
    ReportFormat,
    render_csv,
    render_html,
    render_pdf,
    render_xlsx,
    write_report,
)
from tests.reports.conftest import DEMO_CONFIG, TENANT, Built, require


def _filters(built: Built, days: int = 30) -> Any:
    return ReportParams(days=days).to_filters(built.as_of)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        import os

        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} (Debian poppler-utils) is required under CI=true")
        pytest.skip(f"{name} not installed (scripts/install_report_deps.sh)")
    return path


def test_every_report_builds_with_tables_and_figures(built: Built) -> None:
    for name in REPORTS:
        doc = build_report(built.repo, built.cfg, name, ReportParams(days=30))
        assert doc.message is None
        assert doc.figures and doc.tables, name
        assert doc.window.startswith("2026-02-04 → 2026-03-06"), doc.window
        html = render_html(doc)
        assert html.count("<svg") == len(doc.charts)
        for t in doc.tables:
            assert t.title in html


def test_pdf_pages_are_not_blank_and_hold_the_tables(built: Built, tmp_path: Path) -> None:
    require("weasyprint")
    pdftoppm, pdftotext = _tool("pdftoppm"), _tool("pdftotext")
    from PIL import Image, ImageStat

    doc = build_report(built.repo, built.cfg, "performance", ReportParams(days=30))
    pdf = tmp_path / "performance.pdf"
    pdf.write_bytes(render_pdf(doc))
    assert pdf.read_bytes().startswith(b"%PDF")
    subprocess.run([pdftoppm, "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 2
    for page in pages:
        with Image.open(page) as img:
            stat = ImageStat.Stat(img.convert("L"))
            assert stat.stddev[0] > 8, f"{page.name} looks blank (stddev {stat.stddev[0]:.1f})"
            assert img.convert("L").getextrema()[0] < 100  # something dark (text) is drawn
    text = subprocess.run([pdftotext, "-layout", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout
    for heading in ("Support performance", "Response times — overall", "Response times — by category",
                    "Resolution — by agent", "Ticket volume", "Tickets created per day",
                    "Resolution rate by category"):
        assert heading in text, heading
    for column in ("median first reply", "first response SLA", "resolution rate", "tickets created"):
        assert column in text, column
    resp = response_times(built.repo, _filters(built), built.cfg.thresholds)
    assert f"{resp.overall.tickets:,}" in text  # the overall figure as the library computed it


def _norm(v: Any) -> Any:
    if isinstance(v, dt.datetime) and v.time() == dt.time(0):
        return v.date()
    if isinstance(v, list):
        return " ".join(str(x) for x in v)
    return v


def _sheet_rows(wb: Any, name: str) -> tuple[list[str], list[dict[str, Any]]]:
    ws = wb[name]
    values = list(ws.iter_rows(values_only=True))
    header = [str(h) for h in values[0]]
    return header, [dict(zip(header, r, strict=True)) for r in values[1:]]


def _same(sheet: list[dict[str, Any]], library: list[dict[str, Any]], keys: list[str]) -> None:
    assert len(sheet) == len(library)
    for got, want in zip(sheet, library, strict=True):
        for k in keys:
            w = _norm(want.get(k))
            g = _norm(got.get(k))
            if isinstance(w, float) and not isinstance(g, bool):
                # a spreadsheet keeps 15 significant digits (Excel's precision)
                assert g == pytest.approx(w, rel=1e-14, abs=1e-12), (k, g, w)
            else:
                assert g == w and type(g) is type(w), (k, g, w)


def test_xlsx_cell_by_cell_against_the_library(built: Built, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    f = _filters(built)
    th = built.cfg.thresholds
    for name, sheets in {
        "performance": {"response_times": response_times(built.repo, f, th).rows(),
                        "resolution": resolution(built.repo, f, th).rows()},
        "agents": {"agents": agent_performance(built.repo, f, range_name="30d").rows()},
        "bottlenecks": {"bottlenecks": bottlenecks(built.repo, f, th).rows()},
        "backlog": {"backlog_daily": backlog_report(built.repo, f).rows()},
    }.items():
        doc = build_report(built.repo, built.cfg, name, ReportParams(days=30))
        path = tmp_path / f"{name}.xlsx"
        path.write_bytes(render_xlsx(doc))
        wb = load_workbook(path)
        assert wb.sheetnames[0] == "summary"
        assert wb.sheetnames[1:] == [t.name for t in doc.tables]
        summary = wb["summary"]
        assert summary["A1"].value == "report" and summary["B1"].value == name
        labels = [r[0] for r in summary.iter_rows(min_row=9, values_only=True)]
        assert labels == [fig.label for fig in doc.figures]
        for sheet, library in sheets.items():
            assert library, (name, sheet)
            header, rows = _sheet_rows(wb, sheet)
            assert header == list(library[0].keys())
            _same(rows, library, header)


def test_csv_files_match_the_library(built: Built, tmp_path: Path) -> None:
    doc = build_report(built.repo, built.cfg, "sla", ReportParams(days=30))
    written = write_report(doc, ReportFormat.csv, tmp_path / "out")
    assert [p.name for p in written] == ["sla_sla_compliance.csv", "sla_sla_daily.csv"]
    with written[0].open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    resp = response_times(built.repo, _filters(built), built.cfg.thresholds)
    res = resolution(built.repo, _filters(built), built.cfg.thresholds)
    overall = rows[0]
    assert (overall["dimension"], overall["value"]) == ("all", "all")
    assert float(overall["first_response_sla_compliance_pct"]) == resp.overall.first_response_sla_compliance_pct
    assert float(overall["resolution_sla_compliance_pct"]) == res.overall.resolution_sla_compliance_pct
    assert int(overall["next_response_sla_missed"]) == resp.overall.next_response_sla_missed
    assert render_csv(doc.table("sla_compliance")) == written[0].read_bytes()


def test_cli_report_dashboard_writes_html_and_csvs(built: Built, tmp_path: Path) -> None:
    from deskpulse.cli import app

    out = tmp_path / "dash" / "dashboard.html"
    args = ["--db", built.url, "--tenant", TENANT, "--config", str(DEMO_CONFIG), "report", "dashboard",
            "--days", "30", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    for heading in ("Overall metrics", "Resolution by category", "Resolution by agent",
                    "Bottleneck alerts", "Ticket status"):
        assert heading in html
    names = sorted(p.name for p in out.parent.glob("*.csv"))
    assert names == ["dashboard_agents.csv", "dashboard_bottlenecks.csv", "dashboard_categories.csv",
                     "dashboard_overall.csv", "dashboard_status.csv"]
    with (out.parent / "dashboard_overall.csv").open(encoding="utf-8") as fh:
        overall = {r["metric"]: r["value"] for r in csv.DictReader(fh)}
    res = resolution(built.repo, _filters(built), built.cfg.thresholds, by=[])
    assert int(overall["total_tickets"]) == res.overall.tickets
    assert int(overall["resolved_tickets"]) == res.overall.resolved


def test_cli_report_formats_and_errors(built: Built, tmp_path: Path) -> None:
    from deskpulse.cli import app

    base = ["--db", built.url, "--tenant", TENANT, "--config", str(DEMO_CONFIG)]
    runner = CliRunner()
    r = runner.invoke(app, [*base, "report", "agents", "--days", "7", "--format", "xlsx",
                            "--out", str(tmp_path / "a.xlsx")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "a.xlsx").stat().st_size > 1000
    r = runner.invoke(app, [*base, "report", "backlog", "--format", "csv", "--group", "Billing",
                            "--out", str(tmp_path / "b.csv")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "b_backlog_daily.csv").exists()
    r = runner.invoke(app, [*base, "report", "nonsense"])
    assert r.exit_code == 2
    r = runner.invoke(app, [*base, "report", "sla", "--format", "docx"])
    assert r.exit_code == 2


def test_report_names_list_every_report() -> None:
    """reports/names.py (read by help texts without loading the reports) is complete."""
    from deskpulse.reports.names import REPORT_NAMES

    assert tuple(REPORTS) == REPORT_NAMES
