"""The report worker: sends due scheduled reports and checks alert rules, for every tenant.

``deskpulse worker`` runs :meth:`Worker.run_forever` (``--once``: one :meth:`Worker.tick`);
``deskpulse serve`` runs the same loop in a background thread when
``DESKPULSE_REPORTS_WORKER_IN_SERVE=true``. Any number of workers may run against one
PostgreSQL store (or threads against one DuckDB file): runs and rule checks are claimed in the
database, so each due run is sent once and each alert goes out once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from deskpulse.config import AppConfig
from deskpulse.reports.alerts import AlertChecker, CheckResult, WebhookSender
from deskpulse.reports.mailer import Mailer
from deskpulse.reports.schedules import ReportRunner, RunRecord, now_utc, worker_name
from deskpulse.settings import (
    ReportSettings,
    SmtpSettings,
    load_report_settings,
    load_smtp_settings,
)
from deskpulse.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TickResult:
    """What one pass of the worker did."""

    runs: list[RunRecord] = field(default_factory=list)
    alerts: list[CheckResult] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"runs": [r.as_dict() for r in self.runs], "alerts": [a.as_dict() for a in self.alerts]}


class Worker:
    """Schedules and alerts, one pass at a time."""

    def __init__(
        self,
        store: Store,
        config: AppConfig | Callable[[str], AppConfig],
        *,
        settings: ReportSettings | None = None,
        smtp: SmtpSettings | None = None,
        mailer: Mailer | None = None,
        clock: Callable[[], datetime] = now_utc,
        webhook: WebhookSender | None = None,
        name: str | None = None,
    ) -> None:
        self.settings = settings or load_report_settings()
        self.name = name or worker_name()
        self.mailer = mailer or Mailer(smtp or load_smtp_settings())
        self.runner = ReportRunner(store, config, self.mailer, self.settings, clock=clock,
                                   worker=self.name)
        self.alerts = AlertChecker(store, config, self.mailer, self.settings, clock=clock,
                                   webhook=webhook, worker=self.name)

    def tick(self, *, tenant: str | None = None, alerts: bool | None = None) -> TickResult:
        """Send the due runs, then check the alert rules (unless disabled)."""
        runs = self.runner.run_due(tenant=tenant)
        checks: list[CheckResult] = []
        if self.settings.alerts_enabled if alerts is None else alerts:
            checks = self.alerts.check_all(tenant)
        return TickResult(runs, checks)

    def run_forever(self, stop: threading.Event, *, tenant: str | None = None,
                    poll: float | None = None) -> None:
        """Tick every ``poll`` seconds until ``stop`` is set; errors are logged, never raised."""
        interval = poll or self.settings.reports_poll_seconds
        log.info("report worker %s: polling every %.0f s", self.name, interval)
        while not stop.is_set():
            try:
                result = self.tick(tenant=tenant)
                if result.runs or any(a.status not in ("ok", "skipped") for a in result.alerts):
                    log.info("report worker %s: %d run(s), %d alert check(s)", self.name,
                             len(result.runs), len(result.alerts))
            except Exception:  # the worker must outlive a database or network hiccup
                log.exception("report worker %s: pass failed", self.name)
            stop.wait(interval)


class BackgroundWorker:
    """A :class:`Worker` on a daemon thread with its own store connection (``serve``)."""

    def __init__(self, url: str, config: AppConfig, settings: ReportSettings | None = None) -> None:
        self.url = url
        self.config = config
        self.settings = settings or load_report_settings()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.store: Store | None = None

    def start(self) -> None:
        from deskpulse.store import open_store

        self.store = open_store(self.url, migrate=False)
        worker = Worker(self.store, self.config, settings=self.settings)
        self.thread = threading.Thread(target=worker.run_forever, args=(self.stop,),
                                       name="deskpulse-report-worker", daemon=True)
        self.thread.start()

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout)
        if self.store is not None:
            self.store.close()
