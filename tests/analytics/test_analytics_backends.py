"""Identical analytics on DuckDB and PostgreSQL for the same generated sample (every figure,
every row, every example id)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from deskpulse.analytics.agents import agent_performance, range_filters
from deskpulse.analytics.backlog import compute_backlog_daily, minutes_to_green, ticket_volume
from deskpulse.analytics.bottlenecks import bottlenecks
from deskpulse.analytics.filters import Filters
from deskpulse.analytics.resolution import resolution, response_times

try:
    from .analytics_helpers import load
except ImportError:  # pragma: no cover - rootdir-relative import
    from analytics_helpers import load  # type: ignore[no-redef]

CONFIG = Path(__file__).resolve().parents[2] / "examples" / "demo" / "deskpulse.yaml"


def _everything(db_url: str, tmp_path: Path, data: Path, as_of: dt.datetime) -> dict[str, Any]:
    tmp_path.mkdir(exist_ok=True)
    g = load(db_url, tmp_path, tickets=data / "tickets.csv", events=data / "events.csv",
             config=CONFIG, as_of=as_of)
    try:
        th = g.cfg.thresholds
        week = Filters(start_at=as_of - dt.timedelta(days=7), end_at=as_of)
        billing = Filters(values={"group": "Billing"})
        backlog = compute_backlog_daily(g.repo)
        return {
            "response": response_times(g.repo, Filters(), th).as_dict(),
            "response_week": response_times(g.repo, week, th).as_dict(),
            "resolution": resolution(g.repo, billing, th).as_dict(),
            "bottlenecks": bottlenecks(g.repo, Filters(), th, min_tickets=5).as_dict(),
            "agents": agent_performance(g.repo, range_filters("30d", as_of)).as_dict(),
            "backlog": backlog.to_pylist(),
            "backlog_billing": compute_backlog_daily(g.repo, filters=billing).to_pylist(),
            "green": minutes_to_green(g.repo).as_dict(),
            "volume": ticket_volume(g.repo, Filters(), period="week").as_dict(),
        }
    finally:
        g.close()


@pytest.mark.postgres
def test_duckdb_and_postgres_agree(tmp_path: Path, pg_url: str) -> None:
    from deskpulse.sample import generate

    res = generate(400, 3, tmp_path / "data", start=dt.date(2026, 2, 2), days=45)
    as_of = res.window_end_at
    duck = _everything(str(tmp_path / "d.duckdb"), tmp_path / "d", res.out_dir, as_of)
    pg = _everything(pg_url, tmp_path / "p", res.out_dir, as_of)
    assert duck["response"]["tickets"] > 300 and len(duck["backlog"]) > 200
    assert duck["bottlenecks"]["findings"], "the sample should show some bottleneck"
    for key in duck:
        assert duck[key] == pg[key], key
