"""The pure choice (seed 002's algorithm and skills routing), and fairness over 10k assignments.

Golden cases spell out the order: ascending workload, then oldest last_activity_at (never
first), then user id; skills mode: skilled agents only, higher level at equal workload,
escalations only to flagged agents, fallback only when configured. Hypothesis checks the
invariants; a simulation of 10 000 arrivals and resolutions checks that least-loaded round
robin spreads assignments evenly (Gini close to 0), in a fraction of a second.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deskpulse.routing.analytics import Window, fairness_of, gini
from deskpulse.routing.choose import Candidate, choose, round_robin_key
from deskpulse.routing.model import NoAgentAvailableError, RoutingMode

T = datetime(2026, 3, 2, 10, 0)
RR = RoutingMode.round_robin
SK = RoutingMode.skills


def c(user: str, workload: int, minutes_ago: int | None = None, level: int | None = None, esc: bool = False) -> Candidate:
    last = None if minutes_ago is None else T - timedelta(minutes=minutes_ago)
    return Candidate(user, workload, last, level, esc)


def test_round_robin_takes_the_lowest_workload() -> None:
    got = choose([c("a", 3, 100), c("b", 1, 1), c("c", 2, 500)], mode=RR)
    assert got.candidate.user_id == "b" and got.rule == "round_robin" and got.pool == 3


def test_round_robin_breaks_ties_by_the_oldest_activity_never_active_first() -> None:
    assert choose([c("a", 1, 5), c("b", 1, 50), c("c", 1, 10)], mode=RR).candidate.user_id == "b"
    assert choose([c("a", 1, 5), c("b", 1, None), c("c", 1, 10)], mode=RR).candidate.user_id == "b"
    assert choose([c("b", 0), c("a", 0)], mode=RR).candidate.user_id == "a"  # then the user id


def test_round_robin_ignores_skills() -> None:
    got = choose([c("a", 1, 5, level=4), c("b", 0, 5)], mode=RR, category="billing")
    assert got.candidate.user_id == "b"


def test_nobody_available_is_a_clear_503() -> None:
    with pytest.raises(NoAgentAvailableError) as err:
        choose([], mode=RR)
    assert err.value.http_status == 503 and err.value.code == "no_agent_available"
    assert "no agent is available" in err.value.message


def test_skills_keeps_only_skilled_agents_and_prefers_the_lower_workload() -> None:
    got = choose([c("a", 0), c("b", 2, level=1), c("c", 1, level=2)], mode=SK, category="billing")
    assert got.candidate.user_id == "c" and got.rule == "skills" and got.pool == 2 and got.available == 3


def test_skills_prefers_the_higher_level_at_equal_workload() -> None:
    got = choose([c("a", 1, 100, level=2), c("b", 1, 1, level=4), c("c", 1, 50, level=3)], mode=SK, category="x")
    assert got.candidate.user_id == "b"
    # a lower workload still beats a higher level
    assert choose([c("a", 0, level=1), c("b", 1, level=4)], mode=SK, category="x").candidate.user_id == "a"


def test_escalations_go_only_to_flagged_agents() -> None:
    cands = [c("a", 0, level=4), c("b", 3, level=1, esc=True)]
    assert choose(cands, mode=SK, category="x", is_escalation=True).candidate.user_id == "b"
    assert choose(cands, mode=SK, category="x").candidate.user_id == "a"


def test_without_a_skilled_agent_the_fallback_is_used_only_when_configured() -> None:
    cands = [c("a", 2), c("b", 1)]
    with pytest.raises(NoAgentAvailableError, match="skill 'network'"):
        choose(cands, mode=SK, category="network")
    got = choose(cands, mode=SK, category="network", fallback_to_any=True)
    assert got.candidate.user_id == "b" and got.rule == "fallback" and "fallback" in got.reason


def test_a_ticket_without_category_needs_no_skill() -> None:
    got = choose([c("a", 2, level=None), c("b", 1)], mode=SK, category=None)
    assert got.candidate.user_id == "b" and got.rule == "no_category"
    esc = choose([c("a", 2, esc=True), c("b", 1)], mode=SK, category=None, is_escalation=True)
    assert esc.candidate.user_id == "a"


candidates = st.lists(
    st.builds(Candidate, st.text("abcdefgh", min_size=1, max_size=3), st.integers(0, 20),
              st.one_of(st.none(), st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31))),
              st.one_of(st.none(), st.integers(1, 4)), st.booleans()),
    min_size=1, max_size=12, unique_by=lambda x: x.user_id,
)


@given(candidates)
@settings(max_examples=100, deadline=None)
def test_round_robin_never_skips_a_less_loaded_agent(cands: list[Candidate]) -> None:
    got = choose(cands, mode=RR).candidate
    assert got.workload == min(x.workload for x in cands)
    assert round_robin_key(got) == min(round_robin_key(x) for x in cands)


@given(candidates, st.booleans())
@settings(max_examples=100, deadline=None)
def test_skills_choice_is_skilled_least_loaded_and_highest_level(cands: list[Candidate], esc: bool) -> None:
    pool = [x for x in cands if x.skill_level is not None and (x.can_handle_escalations or not esc)]
    try:
        got = choose(cands, mode=SK, category="x", is_escalation=esc).candidate
    except NoAgentAvailableError:
        assert not pool
        return
    assert got in pool
    least = min(x.workload for x in pool)
    assert got.workload == least
    assert got.skill_level == max(x.skill_level or 0 for x in pool if x.workload == least)


def test_gini_golden_values() -> None:
    assert gini([]) == 0.0 and gini([0, 0]) == 0.0
    assert gini([5, 5, 5, 5]) == pytest.approx(0.0)
    assert gini([0, 0, 0, 4]) == pytest.approx(0.75)  # (n - 1) / n: one agent got everything
    assert gini([3, 1, 0, 0]) == pytest.approx(0.625)
    assert gini([1, 2, 3]) == pytest.approx(2 / 9)


def _simulate(n_agents: int, n_tickets: int, seed: int) -> dict[str, int]:
    """Least-loaded round robin over ``n_tickets`` arrivals; each open ticket is solved with
    probability 0.3 per arrival; agents go busy/away (unavailable) now and then."""
    rng = random.Random(seed)
    agents = [f"agt-{i:02d}" for i in range(n_agents)]
    open_tickets: dict[str, list[int]] = {a: [] for a in agents}
    last: dict[str, datetime | None] = dict.fromkeys(agents)
    counts = dict.fromkeys(agents, 0)
    now = T
    for t in range(n_tickets):
        now += timedelta(seconds=rng.randint(1, 90))
        for a in agents:  # resolutions
            open_tickets[a] = [x for x in open_tickets[a] if rng.random() > 0.3]
        away = {a for a in agents if rng.random() < 0.1}
        pool = [Candidate(a, len(open_tickets[a]), last[a]) for a in agents if a not in away]
        if not pool:
            continue
        who = choose(pool, mode=RR).candidate.user_id
        open_tickets[who].append(t)
        last[who] = now
        counts[who] += 1
    return counts


def test_fairness_over_10k_simulated_assignments() -> None:
    counts = _simulate(n_agents=12, n_tickets=10_000, seed=7)
    report = fairness_of(counts, Window(T, T + timedelta(days=30)))
    assert report.assignments >= 9_900
    assert report.gini < 0.02, report
    values = np.array(list(counts.values()))
    assert values.max() - values.min() <= 0.05 * values.mean()


def test_pure_rotation_is_exactly_even() -> None:
    """Nobody solves anything: workloads rise in lock step, assignments differ by at most one."""
    agents = [f"a{i}" for i in range(7)]
    load = dict.fromkeys(agents, 0)
    for _ in range(10_000):
        who = choose([Candidate(a, load[a]) for a in agents], mode=RR).candidate.user_id
        load[who] += 1
    assert max(load.values()) - min(load.values()) <= 1
    assert gini(list(load.values())) < 0.001
