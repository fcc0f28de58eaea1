"""Shared sample-data fixtures: one small generated helpdesk per format, built once per session."""

from __future__ import annotations

import pytest
from sample_helpers import DAYS, N_TICKETS, SEED, START, Sample, read_csv_strings

from deskpulse.sample import GenerateResult, generate


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    out = tmp_path_factory.mktemp("sample_csv")
    result = generate(N_TICKETS, SEED, out, start=START, days=DAYS)
    return Sample(result, read_csv_strings(result.tickets_path), read_csv_strings(result.events_path),
                  read_csv_strings(result.agents_path))


@pytest.fixture(scope="session")
def sample_parquet(tmp_path_factory: pytest.TempPathFactory) -> GenerateResult:
    out = tmp_path_factory.mktemp("sample_parquet")
    return generate(N_TICKETS, SEED, out, start=START, days=DAYS, fmt="parquet")
