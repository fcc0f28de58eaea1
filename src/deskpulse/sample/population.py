"""Who is in the sample helpdesk: agents (group, region, shift, skills), organisations, requesters.

Agents are few (tens to hundreds) and built with plain Python; organisations and requesters
scale with the ticket count and are drawn with numpy. Ticket-level draws (which requester opens
each ticket) are vectorised per region.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from deskpulse.sample import profile as P

FIRST_NAMES: tuple[tuple[str, ...], ...] = (
    ("Anna", "Lukas", "Sophie", "Jonas", "Marie", "Felix", "Lea", "Paul", "Clara", "Noah",
     "Elif", "Mateo", "Ines", "Luca", "Amelie", "Tomasz", "Sara", "Emil", "Nora", "Julien"),
    ("Emily", "James", "Olivia", "Michael", "Ava", "Daniel", "Sofia", "Ethan", "Maya", "Lucas",
     "Grace", "Carlos", "Zoe", "Andre", "Hannah", "Diego", "Chloe", "Marcus", "Lily", "Ryan"),
    ("Priya", "Liam", "Mei", "Arjun", "Charlotte", "Kenji", "Isla", "Ravi", "Ruby", "Hiro",
     "Ananya", "Jack", "Yuki", "Oliver", "Aisha", "Min-jun", "Matilda", "Rohan", "Harper", "Wei"),
)
LAST_NAMES: tuple[tuple[str, ...], ...] = (
    ("Müller", "Schmidt", "Dubois", "Rossi", "Novak", "Jansen", "García", "Kowalski", "Weber",
     "Lambert", "Fischer", "Bianchi", "Meyer", "Nielsen", "Moreau", "Hoffmann"),
    ("Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Rodriguez", "Martinez",
     "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Jackson", "Lee"),
    ("Sharma", "Nguyen", "Tanaka", "Chen", "Wang", "Patel", "Kim", "Singh", "Sato", "Wilson",
     "Kumar", "Park", "Li", "Brown", "Walker", "Iyer"),
)
ORG_WORDS_A: tuple[str, ...] = (
    "Blue", "North", "Silver", "Bright", "Green", "Iron", "Summit", "Clear", "Rapid", "Golden",
    "Red", "Urban", "Cedar", "Polar", "Swift", "Stone", "Nova", "Crystal", "Harbor", "Atlas",
    "Pioneer", "Vertex", "Sun", "Oak", "Coastal", "Prime", "Metro", "Echo", "Alpine", "River",
    "Falcon", "Maple", "Quantum", "Lumen", "Orbit", "Delta", "Sierra", "Aurora", "Copper", "Kite",
)
ORG_WORDS_B: tuple[str, ...] = (
    "Logistics", "Foods", "Labs", "Systems", "Media", "Health", "Retail", "Energy", "Works",
    "Analytics", "Ventures", "Dynamics", "Networks", "Studios", "Partners", "Supply", "Motors",
    "Pharma", "Finance", "Travel", "Robotics", "Apparel", "Insurance", "Capital", "Software",
    "Foundry", "Outfitters", "Consulting", "Markets", "Freight", "Clinics", "Games", "Bank",
    "Textiles", "Solar", "Dental", "Realty", "Education", "Brewing", "Telecom",
)
SKILLS_BY_GROUP: tuple[tuple[str, ...], ...] = (
    ("general", "account", "shipping", "privacy"),
    ("billing", "refunds", "cancellations", "invoicing"),
    ("technical", "api", "integrations", "bugs"),
    ("escalations", "technical", "billing", "incident"),
    ("enterprise", "technical", "billing", "onboarding"),
)


@dataclass(frozen=True)
class ShiftRef:
    """One agent shift of one region (index = position in :func:`all_shifts`)."""

    region: int
    shift: P.ShiftProfile


def all_shifts() -> tuple[ShiftRef, ...]:
    """Every (region, shift) pair, region-major."""
    return tuple(ShiftRef(r, s) for r, region in enumerate(P.REGIONS) for s in region.shifts)


@dataclass(frozen=True)
class Agents:
    """The agent roster; arrays are indexed by agent number."""

    agent_id: tuple[str, ...]
    name: tuple[str, ...]
    group: NDArray[np.int8]
    region: NDArray[np.int8]
    shift: NDArray[np.int16]  # index into all_shifts()
    weight: NDArray[np.float64]  # share of the queue an agent picks up (part-timers, new hires)
    speed: NDArray[np.float64]  # multiplier on the agent's follow-up reply delays
    skills: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.agent_id)


def build_agents(rng: np.random.Generator, n_agents_target: int, id_prefix: str) -> Agents:
    """Staff every (region, group, shift) cell in proportion to arrivals and group shares."""
    shifts = all_shifts()
    rows: list[tuple[int, int, int]] = []  # (group, region, shift index)
    for k, ref in enumerate(shifts):
        region = P.REGIONS[ref.region]
        for g, group in enumerate(P.GROUPS):
            if ref.shift.groups is not None and group not in ref.shift.groups:
                continue
            share = region.arrival_share * P.GROUP_AGENT_SHARE[g] * ref.shift.agent_share
            if ref.shift.groups is not None:
                share /= P.GROUP_AGENT_SHARE[g]
                share *= 0.05
            count = max(1, round(n_agents_target * share))
            rows.extend((g, ref.region, k) for _ in range(count))
    order = rng.permutation(len(rows))
    rows = [rows[i] for i in order]
    rows.sort(key=lambda row: (row[1], row[0]))  # agents numbered by region, then group
    n = len(rows)
    width = max(4, len(str(n)))
    agent_id = tuple(f"{id_prefix}agt-{i + 1:0{width}d}" for i in range(n))
    names: list[str] = []
    used: set[str] = set()
    for _, region_code, _ in rows:
        firsts, lasts = FIRST_NAMES[region_code], LAST_NAMES[region_code]
        for _attempt in range(50):
            name = f"{firsts[int(rng.integers(len(firsts)))]} {lasts[int(rng.integers(len(lasts)))]}"
            if name not in used:
                break
        else:
            name = f"{name} {len(used)}"
        used.add(name)
        names.append(name)
    skills: list[str] = []
    for g, _, _ in rows:
        pool = SKILLS_BY_GROUP[g]
        levels = rng.integers(1, 5, size=len(pool))
        levels[0] = max(int(levels[0]), 3)
        picked = [f"{skill}:{int(level)}" for skill, level in zip(pool, levels, strict=True)
                  if level >= 2 or skill == pool[0]]
        skills.append(" ".join(picked))
    return Agents(
        agent_id=agent_id,
        name=tuple(names),
        group=np.asarray([row[0] for row in rows], dtype=np.int8),
        region=np.asarray([row[1] for row in rows], dtype=np.int8),
        shift=np.asarray([row[2] for row in rows], dtype=np.int16),
        weight=np.exp(rng.normal(0.0, 0.35, n)),
        speed=np.exp(rng.normal(0.0, 0.3, n)),
        skills=tuple(skills),
    )


@dataclass(frozen=True)
class Customers:
    """Organisations and requesters; requesters are numbered region-major."""

    org_name: tuple[str, ...]
    org_tier: NDArray[np.int8]
    requester_id: tuple[str, ...]
    requester_region: NDArray[np.int8]
    requester_org: NDArray[np.int32]  # -1 = an individual without organisation
    requester_tier: NDArray[np.int8]
    requester_vip: NDArray[np.bool_]
    requester_weight: NDArray[np.float64]


def build_customers(rng: np.random.Generator, n_tickets: int, id_prefix: str) -> Customers:
    """Requesters ≈ 0.38 per ticket with heavy-tailed activity; organisations of varied size."""
    total_requesters = max(60, int(n_tickets * 0.38))
    org_names: list[str] = []
    org_tier_parts: list[NDArray[np.int8]] = []
    req_region: list[NDArray[np.int8]] = []
    req_org: list[NDArray[np.int32]] = []
    req_tier: list[NDArray[np.int8]] = []
    n_words = len(ORG_WORDS_A) * len(ORG_WORDS_B)
    for r, region in enumerate(P.REGIONS):
        n_req = max(20, round(total_requesters * region.arrival_share))
        space = n_words * len(region.org_suffixes)
        n_org = min(space, max(10, n_req // 22))
        picks = rng.choice(space, size=n_org, replace=False)
        base = len(org_names)
        for pick in picks.tolist():
            word, suffix = divmod(pick, len(region.org_suffixes))
            a, b = divmod(word, len(ORG_WORDS_B))
            org_names.append(f"{ORG_WORDS_A[a]} {ORG_WORDS_B[b]} {region.org_suffixes[suffix]}")
        # tier quotas (at least one premium and one enterprise organisation per region)
        quota = [max(1, round(share * n_org)) for share in P.ORG_TIER_SHARE[1:]]
        tiers = np.zeros(n_org, dtype=np.int8)
        tiers[: quota[1]] = 2
        tiers[quota[1] : quota[1] + quota[0]] = 1
        tiers = rng.permutation(tiers)
        org_tier_parts.append(tiers)
        size = np.exp(rng.normal(0.0, 1.0, n_org)) * np.asarray(P.ORG_SIZE_BY_TIER)[tiers]
        member = rng.random(n_req) >= P.INDIVIDUAL_SHARE
        org = np.full(n_req, -1, dtype=np.int32)
        org[member] = base + rng.choice(n_org, size=int(member.sum()), p=size / size.sum())
        tier = np.zeros(n_req, dtype=np.int8)
        tier[member] = tiers[org[member] - base]
        req_region.append(np.full(n_req, r, dtype=np.int8))
        req_org.append(org)
        req_tier.append(tier)
    region_arr = np.concatenate(req_region)
    tier_arr = np.concatenate(req_tier)
    n_req_total = len(region_arr)
    width = max(6, len(str(n_req_total)))
    vip = rng.random(n_req_total) < np.asarray(P.VIP_SHARE_BY_TIER)[tier_arr]
    weight = np.exp(rng.normal(0.0, 1.0, n_req_total)) * np.asarray(P.TIER_ACTIVITY)[tier_arr]
    return Customers(
        org_name=tuple(org_names),
        org_tier=np.concatenate(org_tier_parts),
        requester_id=tuple(f"{id_prefix}usr-{i + 1:0{width}d}" for i in range(n_req_total)),
        requester_region=region_arr,
        requester_org=np.concatenate(req_org),
        requester_tier=tier_arr,
        requester_vip=vip,
        requester_weight=weight,
    )


def pick_requesters(rng: np.random.Generator, customers: Customers,
                    region: NDArray[np.int8]) -> NDArray[np.int64]:
    """A requester for each ticket, from the ticket's region, weighted by activity."""
    out = np.empty(len(region), dtype=np.int64)
    for r in range(len(P.REGIONS)):
        mask = region == r
        pool = np.flatnonzero(customers.requester_region == r)
        w = customers.requester_weight[pool]
        out[mask] = pool[rng.choice(len(pool), size=int(mask.sum()), p=w / w.sum())]
    return out
