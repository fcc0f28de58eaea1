"""The ``ticket_facts`` mart: written after a build, read when fresh, and every analytics result
is the same whether it is read from the mart or computed inline (DuckDB and PostgreSQL)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

from deskpulse.analytics.agents import agent_performance, range_filters
from deskpulse.analytics.backlog import minutes_to_green
from deskpulse.analytics.bottlenecks import bottlenecks
from deskpulse.analytics.facts import build_analytics_marts, build_ticket_facts, facts_cte, is_fresh
from deskpulse.analytics.filters import Filters
from deskpulse.analytics.resolution import resolution, response_times

try:
    from .analytics_helpers import load
except ImportError:  # pragma: no cover - rootdir-relative import
    from analytics_helpers import load  # type: ignore[no-redef]

CONFIG = Path(__file__).resolve().parents[2] / "examples" / "demo" / "deskpulse.yaml"


def _results(repo: Any, cfg: Any, as_of: dt.datetime) -> dict[str, Any]:
    th = cfg.thresholds
    week = Filters(start_at=as_of - dt.timedelta(days=7), end_at=as_of)
    billing = Filters(values={"group": "Billing"})
    return {
        "response": response_times(repo, Filters(), th).as_dict(),
        "response_week": response_times(repo, week, th).as_dict(),
        "resolution": resolution(repo, billing, th).as_dict(),
        "resolution_policy": resolution(repo, week, th, by=["policy", "priority", "group"]).as_dict(),
        "bottlenecks": bottlenecks(repo, Filters(), th, min_tickets=5).as_dict(),
        "agents": agent_performance(repo, range_filters("30d", as_of)).as_dict(),
        "agents_all": agent_performance(repo, Filters()).as_dict(),
        "green": minutes_to_green(repo).as_dict(),
        "green_billing": minutes_to_green(repo, billing).as_dict(),
    }


def test_mart_and_inline_agree_and_staleness(db_url: str, tmp_path: Path) -> None:
    from deskpulse.pipeline import import_files
    from deskpulse.sample import generate

    res = generate(300, 4, tmp_path / "data", start=dt.date(2026, 2, 2), days=40)
    g = load(db_url, tmp_path, tickets=res.out_dir / "tickets.csv", events=res.out_dir / "events.csv",
             config=CONFIG, as_of=res.window_end_at)
    try:
        assert not is_fresh(g.repo)  # build() alone does not write the mart
        inline = _results(g.repo, g.cfg, g.as_of)
        summary = build_analytics_marts(g.repo, as_of=g.as_of)
        assert summary.ticket_facts_rows == g.repo.count("ticket_metrics") > 250
        assert summary.backlog_daily_rows > 0
        assert is_fresh(g.repo)
        assert facts_cte(g.repo)[0].startswith("WITH f AS NOT MATERIALIZED (SELECT")  # reads the table
        assert _results(g.repo, g.cfg, g.as_of) == inline
        # the mart holds the same rows as the inline computation
        cols = "ticket_id, created_at, policy, status_now, is_resolved, is_escalated, fr_met, res_missed"
        stored = g.repo.query(f"SELECT {cols} FROM ticket_facts ORDER BY ticket_id").to_pylist()
        cte, params = facts_cte(g.repo, fresh=False)
        computed = g.repo.query(f"{cte} SELECT {cols} FROM f ORDER BY ticket_id", **params).to_pylist()
        assert stored == computed
        # a later import (tickets changed, no build yet) makes the mart stale: read inline again
        import_files(g.repo, res.out_dir / "tickets.csv", None)  # unchanged rows: still fresh
        assert is_fresh(g.repo)
        with (res.out_dir / "tickets.csv").open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            first = next(reader)
            fields = list(reader.fieldnames or [])
        first["priority"] = "low" if first["priority"] == "urgent" else "urgent"
        changed = tmp_path / "changed.csv"
        with changed.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerow(first)
        import_files(g.repo, changed, None)
        assert not is_fresh(g.repo)
        build_ticket_facts(g.repo)  # rewritten from the same (older) build: still behind the data
        assert not is_fresh(g.repo)
    finally:
        g.close()


def test_mart_without_a_build_is_empty(tmp_path: Path) -> None:
    from deskpulse.store import open_store

    store = open_store(str(tmp_path / "empty.duckdb"))
    try:
        repo = store.tenant("t")
        assert build_ticket_facts(repo).rows == 0 and not is_fresh(repo)
    finally:
        store.close()
