"""Alerts with an injected clock: values from the analytics library, deduplication, repeats,
resolution and re-firing, quiet hours, webhooks through the retry + circuit-breaker component,
email through the real SMTP server, and a rule lease that keeps two workers from both sending."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from deskpulse.analytics.agents import range_filters
from deskpulse.analytics.backlog import minutes_to_green
from deskpulse.analytics.filters import Filters
from deskpulse.analytics.resolution import resolution, response_times
from deskpulse.analytics.risk import open_clock_frame
from deskpulse.errors import UsageError
from deskpulse.reports.alerts import (
    AlertChecker,
    RuleSpec,
    WebhookSender,
    add_rule,
    get_rule,
    in_quiet_hours,
    list_events,
    parse_when,
    update_rule,
)
from deskpulse.reports.mailer import Mailer
from deskpulse.settings import load_report_settings
from tests.reports.conftest import (
    TENANT,
    Built,
    ManualClock,
    RecordingMailer,
    SmtpServer,
    smtp_settings,
)

NOON = datetime(2026, 3, 10, 11, 0)  # 12:00 in Berlin


def _checker(built: Built, clock: ManualClock, mailer: Any, webhook: WebhookSender | None = None,
             worker: str = "w1") -> AlertChecker:
    return AlertChecker(built.store, built.cfg, mailer, load_report_settings(), clock=clock,
                        webhook=webhook, worker=worker)


def _rule(built: Built, name: str, when: str, **kw: Any) -> Any:
    metric, op, threshold = parse_when(when)
    base: dict[str, Any] = dict(name=name, metric=metric.value, op=op, threshold=threshold,
                                channel="email", target=["lead@example.com"])
    base.update(kw)
    return add_rule(built.store, TENANT, RuleSpec(**base), now=NOON)


def _check(checker: AlertChecker, name: str) -> Any:
    return checker.check(get_rule(checker.store, TENANT, name))


def test_parse_and_validate() -> None:
    assert parse_when("at_risk_tickets > 10") == ("at_risk_tickets", ">", 10.0)
    assert parse_when(" sla_attainment_pct < 90 % ") == ("sla_attainment_pct", "<", 90.0)
    for bad in ("at_risk_tickets 10", "mood > 3", "at_risk_tickets >> 3"):
        with pytest.raises(UsageError):
            parse_when(bad)
    for bad_kw in (dict(channel="sms"), dict(target=["nope"]), dict(quiet_hours="late"),
                   dict(timezone="X/Y"), dict(metric="sla_attainment_pct", window="all"),
                   dict(channel="webhook", target=["ftp://x"])):
        spec: dict[str, Any] = dict(name="r", metric="at_risk_tickets", op=">", threshold=1,
                                    channel="email", target=["a@example.com"])
        spec.update(bad_kw)
        with pytest.raises(UsageError):
            RuleSpec(**spec).check()


def test_quiet_hours_local_and_past_midnight() -> None:
    berlin = "Europe/Berlin"
    assert in_quiet_hours(datetime(2026, 3, 10, 21, 30), "22:00-07:00", berlin)  # 22:30 local
    assert in_quiet_hours(datetime(2026, 3, 10, 5, 59), "22:00-07:00", berlin)  # 06:59 local
    assert not in_quiet_hours(datetime(2026, 3, 10, 6, 0), "22:00-07:00", berlin)  # 07:00 local
    assert not in_quiet_hours(datetime(2026, 3, 10, 12, 0), "22:00-07:00", berlin)
    assert in_quiet_hours(datetime(2026, 3, 10, 12, 0), "12:00-13:00", "UTC")
    assert not in_quiet_hours(datetime(2026, 3, 10, 12, 0), None, "UTC")


def test_threshold_rule_dedup_repeat_resolve_refire(built: Built) -> None:
    green = minutes_to_green(built.repo, Filters())
    assert green.at_risk_tickets > 0  # the sample has clocks due within 4 h at as_of
    _rule(built, "risk", f"at_risk_tickets >= {green.at_risk_tickets}", repeat_minutes=60)
    clock, mailer = ManualClock(NOON), RecordingMailer()
    checker = _checker(built, clock, mailer)
    first = _check(checker, "risk")
    assert (first.status, first.value, first.sent) == ("sent", float(green.at_risk_tickets), ["rule"])
    assert len(mailer.sent) == 1
    assert "at_risk_tickets" in mailer.sent[0]["Subject"]
    clock.advance(minutes=10)
    assert _check(checker, "risk").status == "ok"  # still firing: not sent again
    assert len(mailer.sent) == 1
    clock.advance(minutes=55)
    assert _check(checker, "risk").status == "sent"  # repeat interval passed
    assert len(mailer.sent) == 2
    update_rule(built.store, TENANT, "risk", {"threshold": green.at_risk_tickets + 100.0})
    clock.advance(minutes=5)
    stopped = _check(checker, "risk")
    assert (stopped.status, stopped.firing, stopped.resolved) == ("ok", 0, ["rule"])
    update_rule(built.store, TENANT, "risk", {"threshold": float(green.at_risk_tickets)})
    clock.advance(minutes=5)
    assert _check(checker, "risk").status == "sent"  # fires again after resolving
    statuses = [e.status for e in list_events(built.store, TENANT, "risk")]
    assert statuses == ["sent", "resolved", "sent", "sent"]


def test_group_filter_and_sla_attainment_from_the_library(built: Built) -> None:
    billing = minutes_to_green(built.repo, Filters(values={"group": "Billing"}))
    _rule(built, "billing-risk", f"at_risk_tickets > {billing.at_risk_tickets + 10}",
          filters={"group": "Billing"})
    window = range_filters("30d", built.as_of)
    r, o = (resolution(built.repo, window, built.cfg.thresholds, by=[]).overall,
            response_times(built.repo, window, built.cfg.thresholds, by=[]).overall)
    met = o.first_response_sla_met + o.next_response_sla_met + r.resolution_sla_met
    missed = o.first_response_sla_missed + o.next_response_sla_missed + r.resolution_sla_missed
    attainment = 100.0 * met / (met + missed)
    _rule(built, "attainment", "sla_attainment_pct < 100", window="30d")
    checker = _checker(built, ManualClock(NOON), RecordingMailer())
    quiet = _check(checker, "billing-risk")
    assert (quiet.status, quiet.value) == ("ok", float(billing.at_risk_tickets))
    fired = _check(checker, "attainment")
    assert fired.status == "sent" and fired.value == pytest.approx(attainment)


def test_quiet_hours_hold_alerts_back_until_morning(built: Built) -> None:
    _rule(built, "night", "breached_tickets > 0", quiet_hours="22:00-07:00", timezone="Europe/Berlin")
    clock, mailer = ManualClock(datetime(2026, 3, 10, 22, 30)), RecordingMailer()  # 23:30 Berlin
    checker = _checker(built, clock, mailer)
    held = _check(checker, "night")
    assert (held.status, held.suppressed) == ("suppressed", ["rule"]) and mailer.sent == []
    clock.advance(hours=3)
    assert _check(checker, "night").status == "suppressed"
    assert [e.status for e in list_events(built.store, TENANT, "night")] == ["suppressed"]  # recorded once
    clock.at = datetime(2026, 3, 11, 6, 5)  # 07:05 Berlin
    assert _check(checker, "night").status == "sent"
    assert len(mailer.sent) == 1
    assert _check(checker, "night").status == "ok"


def test_breach_within_per_clock_by_webhook_with_retries(built: Built) -> None:
    frame = open_clock_frame(built.repo, built.cfg, None)
    soon = frame[(frame.sla_status == "active") & (~frame.paused)
                 & (frame.remaining_business_minutes > 0) & (frame.remaining_business_minutes <= 120)]
    expected = sorted(f"{r.ticket_id}/{r.metric}/{r.instance}" for r in soon.itertuples())
    assert expected
    calls: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(json.loads(request.content))
        return httpx.Response(503 if len(calls) < 3 else 200)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    clock = ManualClock(NOON)
    waits: list[float] = []
    webhook = WebhookSender(built.store, load_report_settings(alerts_webhook_attempts=4), clock,
                            sleep=waits.append, client=client)
    _rule(built, "soon", "breach_within <= 120", channel="webhook", target=["https://hooks.example.com/sla"])
    checker = _checker(built, clock, RecordingMailer(), webhook)
    result = _check(checker, "soon")
    assert result.status == "sent" and sorted(result.sent) == expected
    assert len(calls) == 3 and len(waits) == 2  # two 503s retried with backoff
    body = calls[-1]
    assert body["rule"] == "soon" and body["kind"] == "sla_alert" and sorted(body["keys"]) == expected
    assert body["idempotency_key"] == calls[0]["idempotency_key"]  # one key for the retries
    status = webhook.breaker("https://hooks.example.com/sla").status_sync()
    assert status["state"] == "CLOSED" and status["failures_in_window"] == 2
    assert _check(checker, "soon").status == "ok"  # the same clocks are not sent twice
    assert len(calls) == 3


def test_failing_webhook_is_recorded_retried_and_the_circuit_opens(built: Built) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(500)

    clock = ManualClock(NOON)
    webhook = WebhookSender(built.store, load_report_settings(alerts_webhook_attempts=3), clock,
                            sleep=lambda s: None, client=httpx.Client(transport=httpx.MockTransport(handler)))
    _rule(built, "down", "breached_tickets > 0", channel="webhook", target=["https://down.example.com/x"])
    checker = _checker(built, clock, RecordingMailer(), webhook)
    first = _check(checker, "down")
    assert first.status == "failed" and "HTTP 500" in (first.error or "") and len(calls) == 3
    clock.advance(minutes=1)
    second = _check(checker, "down")  # not marked sent: tried again at the next check …
    assert len(calls) == 5  # … until the 5th failure in the breaker's window opened the circuit
    assert second.status == "failed" and "circuit opened" in (second.error or "")
    clock.advance(seconds=10)
    deferred = _check(checker, "down")
    assert deferred.status == "deferred" and len(calls) == 5  # open circuit: nothing goes out
    clock.advance(seconds=40)  # half-open after 30 s: one probe, which fails
    assert _check(checker, "down").status == "failed" and len(calls) == 6
    events = [e.status for e in list_events(built.store, TENANT, "down")]
    assert events == ["failed", "deferred", "failed", "failed"]


def test_email_alert_through_smtp_and_the_rule_lease(built: Built, smtp: SmtpServer) -> None:
    _rule(built, "mail", "breached_tickets > 0", target=["oncall@example.com"])
    clock = ManualClock(NOON)
    a = _checker(built, clock, Mailer(smtp_settings(smtp)), worker="a")
    b = _checker(built, clock, Mailer(smtp_settings(smtp)), worker="b")
    rule = get_rule(built.store, TENANT, "mail")
    assert a._lease(rule, clock.at)
    assert b.check(rule).status == "skipped"  # a holds the lease
    a._release(rule, clock.at, None)
    assert b.check(rule).status == "sent"
    assert a.check(rule).status == "ok"
    (msg,) = [m for m in smtp.parsed() if m["X-Deskpulse-Alert"] == "mail"]
    assert msg["To"] == "oncall@example.com"
    assert "breached" in msg.get_body(preferencelist=("plain",)).get_content()
    assert "<li>" in msg.get_body(preferencelist=("html",)).get_content()


def test_rule_without_build_is_quiet(tmp_path: Any) -> None:
    from deskpulse.config import parse_config
    from deskpulse.reports.alerts import evaluate, list_rules
    from deskpulse.store import open_store

    store = open_store(str(tmp_path / "empty.duckdb"))
    try:
        add_rule(store, "t", RuleSpec(name="r", metric="breach_within", op="<=", threshold=15,
                                      channel="email", target=["a@example.com"]), now=NOON)
        (rule,) = list_rules(store, "t")
        ev = evaluate(store.tenant("t"), parse_config({}), rule)
        assert ev.value is None and ev.firing == {}
        assert rule.condition == "breach_within <= 15 business min"
        assert NOON - timedelta(days=1) < rule.created_at <= NOON
    finally:
        store.close()
