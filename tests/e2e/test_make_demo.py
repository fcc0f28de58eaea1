"""`make demo` works: the real Makefile target, run end to end in a temporary folder.

The test runs ``make -f <repo>/Makefile demo VENV=<this venv>`` in a temporary folder holding a
copy of ``examples/demo`` (so ``$(DEMO)`` = ``demo`` lands under it), then checks every step's
summary, the exported files, the report and the printed dashboard token. The venv must have
been installed by the Makefile (its ``.installed`` stamp exists), as `make test` does.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deskpulse.store.schema import TICKET_METRICS_COLUMNS, TICKET_SLA_COLUMNS

REPO_ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = REPO_ROOT / "Makefile"
SLA_STATUSES = {"met", "breached", "active", "paused", "active_breached", "not_applicable"}


def flat(output: str) -> str:
    """Output with rich's line wrapping undone (any run of whitespace is one space)."""
    return " ".join(output.split())


def number(text: str) -> int:
    return int(text.replace(",", ""))


def test_make_demo_end_to_end(tmp_path: Path) -> None:
    venv = Path(sys.executable).parent.parent
    if not (venv / ".installed").exists() or shutil.which("make") is None:
        pytest.skip("needs make and a venv installed by the Makefile (run `make test`)")
    shutil.copytree(REPO_ROOT / "examples" / "demo", tmp_path / "examples" / "demo")
    (tmp_path / "pyproject.toml").touch()
    os.utime(tmp_path / "pyproject.toml", (0, 0))  # older than the venv stamp: no reinstall
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    for key in ("DESKPULSE_DATABASE_URL", "DESKPULSE_TENANT", "DESKPULSE_CONFIG", "MAKEFLAGS"):
        env.pop(key, None)
    done = subprocess.run(
        ["make", "--no-print-directory", "-f", str(MAKEFILE), "demo", f"VENV={venv}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, check=False,
    )
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    out = flat(done.stdout)

    m = re.search(r"wrote ([\d,]+) tickets, ([\d,]+) events and (\d+) agents", out)
    assert m, out
    n_tickets, n_events = number(m.group(1)), number(m.group(2))
    assert n_tickets == 20000 and n_events > 5 * n_tickets
    assert f"tickets: read {n_tickets:,} · inserted {n_tickets:,} · updated 0 · unchanged 0" in out
    assert f"events: read {n_events:,} · inserted {n_events:,} · unchanged 0" in out
    assert "rejected: 0 ·" in out and "tenant default" in out
    assert not (tmp_path / "demo" / "rejects.csv").exists()  # nothing rejected, no file
    m = re.search(r"full build of tenant default as of \S+: ([\d,]+) of ([\d,]+) tickets", out)
    assert m, out
    built = number(m.group(2))
    assert 0.95 * n_tickets <= built <= n_tickets  # soft-deleted tickets are not built
    m = re.search(r"SLA instances: ([\d,]+)", out)
    assert m, out
    n_sla = number(m.group(1))

    assert f"wrote {n_sla:,} rows of ticket_sla to demo/out/ticket_sla.csv" in out
    with (tmp_path / "demo" / "out" / "ticket_sla.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == n_sla and list(rows[0]) == list(TICKET_SLA_COLUMNS)
    assert {r["status"] for r in rows} <= SLA_STATUSES
    assert {"met", "breached"} <= {r["status"] for r in rows}  # realistic data breaches some
    assert all(r["started_at"].endswith("Z") for r in rows if r["started_at"])

    assert f"wrote {built:,} rows of ticket_metrics to demo/out/ticket_metrics.xlsx" in out
    from openpyxl import load_workbook

    wb = load_workbook(tmp_path / "demo" / "out" / "ticket_metrics.xlsx", read_only=True)
    header, *data = wb.worksheets[0].iter_rows(values_only=True)
    wb.close()
    assert list(header) == list(TICKET_METRICS_COLUMNS)
    assert len(data) == built and len({row[0] for row in data}) == built

    # the summary tables, the report and where to look next
    assert "Resolution ·" in out and "priority=" in out and "Bottlenecks" in out
    html = (tmp_path / "demo" / "out" / "dashboard.html").read_text(encoding="utf-8")
    assert "<table" in html and "http://" not in html.split("<body", 1)[0].lower().replace(
        "http://www.w3.org", "")  # offline: no external script or stylesheet
    assert (tmp_path / "demo" / "out" / "sla.xlsx").stat().st_size > 0
    for path in ("demo/deskpulse.duckdb", "demo/out/dashboard.html", "demo/out/ticket_sla.csv"):
        assert path in out
    assert "http://127.0.0.1:8000/ui" in out
    assert re.search(r"eyJ[\w-]+\.[\w-]+\.[\w-]+", out), "no dashboard token printed"
