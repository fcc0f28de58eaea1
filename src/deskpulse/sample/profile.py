"""The fixed world of the sample helpdesk: regions, calendars, shifts, groups and mix weights.

Everything the generator draws from lives here as plain constants, so the demo config
(``examples/demo/deskpulse.yaml``) and the generated data can be checked against one source.
Minutes are minutes after local midnight; weekdays are 0 = Monday.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

from deskpulse.model import PRIORITIES, SATISFACTION, STATUSES

# --- business calendars (one per region, mirrored in examples/demo/deskpulse.yaml) ------------

Interval = tuple[int, int]  # (start_minute, end_minute) after local midnight; end may be 1440


def hm(text: str) -> int:
    """Minutes after midnight of ``"HH:MM"`` (``"24:00"`` is 1440)."""
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def span(text: str) -> Interval:
    """``"08:00-12:00"`` as an (start_minute, end_minute) pair."""
    start, end = text.split("-")
    return hm(start), hm(end)


WEEKDAYS: Final = (0, 1, 2, 3, 4)
DAY_KEYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class CalendarProfile:
    """A region's SLA business calendar (the ``calendars:`` entry of the demo config)."""

    name: str
    timezone: str
    week: tuple[tuple[Interval, ...], ...]  # 7 days, Monday first
    holiday_country: str
    holiday_subdivision: str | None
    holiday_dates: tuple[dt.date, ...]
    day_length_minutes: int


@dataclass(frozen=True)
class ShiftProfile:
    """An agent shift: local weekly intervals (holidays of the region are days off)."""

    name: str
    days: tuple[int, ...]
    intervals: tuple[Interval, ...]
    agent_share: float  # share of the region's agents on this shift
    groups: tuple[str, ...] | None = None  # None = every group staffs this shift

    @property
    def label(self) -> str:
        """The shift as written in agents.csv, e.g. ``mon-fri 08:00-12:00,13:00-16:30``."""
        days = "mon-fri" if self.days == WEEKDAYS else ",".join(DAY_KEYS[d] for d in self.days)
        parts = ",".join(f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}"
                         for s, e in self.intervals)
        return f"{days} {parts}"


@dataclass(frozen=True)
class RegionProfile:
    """A region: its requesters' timezone, arrival share, SLA calendar and agent shifts."""

    name: str
    arrival_share: float
    calendar: CalendarProfile
    shifts: tuple[ShiftProfile, ...]
    org_suffixes: tuple[str, ...]
    customer_awake: Interval  # when requesters read and answer mail, every day (minutes)


def _week(weekday: tuple[Interval, ...], sat: tuple[Interval, ...] = ()) -> tuple[tuple[Interval, ...], ...]:
    return (weekday,) * 5 + (sat, ())


T1: Final = "Tier 1 General"
BILLING: Final = "Billing"
TECHNICAL: Final = "Technical"
TIER2: Final = "Tier 2 Escalations"
ENTERPRISE: Final = "Enterprise"
GROUPS: Final = (T1, BILLING, TECHNICAL, TIER2, ENTERPRISE)
#: Share of agents per group (same order as GROUPS).
GROUP_AGENT_SHARE: Final = (0.34, 0.16, 0.24, 0.12, 0.14)

REGIONS: Final = (
    RegionProfile(
        name="emea",
        arrival_share=0.42,
        calendar=CalendarProfile(
            name="emea",
            timezone="Europe/Berlin",
            week=_week((span("08:00-12:00"), span("13:00-17:30")), (span("10:00-14:00"),)),
            holiday_country="DE",
            holiday_subdivision="BE",
            holiday_dates=(
                dt.date(2025, 12, 24), dt.date(2025, 12, 31),
                dt.date(2026, 12, 24), dt.date(2026, 12, 31),
                dt.date(2027, 12, 24), dt.date(2027, 12, 31),
            ),
            day_length_minutes=510,
        ),
        shifts=(
            ShiftProfile("early", WEEKDAYS, (span("08:00-12:00"), span("13:00-16:30")), 0.5),
            ShiftProfile("late", WEEKDAYS, (span("09:30-12:00"), span("13:00-17:30")), 0.42),
            ShiftProfile("saturday", (5,), (span("10:00-14:00"),), 0.08,
                         groups=(T1, BILLING, TECHNICAL)),
        ),
        org_suffixes=("GmbH", "AG", "SARL", "B.V.", "Ltd", "S.p.A."),
        customer_awake=span("07:00-22:30"),
    ),
    RegionProfile(
        name="amer",
        arrival_share=0.38,
        calendar=CalendarProfile(
            name="amer",
            timezone="America/New_York",
            week=_week((span("08:00-12:30"), span("13:30-18:00"))),
            holiday_country="US",
            holiday_subdivision=None,
            holiday_dates=(dt.date(2025, 11, 28), dt.date(2026, 11, 27), dt.date(2027, 11, 26)),
            day_length_minutes=540,
        ),
        shifts=(
            ShiftProfile("early", WEEKDAYS, (span("08:00-12:30"), span("13:30-16:30")), 0.5),
            ShiftProfile("late", WEEKDAYS, (span("10:00-12:30"), span("13:30-18:30")), 0.5),
        ),
        org_suffixes=("Inc.", "LLC", "Corp.", "Co.", "Group"),
        customer_awake=span("07:00-23:00"),
    ),
    RegionProfile(
        name="apac",
        arrival_share=0.20,
        calendar=CalendarProfile(
            name="apac",
            timezone="Australia/Sydney",
            week=_week((span("08:30-12:30"), span("13:30-17:30"))),
            holiday_country="AU",
            holiday_subdivision="NSW",
            holiday_dates=(dt.date(2025, 12, 24), dt.date(2026, 12, 24), dt.date(2027, 12, 24)),
            day_length_minutes=480,
        ),
        shifts=(
            ShiftProfile("day", WEEKDAYS, (span("08:30-12:30"), span("13:30-17:00")), 0.7),
            ShiftProfile("late", WEEKDAYS, (span("10:00-12:30"), span("13:30-18:30")), 0.3),
        ),
        org_suffixes=("Pty Ltd", "Ltd", "Pte. Ltd.", "K.K."),
        customer_awake=span("07:00-22:30"),
    ),
)
REGION_NAMES: Final = tuple(r.name for r in REGIONS)

