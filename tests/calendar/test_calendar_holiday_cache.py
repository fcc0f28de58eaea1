"""Country holidays are kept in deskpulse.cache: a warm process gets the same dates without
importing the ``holidays`` package, and a damaged entry is recomputed, never trusted."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from deskpulse.calendar import spec


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("DESKPULSE_CACHE_DIR", str(tmp_path))
    spec._country_holidays.cache_clear()
    spec.check_country.cache_clear()
    yield tmp_path
    spec._country_holidays.cache_clear()
    spec.check_country.cache_clear()


def test_warm_process_reads_the_dates_without_the_holidays_package(cache_dir: Path) -> None:
    days = spec._country_holidays("DE", "BE", 2026)
    assert dt.date(2026, 3, 8) in days and dt.date(2026, 12, 25) in days  # Women's Day (Berlin), Christmas
    probe = (
        "import sys; from deskpulse.calendar import spec; "
        "spec.check_country('DE', 'BE'); days = spec._country_holidays('DE', 'BE', 2026); "
        "print(len(days), 'holidays' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env={**os.environ, "DESKPULSE_CACHE_DIR": str(cache_dir)})
    assert out.stdout.split() == [str(len(days)), "False"]


def test_a_damaged_entry_is_recomputed(cache_dir: Path) -> None:
    days = spec._country_holidays("US", "NY", 2026)
    for entry in (cache_dir / "holidays").rglob("*"):
        if entry.is_file():
            entry.write_text("{not json")
    spec._country_holidays.cache_clear()
    spec.check_country.cache_clear()
    assert spec._country_holidays("US", "NY", 2026) == days


def test_unknown_codes_are_never_cached_as_known(cache_dir: Path) -> None:
    for _ in range(2):
        with pytest.raises(ValueError, match="unknown holiday"):
            spec.check_country("XX", None)
        spec.check_country.cache_clear()
