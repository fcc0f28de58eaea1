"""SLA alerts: rules evaluated on the last build, sent by email or webhook, deduplicated, with
quiet hours.

A rule compares one metric with a threshold, over the tickets its filters select:

- ``at_risk_tickets`` — open tickets with an SLA clock due within 4 hours and not yet
  breached (:func:`deskpulse.analytics.backlog.minutes_to_green`); e.g. "at-risk tickets in
  group Billing > 10";
- ``breached_tickets`` — open tickets with a running clock past due (same source);
- ``sla_attainment_pct`` — met / (met + missed) SLA instances of the tickets created in the
  window (``today``, ``7d``, ``30d``: :func:`deskpulse.analytics.agents.range_filters`), over
  first response, next response and resolution together (the counts of
  :func:`~deskpulse.analytics.resolution.response_times` and
  :func:`~deskpulse.analytics.resolution.resolution`); e.g. "SLA attainment today < 90 %";
- ``breach_within`` — one alert per running SLA clock with at most ``threshold`` business
  minutes left and not yet breached (:func:`deskpulse.analytics.risk.open_clock_frame`, on the
  clock's own business calendar); e.g. "ticket will breach within 15 business minutes".

Like every analysis, rules read the tenant's last build: "now" for the metric is the build's
``as_of`` (keep builds fresh, e.g. with the sync service); quiet hours and deduplication use
the wall clock (injectable).

**Deduplication.** ``alert_state`` holds, per rule and key (``rule`` for a threshold rule, one
SLA clock for ``breach_within``), whether it is firing and when it was last notified. A key is
notified when it starts firing, and again only after ``repeat_minutes`` (0: never while it
keeps firing); when it stops firing its state is dropped, so a later breach alerts anew. A
failed delivery leaves the key un-notified, so the next check tries again.

**Quiet hours** (``22:00-07:00`` in the rule's timezone; may run past midnight): nothing is
sent; the keys wait, un-notified, and go out at the first check after the quiet hours if they
are still firing. One ``suppressed`` event records what was held back.

**Delivery**: email through :class:`~deskpulse.reports.mailer.Mailer` (its retries), or a JSON
``POST`` through the notifications' retry and circuit-breaker component
(:class:`deskpulse.ingest.sync.breaker.StoredBreaker` shared by all workers, with
:class:`deskpulse.ingest.sync.retry.Backoff`). **Concurrency**: a worker checks a rule only
while it holds the rule's lease (a conditional UPDATE), so two workers never send the same
alert.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import operator
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any, Final
from urllib.parse import urlparse

import httpx

from deskpulse.analytics.agents import RANGES, range_filters
from deskpulse.analytics.backlog import AT_RISK_HOURS, minutes_to_green
from deskpulse.analytics.filters import Filters
from deskpulse.analytics.resolution import resolution, response_times
from deskpulse.analytics.results import analysis_now, pct
from deskpulse.config import AppConfig
from deskpulse.errors import DeskpulseError, UsageError
from deskpulse.ingest.sync.breaker import Policy, StoredBreaker
from deskpulse.ingest.sync.retry import Backoff
from deskpulse.reports.cron import zone
from deskpulse.reports.lease import compare_and_set, lease_end
from deskpulse.reports.mailer import DeliveryFailed, Mailer, plain_message
from deskpulse.reports.named import NamedTable
from deskpulse.reports.schedules import check_filters, check_recipients, now_utc, worker_name
from deskpulse.settings import ReportSettings, load_report_settings
from deskpulse.store import Store, TenantStore

log = logging.getLogger(__name__)


class AlertMetric(enum.StrEnum):
    at_risk_tickets = "at_risk_tickets"
    breached_tickets = "breached_tickets"
    sla_attainment_pct = "sla_attainment_pct"
    breach_within = "breach_within"


class Channel(enum.StrEnum):
    email = "email"
    webhook = "webhook"


OPS: Final[dict[str, Callable[[float, float], bool]]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
}
METRIC_WORDS: Final = {
    AlertMetric.at_risk_tickets: f"open tickets at risk (due within {AT_RISK_HOURS} h)",
    AlertMetric.breached_tickets: "open tickets with a breached SLA",
    AlertMetric.sla_attainment_pct: "SLA attainment (%)",
    AlertMetric.breach_within: "SLA clocks due within N business minutes",
}
RULE_KEY: Final = "rule"
#: The most keys (clocks) listed in one notification; the rest are counted.
LIST_LIMIT: Final = 50

_WHEN = re.compile(r"^\s*([a-z_]+)\s*(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*%?\s*$")
_QUIET = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_when(text: str) -> tuple[AlertMetric, str, float]:
    """``"at_risk_tickets > 10"`` → (metric, op, threshold); ``breach_within <= 15`` (minutes)."""
    m = _WHEN.match(text.lower())
    if not m:
        raise UsageError(
            f"cannot read the condition {text!r}: write METRIC OP NUMBER, e.g. "
            "'at_risk_tickets > 10', 'sla_attainment_pct < 90', 'breach_within <= 15'")
    try:
        metric = AlertMetric(m.group(1))
    except ValueError:
        raise UsageError(
            f"unknown alert metric {m.group(1)!r}; use {', '.join(a.value for a in AlertMetric)}"
        ) from None
    return metric, m.group(2), float(m.group(3))


def parse_quiet(text: str | None) -> tuple[dtime, dtime] | None:
    """``"22:00-07:00"`` → (start, end) local times; None/empty → no quiet hours."""
    if text is None or not text.strip():
        return None
    m = _QUIET.match(text)
    if not m:
        raise UsageError(f"quiet hours {text!r}: write HH:MM-HH:MM, e.g. 22:00-07:00")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise UsageError(f"quiet hours {text!r}: not a time of day")
    start = dtime(h1, m1)
    end = dtime(0, 0) if h2 == 24 else dtime(h2, m2)
    if start == end and h2 != 24:
        raise UsageError(f"quiet hours {text!r}: start and end are the same")
    return start, end


def in_quiet_hours(at: datetime, quiet: str | None, timezone: str) -> bool:
    """Is the naive-UTC instant ``at`` inside the quiet hours (local time, end exclusive)?"""
    span = parse_quiet(quiet)
    if span is None:
        return False
    start, end = span
    local = at.replace(tzinfo=UTC).astimezone(zone(timezone)).time().replace(tzinfo=None)
    if start < end:
        return start <= local < end
    return local >= start or local < end  # runs past midnight (or the whole day: 00:00-24:00)


@dataclass(frozen=True)
class RuleSpec:
    """What a caller gives to create an alert rule (validated by :meth:`check`)."""

    name: str
    metric: str
    op: str
    threshold: float
    channel: str
    target: list[str]
    filters: dict[str, str] = field(default_factory=dict)
    window: str | None = None
    quiet_hours: str | None = None
    timezone: str = "UTC"
    repeat_minutes: int = 0
    enabled: bool = True

    def check(self) -> RuleSpec:
        name = self.name.strip()
        if not name or len(name) > 100 or not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", name):
            raise UsageError(f"rule name {self.name!r}: 1-100 letters, digits, '.', '_' or '-'")
        try:
            metric = AlertMetric(self.metric)
        except ValueError:
            raise UsageError(
                f"unknown alert metric {self.metric!r}; use {', '.join(a.value for a in AlertMetric)}"
            ) from None
        op = "<=" if metric is AlertMetric.breach_within else self.op
        if op not in OPS:
            raise UsageError(f"unknown comparison {self.op!r}; use >, >=, < or <=")
        if metric is AlertMetric.breach_within and self.threshold <= 0:
            raise UsageError("breach_within needs a positive number of business minutes")
        window = self.window
        if metric is AlertMetric.sla_attainment_pct:
            window = window or "today"
            if window not in RANGES or window == "all":
                raise UsageError(f"unknown window {window!r}; use today, 7d, 30d or 90d")
        else:
            window = None
        try:
            channel = Channel(self.channel)
        except ValueError:
            raise UsageError(f"unknown channel {self.channel!r}; use email or webhook") from None
        if channel is Channel.email:
            target = check_recipients(self.target)
        else:
            if len(self.target) != 1:
                raise UsageError("a webhook rule needs exactly one URL")
            url = urlparse(self.target[0])
            if url.scheme not in ("http", "https") or not url.netloc:
                raise UsageError(f"not an http(s) URL: {self.target[0]!r}")
            target = [self.target[0]]
        parse_quiet(self.quiet_hours)
        zone(self.timezone)
        if self.repeat_minutes < 0:
            raise UsageError("--repeat-minutes must be >= 0")
        return RuleSpec(name=name, metric=metric.value, op=op, threshold=float(self.threshold),
                        channel=channel.value, target=target, filters=check_filters(dict(self.filters)),
                        window=window, quiet_hours=(self.quiet_hours or "").strip() or None,
                        timezone=self.timezone, repeat_minutes=int(self.repeat_minutes),
                        enabled=self.enabled)


@dataclass(frozen=True)
class AlertRule:
    """A stored rule."""

    tenant_id: str
    rule_id: str
    name: str
    metric: str
    op: str
    threshold: float
    filters: dict[str, str]
    window: str | None
    channel: str
    target: list[str]
    quiet_hours: str | None
    timezone: str
    repeat_minutes: int
    enabled: bool
    last_checked_at: datetime | None
    last_value: float | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def condition(self) -> str:
        unit = " business min" if self.metric == AlertMetric.breach_within else ""
        scope = " · ".join(f"{k}={v}" for k, v in sorted(self.filters.items()))
        window = f" ({self.window})" if self.window else ""
        return f"{self.metric}{window} {self.op} {self.threshold:g}{unit}" + (f" · {scope}" if scope else "")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "condition": self.condition}


_RULE_COLS: Final = (
    "tenant_id", "rule_id", "name", "metric", "op", "threshold", "filters", "window_name",
    "channel", "target", "quiet_hours", "timezone", "repeat_minutes", "enabled", "last_checked_at",
    "last_value", "created_by", "created_at", "updated_at",
)


def _rule(row: Sequence[Any]) -> AlertRule:
    d = dict(zip(_RULE_COLS, row, strict=True))
    d["window"] = d.pop("window_name")
    d["filters"] = json.loads(d["filters"])
    d["target"] = json.loads(d["target"])
    d["threshold"] = float(d["threshold"])
    d["repeat_minutes"] = int(d["repeat_minutes"])
    d["enabled"] = bool(d["enabled"])
    d["last_value"] = float(d["last_value"]) if d["last_value"] is not None else None
    return AlertRule(**d)


@dataclass(frozen=True)
class AlertEvent:
    """One ``alert_events`` row: something an alert check did."""

    tenant_id: str
    event_id: str
    rule_id: str
    rule_name: str
    event_at: datetime
    status: str
    keys: list[str]
    value: float | None
    message: str | None
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_EVENT_COLS: Final = ("tenant_id", "event_id", "rule_id", "rule_name", "event_at", "status",
                      "keys", "value", "message", "error")


# --- CRUD ------------------------------------------------------------------------------------------


RULES: Final = NamedTable("alert_rules", "rule_id", _RULE_COLS, "alert rule", _rule, lambda r: r.name)


def list_rules(store: Store, tenant: str) -> list[AlertRule]:
    return RULES.all(store, tenant)


def get_rule(store: Store, tenant: str, ref: str) -> AlertRule:
    return RULES.get(store, tenant, ref)


def add_rule(store: Store, tenant: str, spec: RuleSpec, *, now: datetime | None = None,
             created_by: str | None = None) -> AlertRule:
    spec = spec.check()
    now = now or now_utc()
    RULES.ensure_name_free(store, tenant, spec.name)
    rid = uuid.uuid4().hex
    store.execute(
        "INSERT INTO alert_rules (tenant_id, rule_id, name, metric, op, threshold, filters, "
        "window_name, channel, target, quiet_hours, timezone, repeat_minutes, enabled, created_by, "
        "created_at, updated_at) VALUES ($t, $id, $name, $metric, $op, $th, $filters, $window, "
        "$channel, $target, $quiet, $tz, $repeat, $enabled, $by, $now, $now)",
        {"t": tenant, "id": rid, "name": spec.name, "metric": spec.metric, "op": spec.op,
         "th": spec.threshold, "filters": json.dumps(spec.filters), "window": spec.window,
         "channel": spec.channel, "target": json.dumps(spec.target), "quiet": spec.quiet_hours,
         "tz": spec.timezone, "repeat": spec.repeat_minutes, "enabled": spec.enabled,
         "by": created_by, "now": now},
    )
    return get_rule(store, tenant, rid)


RULE_UPDATABLE: Final = ("name", "metric", "op", "threshold", "channel", "target", "filters",
                         "window", "quiet_hours", "timezone", "repeat_minutes", "enabled")


def update_rule(store: Store, tenant: str, ref: str, changes: dict[str, Any], *,
                now: datetime | None = None) -> AlertRule:
    unknown = set(changes) - set(RULE_UPDATABLE)
    if unknown:
        raise UsageError(f"cannot change {sorted(unknown)[0]!r}")
    cur = get_rule(store, tenant, ref)
    merged = {k: changes.get(k, getattr(cur, k)) for k in RULE_UPDATABLE}
    spec = RuleSpec(**merged).check()
    if spec.name != cur.name:
        RULES.ensure_name_free(store, tenant, spec.name)
    store.execute(
        "UPDATE alert_rules SET name = $name, metric = $metric, op = $op, threshold = $th, "
        "filters = $filters, window_name = $window, channel = $channel, target = $target, "
        "quiet_hours = $quiet, timezone = $tz, repeat_minutes = $repeat, enabled = $enabled, "
        "updated_at = $now WHERE tenant_id = $t AND rule_id = $id",
        {"t": tenant, "id": cur.rule_id, "name": spec.name, "metric": spec.metric, "op": spec.op,
         "th": spec.threshold, "filters": json.dumps(spec.filters), "window": spec.window,
         "channel": spec.channel, "target": json.dumps(spec.target), "quiet": spec.quiet_hours,
         "tz": spec.timezone, "repeat": spec.repeat_minutes, "enabled": spec.enabled,
         "now": now or now_utc()},
    )
    if spec.metric != cur.metric or spec.filters != cur.filters:  # other keys: start afresh
        store.execute("DELETE FROM alert_state WHERE tenant_id = $t AND rule_id = $id",
                      {"t": tenant, "id": cur.rule_id})
    return get_rule(store, tenant, cur.rule_id)


def remove_rule(store: Store, tenant: str, ref: str) -> AlertRule:
    cur = get_rule(store, tenant, ref)
    with store.transaction():
        store.execute("DELETE FROM alert_state WHERE tenant_id = $t AND rule_id = $id",
                      {"t": tenant, "id": cur.rule_id})
        store.execute("DELETE FROM alert_rules WHERE tenant_id = $t AND rule_id = $id",
                      {"t": tenant, "id": cur.rule_id})
    return cur


def list_events(store: Store, tenant: str, rule: str | None = None, *, limit: int = 50) -> list[AlertEvent]:
    where, params = "tenant_id = $t", {"t": tenant}
    if rule is not None:
        where += " AND (rule_id = $r OR rule_name = $r)"
        params["r"] = rule
    rows = store.execute(
        f"SELECT {', '.join(_EVENT_COLS)} FROM alert_events WHERE {where} "  # noqa: S608
        "ORDER BY event_at DESC, event_id LIMIT $n",
        {**params, "n": int(limit)},
    )
    out = []
    for r in rows:
        d = dict(zip(_EVENT_COLS, r, strict=True))
        d["keys"] = json.loads(d["keys"] or "[]")
        d["value"] = float(d["value"]) if d["value"] is not None else None
        out.append(AlertEvent(**d))
    return out


# --- evaluation ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """A rule's metric now: its value, and the keys firing with a one-line detail each."""

    value: float | None
    firing: dict[str, str]
    as_of: datetime | None


