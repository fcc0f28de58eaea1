"""Bad and unusual input reaching the engine: documented handling, never a crash (D5)."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pytest

from deskpulse.config import parse_config
from deskpulse.errors import ConfigError
from deskpulse.model import EVENT_SCHEMA, TICKET_SCHEMA
from deskpulse.sla.build import run_engine
from deskpulse.sla.policies import load_sla_config

H = datetime(2026, 3, 2, 9)


def at(minutes: int) -> datetime:
    return datetime.fromtimestamp(H.timestamp() + minutes * 60)


def run(config: dict, tickets: list[dict], events: list[dict], as_of_min: int = 600):  # type: ignore[no-untyped-def]
    tk = pa.Table.from_pylist(
        [{"created_at": H, "updated_at": H, "status": "open", **r} for r in tickets], schema=TICKET_SCHEMA
    )
    ev = pa.Table.from_pylist([{"public": True, "actor": "system", **e} for e in events], schema=EVENT_SCHEMA)
    ev = ev.append_column("seq", pa.array(range(ev.num_rows), pa.int64()))
    return run_engine(tk, ev, load_sla_config(parse_config(config, "t")), at(as_of_min))


CFG = {"policies": [{"name": "p", "calendar": "24x7", "targets": {"first_response": "1h", "resolution": "8h"},
                     "pause_on": ["pending", "solved"]}]}


def test_events_before_created_at_are_clamped_and_counted() -> None:
    r = run(CFG, [{"ticket_id": "A"}], [
        {"ticket_id": "A", "event_at": at(-30), "kind": "comment", "actor": "agent"},
    ])
    fr = [x for x in r.ticket_sla.to_pylist() if x["metric"] == "first_response"][0]
    # the early agent comment sits at created_at: agent-created, no end-user comment
    assert fr["status"] == "not_applicable"
    assert r.notes["events_before_created_at_clamped"] == 1


def test_unknown_status_values_are_ignored_and_counted() -> None:
    r = run(CFG, [{"ticket_id": "A"}], [
        {"ticket_id": "A", "event_at": at(10), "kind": "status", "to_value": "escalated-ish"},
        {"ticket_id": "A", "event_at": at(20), "kind": "status", "to_value": "solved"},
    ])
    res = [x for x in r.ticket_sla.to_pylist() if x["metric"] == "resolution"][0]
    assert (res["status"], res["elapsed_business_minutes"]) == ("met", 20)
    assert r.notes["status_events_with_unknown_value_ignored"] == 1


def test_pause_on_solved_does_not_turn_solved_time_into_paused_time() -> None:
    r = run(CFG, [{"ticket_id": "A"}], [
        {"ticket_id": "A", "event_at": at(60), "kind": "status", "to_value": "pending"},
        {"ticket_id": "A", "event_at": at(90), "kind": "status", "to_value": "solved"},
    ])
    res = [x for x in r.ticket_sla.to_pylist() if x["metric"] == "resolution"][0]
    assert (res["elapsed_business_minutes"], res["paused_business_minutes"]) == (60, 30)


def test_tags_match_when_one_tag_equals_a_value() -> None:
    cfg = {"policies": [
        {"name": "vip", "match": {"tags": ["vip"]}, "calendar": "24x7", "targets": {"resolution": "1h"}},
        {"name": "rest", "calendar": "24x7", "targets": {"resolution": "8h"}},
    ]}
    r = run(cfg, [{"ticket_id": "A", "tags": "billing vip"}, {"ticket_id": "B", "tags": "vipish, billing"},
                  {"ticket_id": "C"}], [])
    assert {x["ticket_id"]: x["policy"] for x in r.ticket_metrics.to_pylist()} == {"A": "vip", "B": "rest", "C": "rest"}


def test_no_matching_policy_gives_no_sla_rows_but_metrics_on_24x7() -> None:
    cfg = {"policies": [{"name": "urgent", "match": {"priority": "urgent"}, "calendar": "24x7",
                         "targets": {"resolution": "1h"}}]}
    r = run(cfg, [{"ticket_id": "A", "priority": "low"}], [])
    assert r.ticket_sla.num_rows == 0
    m = r.ticket_metrics.to_pylist()[0]
    assert (m["policy"], m["calendar"]) == (None, "24x7")


@pytest.mark.parametrize(
    ("policy", "fragment"),
    [
        ({"name": "x", "calendar": "24x7", "targets": {"resolution": "0m"}}, "policies[0].targets.resolution"),
        ({"name": "x", "targets": {"resolution": "1h"}}, "policies[0].calendar"),
        ({"name": "x", "calendar": "24x7", "targets": {"resolve": "1h"}}, "policies[0].targets.resolve"),
        ({"name": "x", "calendar": "24x7", "targets": {"resolution": "1h"}, "pause_on": ["waiting"]},
         "policies[0].pause_on[0]"),
        ({"name": "x", "calendar": "24x7", "match": {"colour": "red"}, "targets": {"resolution": "1h"}},
         "policies[0].match.colour"),
    ],
)
def test_policy_config_errors_name_the_path(policy: dict, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_sla_config(parse_config({"policies": [policy]}, "sla.yml"))
    assert "sla.yml" in err.value.message and fragment in err.value.message
