"""The console script's exit codes, as a shell script sees them (errors.py documents them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DESKPULSE = Path(sys.executable).with_name("deskpulse")


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DESKPULSE), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--help",), 0, ""),
        (("--no-such-option",), 2, "No such option"),
        (("--db", "x.duckdb", "tickets", "show", "T-404"), 3, "not found"),
        (("--db", "x.duckdb", "import", "missing.csv"), 3, "missing.csv"),
        (("--config", "absent.yaml", "--db", "x.duckdb", "build"), 4, "config file not found"),
        (("--db", "/proc/no/such/dir/x.duckdb", "tickets", "list"), 5, "cannot open the store"),
    ],
)
def test_exit_codes(tmp_path: Path, args: tuple[str, ...], code: int, message: str) -> None:
    if not DESKPULSE.exists():
        pytest.skip("console script not installed next to the interpreter")
    done = _run(*args, cwd=tmp_path)
    assert done.returncode == code, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    if code:
        assert done.stdout == "" or "error" not in done.stdout