def evaluate(repo: TenantStore, cfg: AppConfig, rule: AlertRule) -> Evaluation:
    """Compute the rule's metric from the analytics library (see the module doc)."""
    as_of = analysis_now(repo)
    if as_of is None:
        return Evaluation(None, {}, None)
    metric = AlertMetric(rule.metric)
    dims = Filters(values=dict(rule.filters))
    test = OPS[rule.op]
    if metric in (AlertMetric.at_risk_tickets, AlertMetric.breached_tickets):
        green = minutes_to_green(repo, dims)
        value = float(green.at_risk_tickets if metric is AlertMetric.at_risk_tickets
                      else green.breached_tickets)
        words = METRIC_WORDS[metric]
        firing = ({RULE_KEY: f"{words}: {value:g} {rule.op} {rule.threshold:g} "
                             f"(of {green.open_tickets} open)"} if test(value, rule.threshold) else {})
        return Evaluation(value, firing, as_of)
    if metric is AlertMetric.sla_attainment_pct:
        window = range_filters(rule.window or "today", as_of, **rule.filters)
        resp = response_times(repo, window, cfg.thresholds, by=[])
        res = resolution(repo, window, cfg.thresholds, by=[])
        o, r = resp.overall, res.overall
        met = o.first_response_sla_met + o.next_response_sla_met + r.resolution_sla_met
        missed = o.first_response_sla_missed + o.next_response_sla_missed + r.resolution_sla_missed
        attainment = pct(met, met + missed)
        if attainment is None:  # nothing decided yet: no alert either way
            return Evaluation(None, {}, as_of)
        firing = ({RULE_KEY: f"SLA attainment {rule.window}: {attainment:.1f}% {rule.op} "
                             f"{rule.threshold:g}% ({met} met, {missed} missed)"}
                  if test(attainment, rule.threshold) else {})
        return Evaluation(attainment, firing, as_of)
    from deskpulse.analytics.insights_common import METRIC_WORDS as CLOCK_WORDS
    from deskpulse.analytics.risk import open_clock_frame

    frame = open_clock_frame(repo, cfg, None, filters=dims)
    keys: dict[str, str] = {}
    if len(frame):
        left = frame["remaining_business_minutes"]
        soon = frame[(frame["sla_status"] == "active") & (~frame["paused"].astype(bool))
                     & (left > 0) & (left <= rule.threshold)]
        soon = soon.sort_values(["remaining_business_minutes", "ticket_id"])
        for rec in soon.to_dict("records"):
            c: dict[str, Any] = {str(k): v for k, v in rec.items()}
            key = f"{c['ticket_id']}/{c['metric']}/{int(c['instance'])}"
            words = CLOCK_WORDS.get(str(c["metric"]), str(c["metric"]))
            keys[key] = (f"ticket {c['ticket_id']}: {words} breaches in "
                         f"{float(c['remaining_business_minutes']):.0f} business min "
                         f"({c['priority']}, group {c['group']})")
    return Evaluation(float(len(keys)), keys, as_of)


