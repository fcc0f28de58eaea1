"""`make demo` works: its recipe, run with the installed `deskpulse` console script, end to end.

``DEMO_RECIPE`` is the Makefile's ``demo`` recipe, line for line, with ``$(VENV)``/``$(DEMO)``
unexpanded. One test checks that the Makefile still says exactly this (so the two cannot
drift apart); the other runs it — generate → import → build → export — in a temporary folder
(``$(DEMO)`` = ``demo`` under it, a copy of ``examples/demo`` beside it), checking each
command's summary and the exported files.
"""

from __future__ import annotations

import csv
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from deskpulse.store.schema import TICKET_METRICS_COLUMNS, TICKET_SLA_COLUMNS

REPO_ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = REPO_ROOT / "Makefile"

DEMO_RECIPE = [
    "rm -f $(DEMO)/deskpulse.duckdb",
    "$(VENV)/bin/deskpulse generate --tickets 20000 --seed 7 --out $(DEMO)/data",
    "$(VENV)/bin/deskpulse --db $(DEMO)/deskpulse.duckdb --config examples/demo/deskpulse.yaml"
    " import $(DEMO)/data/tickets.csv $(DEMO)/data/events.csv --rejects $(DEMO)/rejects.csv",
    "$(VENV)/bin/deskpulse --db $(DEMO)/deskpulse.duckdb --config examples/demo/deskpulse.yaml build",
    "$(VENV)/bin/deskpulse --db $(DEMO)/deskpulse.duckdb export ticket_sla --format csv"
    " --out $(DEMO)/out/ticket_sla.csv",
    "$(VENV)/bin/deskpulse --db $(DEMO)/deskpulse.duckdb export ticket_metrics --format xlsx"
    " --out $(DEMO)/out/ticket_metrics.xlsx",
    "@echo",
    '@echo "demo store:   $(DEMO)/deskpulse.duckdb   (try: $(VENV)/bin/deskpulse --db'
    ' $(DEMO)/deskpulse.duckdb tickets list)"',
    '@echo "exports:      $(DEMO)/out/ticket_sla.csv, $(DEMO)/out/ticket_metrics.xlsx"',
]
SLA_STATUSES = {"met", "breached", "active", "paused", "active_breached", "not_applicable"}


def makefile_variables(text: str) -> dict[str, str]:
    """Simple ``NAME := value`` / ``NAME ?= value`` assignments."""
    return {
        m.group(1): m.group(2).strip()
        for m in re.finditer(r"^([A-Z_]+)\s*[:?]?=\s*(.*)$", text, flags=re.M)
    }


def recipe(text: str, target: str) -> list[str]:
    """The recipe lines of ``target`` with backslash continuations joined, blanks collapsed."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"^{re.escape(target)}\s*:", line))
    body: list[str] = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        body.append(line[1:])
    joined = "\n".join(body).replace("\\\n", " ")
    return [" ".join(cmd.split()) for cmd in joined.splitlines() if cmd.strip()]


def flat(output: str) -> str:
    """Output with rich's line wrapping undone (any run of whitespace is one space)."""
    return " ".join(output.split())


def number(text: str) -> int:
    return int(text.replace(",", ""))


def test_makefile_demo_recipe_is_what_the_test_runs() -> None:
    text = MAKEFILE.read_text()
    assert recipe(text, "demo") == [" ".join(cmd.split()) for cmd in DEMO_RECIPE]
    variables = makefile_variables(text)
    assert (variables["VENV"], variables["DEMO"]) == (".venv", "demo")


def test_make_demo_chain_with_the_console_script(tmp_path: Path) -> None:
    script = REPO_ROOT / ".venv" / "bin" / "deskpulse"
    if not script.exists():  # the suite runs from another environment: use its script
        script = Path(sys.executable).parent / "deskpulse"
    assert script.exists(), "the deskpulse console script is not installed"
    shutil.copytree(REPO_ROOT / "examples" / "demo", tmp_path / "examples" / "demo")
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    for key in ("DESKPULSE_DATABASE_URL", "DESKPULSE_TENANT", "DESKPULSE_CONFIG"):
        env.pop(key, None)

    outputs: list[str] = []
    echoed: list[str] = []
    for line in DEMO_RECIPE:
        cmd = line.replace("$(DEMO)", "demo")
        if cmd.startswith("rm -f "):
            for name in shlex.split(cmd)[2:]:
                (tmp_path / name).unlink(missing_ok=True)
        elif cmd.startswith("@echo"):
            echoed.append(" ".join(shlex.split(cmd[1:])[1:]))
        elif cmd.startswith("$(VENV)/bin/deskpulse "):
            args = shlex.split(cmd.removeprefix("$(VENV)/bin/deskpulse "))
            done = subprocess.run(
                [str(script), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                timeout=600, check=False,
            )
            assert done.returncode == 0, (cmd, done.stdout, done.stderr)
            outputs.append(flat(done.stdout))
        else:
            raise AssertionError(f"the test does not know how to run {line!r}")

    gen, imp, build, sla_out, metrics_out = outputs
    m = re.search(r"wrote ([\d,]+) tickets, ([\d,]+) events and (\d+) agents", gen)
    assert m, gen
    n_tickets, n_events = number(m.group(1)), number(m.group(2))
    assert n_tickets == 20000 and n_events > 5 * n_tickets
    assert f"tickets: read {n_tickets:,} · inserted {n_tickets:,} · updated 0 · unchanged 0" in imp
    assert f"events: read {n_events:,} · inserted {n_events:,} · unchanged 0" in imp
    assert "rejected: 0 ·" in imp and "tenant default" in imp
    assert not (tmp_path / "demo" / "rejects.csv").exists()  # nothing rejected, no file
    m = re.search(r"full build of tenant default as of \S+: ([\d,]+) of ([\d,]+) tickets", build)
    assert m, build
    built = number(m.group(2))
    assert 0.95 * n_tickets <= built <= n_tickets  # soft-deleted tickets are not built
    m = re.search(r"SLA instances: ([\d,]+)", build)
    assert m, build
    n_sla = number(m.group(1))

    assert sla_out == f"wrote {n_sla:,} rows of ticket_sla to demo/out/ticket_sla.csv"
    with (tmp_path / "demo" / "out" / "ticket_sla.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == n_sla and list(rows[0]) == list(TICKET_SLA_COLUMNS)
    assert {r["status"] for r in rows} <= SLA_STATUSES
    assert {"met", "breached"} <= {r["status"] for r in rows}  # realistic data breaches some
    assert all(r["started_at"].endswith("Z") for r in rows if r["started_at"])

    assert metrics_out == f"wrote {built:,} rows of ticket_metrics to demo/out/ticket_metrics.xlsx"
    from openpyxl import load_workbook

    wb = load_workbook(tmp_path / "demo" / "out" / "ticket_metrics.xlsx", read_only=True)
    sheet = wb.worksheets[0]
    header, *data = sheet.iter_rows(values_only=True)
    wb.close()
    assert list(header) == list(TICKET_METRICS_COLUMNS)
    assert len(data) == built
    ids = [row[0] for row in data]
    assert len(set(ids)) == built and all(ids)

    assert echoed[0] == ""
    for path in ("demo/deskpulse.duckdb", "demo/out/ticket_sla.csv", "demo/out/ticket_metrics.xlsx"):
        assert any(path in text for text in echoed), path
        assert (tmp_path / path).stat().st_size > 0
