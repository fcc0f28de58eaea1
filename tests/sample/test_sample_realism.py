"""The sample looks like a real helpdesk: plausible mixes, seasonality, backlog, SLA breaches."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from zoneinfo import ZoneInfo

import holidays
import numpy as np
import pytest
import sample_sla_probe as probe
from sample_helpers import Sample

from deskpulse.sample import profile as P

ZONES = {r.name: ZoneInfo(r.calendar.timezone) for r in P.REGIONS}


def _utc(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def _share(values: list[str | None], value: str) -> float:
    return sum(v == value for v in values) / len(values)


@pytest.fixture(scope="module")
def local_created(sample: Sample) -> list[tuple[str, dt.datetime]]:
    """(region, local wall-clock creation time) per ticket."""
    return [(region, _utc(at).astimezone(ZONES[region]).replace(tzinfo=None))
            for region, at in zip(sample.tickets["region"].to_pylist(),
                                  sample.tickets["created_at"].to_pylist(), strict=True)]


def test_priority_mix(sample: Sample) -> None:
    priorities = sample.tickets["priority"].to_pylist()
    assert 0.015 <= _share(priorities, "urgent") <= 0.05
    assert 0.13 <= _share(priorities, "high") <= 0.24
    assert 0.47 <= _share(priorities, "normal") <= 0.62
    assert 0.19 <= _share(priorities, "low") <= 0.31


def test_region_tier_channel_mix(sample: Sample) -> None:
    t = sample.tickets
    assert 0.36 <= _share(t["region"].to_pylist(), "emea") <= 0.48
    assert 0.14 <= _share(t["region"].to_pylist(), "apac") <= 0.26
    assert 0.03 <= _share(t["tier"].to_pylist(), "enterprise") <= 0.3  # few, large organisations
    channels = Counter(t["channel"].to_pylist())
    assert channels["email"] > channels["chat"] > 0 and channels["api"] > 0 and channels["phone"] > 0


def test_reopen_agent_created_and_escalation_shares(sample: Sample) -> None:
    e = sample.events.to_pylist()
    solved = {x["ticket_id"] for x in e if x["kind"] == "status" and x["to_value"] == "solved"}
    reopened = {x["ticket_id"] for x in e if x["kind"] == "status" and x["from_value"] == "solved"
                and x["to_value"] != "closed"}
    assert 0.04 <= len(reopened) / len(solved) <= 0.10
    created = dict(zip(sample.tickets["ticket_id"].to_pylist(),
                       sample.tickets["created_at"].to_pylist(), strict=True))
    first_public: dict[str, dict[str, str]] = {}
    for x in e:
        if x["kind"] == "comment" and x["public"] == "true":
            first_public.setdefault(x["ticket_id"], x)
    by_agent = sum(1 for tid, x in first_public.items()
                   if x["actor"] == "agent" and x["event_at"] == created[tid])
    assert 0.03 <= by_agent / len(created) <= 0.08
    escalated = {x["ticket_id"] for x in e if x["kind"] == "group"
                 and x["to_value"] == "Tier 2 Escalations"}
    assert 0.02 <= len(escalated) / len(created) <= 0.12
    private = sum(1 for x in e if x["public"] == "false")
    assert private > 0.2 * len(created)


def test_weekday_seasonality_in_local_time(local_created: list[tuple[str, dt.datetime]]) -> None:
    weekdays = Counter(local.weekday() for _, local in local_created)
    total = sum(weekdays.values())
    # Monday peak (many public holidays are Mondays, so allow for sampling noise)
    assert weekdays[0] >= 0.95 * max(weekdays.values())
    assert weekdays[0] > 1.08 * (weekdays[1] + weekdays[2] + weekdays[3]) / 3
    assert weekdays[0] > 1.25 * weekdays[4]
    assert (weekdays[5] + weekdays[6]) / total < 0.15  # weekend trough
    assert weekdays[5] * 2.5 < weekdays[2]


def test_lunch_dip_and_night_trough(local_created: list[tuple[str, dt.datetime]]) -> None:
    hours = Counter(local.hour for _, local in local_created if local.weekday() < 5)
    assert hours[12] < 0.85 * hours[11] and hours[12] < 0.85 * hours[14]
    assert hours[3] < 0.15 * hours[10]


def test_public_holidays_have_few_arrivals(local_created: list[tuple[str, dt.datetime]]) -> None:
    per_day = Counter((region, local.date()) for region, local in local_created)
    ratios = []
    for region in P.REGIONS:
        cal = region.calendar
        hol = holidays.country_holidays(cal.holiday_country, subdiv=cal.holiday_subdivision,
                                        years=[2026])
        weekdays = [k for (r, d), k in per_day.items() if r == region.name and d.weekday() < 5]
        days = [d for d in hol if d.weekday() < 5 and dt.date(2026, 1, 6) <= d <= dt.date(2026, 7, 2)]
        if days:
            ratios.append(np.mean([per_day.get((region.name, d), 0) for d in days])
                          / np.mean(weekdays))
    assert ratios and float(np.mean(ratios)) < 0.5


def test_slow_growth(sample: Sample) -> None:
    created = [_utc(v) for v in sample.tickets["created_at"].to_pylist()]
    start = _utc("2026-01-05T00:00:00Z")
    first = sum(1 for c in created if c < start + dt.timedelta(days=63))
    last = sum(1 for c in created if c >= start + dt.timedelta(days=180 - 63))
    assert 1.03 < last / first < 1.4


def test_backlog_at_the_window_end(sample: Sample) -> None:
    status = Counter(sample.tickets["status"].to_pylist())
    for open_status in ("new", "open", "pending", "hold"):
        assert status[open_status] > 0, open_status
    backlog = sum(status[s] for s in ("new", "open", "pending", "hold"))
    assert 0.005 < backlog / sample.tickets.num_rows < 0.08
    assert status["closed"] > status["solved"] > 0
    end = sample.end_at.replace(tzinfo=dt.UTC)
    ages = [(end - _utc(c)).days for c, s in zip(sample.tickets["created_at"].to_pylist(),
                                                 sample.tickets["status"].to_pylist(), strict=True)
            if s in ("open", "pending", "hold", "new")]
    assert min(ages) < 1 and max(ages) > 30


def test_first_response_breach_share_against_the_demo_policies(sample: Sample) -> None:
    as_of = int(sample.end_at.replace(tzinfo=dt.UTC).timestamp())
    result = probe.first_response(sample.tickets, sample.events, as_of)
    assert result["tickets"] > 0.95 * sample.tickets.num_rows
    assert 0.08 <= result["share"] <= 0.28
    assert set(result["by_policy"]) == {"p1-urgent", "enterprise", "p2-high", "p3-emea",
                                        "p3-amer", "p3-apac"}


def _in_shift(label: str, local: dt.datetime) -> bool:
    days_text, spans = label.split(" ", 1)
    keys = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    if days_text == "mon-fri":
        days = {0, 1, 2, 3, 4}
    else:
        days = {keys.index(d) for d in days_text.split(",")}
    minute = local.hour * 60 + local.minute
    for part in spans.split(","):
        a, b = part.split("-")
        start = int(a[:2]) * 60 + int(a[3:])
        end = int(b[:2]) * 60 + int(b[3:])
        if local.weekday() in days and start <= minute < end:
            return True
    return False


def test_agents_reply_mostly_during_their_shift(sample: Sample) -> None:
    agents = {a["agent_id"]: a for a in sample.agents.to_pylist()}
    inside = total = 0
    for e in sample.events.to_pylist():
        if e["kind"] == "comment" and e["actor"] == "agent" and e["public"] == "true":
            agent = agents[e["actor_id"]]
            local = _utc(e["event_at"]).astimezone(ZoneInfo(agent["timezone"]))
            inside += _in_shift(agent["shift"], local.replace(tzinfo=None))
            total += 1
    assert inside / total >= 0.85
    assert inside < total  # on-call (urgent) replies happen outside shifts


def test_channels_respond_differently(sample: Sample) -> None:
    waits: dict[str, list[float]] = {}
    for row in sample.tickets.to_pylist():
        if row["first_reply_at"] is not None:
            minutes = (_utc(row["first_reply_at"]) - _utc(row["created_at"])).total_seconds() / 60
            waits.setdefault(row["channel"], []).append(minutes)
    assert np.median(waits["chat"]) * 5 < np.median(waits["email"])
    assert np.median(waits["email"]) < np.median(waits["api"]) * 1.5


def test_text_carries_keywords_sentiment_and_tags(sample: Sample) -> None:
    text = " ".join(s + " " + d for s, d in zip(sample.tickets["subject"].to_pylist(),
                                                sample.tickets["description"].to_pylist(),
                                                strict=True)).lower()
    for word in ("refund", "chargeback", "lawsuit", "urgent", "angry", "broken", "gdpr", "cancel",
                 "outage", "frustrated", "appreciate", "great"):
        assert word in text, word
    tags = Counter(t for row in sample.tickets["tags"].to_pylist() for t in row.split())
    for tag in ("vip", "escalated", "refund", "outage", "billing"):
        assert tags[tag] > 0, tag


def test_satisfaction_is_plausible(sample: Sample) -> None:
    sat = Counter(v for v in sample.tickets["satisfaction"].to_pylist() if v is not None)
    assert sat["offered"] > sat["good"] > 3 * sat["bad"] > 0
    assert sat["unoffered"] > 0
