"""Ingest jobs: start under the tenant lock, fetch every page, heartbeat, cancel, finish.

Life of a job:

* :meth:`JobRunner.start` takes the tenant's lock (one atomic statement, see :mod:`.lock`) and,
  in the same transaction, writes the ``ingest_jobs`` row and the ``ingestion_logs`` row with
  status ``running`` — so a run is on record before it fetches anything, and two concurrent
  starts can never both win. A loser gets :class:`~deskpulse.errors.ConflictError` carrying
  the running ``job_id`` (HTTP 409).
* :meth:`JobRunner.run` fetches pages (the next page is fetched while the current one is
  written), applies each in its own transaction (:mod:`.apply`), heartbeats the lock every
  ``sync_heartbeat`` seconds, and stops between pages when cancellation is requested
  (``DELETE /ingest/{job_id}`` sets a flag in the database, so any worker process can cancel
  any job). Pages already written stay; the final status is ``cancelled``.
* Whatever happens — success, an exception, cancellation, shutdown — the ``finally`` block
  writes the final status, end time and errors to both tables and releases the lock. A process
  that is killed cannot do that: its lock expires (no heartbeat) and :func:`sweep_orphans`
  (run at start-up, on every start and on status reads) marks its job ``failed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pyarrow as pa

from deskpulse.errors import ConflictError, DeskpulseError, NotFoundError
from deskpulse.ingest.sync import lock
from deskpulse.ingest.sync.apply import (
    apply_page,
    has_tickets,
    load_state,
    new_or_changed,
    prepare,
    refresh_statistics,
    sweep_deleted,
)
from deskpulse.ingest.sync.classify import RuleSet, load_rules
from deskpulse.ingest.sync.clock import SYSTEM_CLOCK, Clock, to_utc
from deskpulse.ingest.sync.connectors.base import Connector, HttpClient, Page, make_connector
from deskpulse.ingest.sync.connectors.mapping import latest_per_id
from deskpulse.ingest.sync.ratelimit import RateLimiter, Unlimited
from deskpulse.ingest.sync.retry import Backoff
from deskpulse.settings import SyncSettings

log = logging.getLogger(__name__)

RUNNING, COMPLETED, FAILED, CANCELLED = "running", "completed", "failed", "cancelled"
#: Pages fetched ahead of the writer, and the most rows one write transaction takes.
QUEUE_PAGES = 16
BATCH_ROWS = 20_000


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Job:
    """A job running in this process."""

    job_id: str
    tenant_id: str
    connector: str
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    lock_lost: bool = False
    task: asyncio.Task[str] | None = None
    inserted_since_analyze: int = 0
    analyzed_rows: int = 0
    prefilter: bool = True  # skip unchanged rows early (off while loading an empty tenant)
    keys_analyzed: bool = False  # PostgreSQL statistics of the staging tables taken (once
    stage_analyzed: bool = False  # per job: the planner scales them to the current size)


def sweep_orphans(store: Any, now: datetime, tenant_id: str | None = None) -> int:
    """Mark ``running`` jobs whose lock is gone or expired as failed (their process died)."""
    scope = "AND j.tenant_id = $t " if tenant_id is not None else ""
    orphan = (
        "j.status = 'running' " + scope  # noqa: S608
        + "AND NOT EXISTS (SELECT 1 FROM ingest_locks l WHERE l.tenant_id = j.tenant_id "
        "AND l.job_id = j.job_id AND l.expires_at >= $now)"
    )
    p: dict[str, Any] = {"now": now} if tenant_id is None else {"now": now, "t": tenant_id}
    msg = json.dumps(["orphaned: the worker running this job stopped (lock expired without heartbeat)"])
    with store.transaction():
        ids = [r[0] for r in store.execute(f"SELECT j.job_id FROM ingest_jobs j WHERE {orphan}", p)]  # noqa: S608
        if not ids:
            return 0
        for job_id in ids:
            store.execute(
                "UPDATE ingest_jobs SET status = 'failed', finished_at = $now, "
                "error = 'orphaned: the worker stopped heartbeating' "
                "WHERE job_id = $j AND status = 'running'",
                {"now": now, "j": job_id},
            )
            store.execute(
                "UPDATE ingestion_logs SET status = 'failed', finished_at = $now, errors = $msg "
                "WHERE log_id = $j AND status = 'running'",
                {"now": now, "j": job_id, "msg": msg},
            )
    log.warning("marked %d orphaned ingest job(s) failed", len(ids))
    return len(ids)


class JobRunner:
    """Starts, runs, cancels and reports ingest jobs of this process.

    ``control`` is the store for short control statements (locks, job rows, heartbeats);
    ``data_store()`` gives the store a job writes pages through (on PostgreSQL a connection of
    its own per job, so a long page write never delays a heartbeat or an API request).
    """

    def __init__(
        self,
        control: Any,
        settings: SyncSettings,
        *,
        data_store: Callable[[], Any] | None = None,
        release_data_store: Callable[[Any], None] | None = None,
        limiter: RateLimiter | None = None,
        clock: Clock = SYSTEM_CLOCK,
        owner: str | None = None,
        connector_factory: Callable[[str, str], Connector] | None = None,
        rules: Callable[[], RuleSet] | None = None,
    ) -> None:
        self.control = control
        self.settings = settings
        self._data_store = data_store or (lambda: control)
        self._release = release_data_store or (lambda s: None)
        self.limiter: RateLimiter = limiter or Unlimited()
        self.clock = clock
        self.owner = owner or default_owner()
        self._connector = connector_factory or (lambda name, t: make_connector(name, settings, t))
        self._rules = rules or (lambda: load_rules(settings.classification_rules))
        self.jobs: dict[str, Job] = {}

    def now(self) -> datetime:
        return to_utc(self.clock.now())

    # --- start ---------------------------------------------------------------------------------

    def start(self, tenant_id: str, connector: str | None = None) -> Job:
        """Take the tenant's lock and record the job; ConflictError when one is running."""
        name = connector or self.settings.sync_connector
        conn = self._connector(name, tenant_id)  # configuration errors surface before the lock
        del conn
        job_id = uuid.uuid4().hex
        now = self.now()
        ttl = self.settings.sync_lock_ttl
        with self.control.transaction():
            if not lock.try_acquire(self.control, tenant_id, job_id, self.owner, now, ttl):
                held = lock.holder(self.control, tenant_id)
                running = held.job_id if held else None
                raise ConflictError(
                    f"an ingest is already running for tenant {tenant_id!r}",
                    job_id=running, tenant_id=tenant_id,
                )
            # whatever still says running for this tenant lost its lock: its worker died
            self.control.execute(
                "UPDATE ingest_jobs SET status = 'failed', finished_at = $now, "
                "error = 'orphaned: the worker stopped heartbeating' "
                "WHERE tenant_id = $t AND status = 'running'",
                {"now": now, "t": tenant_id},
            )
            self.control.execute(
                "UPDATE ingestion_logs SET status = 'failed', finished_at = $now, errors = $e "
                "WHERE tenant_id = $t AND status = 'running'",
                {"now": now, "t": tenant_id, "e": json.dumps(
                    ["orphaned: the worker running this job stopped (lock expired)"])},
            )
            self.control.execute(
                "INSERT INTO ingest_jobs (job_id, tenant_id, connector, status, owner, created_at, "
                "heartbeat_at, total_pages, processed_pages, cancel_requested) "
                "VALUES ($j, $t, $c, 'running', $o, $now, $now, NULL, 0, false)",
                {"j": job_id, "t": tenant_id, "c": name, "o": self.owner, "now": now},
            )
            self.control.execute(
                "INSERT INTO ingestion_logs (log_id, tenant_id, job_id, connector, started_at, "
                "status, pages, tickets_new, tickets_updated, tickets_unchanged, tickets_deleted, "
                "events_new, api_calls, errors) "
                "VALUES ($j, $t, $j, $c, $now, 'running', 0, 0, 0, 0, 0, 0, 0, '[]')",
                {"j": job_id, "t": tenant_id, "c": name, "now": now},
            )
        job = Job(job_id, tenant_id, name)
        self.jobs[job_id] = job
        log.info("ingest job %s started for tenant %s (%s)", job_id, tenant_id, name)
        return job

    def launch(self, job: Job) -> asyncio.Task[str]:
        """Run ``job`` as a task on the running event loop."""
        job.task = asyncio.get_running_loop().create_task(self.run(job), name=f"ingest-{job.job_id}")
        return job.task

    # --- run -----------------------------------------------------------------------------------

    async def run(self, job: Job) -> str:
        """Fetch and write every page; returns the final status."""
        status, errors = FAILED, []
        api_calls = 0
        store: Any = None
        hb = asyncio.create_task(self._heartbeat(job), name=f"heartbeat-{job.job_id}")
        try:
            store = await asyncio.to_thread(self._data_store)
            connector = self._connector(job.connector, job.tenant_id)
            rules = self._rules()
            state = await asyncio.to_thread(load_state, store, job.tenant_id, job.connector)
            job.prefilter = await asyncio.to_thread(has_tickets, store, job.tenant_id)
            s = self.settings
            async with httpx.AsyncClient(timeout=s.sync_http_timeout) as client:
                http = HttpClient(client, limiter=self.limiter, clock=self.clock,
                                  backoff=Backoff(s.sync_backoff_base, s.sync_backoff_cap),
                                  max_attempts=s.sync_max_attempts)
                try:
                    status = await self._pages(job, store, connector, http, rules, state)
                finally:
                    api_calls = http.calls
        except asyncio.CancelledError:
            errors.append("interrupted: the worker shut down")
            status = FAILED
            raise
        except DeskpulseError as exc:
            errors.append(exc.message)
            log.warning("ingest job %s failed: %s", job.job_id, exc.message)
        except Exception as exc:  # the run must end on record whatever went wrong
            errors.append(f"{type(exc).__name__}: {exc}")
            log.exception("ingest job %s failed", job.job_id)
        finally:
            hb.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hb
            if job.lock_lost and status != FAILED:
                status = FAILED
                errors.append("the lock was lost (heartbeats failed for longer than its TTL)")
            await asyncio.shield(asyncio.to_thread(self._finish, job, status, errors, api_calls))
            if store is not None:
                self._release(store)
            self.jobs.pop(job.job_id, None)
        return status

    async def _pages(self, job: Job, store: Any, connector: Connector, http: HttpClient,
                     rules: RuleSet, state: dict[str, Any] | None) -> str:
        queue: asyncio.Queue[Page | None] = asyncio.Queue(maxsize=QUEUE_PAGES)

        async def produce() -> None:
            async for page in connector.pages(http, state):
                await queue.put(page)
            await queue.put(None)

        producer = asyncio.create_task(produce(), name=f"fetch-{job.job_id}")
        seen: list[pa.Array] = []
        cancel_wait = asyncio.create_task(job.cancel.wait())
        try:
            while True:
                if producer.done() and producer.exception() is not None and queue.empty():
                    producer.result()  # the fetch failed: raise its error
                getter = asyncio.create_task(queue.get())
                waiting: set[asyncio.Future[Any]] = {getter, cancel_wait}
                if not producer.done():
                    waiting.add(producer)
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done and getter.cancel():
                    with contextlib.suppress(asyncio.CancelledError):
                        await getter
                    if cancel_wait in done:
                        return CANCELLED if not job.lock_lost else FAILED
                    continue  # the producer ended: take what it queued, or raise its error
                page = await getter
                if page is None:
                    break
                if job.cancel.is_set():
                    return CANCELLED if not job.lock_lost else FAILED
                # write the pages already fetched together (fewer, larger transactions)
                batch, ended = [page], False
                rows = page.tickets.num_rows
                while rows < BATCH_ROWS and not queue.empty():
                    more = queue.get_nowait()
                    if more is None:
                        ended = True
                        break
                    batch.append(more)
                    rows += more.tickets.num_rows
                result = await asyncio.to_thread(self._write, job, store, batch, http.calls)
                if connector.full_listing:
                    seen.extend(p.tickets.column("ticket_id").combine_chunks() for p in batch)
                if result.cancel_requested:
                    job.cancel.set()
                    return CANCELLED
                if ended:
                    break
            if connector.full_listing:
                if getattr(connector, "listing_stable", True):
                    ids = pa.concat_arrays(seen) if seen else pa.array([], pa.string())
                    await asyncio.to_thread(
                        sweep_deleted, store, tenant_id=job.tenant_id, job_id=job.job_id,
                        source=connector.name, seen=ids, now=self.now())
                else:
                    log.warning("job %s: the listing moved while paging; no deletions swept",
                                job.job_id)
            return COMPLETED
        finally:
            for t in (producer, cancel_wait):
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t

    def _write(self, job: Job, store: Any, batch: list[Page], calls: int) -> Any:
        last = batch[-1]
        tickets = batch[0].tickets if len(batch) == 1 else latest_per_id(
            pa.concat_tables([p.tickets for p in batch]))
        events = [p.events for p in batch if p.events is not None and p.events.num_rows]
        unchanged = 0
        if job.prefilter and tickets.num_rows:
            fresh = new_or_changed(store, job.tenant_id, tickets, analyze=not job.keys_analyzed)
            job.keys_analyzed = True
            unchanged = tickets.num_rows - fresh.num_rows
            tickets = fresh
        staged = prepare(tickets, self._rules(), job.tenant_id)
        result = apply_page(
            store, tenant_id=job.tenant_id, job_id=job.job_id, source=job.connector,
            staged=staged, events=pa.concat_tables(events) if events else None, now=self.now(),
            now_epoch=self.clock.now(), total_pages=last.total_pages, state=last.state,
            api_calls=calls, rejected=sum(p.rejected for p in batch), pages=len(batch),
            unchanged=unchanged, analyze_stage=not job.stage_analyzed,
        )
        job.stage_analyzed = job.stage_analyzed or staged.num_rows > 0
        job.inserted_since_analyze += result.new + result.deleted
        if job.inserted_since_analyze >= max(1000, job.analyzed_rows):
            refresh_statistics(store)
            job.analyzed_rows += job.inserted_since_analyze
            job.inserted_since_analyze = 0
        return result

    async def _heartbeat(self, job: Job) -> None:
        period = self.settings.sync_heartbeat
        failing_since: float | None = None
        while True:
            await self.clock.sleep(period)
            try:
                ok, cancel = await asyncio.to_thread(self._beat, job)
            except DeskpulseError as exc:  # the store hiccuped: retry until the TTL runs out
                log.warning("job %s: heartbeat failed: %s", job.job_id, exc.message)
                failing_since = failing_since or self.clock.now()
                if self.clock.now() - failing_since > self.settings.sync_lock_ttl:
                    job.lock_lost = True
                    job.cancel.set()
                    return
                continue
            failing_since = None
            if not ok:
                job.lock_lost = True
                job.cancel.set()
                return
            if cancel:
                job.cancel.set()

    def _beat(self, job: Job) -> tuple[bool, bool]:
        now = self.now()
        with self.control.transaction():
            ok = lock.heartbeat(self.control, job.tenant_id, job.job_id, now,
                                self.settings.sync_lock_ttl)
            rows = self.control.execute(
                "UPDATE ingest_jobs SET heartbeat_at = $now WHERE job_id = $j "
                "RETURNING cancel_requested",
                {"now": now, "j": job.job_id},
            )
        return ok, bool(rows and rows[0][0])

    def _finish(self, job: Job, status: str, errors: list[str], api_calls: int) -> None:
        now = self.now()
        try:
            with self.control.transaction():
                self.control.execute(
                    "UPDATE ingest_jobs SET status = $s, finished_at = $now, error = $e "
                    "WHERE job_id = $j AND status = 'running'",
                    {"s": status, "now": now, "e": "; ".join(errors) or None, "j": job.job_id},
                )
                self.control.execute(
                    "UPDATE ingestion_logs SET status = $s, finished_at = $now, errors = $e, "
                    "api_calls = greatest(api_calls, $c) WHERE log_id = $j AND status = 'running'",
                    {"s": status, "now": now, "e": json.dumps(errors), "c": api_calls,
                     "j": job.job_id},
                )
                lock.release(self.control, job.tenant_id, job.job_id)
        except DeskpulseError:
            log.exception("job %s: could not record the final status %s", job.job_id, status)
        log.info("ingest job %s for tenant %s: %s", job.job_id, job.tenant_id, status)

    # --- control and reads -------------------------------------------------------------------

    def cancel(self, tenant_id: str, job_id: str) -> dict[str, Any]:
        """Ask a running job to stop after the page in hand (any process can ask)."""
        sweep_orphans(self.control, self.now(), tenant_id)
        rows = self.control.execute(
            "UPDATE ingest_jobs SET cancel_requested = true WHERE job_id = $j AND tenant_id = $t "
            "AND status = 'running' RETURNING job_id",
            {"j": job_id, "t": tenant_id},
        )
        if not rows:
            found = self.control.execute(
                "SELECT status FROM ingest_jobs WHERE job_id = $j AND tenant_id = $t",
                {"j": job_id, "t": tenant_id},
            )
            if not found:
                raise NotFoundError(f"ingest job {job_id!r} not found", job_id=job_id)
            raise ConflictError(f"ingest job {job_id!r} is not running (status {found[0][0]})",
                                job_id=job_id, status=found[0][0])
        local = self.jobs.get(job_id)
        if local is not None:
            local.cancel.set()
        return {"job_id": job_id, "tenant_id": tenant_id, "status": "cancelling"}

    def progress(self, tenant_id: str, job_id: str) -> dict[str, Any]:
        rows = self._job_rows("j.job_id = $j AND j.tenant_id = $t", {"j": job_id, "t": tenant_id})
        if rows and rows[0]["status"] == RUNNING and sweep_orphans(self.control, self.now(), tenant_id):
            rows = self._job_rows("j.job_id = $j AND j.tenant_id = $t", {"j": job_id, "t": tenant_id})
        if not rows:
            raise NotFoundError(f"ingest job {job_id!r} not found", job_id=job_id)
        return rows[0]

    def status(self, tenant_id: str) -> dict[str, Any]:
        now = self.now()
        sweep_orphans(self.control, now, tenant_id)
        held = lock.holder(self.control, tenant_id)
        live = held is not None and held.expires_at >= now
        last = self._job_rows("j.tenant_id = $t", {"t": tenant_id}, limit=1)
        return {
            "tenant_id": tenant_id,
            "status": RUNNING if live else "idle",
            "job_id": held.job_id if live and held else None,
            "lock": held.as_dict() if live and held else None,
            "last_job": last[0] if last else None,
        }

    def history(self, tenant_id: str, limit: int = 20) -> list[dict[str, Any]]:
        return self._job_rows("j.tenant_id = $t", {"t": tenant_id}, limit=limit)

    def _job_rows(self, where: str, params: dict[str, Any], limit: int = 1) -> list[dict[str, Any]]:
        rows = self.control.execute(
            "SELECT j.job_id, j.tenant_id, j.connector, j.status, j.total_pages, j.processed_pages, "  # noqa: S608
            "j.created_at, j.finished_at, j.heartbeat_at, j.cancel_requested, j.error, "
            "l.tickets_new, l.tickets_updated, l.tickets_unchanged, l.tickets_deleted, l.events_new, "
            "l.api_calls FROM ingest_jobs j LEFT JOIN ingestion_logs l ON l.log_id = j.job_id "
            f"WHERE {where} ORDER BY j.created_at DESC LIMIT $lim",
            {**params, "lim": int(limit)},
        )
        out = []
        for r in rows:
            (job_id, tenant, conn, status, total, done, created, finished, hb, cancel, err,
             n, u, s, d, e, calls) = r
            if status == COMPLETED:
                pct = 100
            elif total:
                pct = min(100, int(done * 100 // total))
            else:
                pct = 0  # the source has not told its size yet
            out.append({
                "job_id": job_id, "tenant_id": tenant, "connector": conn, "status": status,
                "progress": pct, "total_pages": total, "processed_pages": done,
                "tickets": {"new": n, "updated": u, "unchanged": s, "deleted": d},
                "events_new": e, "api_calls": calls, "created_at": created,
                "finished_at": finished, "heartbeat_at": hb, "cancel_requested": bool(cancel),
                "error": err,
            })
        return out


def read_logs(store: Any, tenant_id: str, limit: int = 20) -> list[dict[str, Any]]:
    """The tenant's newest ingestion_logs rows."""
    rows = store.execute(
        "SELECT log_id, job_id, connector, started_at, finished_at, status, pages, tickets_new, "  # noqa: S608
        "tickets_updated, tickets_unchanged, tickets_deleted, events_new, api_calls, errors "
        "FROM ingestion_logs WHERE tenant_id = $t ORDER BY started_at DESC LIMIT $lim",
        {"t": tenant_id, "lim": int(limit)},
    )
    cols = ("log_id", "job_id", "connector", "started_at", "finished_at", "status", "pages",
            "tickets_new", "tickets_updated", "tickets_unchanged", "tickets_deleted", "events_new",
            "api_calls", "errors")
    out = []
    for r in rows:
        d = dict(zip(cols, r, strict=True))
        d["errors"] = json.loads(d["errors"]) if d["errors"] else []
        out.append(d)
    return out
