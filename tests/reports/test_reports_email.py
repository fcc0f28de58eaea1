"""Email through a real local SMTP server (aiosmtpd on 127.0.0.1, a free port): headers, the
HTML part, attachment types and contents; STARTTLS with login, implicit TLS; retries with
backoff and recorded failures; the password never logged."""

from __future__ import annotations

import csv
import io
import logging
import smtplib
from pathlib import Path

import pytest

from deskpulse.analytics.resolution import response_times
from deskpulse.reports.definitions import ReportParams, build_report
from deskpulse.reports.mailer import DeliveryFailed, Mailer, build_message
from deskpulse.reports.render import attachments, parse_formats
from deskpulse.reports.schedules import ReportRunner, ScheduleSpec, add_schedule, list_runs
from deskpulse.settings import load_report_settings
from tests.reports.conftest import (
    TENANT,
    Built,
    ManualClock,
    SmtpServer,
    free_port,
    require,
    smtp_settings,
    start_smtp,
)


def _doc(built: Built, name: str = "sla") -> object:
    return build_report(built.repo, built.cfg, name, ReportParams(days=30))


def test_scheduled_run_arrives_with_summary_and_attachments(built: Built, smtp: SmtpServer) -> None:
    """A due schedule goes through the real SMTP server: headers, HTML summary, PDF/XLSX/CSV."""
    require("weasyprint")
    store = built.store
    created = built.as_of.replace(hour=7, minute=0)
    spec = ScheduleSpec(name="weekly-sla", cron="0 8 * * MON", timezone="Europe/Berlin", report="sla",
                        recipients=["lead@example.com", "ops@example.com"], formats="pdf,xlsx,csv",
                        days=30)
    sched = add_schedule(store, TENANT, spec, now=created)
    clock = ManualClock(sched.next_run_at)
    runner = ReportRunner(store, built.cfg, Mailer(smtp_settings(smtp)), clock=clock)
    runs = runner.run_due()
    assert [r.status for r in runs] == ["sent"], runs
    assert len(smtp.messages) == 1
    env = smtp.messages[0]
    assert env.mail_from == "reports@deskpulse.test"
    assert sorted(env.rcpt_tos) == ["lead@example.com", "ops@example.com"]
    msg = smtp.parsed()[0]
    assert msg["From"] == "reports@deskpulse.test"
    assert msg["To"] == "lead@example.com, ops@example.com"
    assert msg["Subject"].startswith("[deskpulse] weekly-sla: SLA attainment · 2026-")
    assert msg["X-Deskpulse-Schedule"] == "weekly-sla"
    assert msg["X-Deskpulse-Tenant"] == TENANT
    assert msg["X-Deskpulse-Slot"] == sched.next_run_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert msg["Message-ID"] and msg["Date"]
    html = msg.get_body(preferencelist=("html",))
    assert html is not None
    body = html.get_content()
    assert "SLA attainment" in body and "First response SLA" in body and "Open tickets breached" in body
    assert "SLA compliance — overall" in body and "<svg" not in body
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert "First response SLA:" in text
    parts = {p.get_filename(): p for p in msg.iter_attachments()}
    stem = f"sla-{TENANT}-{sched.next_run_at:%Y%m%d-%H%M}"
    assert sorted(parts) == sorted([f"{stem}.pdf", f"{stem}.xlsx", f"{stem}_sla_compliance.csv",
                                    f"{stem}_sla_daily.csv"])
    assert parts[f"{stem}.pdf"].get_content_type() == "application/pdf"
    assert parts[f"{stem}.pdf"].get_content().startswith(b"%PDF")
    assert parts[f"{stem}.xlsx"].get_content_type() == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert parts[f"{stem}.xlsx"].get_content()[:2] == b"PK"
    csv_part = parts[f"{stem}_sla_compliance.csv"]
    assert csv_part.get_content_type() == "text/csv"
    rows = list(csv.DictReader(io.StringIO(csv_part.get_content())))
    lib = response_times(built.repo, ReportParams(days=30).to_filters(built.as_of), built.cfg.thresholds)
    assert int(rows[0]["tickets"]) == lib.overall.tickets
    assert float(rows[0]["first_response_sla_compliance_pct"]) == lib.overall.first_response_sla_compliance_pct
    history = list_runs(store, TENANT, "weekly-sla")
    assert history[0].status == "sent" and history[0].attempts == 1
    assert history[0].attachments == sorted(parts, key=list(parts).index) or set(history[0].attachments) == set(parts)
    assert history[0].size_bytes and history[0].size_bytes > 1000


