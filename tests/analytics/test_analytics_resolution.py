"""Response times and resolution on the hand-checked golden dataset, on DuckDB and PostgreSQL.

Golden (tests/fixtures/golden/README.md), as of 2026-03-04T12:00Z:
A (Billing, normal, email, agent1) replied after 1030 calendar / 70 business min, solved after
1170 / 210; first_response breached, next_response met, resolution met.
B (Technical, high, web, unassigned): no public reply, open; first_response and resolution
active_breached. C (Technical, urgent, phone, unassigned): no events; both active_breached.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from deskpulse.analytics.filters import Filters
from deskpulse.analytics.resolution import resolution, response_times
from deskpulse.errors import UsageError

try:
    from .analytics_helpers import GOLDEN, load, load_golden
except ImportError:  # pragma: no cover - rootdir-relative import
    from analytics_helpers import GOLDEN, load, load_golden  # type: ignore[no-redef]


def test_response_times_golden(db_url: str, tmp_path: Path) -> None:
    g = load_golden(db_url, tmp_path)
    try:
        report = response_times(g.repo, Filters(), g.cfg.thresholds)
    finally:
        g.close()
    o = report.overall
    assert (o.tickets, o.replied) == (3, 1)
    assert (o.first_reply_mean_calendar_minutes, o.first_reply_median_calendar_minutes) == (1030, 1030)
    assert o.first_reply_p90_calendar_minutes == 1030
    assert (o.first_reply_mean_business_minutes, o.first_reply_p90_business_minutes) == (70, 70)
    # A replied late (1030 > 60); B and C are unreplied and older than 60 min: all decided, none within
    assert (o.within_threshold, o.threshold_decided, o.within_threshold_share) == (0, 3, 0.0)
    assert (o.first_response_sla_met, o.first_response_sla_missed) == (0, 3)
    assert o.first_response_sla_compliance_pct == 0.0 and o.is_sla_target_met is False
    assert (o.next_response_sla_met, o.next_response_sla_missed) == (1, 0)
    assert o.next_response_sla_compliance_pct == 100.0
    groups = {r.value: r for r in report.breakdowns["group"]}
    assert (groups["Billing"].tickets, groups["Billing"].replied) == (1, 1)
    assert (groups["Technical"].tickets, groups["Technical"].replied) == (2, 0)
    assert groups["Technical"].first_reply_mean_calendar_minutes is None
    agents = {r.value: r.tickets for r in report.breakdowns["agent"]}
    assert agents == {"agent1": 1, "(unassigned)": 2}
    assert [r.value for r in report.breakdowns["priority"]] == ["high", "normal", "urgent"]
    assert set(report.breakdowns) == {"category", "priority", "group", "channel", "agent", "policy"}
    assert report.rows()[0]["dimension"] == "all" and len(report.rows()) == 1 + 2 + 3 + 2 + 3 + 2 + 2


def test_resolution_golden(db_url: str, tmp_path: Path) -> None:
    g = load_golden(db_url, tmp_path)
    try:
        report = resolution(g.repo, Filters(), g.cfg.thresholds, by=["group", "category"])
        billing_only = resolution(g.repo, Filters(values={"category": "billing"}), g.cfg.thresholds)
    finally:
        g.close()
    o = report.overall
    assert (o.tickets, o.resolved, o.unresolved) == (3, 1, 2)
    assert o.resolution_rate == pytest.approx(1 / 3)
    assert o.is_resolution_rate_target_met is False
    assert (o.resolution_mean_calendar_minutes, o.resolution_median_business_minutes) == (1170, 210)
    # A resolved in 1170 min ≤ 24 h; B (50 h old) and C (51 h old) are unresolved past 24 h
    assert (o.within_threshold, o.threshold_decided) == (1, 3)
    assert (o.resolution_sla_met, o.resolution_sla_missed) == (1, 2)
    assert o.resolution_sla_compliance_pct == pytest.approx(100 / 3)
    assert list(report.breakdowns) == ["group", "category"]
    tech = {r.value: r for r in report.breakdowns["group"]}["Technical"]
    assert (tech.tickets, tech.resolved, tech.resolution_rate) == (2, 0, 0.0)
    assert tech.resolution_mean_calendar_minutes is None
    b = billing_only.overall
    assert (b.tickets, b.resolved, b.resolution_rate, b.is_resolution_rate_target_met) == (1, 1, 1.0, True)
    assert b.is_sla_target_met is True


def test_sla_attainment_by_policy(db_url: str, tmp_path: Path) -> None:
    """The dashboard's "SLA attainment by policy": A and B run on `std`, C on `urgent`."""
    g = load_golden(db_url, tmp_path)
    try:
        res = resolution(g.repo, Filters(), g.cfg.thresholds, by=["policy", "priority"])
        resp = response_times(g.repo, Filters(), g.cfg.thresholds, by=["policy"])
    finally:
        g.close()
    assert list(res.breakdowns) == ["policy", "priority"]
    by_policy = {r.value: r for r in res.breakdowns["policy"]}
    assert [r.value for r in res.breakdowns["policy"]] == ["std", "urgent"]  # most tickets first
    std, urgent = by_policy["std"], by_policy["urgent"]
    # std: A's resolution met, B's running past due; urgent: C's running past due
    assert (std.tickets, std.resolution_sla_met, std.resolution_sla_missed) == (2, 1, 1)
    assert std.resolution_sla_compliance_pct == 50.0 and std.is_sla_target_met is False
    assert (urgent.tickets, urgent.resolution_sla_met, urgent.resolution_sla_missed) == (1, 0, 1)
    assert urgent.resolution_sla_compliance_pct == 0.0
    fr = {r.value: r for r in resp.breakdowns["policy"]}
    assert (fr["std"].first_response_sla_met, fr["std"].first_response_sla_missed) == (0, 2)
    assert (fr["std"].next_response_sla_met, fr["std"].next_response_sla_missed) == (1, 0)
    assert (fr["urgent"].first_response_sla_met, fr["urgent"].first_response_sla_missed) == (0, 1)


