"""Staffing: Erlang C against textbook values, rosters from shifts (DST-exact), the plan on the sample."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

try:  # package mode (tests/analytics/__init__.py present) or rootdir mode
    from .insights_helpers import (  # noqa: F401 - fixtures
        Built,
        cli_json,
        insights_built,
        insights_db,
        insights_repo,
        run_cli,
    )
except ImportError:
    from insights_helpers import (  # type: ignore[no-redef]  # noqa: F401 - fixtures
        Built,
        cli_json,
        insights_built,
        insights_db,
        insights_repo,
        run_cli,
    )

from deskpulse.analytics import staffing as S
from deskpulse.analytics.filters import Filters
from deskpulse.errors import UsageError


def erlang_c_by_hand(n: int, a: float) -> float:
    """The textbook closed form: (A^N/N! · N/(N−A)) / (Σ_{k<N} A^k/k! + A^N/N! · N/(N−A))."""
    top = a**n / math.factorial(n) * n / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


def test_erlang_c_textbook_example() -> None:
    """100 calls per 30 min, AHT 180 s → A = 10 Erlangs; 80 % answered within 20 s.

    Hand-computed: C(11, 10) = 0.6821, SL(11) = 1 − 0.6821·e^(−1·20/180) = 0.3896;
    SL(13) = 0.7956 < 0.8 ≤ SL(14) = 0.8884, so 14 agents.
    """
    assert S.erlang_c(11, 10.0)[0] == pytest.approx(0.6821, abs=5e-5)
    assert S.service_level(11, 10.0, 20 / 60, 3.0)[0] == pytest.approx(0.3896, abs=5e-5)
    assert S.service_level(13, 10.0, 20 / 60, 3.0)[0] == pytest.approx(0.7956, abs=5e-4)
    assert S.service_level(14, 10.0, 20 / 60, 3.0)[0] == pytest.approx(0.8884, abs=5e-4)
    assert S.agents_needed(np.array([10.0]), target=0.8, within_minutes=20 / 60, aht_minutes=3.0)[0] == 14
    # N <= A: the queue never empties
    assert S.erlang_c(10, 10.0)[0] == 1.0 and S.service_level(9, 10.0, 1, 3)[0] == 0.0


@pytest.mark.parametrize(("n", "a"), [(1, 0.5), (2, 1.2), (5, 3.3), (12, 10.0), (30, 24.0), (60, 51.7)])
def test_erlang_c_equals_the_closed_form(n: int, a: float) -> None:
    assert S.erlang_c(n, a)[0] == pytest.approx(erlang_c_by_hand(n, a), rel=1e-10)


def test_agents_needed_is_the_least_that_meets_the_target() -> None:
    traffic = np.array([0.0, 0.05, 0.7, 1.9, 4.2, 10.0, 17.5, 33.3, 80.0])
    need = S.agents_needed(traffic, target=0.8, within_minutes=1.0, aht_minutes=6.0)
    assert need[0] == 0
    for a, n in zip(traffic[1:], need[1:], strict=True):
        assert S.service_level(n, a, 1.0, 6.0)[0] >= 0.8
        assert n - 1 <= a or S.service_level(n - 1, a, 1.0, 6.0)[0] < 0.8


def test_shift_roster_is_dst_exact() -> None:
    roster = pa.table({"agent_id": ["a", "b"], "group": ["G", "H"], "timezone": ["Europe/Berlin"] * 2,
                       "shift": ["mon-fri 08:00-12:00,13:00-16:30", "sat 10:00-14:00"]})
    # the week of 2026-03-23 is still CET (UTC+1); 2026-05-04 is CEST (UTC+2)
    for monday, offset in ((datetime(2026, 3, 23), 1), (datetime(2026, 5, 4), 2)):
        start, end = S._week_slots(monday, "UTC")
        on = S.roster_hours(roster, start, end)
        assert on.sum() == pytest.approx(5 * 7.5 + 4)
        assert on[8 - offset] == 1.0 and on[12 - offset] == 0.0 and on[16 - offset] == 0.5
        assert on[5 * 24 + 10 - offset] == 1.0  # Saturday 10:00 local
        only_g = S.roster_hours(roster, start, end, {"G"})
        assert only_g.sum() == pytest.approx(37.5)
    # the week that springs forward: local hours of Sunday 2026-03-29 02:00 do not exist
    start, end = S._week_slots(datetime(2026, 3, 23), "Europe/Berlin")
    assert (end - start)[6 * 24 + 2] == 0 and (end - start).sum() == 7 * 86400 - 3600
    with pytest.raises(ValueError):
        S.parse_shift("08:00-12:00", "UTC")


def test_plan_on_the_sample(insights_repo: Any, insights_db: Built) -> None:
    plan = S.staffing_plan(insights_repo, target=0.8, within_minutes=60, shrinkage=0.3,
                           roster=S.read_roster(insights_db.data / "agents.csv"))
    lo = insights_db.as_of - timedelta(days=28)
    n = insights_repo.scalar("SELECT count(*) FROM tickets WHERE deleted_at IS NULL AND created_at >= $lo "
                             "AND created_at < $hi", lo=lo, hi=insights_db.as_of)
    assert plan.tickets == n and plan.weeks == 4.0
    # 4 weeks: every slot occurs 4 times, so arrivals/hour sum to tickets / 4
    assert sum(s.arrivals_per_hour for s in plan.slots) == pytest.approx(n / 4, abs=0.01)
    assert len(plan.slots) == 168
    for s in plan.slots:
        assert s.scheduled_needed == math.ceil(s.agents_needed / 0.7)
        assert s.traffic_erlangs == pytest.approx(s.arrivals_per_hour * plan.aht_minutes / 60, abs=0.01)
        if s.arrivals_per_hour > 0:
            assert s.service_level is not None and s.service_level >= 0.8
        assert s.gap == pytest.approx(s.roster_on_shift - s.scheduled_needed, abs=0.01)
    assert plan.agent_hours_rostered is not None and plan.agent_hours_rostered > plan.agent_hours_needed / 2
    assert plan.peak is not None and plan.peak.scheduled_needed == max(s.scheduled_needed for s in plan.slots)


def test_handle_time_estimates(insights_repo: Any, insights_db: Built) -> None:
    window = Filters(start_at=insights_db.as_of - timedelta(days=28), end_at=insights_db.as_of)
    gap = S.handle_time_minutes(insights_repo, window, "reply-gap")
    ev = insights_repo.query(
        "SELECT e.actor_id, e.event_at, e.seq FROM ticket_events e "
        "WHERE e.kind = 'comment' AND e.actor = 'agent' AND e.public "
        "AND e.event_at >= $lo AND e.event_at < $hi",
        lo=window.start_at, hi=window.end_at).to_pandas().sort_values(["actor_id", "event_at", "seq"])
    d = ev.groupby("actor_id")["event_at"].diff().dt.total_seconds() / 60
    assert gap == pytest.approx(float(d[(d > 0) & (d <= 60)].mean()), rel=1e-9)
    work = S.handle_time_minutes(insights_repo, window, "agent-work")
    a2r = S.handle_time_minutes(insights_repo, window, "assign-to-reply")
    assert gap is not None and work is not None and a2r is not None
    assert 5 < gap < 60 < a2r and work > gap  # the two queue-inclusive measures are far larger
    with pytest.raises(UsageError):
        S.handle_time_minutes(insights_repo, window, "guess")


def test_observed_roster_and_options(insights_repo: Any) -> None:
    plan = S.staffing_plan(insights_repo, aht_minutes=15, shrinkage=0.0, tz="Europe/Berlin")
    assert plan.aht_method == "fixed" and plan.aht_minutes == 15
    assert plan.roster_source == "observed agent activity"
    assert all(s.agents_needed == s.scheduled_needed for s in plan.slots)
    busy = [s for s in plan.slots if s.weekday == "tue" and s.hour == 10][0]
    assert busy.observed_active is not None and busy.observed_active > 0
    assert busy.gap == pytest.approx(busy.observed_active - busy.agents_needed, abs=0.01)
    for bad in ({"target": 1.2}, {"shrinkage": 1.0}, {"within_minutes": 0}, {"aht_minutes": -1}):
        with pytest.raises(UsageError):
            S.staffing_plan(insights_repo, **bad)  # type: ignore[arg-type]


def test_cli_staffing(insights_db: Built) -> None:
    out = cli_json(insights_db.db, "staffing", "--roster", str(insights_db.data / "agents.csv"),
                   "--target", "0.9", "--within", "30")
    assert out["target"] == 0.9 and len(out["slots"]) == 168 and out["aht_method"] == "reply-gap"
    code, text = run_cli(insights_db.db, "staffing", "--group", "Billing", "--format", "csv")
    assert code == 0 and text.splitlines()[0].startswith("weekday,hour,arrivals_per_hour")
    assert len(text.splitlines()) == 169
    code, text = run_cli(insights_db.db, "staffing", "--days", "14", "--tz", "America/New_York")
    assert code == 0 and "Agents per hour (America/New_York)" in text
    code, text = run_cli(insights_db.db, "staffing", "--from", "2020-01-01", "--to", "2020-02-01")
    assert code == 0 and text.strip() == "no tickets in range"
    code, _ = run_cli(insights_db.db, "staffing", "--roster", str(insights_db.data / "missing.csv"))
    assert code == 2
