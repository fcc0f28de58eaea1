"""Schedules: storage and validation, exactly one send per due run when five workers race
(threads on DuckDB; processes and threads on PostgreSQL), missed runs sent once or skipped,
a stopped worker's run taken over, run history."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from deskpulse.config import parse_config
from deskpulse.errors import ConflictError, NotFoundError, UsageError
from deskpulse.reports.mailer import Mailer
from deskpulse.reports.schedules import (
    ReportRunner,
    ScheduleSpec,
    add_schedule,
    get_schedule,
    list_runs,
    list_schedules,
    remove_schedule,
    update_schedule,
)
from deskpulse.settings import load_report_settings
from deskpulse.store import open_store
from tests.reports.conftest import (
    TENANT,
    Built,
    ManualClock,
    RecordingMailer,
    SmtpServer,
    smtp_settings,
)

T0 = datetime(2026, 3, 6, 0, 0)
WORKERS = 5


def _spec(name: str = "hourly", **kw: Any) -> ScheduleSpec:
    base: dict[str, Any] = dict(name=name, cron="0 * * * *", report="agents",
                                recipients=["lead@example.com"], formats="csv", days=7)
    base.update(kw)
    return ScheduleSpec(**base)


# --- storage -----------------------------------------------------------------------------------------


def test_add_list_update_remove(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "s.duckdb"))
    try:
        s = add_schedule(store, "t1", _spec("weekly-sla", cron="0 8 * * MON", timezone="Europe/Berlin",
                                            report="sla", formats="pdf, csv", missed_policy="skip",
                                            recipients=["a@example.com, b@example.com"],
                                            filters={"group": "Billing"}), now=T0)
        assert s.next_run_at == datetime(2026, 3, 9, 7)  # Monday 08:00 CET
        assert s.formats == "pdf,csv" and s.missed_policy == "skip"
        assert s.recipients == ["a@example.com", "b@example.com"] and s.filters == {"group": "Billing"}
        assert [x.name for x in list_schedules(store, "t1")] == ["weekly-sla"]
        assert list_schedules(store, "t2") == []
        with pytest.raises(NotFoundError):
            get_schedule(store, "t2", s.schedule_id)  # another tenant's looks missing
        with pytest.raises(ConflictError):
            add_schedule(store, "t1", _spec("weekly-sla"), now=T0)
        u = update_schedule(store, "t1", "weekly-sla", {"cron": "30 9 * * *", "timezone": "UTC"}, now=T0)
        assert u.next_run_at == datetime(2026, 3, 6, 9, 30) and u.version == s.version + 1
        remove_schedule(store, "t1", s.schedule_id)
        assert list_schedules(store, "t1") == []
        for bad in (dict(cron="nope"), dict(report="weekly"), dict(formats="docx"),
                    dict(recipients=["not-an-address"]), dict(missed_policy="later"),
                    dict(filters={"colour": "red"}), dict(name="bad name!"), dict(days=0),
                    dict(timezone="Nowhere/City")):
            with pytest.raises(UsageError):
                add_schedule(store, "t1", _spec(**bad), now=T0)
    finally:
        store.close()


# --- exactly once ---------------------------------------------------------------------------------


def _race_threads(url: str, now: datetime, mailer: Any, cfg: Any) -> list[Any]:
    barrier = threading.Barrier(WORKERS)
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        store = open_store(url, migrate=False)
        try:
            runner = ReportRunner(store, cfg, mailer, clock=lambda: now, worker=f"w{i}")
            barrier.wait()
            runs = runner.run_due()
            with lock:
                results.extend(runs)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    return results


def test_five_threads_race_on_duckdb_one_send_each(built: Built) -> None:
    names = [f"race-{i}" for i in range(3)]
    for n in names:
        add_schedule(built.store, TENANT, _spec(n, cron="0 6 * * *"), now=T0)
    mailer = RecordingMailer()
    now = datetime(2026, 3, 6, 6, 0, 30)
    runs = _race_threads(built.url, now, mailer, built.cfg)
    assert sorted(r.schedule_name for r in runs) == names
    assert sorted(m["X-Deskpulse-Schedule"] for m in mailer.sent) == names
    for n in names:
        history = list_runs(built.store, TENANT, n)
        assert [(h.status, h.slot_at) for h in history] == [("sent", datetime(2026, 3, 6, 6))]
        assert get_schedule(built.store, TENANT, n).next_run_at == datetime(2026, 3, 7, 6)
    # a second round at the same instant finds nothing due
    assert _race_threads(built.url, now, mailer, built.cfg) == []
    assert len(mailer.sent) == len(names)


def _process_worker(url: str, port: int, now: datetime, barrier: Any, out: Any) -> None:
    """One racing worker process: its own store connection and a real SMTP client."""
    from deskpulse.config import parse_config
    from deskpulse.reports.mailer import Mailer
    from deskpulse.reports.schedules import ReportRunner
    from deskpulse.settings import load_smtp_settings
    from deskpulse.store import open_store

    store = open_store(url, migrate=False)
    try:
        mailer = Mailer(load_smtp_settings(host="127.0.0.1", port=port, security="none", timeout=10.0))
        runner = ReportRunner(store, parse_config({}), mailer, clock=lambda: now)
        barrier.wait(60)
        out.put([r.schedule_name for r in runner.run_due()])
    except BaseException as exc:
        out.put(f"error: {type(exc).__name__}: {exc}")
    finally:
        store.close()


@pytest.mark.postgres
def test_five_processes_race_on_postgres_one_email_each(pg_url: str, smtp: SmtpServer) -> None:
    store = open_store(pg_url)
    try:
        names = ["pg-a", "pg-b"]
        for n in names:
            add_schedule(store, "pgt", _spec(n, cron="*/10 * * * *"), now=T0)
        now = T0 + timedelta(minutes=10, seconds=5)
        ctx = multiprocessing.get_context("spawn")
        barrier = ctx.Barrier(WORKERS)
        out = ctx.Queue()
        procs = [ctx.Process(target=_process_worker, args=(pg_url, smtp.port, now, barrier, out))
                 for _ in range(WORKERS)]
        for p in procs:
            p.start()
        got = [out.get(timeout=180) for _ in procs]
        for p in procs:
            p.join(60)
        assert all(isinstance(g, list) for g in got), got
        assert sorted(n for g in got for n in g) == names
        assert sorted(m["X-Deskpulse-Schedule"] for m in smtp.parsed()) == names
        for n in names:
            assert [h.status for h in list_runs(store, "pgt", n)] == ["sent"]
    finally:
        store.close()


@pytest.mark.postgres
def test_five_threads_race_on_postgres(pg_url: str) -> None:
    store = open_store(pg_url)
    try:
        add_schedule(store, "pgt", _spec("pg-threads", cron="0 6 * * *"), now=T0)
        mailer = RecordingMailer()
        runs = _race_threads(pg_url, datetime(2026, 3, 6, 6, 1), mailer, parse_config({}))
        assert [r.schedule_name for r in runs] == ["pg-threads"] and len(mailer.sent) == 1
    finally:
        store.close()


# --- missed runs ---------------------------------------------------------------------------------


def _mine(runs: list[Any], name: str) -> list[Any]:
    return [r for r in runs if r.schedule_name == name]


def _runner(built: Built, clock: ManualClock, mailer: Any, grace: float = 900.0) -> ReportRunner:
    settings = load_report_settings(reports_missed_grace_seconds=grace)
    return ReportRunner(built.store, built.cfg, mailer, settings, clock=clock)


def test_missed_runs_are_sent_once(built: Built) -> None:
    add_schedule(built.store, TENANT, _spec("once", missed_policy="send-once"), now=T0)
    mailer = RecordingMailer()
    clock = ManualClock(T0 + timedelta(hours=5, minutes=40))  # 5 hourly slots passed while down
    (run,) = _mine(_runner(built, clock, mailer).run_due(), "once")
    assert (run.status, run.slot_at, run.missed) == ("sent", T0 + timedelta(hours=5), 4)
    assert len(mailer.sent) == 1
    assert get_schedule(built.store, TENANT, "once").next_run_at == T0 + timedelta(hours=6)
    assert _mine(_runner(built, clock, mailer).run_due(), "once") == []


def test_missed_runs_are_skipped_and_the_next_slot_is_sent(built: Built) -> None:
    add_schedule(built.store, TENANT, _spec("skipper", missed_policy="skip"), now=T0)
    mailer = RecordingMailer()
    mailer.sent = []
    clock = ManualClock(T0 + timedelta(hours=3, minutes=30))  # 30 min late > 15 min grace
    (run,) = _mine(_runner(built, clock, mailer).run_due(), "skipper")
    assert (run.status, run.slot_at, run.missed, run.attempts) == ("skipped", T0 + timedelta(hours=3), 3, 0)
    assert not [m for m in mailer.sent if m["X-Deskpulse-Schedule"] == "skipper"]
    s = get_schedule(built.store, TENANT, "skipper")
    assert (s.next_run_at, s.last_status) == (T0 + timedelta(hours=4), "skipped")
    clock.at = T0 + timedelta(hours=4, minutes=2)  # on time again: sent
    (run,) = _mine(_runner(built, clock, mailer).run_due(), "skipper")
    assert (run.status, run.missed) == ("sent", 0)
    assert len([m for m in mailer.sent if m["X-Deskpulse-Schedule"] == "skipper"]) == 1
    clock.at = T0 + timedelta(hours=6, minutes=5)  # one slot missed, the latest on time
    (run,) = _mine(_runner(built, clock, mailer).run_due(), "skipper")
    assert (run.status, run.slot_at, run.missed) == ("sent", T0 + timedelta(hours=6), 1)
    history = list_runs(built.store, TENANT, "skipper")
    assert [h.status for h in history] == ["sent", "sent", "skipped"]


def test_a_stopped_workers_run_is_taken_over(built: Built) -> None:
    add_schedule(built.store, TENANT, _spec("crashy", cron="0 6 * * *"), now=T0)
    clock = ManualClock(datetime(2026, 3, 6, 6, 0, 10))
    runner = _runner(built, clock, RecordingMailer())
    (sched,) = [s for s in runner.due(clock.at) if s.name == "crashy"]
    claim = runner.claim(sched, clock.at)  # claimed, then the worker "dies" before sending
    assert claim is not None
    assert runner.claim(sched, clock.at) is None  # a second claim of the same read loses
    mailer = RecordingMailer()
    assert _mine(_runner(built, clock, mailer).run_due(), "crashy") == []  # the lease holds
    clock.advance(minutes=16)  # the lease (15 min) has passed
    (run,) = _mine(_runner(built, clock, mailer).run_due(), "crashy")
    assert (run.status, run.slot_at) == ("sent", datetime(2026, 3, 6, 6))
    assert len([m for m in mailer.sent if m["X-Deskpulse-Schedule"] == "crashy"]) == 1


def test_send_now_and_disabled_schedules(built: Built, smtp: SmtpServer) -> None:
    add_schedule(built.store, TENANT, _spec("manual", cron="0 6 1 1 *", enabled=False), now=T0)
    clock = ManualClock(datetime(2027, 1, 1, 6, 5))
    runner = ReportRunner(built.store, built.cfg, Mailer(smtp_settings(smtp)), clock=clock)
    assert _mine(runner.run_due(), "manual") == []  # disabled
    run = runner.send_now(TENANT, "manual")
    assert run.status == "sent"
    assert [m["X-Deskpulse-Schedule"] for m in smtp.parsed()].count("manual") == 1
    s = update_schedule(built.store, TENANT, "manual", {"enabled": True}, now=clock.at)
    assert s.next_run_at == datetime(2028, 1, 1, 6)