#: The follow-the-sun calendar of the enterprise and high-priority policies: weekdays round the
#: clock in UTC (``1d`` = 24h there).
FOLLOW_THE_SUN_NAME: Final = "follow_the_sun"

# --- arrival seasonality (requester local time) ----------------------------------------------

#: Relative arrivals per local weekday (Monday peak, weekend trough).
WEEKDAY_FACTOR: Final = (1.45, 1.12, 1.04, 1.0, 0.88, 0.30, 0.27)
#: Relative arrivals per local hour on working days (lunch dip at 12-13).
HOUR_FACTOR_WORKDAY: Final = (
    0.08, 0.06, 0.05, 0.05, 0.06, 0.10, 0.22, 0.50, 0.86, 1.00, 1.00, 0.94,
    0.68, 0.76, 0.95, 0.93, 0.86, 0.70, 0.52, 0.42, 0.35, 0.28, 0.20, 0.13,
)
#: Relative arrivals per local hour at weekends and on holidays (flatter, later).
HOUR_FACTOR_WEEKEND: Final = (
    0.15, 0.10, 0.08, 0.07, 0.07, 0.09, 0.15, 0.28, 0.50, 0.72, 0.88, 0.95,
    0.92, 0.92, 0.95, 0.93, 0.88, 0.82, 0.75, 0.70, 0.62, 0.50, 0.36, 0.24,
)
HOLIDAY_FACTOR: Final = 0.22
#: Volume growth over the whole window (0.2 = the last day sees 20 % more than the first).
GROWTH_OVER_WINDOW: Final = 0.20
#: Day-to-day noise (lognormal sigma) of the arrival rate.
DAY_NOISE_SIGMA: Final = 0.07
#: One platform incident (an outage wave of technical tickets) per this many days.
DAYS_PER_INCIDENT: Final = 45
INCIDENT_BOOST: Final = 3.5

# --- ticket attributes -------------------------------------------------------------------------

BRAND_SUFFIXES: Final = ("Cloud", "Pay", "Shop")
BRAND_SHARE: Final = (0.5, 0.3, 0.2)

CATEGORIES: Final = (
    "billing", "technical", "account", "shipping", "feature_request", "bug", "privacy",
    "cancellation",
)
#: Category mix per brand (rows: Cloud, Pay, Shop).
CATEGORY_BY_BRAND: Final = (
    (0.12, 0.28, 0.16, 0.00, 0.10, 0.20, 0.05, 0.09),
    (0.40, 0.10, 0.18, 0.00, 0.04, 0.06, 0.07, 0.15),
    (0.15, 0.04, 0.12, 0.45, 0.04, 0.04, 0.04, 0.12),
)
#: The group a category is routed to (Enterprise-tier tickets go to the Enterprise group).
CATEGORY_GROUP: Final = (BILLING, TECHNICAL, T1, T1, T1, TECHNICAL, T1, BILLING)
#: How hard a category is: 0 = simple, 1 = medium, 2 = complex (drives the number of rounds).
CATEGORY_COMPLEXITY: Final = (1, 2, 0, 1, 0, 2, 1, 0)
#: Priority mix per category (urgent, high, normal, low).
PRIORITY_BY_CATEGORY: Final = (
    (0.018, 0.14, 0.60, 0.242),
    (0.050, 0.19, 0.55, 0.210),
    (0.020, 0.14, 0.58, 0.260),
    (0.010, 0.13, 0.58, 0.280),
    (0.000, 0.03, 0.37, 0.600),
    (0.045, 0.19, 0.57, 0.195),
    (0.020, 0.18, 0.58, 0.220),
    (0.010, 0.12, 0.56, 0.310),
)
CHANNELS: Final = ("email", "web", "chat", "phone", "api")
CHANNEL_SHARE: Final = (0.35, 0.27, 0.18, 0.09, 0.11)
#: Share of in-hours phone tickets logged by the agent who took the call (agent-created);
#: out of hours, phone tickets are voicemails (created by the requester).
PHONE_AGENT_CREATED: Final = 0.85
#: Share of in-hours email tickets that are agent-initiated outbound messages.
EMAIL_AGENT_CREATED: Final = 0.03

