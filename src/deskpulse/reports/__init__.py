"""Reports (issue 9): HTML/PDF/XLSX/CSV reports, schedules, email and SLA alerts.

- :mod:`.definitions` — the reports (performance, sla, backlog, agents, bottlenecks, dashboard)
  built from the analytics library's results into a :class:`.document.ReportDocument`;
- :mod:`.render` and :mod:`.charts` — HTML (inline SVG charts), PDF (WeasyPrint), XLSX, CSV;
- :mod:`.cron` — cron expressions with a timezone and DST rules;
- :mod:`.schedules` — schedules in the database, exactly-once claims, missed-run policy, history;
- :mod:`.mailer` — SMTP (STARTTLS/TLS) with an inline summary, attachments and retries;
- :mod:`.alerts` — alert rules, deduplication, quiet hours, email or webhook delivery;
- :mod:`.worker` — the loop behind ``deskpulse worker`` (and optionally ``serve``);
- :mod:`.settings` — ``DESKPULSE_SMTP_*`` and ``DESKPULSE_REPORTS_*`` / ``DESKPULSE_ALERTS_*``.
"""