def test_empty_window_and_bad_breakdown(db_url: str, tmp_path: Path) -> None:
    g = load_golden(db_url, tmp_path)
    try:
        window = Filters(start_at=datetime(2030, 1, 1), end_at=datetime(2030, 2, 1))
        empty = response_times(g.repo, window, g.cfg.thresholds)
        assert empty.is_empty and empty.message == "no tickets in range"
        assert empty.overall.tickets == 0 and empty.overall.first_reply_mean_calendar_minutes is None
        assert empty.as_dict()["tickets"] == 0
        res = resolution(g.repo, window, g.cfg.thresholds)
        assert res.is_empty and res.overall.resolution_rate is None
        with pytest.raises(UsageError, match="unknown breakdown"):
            resolution(g.repo, Filters(), g.cfg.thresholds, by=["colour"])
    finally:
        g.close()


def test_no_build_yet_is_an_error_but_no_tickets_is_empty(tmp_path: Path) -> None:
    from deskpulse.config import Thresholds
    from deskpulse.pipeline import import_files
    from deskpulse.store import open_store

    store = open_store(str(tmp_path / "s.duckdb"))
    try:
        repo = store.tenant("t")
        assert response_times(repo, Filters(), Thresholds()).is_empty
        import_files(repo, GOLDEN / "tickets.csv", GOLDEN / "events.csv")
        with pytest.raises(UsageError, match="deskpulse build"):
            response_times(repo, Filters(), Thresholds())
    finally:
        store.close()


def test_only_built_tickets_and_window_edges(db_url: str, tmp_path: Path) -> None:
    """The window is [start, end) on created_at; deleted tickets never count."""
    g = load(
        db_url,
        tmp_path,
        tickets="ticket_id,created_at,updated_at,status,deleted_at\n"
        "X,2026-03-01T10:00:00Z,,solved,\n"
        "Y,2026-03-02T10:00:00Z,,open,\n"
        "Z,2026-03-02T11:00:00Z,,open,2026-03-02T12:00:00Z\n",
        events="ticket_id,event_at,kind,actor,actor_id,public,from_value,to_value,field\n"
        "X,2026-03-01T10:30:00Z,status,agent,a1,true,new,solved,\n",
        config="thresholds: {first_response_minutes: 60}\n",
        as_of=datetime(2026, 3, 3),
    )
    try:
        th = g.cfg.thresholds
        both = response_times(g.repo, Filters(start_at=datetime(2026, 3, 1, 10), end_at=datetime(2026, 3, 2, 10)), th)
        assert both.tickets == 1  # X only: Y starts at the (exclusive) end
        assert response_times(g.repo, Filters(), th).tickets == 2  # Z is deleted
        res = resolution(g.repo, Filters(), th)
        assert (res.overall.resolved, res.overall.resolution_mean_calendar_minutes) == (1, 30)
        # X was solved without a reply: not counted for the first-response threshold share
        assert response_times(g.repo, Filters(), th).overall.threshold_decided == 1
    finally:
        g.close()
