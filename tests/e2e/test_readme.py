"""The README stays true: two set-up commands, a valid config example, real commands/options."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from typer.testing import CliRunner

from deskpulse.cli import app
from deskpulse.config import parse_config
from deskpulse.sla.policies import load_sla_config

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.S)


def test_first_block_is_exactly_make_demo_and_make_test() -> None:
    lang, body = BLOCKS[0]
    commands = [line.split("#")[0].strip() for line in body.strip().splitlines()]
    assert lang == "bash" and commands == ["make demo", "make test"]


def test_config_example_validates() -> None:
    (body,) = [b for lang, b in BLOCKS if lang == "yaml"]
    sla = load_sla_config(parse_config(yaml.safe_load(body), "README.md"))
    assert [p.name for p in sla.policies] == ["urgent", "standard"]


def test_every_documented_command_and_option_exists() -> None:
    runner = CliRunner()
    lines = []
    for lang, body in BLOCKS[1:]:
        if lang == "bash":
            lines += [" ".join(chunk.split()) for chunk in body.replace("\\\n", " ").splitlines()]
    commands = [line for line in lines if line.startswith("deskpulse ")]
    assert len(commands) >= 6
    for line in commands:
        words = line.split()[1:]
        path = [w for w in words[:2] if re.fullmatch(r"[a-z][a-z-]*", w)]
        groups = {"sla", "tickets", "agents", "schedule", "token", "alerts", "risk"}
        path = path[:2] if path and path[0] in groups else path[:1]
        result = runner.invoke(app, [*path, "--help"], terminal_width=200)
        assert result.exit_code == 0, (line, result.output)
        for option in (w for w in words if w.startswith("--")):
            assert option in result.output, f"{option} of `{line}` not in `deskpulse {' '.join(path)} --help`"