def test_starttls_with_login_and_the_password_stays_out_of_logs(
    built: Built, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    controller, server = start_smtp("starttls", tmp_path, user="mailer", password="s3cr3t-pw")
    try:
        settings = smtp_settings(server, security="starttls", username="mailer", password="s3cr3t-pw",
                                 ca_file=str(server.cert))
        doc = _doc(built)
        msg = build_message(doc, attachments(doc, parse_formats("csv")), sender="r@deskpulse.test",
                            recipients=["lead@example.com"])
        with caplog.at_level(logging.DEBUG):
            assert Mailer(settings).send(msg) == 1
        assert server.logins == [("mailer", "s3cr3t-pw")]
        assert len(server.messages) == 1
        assert "s3cr3t-pw" not in caplog.text
        assert "s3cr3t-pw" not in repr(settings) and "s3cr3t-pw" not in settings.describe()
        bad = smtp_settings(server, security="starttls", username="mailer", password="wrong-pw",
                            ca_file=str(server.cert), attempts=3)
        with caplog.at_level(logging.DEBUG), pytest.raises(DeliveryFailed) as err:
            Mailer(bad).send(msg)
        assert err.value.permanent and err.value.attempts == 1  # a refused login is not retried
        assert "wrong-pw" not in str(err.value) and "wrong-pw" not in caplog.text
    finally:
        controller.stop()


def test_implicit_tls(built: Built, tmp_path: Path) -> None:
    controller, server = start_smtp("tls", tmp_path)
    try:
        settings = smtp_settings(server, security="tls", ca_file=str(server.cert))
        doc = _doc(built, "agents")
        msg = build_message(doc, attachments(doc, parse_formats("html")), sender="r@deskpulse.test",
                            recipients=["a@example.com"])
        Mailer(settings).send(msg)
        received = server.parsed()[0]
        (part,) = list(received.iter_attachments())
        assert part.get_content_type() == "text/html"
        assert "Agent performance" in part.get_content()
        untrusted = smtp_settings(server, security="tls", attempts=2)  # self-signed, no CA given
        with pytest.raises(DeliveryFailed) as err:
            Mailer(untrusted).send(msg)
        assert err.value.permanent
    finally:
        controller.stop()


def test_unreachable_server_is_retried_with_backoff_then_recorded(built: Built) -> None:
    waits: list[float] = []
    port = free_port()  # nothing listens there
    from deskpulse.settings import load_smtp_settings

    settings = load_smtp_settings(host="127.0.0.1", port=port, security="none", attempts=4,
                                  backoff_seconds=1.0, backoff_cap_seconds=8.0, timeout=2.0)
    mailer = Mailer(settings, sleep=waits.append)
    spec = ScheduleSpec(name="daily-agents", cron="0 6 * * *", report="agents",
                        recipients=["lead@example.com"], formats="csv", days=7)
    sched = add_schedule(built.store, TENANT, spec, now=built.as_of)
    runner = ReportRunner(built.store, built.cfg, mailer, load_report_settings(),
                          clock=ManualClock(sched.next_run_at))
    (run,) = runner.run_due()
    assert run.status == "failed"
    assert run.attempts == 4
    assert "ConnectionRefusedError" in (run.error or "")
    assert len(waits) == 3 and all(0.5 <= w <= 8.0 for w in waits)
    history = list_runs(built.store, TENANT, "daily-agents")
    assert history[0].status == "failed" and history[0].error == run.error


def test_temporary_rejection_is_retried(built: Built, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    mailer = Mailer(smtp_settings(smtp, attempts=3), sleep=lambda s: None)
    calls = {"n": 0}
    real = Mailer.send_once

    def flaky(self: Mailer, msg: object) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise smtplib.SMTPDataError(451, b"try again later")
        real(self, msg)  # type: ignore[arg-type]

    monkeypatch.setattr(Mailer, "send_once", flaky)
    doc = _doc(built, "bottlenecks")
    msg = build_message(doc, attachments(doc, parse_formats("csv")), sender="r@deskpulse.test",
                        recipients=["a@example.com"])
    assert mailer.send(msg) == 2
    assert len(smtp.messages) == 1
