"""Bottlenecks: severity bands exactly at 19.9 / 20 / 30 / 50 %, evidence and examples, on
DuckDB and PostgreSQL.

Four categories of tickets replied either within (30 min) or after (90 min) a 1 h first
response target on 24x7, all solved after 100 min: 199 of 1000 breached (19.9 %), 2 of 10
(20 %), 3 of 10 (30 %) and 5 of 10 (50 %).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from deskpulse.analytics.bottlenecks import (
    KINDS,
    bottlenecks,
    is_bottleneck,
    period_label,
    recommend,
    severity,
)
from deskpulse.analytics.filters import Filters
from deskpulse.config import Thresholds

try:
    from .analytics_helpers import EVENT_HEADER, Loaded, load
except ImportError:  # pragma: no cover - rootdir-relative import
    from analytics_helpers import EVENT_HEADER, Loaded, load  # type: ignore[no-redef]

START = datetime(2026, 3, 2, 0, 0, 0)  # a Monday
CATEGORIES = {"c199": (1000, 199), "c200": (10, 2), "c300": (10, 3), "c500": (10, 5)}
CONFIG = """
thresholds: {first_response_minutes: 60, resolution_hours: 24, bottleneck_threshold_percentage: 20}
policies:
  - name: reply
    calendar: 24x7
    targets: {first_response: 1h}
"""


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _dataset() -> tuple[str, str, dict[str, list[str]], datetime]:
    tickets = ["ticket_id,created_at,status,category,assignee_id"]
    events = [EVENT_HEADER]
    breached: dict[str, list[str]] = {}
    i = 0
    for cat, (n, late) in CATEGORIES.items():
        for k in range(n):
            i += 1
            tid = f"{cat}-{k:04d}"
            at = START + timedelta(minutes=7 * i)
            reply = at + timedelta(minutes=90 if k < late else 30)
            if k < late:
                breached.setdefault(cat, []).append(tid)
            tickets.append(f"{tid},{_iso(at)},solved,{cat},agent{k % 3}")
            events += [
                f"{tid},{_iso(at)},comment,end_user,,true,,,",
                f"{tid},{_iso(reply)},comment,agent,agent{k % 3},true,,,",
                f"{tid},{_iso(at + timedelta(minutes=100))},status,agent,agent{k % 3},true,new,solved,",
            ]
    as_of = START + timedelta(minutes=7 * i + 200)
    return "\n".join(tickets) + "\n", "\n".join(events) + "\n", breached, as_of


@pytest.fixture
def boundary(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    tickets, events, breached, as_of = _dataset()
    loaded = load(db_url, tmp_path, tickets=tickets, events=events, config=CONFIG, as_of=as_of)
    loaded.breached = breached  # type: ignore[attr-defined]
    yield loaded
    loaded.close()


@pytest.mark.parametrize(
    ("rate", "expected"),
    [(0.0, "low"), (19.9, "low"), (19.999, "low"), (20.0, "medium"), (29.9, "medium"),
     (30.0, "high"), (49.9, "high"), (50.0, "critical"), (100.0, "critical")],
)
def test_severity_bands(rate: float, expected: str) -> None:
    assert severity(rate) == expected


def test_flagging_is_at_or_above_the_threshold() -> None:
    assert not is_bottleneck(19.9, 20.0)
    assert is_bottleneck(20.0, 20.0) and is_bottleneck(20.1, 20.0)
    assert is_bottleneck(19.9, 19.9)


def test_labels_and_recommendations() -> None:
    assert period_label("109") == "Mon 09:00-10:00 UTC"
    assert period_label("723") == "Sun 23:00-00:00 UTC"
    for kind in KINDS:
        for driver in ("breach", "delay"):
            value = {"status": "new", "period": "315"}.get(kind, "x")
            text = recommend(kind, value, driver)
            assert text and "\n" not in text


def test_category_boundaries(boundary: Loaded) -> None:
    report = bottlenecks(boundary.repo, Filters(), boundary.cfg.thresholds)
    assert report.tickets == 1030 and report.threshold_pct == 20.0
    cats = {f.value: f for f in report.findings if f.kind == "category"}
    assert "c199" not in cats  # 19.9 % is below the 20 % threshold
    assert {c: (f.severity, f.rate_pct) for c, f in cats.items()} == {
        "c200": ("medium", 20.0),
        "c300": ("high", 30.0),
        "c500": ("critical", 50.0),
    }
    f = cats["c300"]
    assert (f.tickets, f.sla_decided, f.breached, f.driver) == (10, 10, 3, "breach")
    assert (f.delay_decided, f.delayed, f.delay_rate_pct) == (0, 0, None)
    # examples: breached tickets of the slice, most recent first
    assert f.example_ticket_ids == ["c300-0002", "c300-0001", "c300-0000"]
    five = cats["c500"].example_ticket_ids
    assert five == [f"c500-{k:04d}" for k in (4, 3, 2, 1, 0)]
    assert "c500" in cats["c500"].recommendation and cats["c500"].label == "category c500"
    order = [f.severity for f in report.findings]
    assert order == sorted(order, key=["critical", "high", "medium", "low"].index)
    assert report.as_dict()["findings"][0]["severity"] == "critical"
    assert report.rows()[0]["example_ticket_ids"].count(" ") <= 4


def test_threshold_and_min_tickets(boundary: Loaded) -> None:
    low = Thresholds(bottleneck_threshold_percentage=19.9)
    cats = {f.value: f for f in bottlenecks(boundary.repo, Filters(), low).findings if f.kind == "category"}
    assert (cats["c199"].severity, cats["c199"].rate_pct) == ("low", 19.9)
    assert (cats["c199"].breached, cats["c199"].sla_decided) == (199, 1000)
    strict = bottlenecks(boundary.repo, Filters(), Thresholds(), min_tickets=11)
    assert {f.value for f in strict.findings if f.kind == "category"} == set()


def test_stages_and_other_slices(boundary: Loaded) -> None:
    report = bottlenecks(boundary.repo, Filters(), boundary.cfg.thresholds)
    by_key = {(f.kind, f.value): f for f in report.findings}
    # every ticket spent its 100 min in 'new' (> the 60 min allowance); 209 breached there
    new = by_key[("status", "new")]
    assert (new.tickets, new.breached, new.delayed) == (1030, 209, 1030)
    assert new.breach_rate_pct == pytest.approx(100 * 209 / 1030)
    assert (new.rate_pct, new.driver, new.severity) == (100.0, "delay", "critical")
    assert ("handoffs", "0") in by_key or all(f.kind != "handoffs" for f in report.findings)
    assert report.segments_scored >= 4


def test_empty_window(boundary: Loaded) -> None:
    window = Filters(start_at=datetime(2030, 1, 1), end_at=datetime(2030, 1, 2))
    report = bottlenecks(boundary.repo, window, boundary.cfg.thresholds)
    assert report.is_empty and report.findings == [] and report.message == "no tickets in range"
