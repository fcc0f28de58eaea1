"""SLA policies: parse the ``policies`` section, and match tickets to their first policy.

CONTRACT §2: policies are tried top to bottom; a condition holds when the ticket's value
equals the value or one of a list's values (for ``tags``: when one of the ticket's tags does);
all keys of ``match`` must hold; no ``match`` matches everything. Without a ``policies``
section, one ``default`` policy on 24x7 is derived from ``thresholds``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from deskpulse.calendar.durations import parse_duration
from deskpulse.calendar.spec import ALWAYS_CALENDAR_NAME, CalendarSpec, parse_calendars
from deskpulse.config import AppConfig, config_error
from deskpulse.model import STATUSES, TICKET_DIMENSIONS

#: The target keys a policy may set, in output order.
METRICS: Final = ("first_response", "next_response", "resolution")
_POLICY_KEYS: Final = frozenset({"name", "match", "calendar", "targets", "pause_on", "description"})


@dataclass(frozen=True)
class Policy:
    """One SLA policy: which tickets, which calendar, which targets (seconds), what pauses."""

    name: str
    calendar: str
    targets_seconds: dict[str, int]
    match: dict[str, tuple[str, ...]] = field(default_factory=dict)
    pause_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class SlaConfig:
    """Validated calendars and policies of one config file."""

    calendars: dict[str, CalendarSpec]
    policies: tuple[Policy, ...]
    fingerprint: str

    def calendar_names(self) -> list[str]:
        """Calendars in a stable order: the index used for ``cal`` columns in the engine."""
        names = {p.calendar for p in self.policies} | {ALWAYS_CALENDAR_NAME}
        return sorted(names)


def _as_tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return (str(value),)


def load_sla_config(cfg: AppConfig) -> SlaConfig:
    """Validate ``calendars`` and ``policies`` of a config (errors name file, path, reason)."""
    src = cfg.source
    raw_cals = cfg.sections.get("calendars") or {}
    if not isinstance(raw_cals, dict):
        raise config_error(src, "calendars", "must be a mapping of calendar name to definition")
    calendars = parse_calendars(raw_cals, source=src)
    raw_policies = cfg.sections.get("policies")
    policies: list[Policy] = []
    if raw_policies is None:
        t = cfg.thresholds
        policies.append(
            Policy(
                name="default",
                calendar=ALWAYS_CALENDAR_NAME,
                targets_seconds={
                    "first_response": round(t.first_response_minutes * 60),
                    "resolution": round(t.resolution_hours * 3600),
                },
            )
        )
    elif not isinstance(raw_policies, list):
        raise config_error(src, "policies", "must be a list of policies (first match wins)")
    else:
        seen: set[str] = set()
        for i, raw in enumerate(raw_policies):
            policies.append(_parse_policy(raw, i, calendars, src))
            if policies[-1].name in seen:
                raise config_error(src, f"policies[{i}].name", f"duplicate policy name {policies[-1].name!r}")
            seen.add(policies[-1].name)
    return SlaConfig(calendars=calendars, policies=tuple(policies), fingerprint=cfg.fingerprint)


def _parse_policy(raw: Any, i: int, calendars: dict[str, CalendarSpec], src: str) -> Policy:
    path = f"policies[{i}]"
    if not isinstance(raw, dict):
        raise config_error(src, path, "a policy must be a mapping")
    unknown = set(raw) - _POLICY_KEYS
    if unknown:
        raise config_error(src, f"{path}.{sorted(unknown)[0]}", "unknown key")
    name = raw.get("name")
    if not name or not isinstance(name, str):
        raise config_error(src, f"{path}.name", "a policy needs a name")
    cal = raw.get("calendar")
    if cal is None:
        raise config_error(src, f"{path}.calendar", f"policy {name!r} names no calendar")
    cal = str(cal)
    if cal not in calendars and cal != ALWAYS_CALENDAR_NAME:
        known = ", ".join(sorted({*calendars, ALWAYS_CALENDAR_NAME}))
        raise config_error(src, f"{path}.calendar", f"unknown calendar {cal!r} (known: {known})")
    spec = calendars.get(cal)
    day_length = spec.day_length_seconds if spec is not None else 86400
    targets_raw = raw.get("targets")
    if not isinstance(targets_raw, dict) or not targets_raw:
        raise config_error(src, f"{path}.targets", "a policy needs at least one target")
    targets: dict[str, int] = {}
    for key, value in targets_raw.items():
        if key not in METRICS:
            raise config_error(
                src, f"{path}.targets.{key}", f"unknown target; use one of {', '.join(METRICS)}"
            )
        targets[key] = parse_duration(
            value, day_length, source=src, path=f"{path}.targets.{key}"
        )
    match_raw = raw.get("match") or {}
    if not isinstance(match_raw, dict):
        raise config_error(src, f"{path}.match", "match must be a mapping of field to value(s)")
    match: dict[str, tuple[str, ...]] = {}
    for key, value in match_raw.items():
        if key not in TICKET_DIMENSIONS:
            raise config_error(
                src, f"{path}.match.{key}",
                f"unknown ticket field; use one of {', '.join(TICKET_DIMENSIONS)}",
            )
        match[key] = _as_tuple(value)
    pause_raw = raw.get("pause_on") or []
    pause = _as_tuple(pause_raw) if pause_raw else ()
    for j, status in enumerate(pause):
        if status not in STATUSES:
            raise config_error(
                src, f"{path}.pause_on[{j}]", f"unknown status {status!r}; use {', '.join(STATUSES)}"
            )
    return Policy(name=name, calendar=cal, targets_seconds=targets, match=match, pause_on=pause)


def match_policies(tickets: pa.Table, policies: tuple[Policy, ...]) -> np.ndarray:
    """Index of the first matching policy per ticket (-1 = none), vectorised per policy."""
    n = tickets.num_rows
    out = np.full(n, -1, dtype=np.int64)
    for idx, policy in enumerate(policies):
        mask = np.ones(n, dtype=bool)
        for key, values in policy.match.items():
            col = tickets.column(key)
            if key == "tags":
                tags = pc.split_pattern_regex(pc.fill_null(col, ""), r"[\s,]+")
                flat = pc.list_flatten(tags)
                parents = pc.list_parent_indices(tags)
                hit = pc.is_in(flat, value_set=pa.array(values, pa.string()))
                hit_np = np.asarray(pc.fill_null(hit, False).to_numpy(zero_copy_only=False), dtype=bool)
                m = np.zeros(n, dtype=bool)
                m[np.asarray(parents.to_numpy())[hit_np]] = True
            else:
                hit = pc.is_in(col, value_set=pa.array(values, pa.string()))
                m = np.asarray(pc.fill_null(hit, False).to_numpy(zero_copy_only=False), dtype=bool)
            mask &= m
        out[(out == -1) & mask] = idx
    return out
