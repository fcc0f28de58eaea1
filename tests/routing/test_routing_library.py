"""The routing library on DuckDB and PostgreSQL: availability, skills, routing mode,
auto-assignment (golden order, recorded decision, every error path), tenant boundaries and
the analytics (occupancy, fairness, coverage gaps) on hand-checked data.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from deskpulse.errors import BadInputError, ConflictError, NotFoundError
from deskpulse.routing import (
    AgentStatus,
    NoAgentAvailableError,
    RoutingMode,
    add_skill,
    auto_assign,
    availability_history,
    coverage_gaps,
    fairness,
    get_availability,
    get_routing_settings,
    list_availability,
    list_skills,
    occupancy,
    remove_skill,
    set_availability,
    set_routing_settings,
    status_counts,
    update_skill,
    window,
)
from deskpulse.store import TenantStore
from tests.routing.conftest import T0, add_tickets

A, B, OFF = AgentStatus.available, AgentStatus.busy, AgentStatus.offline
M = timedelta(minutes=1)


def test_availability_is_set_read_and_kept_as_history(tenant: TenantStore) -> None:
    assert get_availability(tenant, "u1") is None
    set_availability(tenant, "u1", A, note="morning", changed_by="u1", now=T0)
    set_availability(tenant, "u1", A, note="still here", changed_by="u1", now=T0 + 5 * M)  # note only
    a = set_availability(tenant, "u1", B, until=T0 + 60 * M, changed_by="admin", now=T0 + 10 * M)
    assert (a.status, a.since, a.until, a.note, a.updated_by) == (B, T0 + 10 * M, T0 + 60 * M, None, "admin")
    # since is kept when only the note changed
    hist = availability_history(tenant, user_id="u1")
    assert [(h.status, h.previous_status, h.since) for h in hist] == [
        (B, A, T0 + 10 * M), (A, A, T0), (A, None, T0)]
    # an expired until makes the agent offline
    assert get_availability(tenant, "u1", now=T0 + 61 * M).effective_status is OFF  # type: ignore[union-attr]
    assert get_availability(tenant, "u1", now=T0 + 59 * M).effective_status is B  # type: ignore[union-attr]
    set_availability(tenant, "u2", A, now=T0)
    assert [x.user_id for x in list_availability(tenant, status=A, now=T0 + 61 * M)] == ["u2"]
    assert status_counts(tenant, now=T0 + 61 * M) == {"available": 1, "busy": 0, "away": 0, "offline": 1}


def test_availability_rejects_bad_input(tenant: TenantStore) -> None:
    with pytest.raises(BadInputError):
        set_availability(tenant, "  ", A)
    with pytest.raises(BadInputError):
        set_availability(tenant, "u1", A, note="x" * 501)


def test_skills_crud_and_invalid_level(tenant: TenantStore) -> None:
    s = add_skill(tenant, "u1", " Billing ", 3, by="admin")
    assert (s.category, s.level, s.can_handle_escalations, s.level_name) == ("billing", 3, False, "advanced")
    with pytest.raises(ConflictError):
        add_skill(tenant, "u1", "BILLING", 2)
    add_skill(tenant, "u1", "billing", 2, replace=True)
    assert update_skill(tenant, "u1", "Billing", can_handle_escalations=True).can_handle_escalations
    for bad in (0, 5, -1):
        with pytest.raises(BadInputError, match="level"):
            add_skill(tenant, "u2", "tech", bad)
        with pytest.raises(BadInputError, match="level"):
            update_skill(tenant, "u1", "billing", level=bad)
    add_skill(tenant, "u2", "tech", 4)
    assert [(x.user_id, x.category, x.level) for x in list_skills(tenant)] == [("u1", "billing", 2), ("u2", "tech", 4)]
    assert remove_skill(tenant, "u2", "TECH").category == "tech"
    with pytest.raises(NotFoundError):
        remove_skill(tenant, "u2", "tech")
    with pytest.raises(NotFoundError):
        update_skill(tenant, "nobody", "tech", level=2)


def test_routing_settings_default_and_set(tenant: TenantStore) -> None:
    assert get_routing_settings(tenant).mode is RoutingMode.round_robin
    s = set_routing_settings(tenant, mode=RoutingMode.skills, by="admin")
    assert (s.mode, s.fallback_to_any, s.updated_by) == (RoutingMode.skills, False, "admin")
    assert set_routing_settings(tenant, fallback_to_any=True).mode is RoutingMode.skills


def _agents(repo: TenantStore, *users: str) -> None:
    for u in users:
        set_availability(repo, u, A, now=T0 - 60 * M)


def test_round_robin_golden_sequence_counts_unsolved_workload(tenant: TenantStore) -> None:
    add_tickets(tenant, [
        # existing workload: u1 has 2 unsolved (open + hold), u2 one pending, u3 only solved/deleted ones
        dict(ticket_id="W-1", status="open", assignee_id="u1"),
        dict(ticket_id="W-2", status="hold", assignee_id="u1"),
        dict(ticket_id="W-3", status="pending", assignee_id="u2"),
        dict(ticket_id="W-4", status="solved", assignee_id="u3"),
        dict(ticket_id="W-5", status="open", assignee_id="u3", deleted_at=T0 - 5 * M),
        *[dict(ticket_id=f"N-{i}") for i in range(6)],
    ])
    _agents(tenant, "u1", "u2", "u3")
    got = [auto_assign(tenant, f"N-{i}", now=T0 + i * M) for i in range(6)]
    # u3 (0) → u2 (1; u3 now 1 but u2 is older) → u3 … then everyone level at 2 → oldest activity
    assert [d.user_id for d in got] == ["u3", "u2", "u3", "u1", "u2", "u3"]
    assert [d.workload for d in got] == [0, 1, 1, 2, 2, 2]
    assert all(d.rule == "round_robin" and d.candidates == 3 for d in got)
    assert get_availability(tenant, "u3").last_activity_at == T0 + 5 * M  # type: ignore[union-attr]
    owners = dict(tenant.rows("SELECT ticket_id, assignee_id FROM tickets WHERE ticket_id LIKE 'N-%'"))
    assert owners == {f"N-{i}": d.user_id for i, d in enumerate(got)}
    # every agent holds 3 now; rerouting u3's N-5 leaves u3 at 2, so u3 keeps it
    again = auto_assign(tenant, "N-5", reassign=True, now=T0 + 10 * M)
    assert (again.user_id, again.previous_user_id, again.workload) == ("u3", "u3", 2)


def test_the_decision_is_recorded_in_history_events_and_the_log(tenant: TenantStore) -> None:
    add_tickets(tenant, [dict(ticket_id="N-1", category="Billing")])
    _agents(tenant, "u1")
    d = auto_assign(tenant, "N-1", decided_by="agent-x", now=T0)
    hist = tenant.rows('SELECT "field", "old", "new", changed_at, job_id FROM ticket_history '
                       "WHERE ticket_id = 'N-1' ORDER BY \"field\"")
    assert hist[0][:4] == ("assignee_id", None, "u1", T0)
    assert hist[1][0] == "routing" and "round robin" in hist[1][2] and hist[1][4] == f"routing:{d.decision_id}"
    ev = tenant.rows("SELECT kind, actor, from_value, to_value FROM ticket_events WHERE ticket_id = 'N-1'")
    assert ev == [("assignee", "system", None, "u1")]
    log = tenant.rows("SELECT ticket_id, user_id, rule, category, decided_by FROM routing_decisions")
    assert log == [("N-1", "u1", "round_robin", "billing", "agent-x")]


def test_skills_routing_with_levels_escalations_and_fallback(tenant: TenantStore) -> None:
    add_tickets(tenant, [
        dict(ticket_id="B-1", category="billing"), dict(ticket_id="B-2", category="Billing"),
        dict(ticket_id="E-1", category="billing", tags="vip escalated"),
        dict(ticket_id="X-1", category="network"), dict(ticket_id="X-2", category="network"),
    ])
    _agents(tenant, "lo", "hi", "esc", "none")
    add_skill(tenant, "lo", "billing", 1)
    add_skill(tenant, "hi", "billing", 4)
    add_skill(tenant, "esc", "billing", 2, can_handle_escalations=True)
    set_routing_settings(tenant, mode=RoutingMode.skills)
    first = auto_assign(tenant, "B-1", now=T0)
    assert (first.user_id, first.rule, first.skill_level, first.candidates) == ("hi", "skills", 4, 3)
    second = auto_assign(tenant, "B-2", now=T0 + M)  # hi has 1 now; esc (2) beats lo (1) at workload 0
    assert (second.user_id, second.skill_level) == ("esc", 2)
    e = auto_assign(tenant, "E-1", now=T0 + 2 * M)
    assert (e.user_id, e.is_escalation, e.candidates) == ("esc", True, 1)
    with pytest.raises(NoAgentAvailableError, match="skill 'network'"):
        auto_assign(tenant, "X-1", now=T0 + 3 * M)
    assert tenant.scalar("SELECT assignee_id FROM tickets WHERE ticket_id = 'X-1'") is None  # rolled back
    set_routing_settings(tenant, fallback_to_any=True)
    fb = auto_assign(tenant, "X-1", now=T0 + 4 * M)
    assert (fb.user_id, fb.rule) == ("lo", "fallback")  # workload 0 like "none", never active, first by id


def test_every_error_path(tenant: TenantStore) -> None:
    add_tickets(tenant, [
        dict(ticket_id="S-1", status="solved"), dict(ticket_id="C-1", status="closed"),
        dict(ticket_id="D-1", deleted_at=T0 - M), dict(ticket_id="A-1", assignee_id="u9", status="open"),
        dict(ticket_id="N-1"),
    ])
    with pytest.raises(NotFoundError):
        auto_assign(tenant, "NOPE")
    for tid, what in (("S-1", "solved"), ("C-1", "closed"), ("D-1", "deleted")):
        with pytest.raises(ConflictError, match=what):
            auto_assign(tenant, tid)
    with pytest.raises(ConflictError, match="already assigned") as err:
        auto_assign(tenant, "A-1")
    assert err.value.details["assignee_id"] == "u9"
    with pytest.raises(NoAgentAvailableError):  # nobody has a status
        auto_assign(tenant, "N-1")
    set_availability(tenant, "u1", B, now=T0)
    set_availability(tenant, "u2", A, until=T0 + M, now=T0)  # available, but it expired
    with pytest.raises(NoAgentAvailableError, match="no agent is available"):
        auto_assign(tenant, "N-1", now=T0 + 2 * M)
    set_availability(tenant, "u2", A, now=T0 + 3 * M)
    assert auto_assign(tenant, "A-1", reassign=True, now=T0 + 4 * M).previous_user_id == "u9"
    assert tenant.count("routing_decisions") == 1


def test_another_tenants_ticket_and_agents_are_invisible(shared_store, tenant: TenantStore) -> None:  # type: ignore[no-untyped-def]
    other = shared_store.tenant(tenant.tenant_id + "-other")
    add_tickets(other, [dict(ticket_id="N-1")])
    _agents(other, "theirs")
    add_tickets(tenant, [dict(ticket_id="N-2")])
    with pytest.raises(NotFoundError):
        auto_assign(tenant, "N-1")  # exists, but in the other tenant
    with pytest.raises(NoAgentAvailableError):
        auto_assign(tenant, "N-2")  # the other tenant's available agent does not count
    assert list_availability(tenant) == [] and other.scalar("SELECT assignee_id FROM tickets") is None


def test_occupancy_golden(tenant: TenantStore) -> None:
    set_availability(tenant, "u2", A, now=T0 - 60 * M)  # before the window
    set_availability(tenant, "u1", A, now=T0)
    set_availability(tenant, "u1", B, now=T0 + 30 * M)
    set_availability(tenant, "u1", AgentStatus.away, until=T0 + 75 * M, now=T0 + 60 * M)  # then offline
    set_availability(tenant, "u2", OFF, now=T0 + 60 * M)
    rep = occupancy(tenant, window(T0, T0 + 120 * M))
    rows = {r.user_id: r for r in rep.agents}
    u1, u2 = rows["u1"], rows["u2"]
    assert (u1.available_minutes, u1.busy_minutes, u1.away_minutes, u1.offline_minutes) == (30, 30, 15, 45)
    assert (u1.logged_in_minutes, u1.occupancy) == (75, 0.5)
    assert (u2.available_minutes, u2.busy_minutes, u2.offline_minutes, u2.occupancy) == (60, 0, 60, 0.0)


def test_fairness_golden(tenant: TenantStore) -> None:
    add_tickets(tenant, [dict(ticket_id=f"N-{i}") for i in range(4)])
    _agents(tenant, "a", "b", "c", "d")
    for u in ("b", "c", "d"):
        set_availability(tenant, u, B, now=T0 - 30 * M)
    for i in range(3):
        auto_assign(tenant, f"N-{i}", now=T0 + i * M)  # only a is available
    set_availability(tenant, "b", A, now=T0 + 10 * M)
    auto_assign(tenant, "N-3", now=T0 + 11 * M)
    rep = fairness(tenant, window(T0, T0 + 60 * M))
    # population: a, b (assigned or available in the window); c and d were busy throughout
    assert rep.counts == {"a": 3, "b": 1} and rep.assignments == 4
    assert rep.gini == pytest.approx(0.25)  # [1, 3]: 2·(1·1 + 2·3)/(2·4) − 3/2
    wider = fairness(tenant, window(T0 - 90 * M, T0 + 60 * M))  # c and d were available before
    assert wider.counts == {"a": 3, "b": 1, "c": 0, "d": 0} and wider.gini == pytest.approx(0.625)


def test_coverage_gaps_golden(tenant: TenantStore) -> None:
    add_skill(tenant, "u1", "billing", 3)
    add_skill(tenant, "u2", "tech", 2)
    set_availability(tenant, "u1", A, now=T0)
    set_availability(tenant, "u1", B, now=T0 + 30 * M)
    set_availability(tenant, "u2", A, now=T0 - 60 * M)
    set_availability(tenant, "u2", OFF, now=T0 + 60 * M)
    add_tickets(tenant, [
        dict(ticket_id="b1", category="billing", created_at=T0 + 10 * M),   # u1 available: covered
        dict(ticket_id="b2", category="Billing", created_at=T0 + 45 * M),   # u1 busy: a gap
        dict(ticket_id="t1", category="tech", created_at=T0 + 20 * M),      # u2 available
        dict(ticket_id="t2", category="tech", created_at=T0 + 90 * M),      # u2 offline: a gap
        dict(ticket_id="n1", category="network", created_at=T0 + 5 * M),   # nobody has the skill
        dict(ticket_id="z1", category=None, created_at=T0 + 5 * M),         # no category: not counted
    ])
    rep = coverage_gaps(tenant, window(T0, T0 + 120 * M))
    cells = {(h.hour.hour, h.category): (h.arrivals, h.uncovered, h.skilled_available_minutes) for h in rep.hours}
    assert cells == {
        (10, "billing"): (2, 1, 30.0), (10, "network"): (1, 1, 0.0),
        (10, "tech"): (1, 0, 60.0), (11, "tech"): (1, 1, 0.0),
    }
    assert [(g.hour.hour, g.category) for g in rep.gaps] == [(10, "billing"), (10, "network"), (11, "tech")]
    assert rep.by_category()[0] == {"category": "billing", "arrivals": 2, "uncovered": 1, "gap_hours": 1}
