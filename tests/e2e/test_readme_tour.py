"""The README's tour, run: every `deskpulse …` line of it works on generated data.

The tour is read from README.md (not copied here). Its file names are provided in a temporary
folder: `tickets.csv`/`events.csv` from the generator, `deskpulse.yaml` = the README's YAML
block, `proposed.yaml` = the same with tighter targets. Two lines are not run here and are
covered elsewhere: the UCI import (tests/ingest/test_ingest_eventlog.py, real file) and
`serve` (tests/api/test_cli_serve.py), which does not return.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
REPO = Path(__file__).resolve().parents[2]
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.S)
NOT_HERE = ("--preset event-log", "deskpulse serve")


def tour_lines() -> list[str]:
    lines: list[str] = []
    for lang, body in BLOCKS[1:]:
        if lang == "bash":
            lines += [" ".join(c.split()) for c in body.replace("\\\n", " ").splitlines()]
    return [line for line in lines if line.startswith("deskpulse ") and not any(n in line for n in NOT_HERE)]


def test_the_tour_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt

    from deskpulse.cli import app
    from deskpulse.sample import generate

    generate(1500, 7, tmp_path, start=dt.date(2026, 8, 3), days=120)
    (_, config_yaml), = [b for b in BLOCKS if b[0] == "yaml"]
    (tmp_path / "deskpulse.yaml").write_text(config_yaml, encoding="utf-8")
    (tmp_path / "proposed.yaml").write_text(config_yaml.replace("first_response: 8h", "first_response: 4h"),
                                            encoding="utf-8")
    (tmp_path / "examples").symlink_to(REPO / "examples")
    monkeypatch.chdir(tmp_path)
    for key in ("DESKPULSE_DATABASE_URL", "DESKPULSE_TENANT", "DESKPULSE_CONFIG"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DESKPULSE_JWT_SECRET", "readme-tour-secret-of-at-least-32-bytes!")

    lines = tour_lines()
    assert len(lines) >= 15
    runner = CliRunner()
    for line in lines:
        args = shlex.split(line)[1:]
        result = runner.invoke(app, args, terminal_width=200)
        assert result.exit_code == 0, (line, result.output, result.exception)
    for made in ("ticket_sla.csv", "sla.pdf", "dashboard.html", "burndown.xlsx", "deskpulse.duckdb"):
        assert (tmp_path / made).stat().st_size > 0, made
