"""Report schedules stored in the database, and the runner that sends each due run exactly once.

A schedule belongs to a tenant: a cron expression in an IANA timezone, a report with its
window (``days``) and filters, file formats, recipients and a missed-run policy. Its
``next_run_at`` is the next slot (UTC).

**Claiming a due run.** In one transaction a worker (1) advances the schedule with a
compare-and-set — ``UPDATE … SET next_run_at = <next>, version = version + 1 WHERE version =
<the version it read>`` — and (2) inserts the run row keyed by (tenant, schedule, slot).
Of any number of workers, threads or processes reading the same due schedule, exactly one
gets its update through (PostgreSQL re-checks the version after the winner commits; DuckDB
aborts the losers' transactions with a conflict); the run's primary key is a second guard.
Only the winner renders and sends. A worker that dies while sending leaves its run
``running``; once its lease has passed, another worker takes the run over (the one case in
which a message may go out twice: the first worker died after the server accepted it).

**Missed runs.** When a worker finds a schedule whose slots passed while no worker ran
(downtime), the latest slot is the run; ``missed`` counts the earlier ones. The policy decides:
``send_once`` sends that one run (never one per missed slot); ``skip`` records it as
``skipped`` when it is later than ``reports_missed_grace_seconds`` after its slot, and waits for
the next slot. Either way ``next_run_at`` moves to the first slot after now.

**History.** Every run is a ``report_runs`` row: status (running, sent, failed, skipped),
attempts, error, recipients, attached files and their size.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import re
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from deskpulse.analytics.filters import DIMENSIONS
from deskpulse.config import AppConfig
from deskpulse.errors import ConflictError, DeskpulseError, NotFoundError, UsageError
from deskpulse.reports.cron import CronSchedule
from deskpulse.reports.definitions import ReportParams, build_report, check_report
from deskpulse.reports.lease import compare_and_set, is_write_conflict, lease_end
from deskpulse.reports.mailer import DeliveryFailed, Mailer, build_message
from deskpulse.reports.named import NamedTable
from deskpulse.reports.render import attachments, parse_formats
from deskpulse.settings import ReportSettings, load_report_settings
from deskpulse.store import Store

log = logging.getLogger(__name__)

_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$|^[^@\s<>,;]+@localhost$")
#: Slots counted when reporting how many were missed (the run itself is one either way).
MISSED_COUNT_LIMIT: Final = 1000


class MissedPolicy(enum.StrEnum):
    send_once = "send_once"
    skip = "skip"

    @classmethod
    def parse(cls, text: str) -> MissedPolicy:
        try:
            return cls(text.strip().lower().replace("-", "_"))
        except ValueError:
            raise UsageError(f"unknown missed-run policy {text!r}; use send-once or skip") from None


class RunStatus(enum.StrEnum):
    running = "running"
    sent = "sent"
    failed = "failed"
    skipped = "skipped"


def now_utc() -> datetime:
    """Wall-clock now, naive UTC with whole seconds (the store's convention)."""
    from deskpulse.instants import utcnow

    return utcnow()


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def check_recipients(values: Sequence[str]) -> list[str]:
    out = []
    for v in values:
        for part in v.split(","):
            addr = part.strip()
            if not addr:
                continue
            if not _EMAIL.match(addr):
                raise UsageError(f"not an email address: {addr!r}")
            if addr not in out:
                out.append(addr)
    if not out:
        raise UsageError("give at least one recipient (--to ADDRESS)")
    return out


def check_filters(values: dict[str, str | None]) -> dict[str, str]:
    unknown = sorted(set(values) - set(DIMENSIONS))
    if unknown:
        raise UsageError(f"unknown filter {unknown[0]!r}; use {', '.join(DIMENSIONS)}")
    return {k: str(v) for k, v in sorted(values.items()) if v}


@dataclass(frozen=True)
class ScheduleSpec:
    """What a caller gives to create a schedule (validated by :meth:`check`)."""

    name: str
    cron: str
    report: str
    recipients: list[str]
    timezone: str = "UTC"
    formats: str = "pdf"
    days: int | None = 30
    filters: dict[str, str] = field(default_factory=dict)
    missed_policy: str = "send_once"
    enabled: bool = True

    def check(self) -> ScheduleSpec:
        name = self.name.strip()
        if not name or len(name) > 100 or not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", name):
            raise UsageError(
                f"schedule name {self.name!r}: 1-100 letters, digits, '.', '_' or '-'")
        CronSchedule.parse(self.cron, self.timezone)
        if self.days is not None and self.days <= 0:
            raise UsageError("--days must be positive")
        return ScheduleSpec(
            name=name,
            cron=" ".join(self.cron.split()),
            report=check_report(self.report),
            recipients=check_recipients(self.recipients),
            timezone=self.timezone,
            formats=",".join(f.value for f in parse_formats(self.formats)),
            days=self.days,
            filters=check_filters(dict(self.filters)),
            missed_policy=MissedPolicy.parse(self.missed_policy).value,
            enabled=self.enabled,
        )


@dataclass(frozen=True)
class Schedule:
    """A stored schedule."""

    tenant_id: str
    schedule_id: str
    name: str
    report: str
    formats: str
    cron: str
    timezone: str
    recipients: list[str]
    days: int | None
    filters: dict[str, str]
    missed_policy: str
    enabled: bool
    next_run_at: datetime
    last_run_at: datetime | None
    last_status: str | None
    version: int
    created_by: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def cron_schedule(self) -> CronSchedule:
        return CronSchedule.parse(self.cron, self.timezone)

    @property
    def params(self) -> ReportParams:
        return ReportParams(days=self.days, filters=dict(self.filters))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_SCHEDULE_COLS: Final = (
    "tenant_id", "schedule_id", "name", "report", "formats", "cron", "timezone", "recipients",
    "days", "filters", "missed_policy", "enabled", "next_run_at", "last_run_at", "last_status",
    "version", "created_by", "created_at", "updated_at",
)


def _schedule(row: Sequence[Any]) -> Schedule:
    d = dict(zip(_SCHEDULE_COLS, row, strict=True))
    d["recipients"] = json.loads(d["recipients"])
    d["filters"] = json.loads(d["filters"])
    d["days"] = int(d["days"]) if d["days"] is not None else None
    d["enabled"] = bool(d["enabled"])
    d["version"] = int(d["version"])
    return Schedule(**d)


@dataclass(frozen=True)
class RunRecord:
    """One ``report_runs`` row."""

    tenant_id: str
    schedule_id: str
    slot_at: datetime
    run_id: str
    schedule_name: str
    status: str
    worker: str | None
    claimed_at: datetime
    lease_until: datetime | None
    finished_at: datetime | None
    attempts: int
    missed: int
    recipients: list[str]
    attachments: list[str]
    size_bytes: int | None
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_RUN_COLS: Final = (
    "tenant_id", "schedule_id", "slot_at", "run_id", "schedule_name", "status", "worker",
    "claimed_at", "lease_until", "finished_at", "attempts", "missed", "recipients", "attachments",
    "size_bytes", "error",
)


def _run(row: Sequence[Any]) -> RunRecord:
    d = dict(zip(_RUN_COLS, row, strict=True))
    d["recipients"] = json.loads(d["recipients"] or "[]")
    d["attachments"] = json.loads(d["attachments"] or "[]")
    d["attempts"] = int(d["attempts"])
    d["missed"] = int(d["missed"])
    d["size_bytes"] = int(d["size_bytes"]) if d["size_bytes"] is not None else None
    return RunRecord(**d)


# --- CRUD ------------------------------------------------------------------------------------------


SCHEDULES: Final = NamedTable("report_schedules", "schedule_id", _SCHEDULE_COLS, "schedule", _schedule,
                              lambda s: s.name)


def list_schedules(store: Store, tenant: str) -> list[Schedule]:
    return SCHEDULES.all(store, tenant)


def get_schedule(store: Store, tenant: str, ref: str) -> Schedule:
    """A schedule by id or by name (NotFoundError for another tenant's, like a missing one)."""
    return SCHEDULES.get(store, tenant, ref)


def add_schedule(store: Store, tenant: str, spec: ScheduleSpec, *, now: datetime | None = None,
                 created_by: str | None = None) -> Schedule:
    """Store a new schedule; its first slot is the first one after ``now``."""
    spec = spec.check()
    now = now or now_utc()
    SCHEDULES.ensure_name_free(store, tenant, spec.name)
    sid = uuid.uuid4().hex
    nxt = CronSchedule.parse(spec.cron, spec.timezone).next_after(now)
    store.execute(
        f"INSERT INTO report_schedules ({', '.join(_SCHEDULE_COLS)}) VALUES "  # noqa: S608
        "($t, $id, $name, $report, $formats, $cron, $tz, $to, $days, $filters, $missed, $enabled, "
        "$next, NULL, NULL, 0, $by, $now, $now)",
        {"t": tenant, "id": sid, "name": spec.name, "report": spec.report, "formats": spec.formats,
         "cron": spec.cron, "tz": spec.timezone, "to": json.dumps(spec.recipients),
         "days": spec.days, "filters": json.dumps(spec.filters), "missed": spec.missed_policy,
         "enabled": spec.enabled, "next": nxt, "by": created_by, "now": now},
    )
    return get_schedule(store, tenant, sid)


UPDATABLE: Final = ("cron", "timezone", "report", "formats", "recipients", "days", "filters",
                    "missed_policy", "enabled", "name")


def update_schedule(store: Store, tenant: str, ref: str, changes: dict[str, Any], *,
                    now: datetime | None = None) -> Schedule:
    """Change fields of a schedule; a new cron, timezone or re-enabling recomputes next_run_at."""
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise UsageError(f"cannot change {sorted(unknown)[0]!r}")
    now = now or now_utc()
    cur = get_schedule(store, tenant, ref)
    spec = ScheduleSpec(
        name=changes.get("name", cur.name), cron=changes.get("cron", cur.cron),
        report=changes.get("report", cur.report),
        recipients=list(changes.get("recipients", cur.recipients)),
        timezone=changes.get("timezone", cur.timezone), formats=changes.get("formats", cur.formats),
        days=changes.get("days", cur.days), filters=dict(changes.get("filters", cur.filters)),
        missed_policy=changes.get("missed_policy", cur.missed_policy),
        enabled=bool(changes.get("enabled", cur.enabled)),
    ).check()
    if spec.name != cur.name:
        SCHEDULES.ensure_name_free(store, tenant, spec.name)
    recompute = (spec.cron != cur.cron or spec.timezone != cur.timezone
                 or (spec.enabled and not cur.enabled))
    nxt = CronSchedule.parse(spec.cron, spec.timezone).next_after(now) if recompute else cur.next_run_at
    rows = store.execute(
        "UPDATE report_schedules SET name = $name, report = $report, formats = $formats, "
        "cron = $cron, timezone = $tz, recipients = $to, days = $days, filters = $filters, "
        "missed_policy = $missed, enabled = $enabled, next_run_at = $next, "
        "version = version + 1, updated_at = $now "
        "WHERE tenant_id = $t AND schedule_id = $id AND version = $v RETURNING schedule_id",
        {"t": tenant, "id": cur.schedule_id, "v": cur.version, "name": spec.name,
         "report": spec.report, "formats": spec.formats, "cron": spec.cron, "tz": spec.timezone,
         "to": json.dumps(spec.recipients), "days": spec.days, "filters": json.dumps(spec.filters),
         "missed": spec.missed_policy, "enabled": spec.enabled, "next": nxt, "now": now},
    )
    if not rows:
        raise ConflictError(f"schedule {ref!r} changed meanwhile (a run was claimed); try again")
    return get_schedule(store, tenant, cur.schedule_id)


def remove_schedule(store: Store, tenant: str, ref: str) -> Schedule:
    """Delete a schedule (its run history stays)."""
    cur = get_schedule(store, tenant, ref)
    store.execute("DELETE FROM report_schedules WHERE tenant_id = $t AND schedule_id = $id",
                  {"t": tenant, "id": cur.schedule_id})
    return cur


def list_runs(store: Store, tenant: str, schedule: str | None = None, *, limit: int = 50) -> list[RunRecord]:
    """Run history, newest first (one schedule's, by id or name, or all of the tenant's)."""
    where = "tenant_id = $t"
    params: dict[str, Any] = {"t": tenant}
    if schedule is not None:
        where += " AND (schedule_id = $s OR schedule_name = $s)"
        params["s"] = schedule
    rows = store.execute(
        f"SELECT {', '.join(_RUN_COLS)} FROM report_runs WHERE {where} "  # noqa: S608
        "ORDER BY claimed_at DESC, slot_at DESC LIMIT $n",
        {**params, "n": int(limit)},
    )
    return [_run(r) for r in rows]


# --- slots ------------------------------------------------------------------------------------------


def latest_slot(cron: CronSchedule, start: datetime, now: datetime) -> tuple[datetime, int] | None:
    """The last slot in ``[start, now]`` and how many slots that range holds (capped at
    :data:`MISSED_COUNT_LIMIT`), or None when it holds none."""
    if start > now:
        return None
    slots = cron.between(start, now, limit=MISSED_COUNT_LIMIT)
    if not slots:
        return None
    if len(slots) < MISSED_COUNT_LIMIT:
        return slots[-1], len(slots)
    for span in (timedelta(hours=2), timedelta(days=2), timedelta(days=40), timedelta(days=400),
                 timedelta(days=3000)):
        recent = cron.between(max(start, now - span), now, limit=100_000)
        if recent:
            return recent[-1], MISSED_COUNT_LIMIT
    return slots[-1], MISSED_COUNT_LIMIT  # pragma: no cover


@dataclass(frozen=True)
class Claim:
    """A run this worker won: the schedule as it was read, the slot and the decision."""

    schedule: Schedule
    slot_at: datetime
    run_id: str
    status: RunStatus  # running (send it) or skipped
    missed: int


class _Lost(Exception):
    """Another worker claimed the run first (rolls the claim transaction back)."""


ConfigSource = Callable[[str], AppConfig]


class ReportRunner:
    """Claims due runs and sends them: the core of ``deskpulse worker`` and ``schedule run-due``."""

    def __init__(
        self,
        store: Store,
        config: AppConfig | ConfigSource,
        mailer: Mailer,
        settings: ReportSettings | None = None,
        *,
        clock: Callable[[], datetime] = now_utc,
        worker: str | None = None,
    ) -> None:
        self.store = store
        self._config = config
        self.mailer = mailer
        self.settings = settings or load_report_settings()
        self.clock = clock
        self.worker = worker or worker_name()

    def config_for(self, tenant: str) -> AppConfig:
        return self._config(tenant) if callable(self._config) else self._config

    # --- finding and claiming ------------------------------------------------------------------

    def due(self, now: datetime, tenant: str | None = None) -> list[Schedule]:
        where = "enabled AND next_run_at <= $now"
        params: dict[str, Any] = {"now": now}
        if tenant is not None:
            where += " AND tenant_id = $t"
            params["t"] = tenant
        rows = self.store.execute(
            f"SELECT {', '.join(_SCHEDULE_COLS)} FROM report_schedules WHERE {where}",  # noqa: S608
            params,
        )
        return sorted((_schedule(r) for r in rows), key=lambda s: (s.next_run_at, s.tenant_id, s.name))

    def claim(self, sched: Schedule, now: datetime) -> Claim | None:
        """Take the schedule's due run, or None when another worker has (see the module doc)."""
        cron = sched.cron_schedule
        found = latest_slot(cron, sched.next_run_at, now)
        if found is None:
            return None
        slot, count = found
        late = (now - slot).total_seconds() > self.settings.reports_missed_grace_seconds
        skip = sched.missed_policy == MissedPolicy.skip and late
        status = RunStatus.skipped if skip else RunStatus.running
        missed = count if skip else count - 1
        nxt = cron.next_after(now)
        run_id = uuid.uuid4().hex
        lease = lease_end(now, self.settings.reports_lease_seconds)
        try:
            with self.store.transaction():
                won = self.store.execute(
                    "UPDATE report_schedules SET next_run_at = $next, last_run_at = $slot, "
                    "last_status = $status, version = version + 1 "
                    "WHERE tenant_id = $t AND schedule_id = $id AND version = $v AND enabled "
                    "RETURNING version",
                    {"next": nxt, "slot": slot, "status": status.value, "t": sched.tenant_id,
                     "id": sched.schedule_id, "v": sched.version},
                )
                if not won:
                    raise _Lost
                inserted = self.store.execute(
                    f"INSERT INTO report_runs ({', '.join(_RUN_COLS)}) VALUES "  # noqa: S608
                    "($t, $id, $slot, $run, $name, $status, $worker, $now, $lease, $finished, 0, "
                    "$missed, $to, '[]', NULL, NULL) ON CONFLICT DO NOTHING RETURNING run_id",
                    {"t": sched.tenant_id, "id": sched.schedule_id, "slot": slot, "run": run_id,
                     "name": sched.name, "status": status.value, "worker": self.worker, "now": now,
                     "lease": lease if status is RunStatus.running else None,
                     "finished": now if skip else None, "missed": missed,
                     "to": json.dumps(sched.recipients)},
                )
                if not inserted:
                    raise _Lost
        except _Lost:
            return None
        except Exception as exc:
            if is_write_conflict(exc) or self._claimed_elsewhere(sched):
                log.debug("schedule %s/%s: lost the claim race (%s)", sched.tenant_id, sched.name,
                          type(exc).__name__)
                return None
            raise
        if skip:
            log.info("schedule %s/%s: slot %s skipped (%d missed, policy skip)", sched.tenant_id,
                     sched.name, slot, missed)
        return Claim(sched, slot, run_id, status, missed)

    def _claimed_elsewhere(self, sched: Schedule) -> bool:
        rows = self.store.execute(
            "SELECT version FROM report_schedules WHERE tenant_id = $t AND schedule_id = $id",
            {"t": sched.tenant_id, "id": sched.schedule_id},
        )
        return not rows or int(rows[0][0]) != sched.version

    def stale_runs(self, now: datetime) -> list[RunRecord]:
        rows = self.store.execute(
            f"SELECT {', '.join(_RUN_COLS)} FROM report_runs "  # noqa: S608
            "WHERE status = 'running' AND lease_until < $now",
            {"now": now},
        )
        return [_run(r) for r in rows]

    def take_over(self, run: RunRecord, now: datetime) -> Claim | None:
        """Claim a run whose worker stopped before finishing (its lease passed)."""
        try:
            sched = get_schedule(self.store, run.tenant_id, run.schedule_id)
        except NotFoundError:
            self._finish(run.tenant_id, run.schedule_id, run.slot_at, run.run_id, RunStatus.failed,
                         error="the schedule was removed before the run finished")
            return None
        run_id = uuid.uuid4().hex
        if not compare_and_set(  # a concurrent takeover may win: then it is theirs
            self.store,
            "UPDATE report_runs SET worker = $me, lease_until = $lease, run_id = $new "
            "WHERE tenant_id = $t AND schedule_id = $id AND slot_at = $slot AND run_id = $old "
            "AND status = 'running' AND lease_until < $now RETURNING run_id",
            {"me": self.worker, "lease": lease_end(now, self.settings.reports_lease_seconds), "new": run_id,
             "t": run.tenant_id, "id": run.schedule_id, "slot": run.slot_at, "old": run.run_id, "now": now},
        ):
            return None
        log.warning("schedule %s/%s: taking over run of %s (worker %s stopped)", run.tenant_id,
                    run.schedule_name, run.slot_at, run.worker)
        return Claim(sched, run.slot_at, run_id, RunStatus.running, run.missed)

    # --- sending -----------------------------------------------------------------------------------

    def _finish(self, tenant: str, schedule_id: str, slot: datetime, run_id: str, status: RunStatus,
                *, attempts: int = 0, files: Sequence[str] = (), size: int | None = None,
                error: str | None = None) -> None:
        now = self.clock()
        self.store.execute(
            "UPDATE report_runs SET status = $status, finished_at = $now, lease_until = NULL, "
            "attempts = attempts + $attempts, attachments = $files, size_bytes = $size, error = $error "
            "WHERE tenant_id = $t AND schedule_id = $id AND slot_at = $slot AND run_id = $run",
            {"status": status.value, "now": now, "attempts": attempts, "files": json.dumps(list(files)),
             "size": size, "error": error, "t": tenant, "id": schedule_id, "slot": slot, "run": run_id},
        )
        self.store.execute(
            "UPDATE report_schedules SET last_status = $status "
            "WHERE tenant_id = $t AND schedule_id = $id AND last_run_at = $slot",
            {"status": status.value, "t": tenant, "id": schedule_id, "slot": slot},
        )

    def execute(self, claim: Claim) -> RunRecord:
        """Render and send a claimed run; the outcome goes into its history row."""
        s = claim.schedule
        if claim.status is RunStatus.skipped:
            return self._record(s.tenant_id, s.schedule_id, claim.slot_at)
        files: list[str] = []
        size = None
        try:
            repo = self.store.tenant(s.tenant_id)
            doc = build_report(repo, self.config_for(s.tenant_id), s.report, s.params)
            rendered = attachments(doc, parse_formats(s.formats),
                                   stem=f"{s.report}-{s.tenant_id}-{claim.slot_at:%Y%m%d-%H%M}")
            files = [a.filename for a in rendered]
            size = sum(len(a.content) for a in rendered)
            msg = build_message(
                doc, rendered, sender=self.mailer.settings.sender, recipients=s.recipients,
                subject=f"[deskpulse] {s.name}: {doc.title} · {doc.window}",
                headers={"X-Deskpulse-Tenant": s.tenant_id, "X-Deskpulse-Schedule": s.name,
                         "X-Deskpulse-Run": claim.run_id,
                         "X-Deskpulse-Slot": claim.slot_at.strftime("%Y-%m-%dT%H:%M:%SZ")},
            )
            attempts = self.mailer.send(msg)
        except DeliveryFailed as exc:
            log.warning("schedule %s/%s: run %s failed: %s", s.tenant_id, s.name, claim.slot_at, exc)
            self._finish(s.tenant_id, s.schedule_id, claim.slot_at, claim.run_id, RunStatus.failed,
                         attempts=exc.attempts, files=files, size=size, error=str(exc))
        except Exception as exc:  # a report that cannot be built is a failed run, not a dead worker
            log.exception("schedule %s/%s: run %s failed", s.tenant_id, s.name, claim.slot_at)
            reason = exc.message if isinstance(exc, DeskpulseError) else f"{type(exc).__name__}: {exc}"
            self._finish(s.tenant_id, s.schedule_id, claim.slot_at, claim.run_id, RunStatus.failed,
                         files=files, size=size, error=reason[:1000])
        else:
            log.info("schedule %s/%s: run %s sent to %d recipient(s)", s.tenant_id, s.name,
                     claim.slot_at, len(s.recipients))
            self._finish(s.tenant_id, s.schedule_id, claim.slot_at, claim.run_id, RunStatus.sent,
                         attempts=attempts, files=files, size=size)
        return self._record(s.tenant_id, s.schedule_id, claim.slot_at)

    def _record(self, tenant: str, schedule_id: str, slot: datetime) -> RunRecord:
        rows = self.store.execute(
            f"SELECT {', '.join(_RUN_COLS)} FROM report_runs "  # noqa: S608
            "WHERE tenant_id = $t AND schedule_id = $id AND slot_at = $slot",
            {"t": tenant, "id": schedule_id, "slot": slot},
        )
        return _run(rows[0])

    def run_due(self, *, now: datetime | None = None, tenant: str | None = None) -> list[RunRecord]:
        """Claim and send every due run (of every tenant, or one); returns the runs handled."""
        now = now or self.clock()
        out: list[RunRecord] = []
        for run in self.stale_runs(now):
            if tenant is None or run.tenant_id == tenant:
                claim = self.take_over(run, now)
                if claim is not None:
                    out.append(self.execute(claim))
        for sched in self.due(now, tenant):
            claim = self.claim(sched, now)
            if claim is not None:
                out.append(self.execute(claim))
        return out

    def send_now(self, tenant: str, ref: str, *, now: datetime | None = None) -> RunRecord:
        """Send a schedule's report now, outside its cron slots (``schedule run NAME``)."""
        now = now or self.clock()
        sched = get_schedule(self.store, tenant, ref)
        run_id = uuid.uuid4().hex
        inserted = self.store.execute(
            f"INSERT INTO report_runs ({', '.join(_RUN_COLS)}) VALUES "  # noqa: S608
            "($t, $id, $slot, $run, $name, 'running', $worker, $now, $lease, NULL, 0, 0, $to, "
            "'[]', NULL, NULL) ON CONFLICT DO NOTHING RETURNING run_id",
            {"t": tenant, "id": sched.schedule_id, "slot": now, "run": run_id, "name": sched.name,
             "worker": self.worker, "now": now,
             "lease": lease_end(now, self.settings.reports_lease_seconds),
             "to": json.dumps(sched.recipients)},
        )
        if not inserted:
            raise ConflictError(f"schedule {ref!r} already has a run at {now}; try again")
        return self.execute(Claim(sched, now, run_id, RunStatus.running, 0))