TIERS: Final = ("standard", "premium", "enterprise")
#: Share of organisations per tier, and how much more active their requesters are.
ORG_TIER_SHARE: Final = (0.74, 0.22, 0.04)
TIER_ACTIVITY: Final = (1.0, 1.3, 2.0)
#: Relative size (requesters) of organisations per tier.
ORG_SIZE_BY_TIER: Final = (1.0, 1.5, 3.0)
#: Share of requesters that belong to no organisation (consumers, tier standard).
INDIVIDUAL_SHARE: Final = 0.25
VIP_SHARE_BY_TIER: Final = (0.008, 0.04, 0.08)
#: Share of tickets that are spam and soft-deleted soon after they arrive.
SPAM_SHARE: Final = 0.003

# --- behaviour (medians in minutes of the clock they run on) --------------------------------

#: First reply median by channel, in business minutes of the responders' shifts.
FIRST_REPLY_MEDIAN_MINUTES: Final = (55.0, 65.0, 2.5, 50.0, 95.0)
FIRST_REPLY_SIGMA: Final = 0.9
PRIORITY_SPEED: Final = (0.1, 0.2, 1.0, 1.6)
TIER_SPEED: Final = (1.0, 0.8, 0.3)
#: Load on the local weekday of arrival slows the first reply (Monday backlog).
WEEKDAY_LOAD: Final = (1.45, 1.15, 1.0, 1.0, 1.05, 1.2, 1.3)
#: Some tickets fall through the cracks: share and slowdown range.
FORGOTTEN_SHARE: Final = 0.03
FORGOTTEN_FACTOR: Final = (4.0, 14.0)
NEXT_REPLY_MEDIAN_MINUTES: Final = 110.0
FOLLOW_UP_MEDIAN_MINUTES: Final = 240.0
TRIAGE_MEDIAN_MINUTES: Final = 18.0
MISROUTED_SHARE: Final = 0.16
AUTO_ASSIGN_SHARE: Final = 0.25
CUSTOMER_REPLY_MEDIAN_MINUTES: Final = 170.0
#: Blocked requesters answer faster: multiplier on their reply delay per priority.
CUSTOMER_PRIORITY_SPEED: Final = (0.15, 0.6, 1.0, 1.3)
CUSTOMER_ANSWERS_PENDING: Final = 0.86
PENDING_AUTO_SOLVE_DAYS: Final = 5
HOLD_MEDIAN_HOURS_BY_COMPLEXITY: Final = (20.0, 30.0, 48.0)
#: Some holds wait for an engineering fix or a carrier: share of holds and their median.
LONG_HOLD_SHARE: Final = 0.2
LONG_HOLD_MEDIAN_DAYS: Final = 12.0
CUSTOMER_PINGS_DURING_HOLD: Final = 0.25
REOPEN_SHARE: Final = 0.07
CLOSE_AFTER_SOLVED_DAYS: Final = 4
PRIVATE_NOTE_SHARE: Final = 0.14
ESCALATION_SHARE_BY_COMPLEXITY: Final = (0.04, 0.10, 0.18)
REASSIGN_SHARE: Final = 0.05
PRIORITY_CHANGE_SHARE: Final = 0.03
CSAT_RESPONSE_SHARE: Final = 0.27
CSAT_BAD_BASE: Final = 0.08
MAX_ROUNDS: Final = 8
#: Chance that an agent's reply solves the ticket in the first round, by complexity; later
#: rounds add 0.16 each, a reopened ticket 0.3, and urgent tickets (all hands) the bonus below.
SOLVE_BASE_BY_COMPLEXITY: Final = (0.55, 0.33, 0.2)
SOLVE_BONUS_BY_PRIORITY: Final = (0.25, 0.05, 0.0, 0.0)
#: Of the replies that do not solve: share put on hold (by complexity), then pending vs open.
HOLD_SHARE_BY_COMPLEXITY: Final = (0.05, 0.14, 0.24)
PENDING_SHARE_OF_REST: Final = 0.58

# --- code books (indexes used throughout the generator) --------------------------------------

STATUS_CODE: Final = {s: i for i, s in enumerate(STATUSES)}
PRIORITY_CODE: Final = {p: i for i, p in enumerate(PRIORITIES)}
GROUP_CODE: Final = {g: i for i, g in enumerate(GROUPS)}
SATISFACTION_CODE: Final = {s: i for i, s in enumerate(SATISFACTION)}