# --- delivery ------------------------------------------------------------------------------------


class WebhookDeferred(Exception):
    """The webhook's circuit is open: nothing was sent; retry after ``retry_at`` (epoch s)."""

    def __init__(self, retry_at: float | None) -> None:
        super().__init__("webhook circuit open")
        self.retry_at = retry_at


class _EpochClock:
    """The breaker's clock (epoch seconds) over a naive-UTC datetime clock."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock

    def now(self) -> float:
        return self.clock().replace(tzinfo=UTC).timestamp()

    async def sleep(self, seconds: float) -> None:  # pragma: no cover - unused by the sync path
        time.sleep(max(0.0, seconds))


@dataclass
class WebhookSender:
    """POSTs JSON through a stored circuit breaker (one per host, shared by all workers) with
    retries and backoff — the notification sender's component."""

    store: Store
    settings: ReportSettings
    clock: Callable[[], datetime] = now_utc
    sleep: Callable[[float], None] = time.sleep
    client: httpx.Client | None = None
    backoff: Backoff = field(default_factory=lambda: Backoff(base=1.0, cap=30.0))
    policy: Policy = field(default_factory=Policy)

    def breaker(self, url: str) -> StoredBreaker:
        host = urlparse(url).netloc or "webhook"
        return StoredBreaker(self.store, f"alerts-webhook:{host}", self.policy, _EpochClock(self.clock))

    def post(self, url: str, payload: dict[str, Any], key: str) -> int:
        """Deliver ``payload``; returns the attempts taken. DeliveryFailed / WebhookDeferred."""
        breaker = self.breaker(url)
        attempts = self.settings.alerts_webhook_attempts
        client = self.client or httpx.Client(timeout=self.settings.alerts_webhook_timeout)
        last: str | None = None
        try:
            for attempt in range(1, attempts + 1):
                ok, retry_at = breaker.admit_sync()
                if not ok:
                    if last is None:  # nothing went out: wait for the circuit, spend no attempt
                        raise WebhookDeferred(retry_at)
                    raise DeliveryFailed(f"webhook {urlparse(url).netloc}: {last}, then the circuit "
                                         f"opened ({attempt - 1} attempt(s))", attempts=attempt - 1,
                                         permanent=False)
                try:
                    resp = client.post(url, json=payload, headers={"Idempotency-Key": key})
                    error = None if resp.status_code < 300 else f"HTTP {resp.status_code}"
                    permanent = 400 <= resp.status_code < 500 and resp.status_code not in (408, 429)
                except httpx.HTTPError as exc:
                    error, permanent = type(exc).__name__, False
                breaker.record_sync(error is None)
                if error is None:
                    return attempt
                last = error
                log.warning("webhook %s: attempt %d/%d failed: %s", urlparse(url).netloc, attempt,
                            attempts, error)
                if permanent or attempt == attempts:
                    raise DeliveryFailed(f"webhook {urlparse(url).netloc}: {error} "
                                         f"({attempt} attempt(s))", attempts=attempt,
                                         permanent=permanent)
                self.sleep(self.backoff.delay(attempt - 1))
        finally:
            if self.client is None:
                client.close()
        raise AssertionError("unreachable")  # pragma: no cover


