"""The events and the tickets table tell one story (CONTRACT §1 and §3 semantics)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import pytest
from sample_helpers import Sample


def _ts(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def story(sample: Sample) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    tickets = {row["ticket_id"]: row for row in sample.tickets.to_pylist()}
    events: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in sample.events.to_pylist():
        events[row["ticket_id"]].append(row)
    return tickets, events


Story = tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]


def test_every_event_belongs_to_a_ticket_and_every_ticket_has_events(story: Story) -> None:
    tickets, events = story
    assert set(events) == set(tickets)


def test_events_are_ordered_by_ticket_then_time_and_inside_the_window(sample: Sample) -> None:
    order = {tid: i for i, tid in enumerate(sample.tickets["ticket_id"].to_pylist())}
    created = dict(zip(sample.tickets["ticket_id"].to_pylist(),
                       sample.tickets["created_at"].to_pylist(), strict=True))
    keys = [(order[t], a) for t, a in zip(sample.events["ticket_id"].to_pylist(),
                                          sample.events["event_at"].to_pylist(), strict=True)]
    assert keys == sorted(keys)
    end = sample.end_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    for tid, at in zip(sample.events["ticket_id"].to_pylist(), sample.events["event_at"].to_pylist(),
                       strict=True):
        assert created[tid] <= at < end


def _chain(evs: list[dict[str, Any]], kind: str) -> list[tuple[str | None, str | None]]:
    return [(e["from_value"], e["to_value"]) for e in evs if e["kind"] == kind]


def test_status_timeline_is_consistent_with_tickets_status(story: Story) -> None:
    tickets, events = story
    for tid, ticket in tickets.items():
        chain = _chain(events[tid], "status")
        first = next(e for e in events[tid] if e["kind"] == "status")
        assert first["event_at"] == ticket["created_at"] and chain[0] == (None, "new"), tid
        for (_, before), (after_from, after_to) in zip(chain, chain[1:], strict=False):
            assert after_from == before and after_to != before, tid
        assert chain[-1][1] == ticket["status"], tid
        if ticket["status"] == "closed":
            assert chain[-1][0] == "solved"


@pytest.mark.parametrize(("kind", "column"), [("group", "group"), ("assignee", "assignee_id"),
                                               ("priority", "priority")])
def test_latest_group_assignee_priority_come_from_the_events(story: Story, kind: str,
                                                             column: str) -> None:
    tickets, events = story
    changed = 0
    for tid, ticket in tickets.items():
        chain = _chain(events[tid], kind)
        for (_, before), (after_from, _) in zip(chain, chain[1:], strict=False):
            assert after_from == before, tid
        if chain:
            changed += 1
            assert chain[-1][1] == ticket[column], tid
        elif kind == "assignee":
            assert ticket[column] is None
    assert changed > 0


def test_updated_at_is_the_last_event(story: Story) -> None:
    tickets, events = story
    for tid, ticket in tickets.items():
        assert ticket["updated_at"] == max(e["event_at"] for e in events[tid])


def test_creation_events_and_who_created_the_ticket(story: Story) -> None:
    tickets, events = story
    for tid, ticket in tickets.items():
        at_creation = [e for e in events[tid] if e["event_at"] == ticket["created_at"]]
        kinds = [e["kind"] for e in at_creation]
        assert kinds[:3] == ["status", "comment", "group"], tid
        comment = at_creation[1]
        assert comment["public"] == "true" and comment["actor"] in ("end_user", "agent")
        if comment["actor"] == "agent":  # agent-created: the agent owns it from the start
            assert at_creation[3]["kind"] == "assignee"
            assert at_creation[3]["to_value"] == comment["actor_id"]


def test_first_reply_at_and_solved_at_follow_the_contract(story: Story) -> None:
    tickets, events = story
    for tid, ticket in tickets.items():
        evs = events[tid]
        public = [e for e in evs if e["kind"] == "comment" and e["public"] == "true"]
        agent_created = public[0]["actor"] == "agent" and public[0]["event_at"] == ticket["created_at"]
        if agent_created:
            users = [e["event_at"] for e in public if e["actor"] == "end_user"]
            start = users[0] if users else None
        else:
            start = ticket["created_at"]
        replies = [e["event_at"] for e in public
                   if e["actor"] == "agent" and start is not None and e["event_at"] > start]
        assert ticket["first_reply_at"] == (replies[0] if replies else None), tid
        solves = [e["event_at"] for e in evs if e["kind"] == "status" and e["to_value"] == "solved"]
        expected = solves[-1] if ticket["status"] in ("solved", "closed") else None
        assert ticket["solved_at"] == expected, tid


def test_actors_ids_and_flags(sample: Sample) -> None:
    agent_ids = set(sample.agents["agent_id"].to_pylist())
    for e in sample.events.to_pylist():
        if e["actor"] == "agent":
            assert e["actor_id"] in agent_ids
        else:
            assert e["actor_id"] is None
        if e["public"] == "false":
            assert e["kind"] == "comment" and e["actor"] == "agent"
        assert (e["field"] is not None) == (e["kind"] == "field")
        if e["kind"] == "assignee":
            assert e["to_value"] in agent_ids
        if e["field"] == "satisfaction":
            assert e["from_value"] == "offered" and e["to_value"] in ("good", "bad")
            assert e["actor"] == "end_user"
        if e["kind"] == "status" and e["to_value"] == "closed":
            assert e["actor"] == "system"
    assigned = {v for v in sample.tickets["assignee_id"].to_pylist() if v is not None}
    assert assigned <= agent_ids


def test_satisfaction_tags_and_deletion(story: Story, sample: Sample) -> None:
    tickets, events = story
    end = sample.end_at
    for tid, ticket in tickets.items():
        solved = ticket["status"] in ("solved", "closed")
        assert (ticket["satisfaction"] is not None) == solved, tid
        if ticket["satisfaction"] in ("good", "bad"):
            rating = [e for e in events[tid] if e["field"] == "satisfaction"][-1]
            assert rating["to_value"] == ticket["satisfaction"]
        if ticket["satisfaction"] == "offered":
            assert _ts(ticket["solved_at"]) + dt.timedelta(days=1) <= end
        tag_events = [e for e in events[tid] if e["field"] == "tags"]
        if tag_events:
            assert ticket["tags"] == tag_events[-1]["to_value"]
            assert ticket["tags"].split()[-1] == "escalated"
            assert tag_events[-1]["from_value"] + " escalated" == ticket["tags"]
            assert any(e["kind"] == "group" and e["to_value"] == "Tier 2 Escalations"
                       for e in events[tid])
        else:
            assert "escalated" not in ticket["tags"].split()
        if ticket["deleted_at"] is not None:
            assert ticket["created_at"] <= ticket["deleted_at"]
            assert ticket["tags"] == "spam"
