"""Constants and readers shared by the sample-data tests (imported by conftest and the tests)."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from deskpulse.sample import GenerateResult

START = dt.date(2026, 1, 5)  # a Monday; pinned so files do not depend on today's date
DAYS = 180
N_TICKETS = 4000
#: Override to fuzz the suite over other seeds: DESKPULSE_SAMPLE_TEST_SEED=3 pytest tests/sample
SEED = int(os.environ.get("DESKPULSE_SAMPLE_TEST_SEED", "11"))


def csv_header(path: Path) -> list[str]:
    """The column names of a CSV file."""
    with path.open(encoding="utf-8") as handle:
        return handle.readline().strip().replace('"', "").split(",")


def read_csv_strings(path: Path) -> pa.Table:
    """A CSV with every column read as (nullable) strings, exactly as written."""
    header = csv_header(path)
    options = pacsv.ConvertOptions(column_types={name: pa.string() for name in header},
                                   strings_can_be_null=True)
    return pacsv.read_csv(path, convert_options=options)


@dataclass(frozen=True)
class Sample:
    """A generated sample and its tables (CSV read as strings)."""

    result: GenerateResult
    tickets: pa.Table
    events: pa.Table
    agents: pa.Table

    @property
    def end_at(self) -> dt.datetime:
        return self.result.window_end_at