# --- checking ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    """What one rule check did."""

    tenant_id: str
    rule: str
    value: float | None
    firing: int
    sent: list[str]
    suppressed: list[str]
    resolved: list[str]
    status: str  # ok (nothing to send), sent, failed, suppressed, deferred, skipped (leased)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class AlertChecker:
    """Evaluates rules and sends what changed (``deskpulse alerts check`` and the worker)."""

    def __init__(
        self,
        store: Store,
        config: AppConfig | Callable[[str], AppConfig],
        mailer: Mailer,
        settings: ReportSettings | None = None,
        *,
        clock: Callable[[], datetime] = now_utc,
        webhook: WebhookSender | None = None,
        worker: str | None = None,
    ) -> None:
        self.store = store
        self._config = config
        self.mailer = mailer
        self.settings = settings or load_report_settings()
        self.clock = clock
        self.webhook = webhook or WebhookSender(store, self.settings, clock)
        self.worker = worker or worker_name()

    def config_for(self, tenant: str) -> AppConfig:
        return self._config(tenant) if callable(self._config) else self._config

    def rules(self, tenant: str | None = None) -> list[AlertRule]:
        where, params = "enabled", dict[str, Any]()
        if tenant is not None:
            where += " AND tenant_id = $t"
            params["t"] = tenant
        rows = self.store.execute(RULES.select(where), params)
        return sorted((_rule(r) for r in rows), key=lambda r: (r.tenant_id, r.name))

    def check_all(self, tenant: str | None = None) -> list[CheckResult]:
        out = []
        for rule in self.rules(tenant):
            try:
                out.append(self.check(rule))
            except Exception as exc:  # one broken rule must not stop the others
                log.exception("alert rule %s/%s: check failed", rule.tenant_id, rule.name)
                reason = exc.message if isinstance(exc, DeskpulseError) else f"{type(exc).__name__}: {exc}"
                out.append(CheckResult(rule.tenant_id, rule.name, None, 0, [], [], [], "failed", reason))
        return out

    def _lease(self, rule: AlertRule, now: datetime) -> bool:
        """Take the rule for one check (False: another worker holds it)."""
        return compare_and_set(
            self.store,
            "UPDATE alert_rules SET lease_owner = $me, lease_until = $until "
            "WHERE tenant_id = $t AND rule_id = $id AND enabled "
            "AND (lease_until IS NULL OR lease_until < $now) RETURNING rule_id",
            {"me": self.worker, "until": lease_end(now, self.settings.alerts_lease_seconds),
             "t": rule.tenant_id, "id": rule.rule_id, "now": now},
        )

    def _release(self, rule: AlertRule, now: datetime, value: float | None) -> None:
        self.store.execute(
            "UPDATE alert_rules SET lease_owner = NULL, lease_until = NULL, last_checked_at = $now, "
            "last_value = $v WHERE tenant_id = $t AND rule_id = $id AND lease_owner = $me",
            {"now": now, "v": value, "t": rule.tenant_id, "id": rule.rule_id, "me": self.worker},
        )

    def _event(self, rule: AlertRule, now: datetime, status: str, keys: Sequence[str],
               value: float | None, message: str | None = None, error: str | None = None) -> None:
        self.store.execute(
            f"INSERT INTO alert_events ({', '.join(_EVENT_COLS)}) VALUES "  # noqa: S608
            "($t, $id, $rid, $name, $at, $status, $keys, $v, $msg, $err)",
            {"t": rule.tenant_id, "id": uuid.uuid4().hex, "rid": rule.rule_id, "name": rule.name,
             "at": now, "status": status, "keys": json.dumps(list(keys)), "v": value,
             "msg": message, "err": error},
        )

    def check(self, rule: AlertRule) -> CheckResult:
        """Evaluate one rule and notify what is new (see the module doc)."""
        now = self.clock()
        if not self._lease(rule, now):
            return CheckResult(rule.tenant_id, rule.name, None, 0, [], [], [], "skipped")
        value: float | None = None
        try:
            repo = self.store.tenant(rule.tenant_id)
            ev = evaluate(repo, self.config_for(rule.tenant_id), rule)
            value = ev.value
            return self._apply(rule, ev, now)
        finally:
            self._release(rule, now, value)

    def _apply(self, rule: AlertRule, ev: Evaluation, now: datetime) -> CheckResult:
        t, rid = rule.tenant_id, rule.rule_id
        state = {
            str(r[0]): (r[1], r[2])
            for r in self.store.execute(
                "SELECT alert_key, last_sent_at, suppressed_at FROM alert_state "
                "WHERE tenant_id = $t AND rule_id = $id", {"t": t, "id": rid})
        }
        resolved = sorted(k for k in state if k not in ev.firing)
        with self.store.transaction():
            for k in resolved:
                self.store.execute("DELETE FROM alert_state WHERE tenant_id = $t AND rule_id = $id "
                                   "AND alert_key = $k", {"t": t, "id": rid, "k": k})
            for k, detail in ev.firing.items():
                if k in state:
                    self.store.execute(
                        "UPDATE alert_state SET last_seen_at = $now, value = $v, detail = $d "
                        "WHERE tenant_id = $t AND rule_id = $id AND alert_key = $k",
                        {"now": now, "v": ev.value, "d": detail, "t": t, "id": rid, "k": k})
                else:
                    self.store.execute(
                        "INSERT INTO alert_state (tenant_id, rule_id, alert_key, active, first_seen_at, "
                        "last_seen_at, last_sent_at, suppressed_at, value, detail) VALUES "
                        "($t, $id, $k, true, $now, $now, NULL, NULL, $v, $d)",
                        {"t": t, "id": rid, "k": k, "now": now, "v": ev.value, "d": detail})
        if resolved:
            self._event(rule, now, "resolved", resolved, ev.value,
                        f"{len(resolved)} key(s) no longer firing")
        repeat = timedelta(minutes=rule.repeat_minutes) if rule.repeat_minutes else None
        due = sorted(
            k for k in ev.firing
            if k not in state or state[k][0] is None
            or (repeat is not None and state[k][0] + repeat <= now)
        )
        def result(status: str, *, sent: Sequence[str] = (), suppressed: Sequence[str] = (),
                   error: str | None = None) -> CheckResult:
            return CheckResult(t, rule.name, ev.value, len(ev.firing), list(sent), list(suppressed),
                               resolved, status, error)

        if not due:
            return result("ok")
        if in_quiet_hours(now, rule.quiet_hours, rule.timezone):
            fresh = [k for k in due if k not in state or state[k][1] is None]
            if fresh:
                self._mark(rule, fresh, "suppressed_at", now)
                self._event(rule, now, "suppressed", fresh, ev.value,
                            f"quiet hours {rule.quiet_hours} ({rule.timezone}): held back")
            return result("suppressed", suppressed=due)
        subject, text = self._message(rule, ev, due)
        try:
            self._deliver(rule, ev, due, subject, text, now)
        except WebhookDeferred as exc:
            self._event(rule, now, "deferred", due, ev.value, subject, "webhook circuit open")
            return result("deferred", error=f"circuit open until {exc.retry_at}")
        except DeliveryFailed as exc:
            self._event(rule, now, "failed", due, ev.value, subject, str(exc))
            return result("failed", error=str(exc))
        self._mark(rule, due, "last_sent_at", now)
        self._event(rule, now, "sent", due, ev.value, subject)
        return result("sent", sent=due)

    def _mark(self, rule: AlertRule, keys: Sequence[str], column: str, now: datetime) -> None:
        clear = ", suppressed_at = NULL" if column == "last_sent_at" else ""
        with self.store.transaction():
            for k in keys:
                self.store.execute(
                    f"UPDATE alert_state SET {column} = $now{clear} "  # noqa: S608 - fixed names
                    "WHERE tenant_id = $t AND rule_id = $id AND alert_key = $k",
                    {"now": now, "t": rule.tenant_id, "id": rule.rule_id, "k": k})

    def _message(self, rule: AlertRule, ev: Evaluation, keys: list[str]) -> tuple[str, str]:
        value = "n/a" if ev.value is None else f"{ev.value:g}"
        subject = f"[deskpulse alert] {rule.tenant_id} · {rule.name}: {rule.metric} = {value}"
        lines = [f"Rule {rule.name}: {rule.condition}", f"Tenant {rule.tenant_id}",
                 f"Data as of {ev.as_of:%Y-%m-%d %H:%M} UTC" if ev.as_of else "", ""]
        lines += [f"- {ev.firing[k]}" for k in keys[:LIST_LIMIT]]
        if len(keys) > LIST_LIMIT:
            lines.append(f"… and {len(keys) - LIST_LIMIT} more")
        return subject, "\n".join(lines) + "\n"

    def _deliver(self, rule: AlertRule, ev: Evaluation, keys: list[str], subject: str, text: str,
                 now: datetime) -> None:
        if rule.channel == Channel.email:
            from html import escape

            items = "".join(f"<li>{escape(ev.firing[k])}</li>" for k in keys[:LIST_LIMIT])
            html = (f"<h2>{escape(rule.name)}</h2><p>{escape(rule.condition)} · tenant "
                    f"{escape(rule.tenant_id)}</p><ul>{items}</ul>")
            msg = plain_message(sender=self.mailer.settings.sender, recipients=rule.target,
                                subject=subject, text=text, html=html)
            msg["X-Deskpulse-Tenant"] = rule.tenant_id
            msg["X-Deskpulse-Alert"] = rule.name
            self.mailer.send(msg)
            return
        key = hashlib.sha256(
            json.dumps([rule.tenant_id, rule.rule_id, keys, now.isoformat()]).encode()
        ).hexdigest()[:32]
        payload = {
            "idempotency_key": key,
            "kind": "sla_alert",
            "tenant_id": rule.tenant_id,
            "rule": rule.name,
            "metric": rule.metric,
            "op": rule.op,
            "threshold": rule.threshold,
            "filters": rule.filters,
            "value": ev.value,
            "as_of": ev.as_of.strftime("%Y-%m-%dT%H:%M:%SZ") if ev.as_of else None,
            "at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "keys": keys,
            "details": [ev.firing[k] for k in keys],
            "subject": subject,
        }
        self.webhook.post(rule.target[0], payload, key)
