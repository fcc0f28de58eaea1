"""A helpdesk simulator: Zendesk- and Intercom-shaped APIs with limits, churn and failures.

``deskpulse simulate-helpdesk --port 9000`` serves it (``make demo`` and the tests use it). Each
tenant (path prefix ``/t/{tenant}``) gets a deterministic set of tickets on first use.

Ticket APIs (all count against the rate limit: ``rate_limit`` calls per ``rate_window``
seconds, then ``429`` with ``Retry-After``):

* ``GET /t/{t}/api/v2/tickets.json`` — Zendesk's list: cursor pagination
  (``page[size]``, ``page[after]`` → ``meta.has_more``/``meta.after_cursor``) or offset
  pagination (``page``, ``per_page`` → ``count``, ``next_page``);
* ``GET /t/{t}/api/v2/tickets/count.json``;
* ``GET /t/{t}/api/v2/incremental/tickets/cursor.json`` — Incremental Export by cursor
  (``start_time`` or ``cursor``; deleted tickets appear with ``status: deleted``);
* ``GET /t/{t}/api/v2/incremental/ticket_events.json`` — ticket events by time;
* ``POST /t/{t}/intercom/conversations/search`` and ``GET /t/{t}/intercom/conversations`` —
  Intercom's conversation shapes (cursor ``starting_after``).

``POST /notify`` is deliberately unstable: ``notify_fail_rate`` of the calls answer 503 and
each waits ``notify_latency`` seconds; deliveries are recorded by ``Idempotency-Key``.

Control endpoints (never rate limited) under ``/_sim``: ``reset``, ``config``, per-tenant
``seed`` and ``mutate`` (updates, deletions and creations between runs), ``faults`` (fail
pages), and the logs ``calls`` and ``notify`` that tests assert on. ``churn`` > 0 mutates a
tenant by itself after every complete listing, so successive runs see changes.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import json
import math
import random
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SUBJECTS: tuple[tuple[str, str, int], ...] = (
    # (subject, description, weight)
    ("Question about my invoice", "Could you explain the second line of invoice {n}?", 14),
    ("How do I export my reports?", "I cannot find the export button, how to do it?", 12),
    ("Cannot log in to my account", "I get an error when I log in since this morning.", 10),
    ("App is broken after the update", "The dashboard does not work any more after updating.", 8),
    ("Password reset email not arriving", "The reset link never arrives in my inbox.", 8),
    ("Feature request: dark mode", "It would be great to have a dark mode.", 7),
    ("Change of billing address", "Please update our billing address to the new office.", 7),
    ("Thank you for the quick help", "Everything works now, thanks a lot!", 6),
    ("Very disappointed with the service", "This is unacceptable, I am frustrated.", 4),
    ("Refund request for order {n}", "I was charged twice, I want a refund.", 5),
    ("URGENT: production down", "Our whole team is blocked, please help immediately.", 3),
    ("GDPR data deletion request", "Please delete my personal data under GDPR.", 2),
    ("Chargeback filed for duplicate charge", "My bank opened a chargeback for order {n}.", 2),
    ("We will take legal action", "If this is not fixed our lawyer will file a lawsuit.", 1),
    ("Not urgent: question about API limits", "No rush, how many calls can we make?", 3),
)
CHANNELS = ("email", "web", "chat", "voice", "api")
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
PRIORITIES = ("low", "normal", "normal", "normal", "high", "urgent", None)
TYPES = ("question", "incident", "problem", "task")
NEXT_STATUS = {"new": "open", "open": "pending", "pending": "open", "hold": "open",
               "solved": "closed", "closed": "closed"}


@dataclass
class SimConfig:
    """Tunable behaviour (``POST /_sim/config`` changes it at run time)."""

    tickets_per_tenant: int = 200
    seed: int = 7
    days: int = 30
    rate_limit: int = 60  # calls per window on the ticket APIs; 0 lifts the limit
    rate_window: float = 60.0
    page_latency: float = 0.0
    notify_fail_rate: float = 0.0
    notify_latency: float = 0.0
    notify_status: int = 503
    churn: float = 0.0  # after a complete listing: this share updated, a quarter of it deleted
    max_page_size: int = 1000
    require_auth: bool = True  # Zendesk/Intercom paths want an Authorization header


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def _unb64(text: str) -> Any:
    pad = "=" * (-len(text) % 4)
    return json.loads(base64.urlsafe_b64decode(text + pad))


@dataclass
class TenantData:
    """One tenant's helpdesk: live tickets, tombstones, the audit stream."""

    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    encoded: dict[int, bytes] = field(default_factory=dict)
    deleted: dict[int, dict[str, Any]] = field(default_factory=dict)
    audits: list[dict[str, Any]] = field(default_factory=list)
    next_id: int = 1
    next_audit: int = 1
    _ids: list[int] | None = None
    _by_update: list[tuple[int, int]] | None = None  # (updated_epoch, id) incl. tombstones

    def ids(self) -> list[int]:
        if self._ids is None:
            self._ids = sorted(self.tickets)
        return self._ids

    def by_update(self) -> list[tuple[int, int]]:
        if self._by_update is None:
            rows = [(t["_u"], i) for i, t in self.tickets.items()]
            rows += [(t["_u"], i) for i, t in self.deleted.items()]
            self._by_update = sorted(rows)
        return self._by_update

    def touched(self) -> None:
        self._ids = None
        self._by_update = None

    def encode(self, tid: int) -> bytes:
        b = self.encoded.get(tid)
        if b is None:
            t = self.tickets[tid]
            b = json.dumps({k: v for k, v in t.items() if not k.startswith("_")},
                           separators=(",", ":")).encode()
            self.encoded[tid] = b
        return b


class Simulator:
    """The simulator's state and behaviour (the Starlette app is a thin shell over it)."""

    def __init__(self, config: SimConfig | None = None, clock: Callable[[], float] = time.time) -> None:
        self.config = config or SimConfig()
        self.clock = clock
        self.tenants: dict[str, TenantData] = {}
        self.calls: list[tuple[float, str, int, str]] = []  # (at, path, status, tenant)
        self._accepted: list[float] = []
        self.notify_attempts = 0
        self.notify_failures = 0
        self.delivered: dict[str, int] = {}
        self.fail_next_notify = 0
        self.faults: dict[str, dict[str, int]] = {}
        self.listings: dict[str, int] = {}

    # --- data ------------------------------------------------------------------------------

    def tenant(self, name: str, n: int | None = None, seed: int | None = None) -> TenantData:
        if name in self.tenants and n is None:
            return self.tenants[name]
        n = self.config.tickets_per_tenant if n is None else n
        rng = random.Random((seed if seed is not None else self.config.seed) * 1_000_003
                            + zlib.crc32(name.encode()))
        data = TenantData()
        now = int(self.clock())
        start = now - self.config.days * 86400
        weights = [w for _, _, w in SUBJECTS]
        for _ in range(n):
            created = rng.randint(start, now - 60)
            updated = rng.randint(created, now - 1)
            self._new_ticket(data, rng, created, updated, weights)
        self.tenants[name] = data
        return data

    def _new_ticket(self, data: TenantData, rng: random.Random, created: int, updated: int,
                    weights: list[int]) -> int:
        tid = data.next_id
        data.next_id += 1
        subj, desc, _ = rng.choices(SUBJECTS, weights=weights)[0]
        status = rng.choice(STATUSES)
        requester = 10_000 + rng.randint(0, 5000)
        t: dict[str, Any] = {
            "id": tid,
            "via": {"channel": rng.choice(CHANNELS)},
            "created_at": iso(created),
            "updated_at": iso(updated),
            "type": rng.choice(TYPES),
            "subject": subj.format(n=tid),
            "description": desc.format(n=tid),
            "priority": rng.choice(PRIORITIES),
            "status": status,
            "requester_id": requester,
            "assignee_id": 500 + rng.randint(0, 40) if status != "new" else None,
            "organization_id": 7000 + rng.randint(0, 200),
            "group_id": 360_000 + rng.randint(0, 6),
            "brand_id": 1,
            "tags": rng.sample(["billing", "login", "vip", "mobile", "api", "export"], k=rng.randint(0, 2)),
            "satisfaction_rating": {"score": rng.choice(["unoffered", "offered", "good", "bad"])},
            "is_public": True,
            "_u": updated,
        }
        data.tickets[tid] = t
        data.encoded.pop(tid, None)
        self._audit(data, tid, created, requester, [
            {"event_type": "Comment", "type": "Comment", "author_id": requester,
             "body": t["description"], "public": True},
            {"event_type": "Create", "status": "new"},
            {"event_type": "Create", "priority": t["priority"]},
            {"event_type": "Create", "requester_id": requester},
        ])
        if status != "new":
            self._audit(data, tid, updated, t["assignee_id"] or 500, [
                {"event_type": "Comment", "type": "Comment", "author_id": t["assignee_id"] or 500,
                 "body": "Thanks for reaching out, we are on it.", "public": True},
                {"event_type": "Change", "status": status, "previous_value": "new"},
            ])
        data.touched()
        return tid

    def _audit(self, data: TenantData, tid: int, at: int, updater: int,
               children: list[dict[str, Any]]) -> None:
        aid = data.next_audit
        data.next_audit += 1
        for i, c in enumerate(children):
            c.setdefault("id", aid * 100 + i)
            c.setdefault("via", "Web")
            c.setdefault("audit_id", aid)
            c.setdefault("created_at", iso(at))
        data.audits.append({"id": aid, "ticket_id": tid, "timestamp": at, "created_at": iso(at),
                            "updater_id": updater, "via": "Web", "event_type": "Audit",
                            "child_events": children})

    def mutate(self, name: str, *, updates: int = 0, deletes: int = 0, creates: int = 0,
               update_ids: list[int] | None = None, delete_ids: list[int] | None = None,
               set_fields: dict[str, Any] | None = None, seed: int | None = None) -> dict[str, Any]:
        """Change a tenant between runs: update, delete and create tickets."""
        data = self.tenant(name)
        rng = random.Random(seed if seed is not None else int(self.clock() * 1000))
        live = data.ids()
        upd = list(update_ids or []) + rng.sample(live, k=min(updates, len(live)))
        chosen = set(upd)
        rest = [i for i in live if i not in chosen]
        dele = list(delete_ids or []) + rng.sample(rest, k=min(deletes, len(rest)))
        now = int(self.clock())
        changed: list[int] = []
        for tid in dict.fromkeys(upd):
            t = data.tickets.get(tid)
            if t is None:
                continue
            when = max(now, t["_u"] + 1)
            old_status = t["status"]
            if set_fields:
                for k, v in set_fields.items():
                    t[k] = v
            else:
                t["status"] = NEXT_STATUS[old_status]
                if rng.random() < 0.3:
                    t["priority"] = rng.choice(PRIORITIES)
                if rng.random() < 0.2:
                    t["subject"] = t["subject"] + " (follow-up)"
            t["updated_at"] = iso(when)
            t["_u"] = when
            data.encoded.pop(tid, None)
            children: list[dict[str, Any]] = []
            if t["status"] != old_status:
                children.append({"event_type": "Change", "status": t["status"],
                                 "previous_value": old_status})
            children.append({"event_type": "Comment", "type": "Comment",
                             "author_id": t.get("assignee_id") or 500,
                             "body": "Update from the team.", "public": True})
            self._audit(data, tid, when, t.get("assignee_id") or 500, children)
            changed.append(tid)
        removed: list[int] = []
        for tid in dict.fromkeys(dele):
            t = data.tickets.pop(tid, None)
            if t is None:
                continue
            data.encoded.pop(tid, None)
            when = max(now, t["_u"] + 1)
            tomb = dict(t)
            tomb["status"] = "deleted"
            tomb["updated_at"] = iso(when)
            tomb["_u"] = when
            data.deleted[tid] = tomb
            removed.append(tid)
        weights = [w for _, _, w in SUBJECTS]
        created = [self._new_ticket(data, rng, now, now, weights) for _ in range(creates)]
        data.touched()
        return {"updated": changed, "deleted": removed, "created": created}

    # --- rate limit ------------------------------------------------------------------------

    def admit(self, path: str, tenant: str) -> float | None:
        """None when the call may proceed; else the Retry-After seconds."""
        now = self.clock()
        cfg = self.config
        if cfg.rate_limit > 0:
            edge = now - cfg.rate_window
            acc = self._accepted
            cut = bisect.bisect_right(acc, edge)
            if cut:
                del acc[:cut]
            if len(acc) >= cfg.rate_limit:
                wait = acc[0] + cfg.rate_window - now
                self.calls.append((now, path, 429, tenant))
                return max(1.0, float(math.ceil(wait)))
            acc.append(now)
        self.calls.append((now, path, 200, tenant))
        return None

    # --- API handlers ----------------------------------------------------------------------

    def list_page(self, name: str, q: dict[str, str], base: str) -> bytes:
        data = self.tenant(name)
        ids = data.ids()
        cfg = self.config
        if "page" in q and "page[size]" not in q:
            per = max(1, min(int(q.get("per_page", 100)), cfg.max_page_size))
            page = max(1, int(q["page"]))
            chunk = ids[(page - 1) * per: page * per]
            has_more = page * per < len(ids)
            nxt = f'"{base}?page={page + 1}&per_page={per}"' if has_more else "null"
            prev = f'"{base}?page={page - 1}&per_page={per}"' if page > 1 else "null"
            self._fault(name, page)
            body = (b'{"tickets":[' + b",".join(data.encode(i) for i in chunk) + b'],"count":'
                    + str(len(ids)).encode() + b',"next_page":' + nxt.encode()
                    + b',"previous_page":' + prev.encode() + b"}")
            if not has_more:
                self._listed(name)
            return body
        size = max(1, min(int(q.get("page[size]", 100)), cfg.max_page_size))
        after = q.get("page[after]")
        pos = 0
        if after:
            pos = bisect.bisect_right(ids, int(_unb64(after)))
        page_no = pos // size + 1
        self._fault(name, page_no)
        chunk = ids[pos: pos + size]
        has_more = pos + size < len(ids)
        meta = {"has_more": has_more,
                "after_cursor": _b64(chunk[-1]) if chunk else after,
                "before_cursor": _b64(chunk[0]) if chunk else None}
        links = {"next": f"{base}?page[size]={size}&page[after]={meta['after_cursor']}" if has_more else None}
        body = (b'{"tickets":[' + b",".join(data.encode(i) for i in chunk) + b'],"meta":'
                + json.dumps(meta).encode() + b',"links":' + json.dumps(links).encode() + b"}")
        if not has_more:
            self._listed(name)  # churn only after this page is built
        return body

    def _fault(self, name: str, page: int) -> None:
        f = self.faults.get(name)
        if f and page > f.get("fail_after_pages", 10**9):
            raise _Fault(int(f.get("status", 500)))

    def _listed(self, name: str) -> None:
        self.listings[name] = self.listings.get(name, 0) + 1
        c = self.config.churn
        if c > 0:
            n = len(self.tenant(name).tickets)
            self.mutate(name, updates=max(1, int(n * c)), deletes=int(n * c / 4),
                        creates=int(n * c / 2))

    def incremental(self, name: str, q: dict[str, str], base: str) -> dict[str, Any]:
        data = self.tenant(name)
        per = max(1, min(int(q.get("per_page", 1000)), self.config.max_page_size))
        order = data.by_update()
        if q.get("cursor"):
            u, i = _unb64(q["cursor"])
            pos = bisect.bisect_right(order, (int(u), int(i)))
        else:
            pos = bisect.bisect_left(order, (int(q.get("start_time", 0)), -1))
        chunk = order[pos: pos + per]
        out = []
        for _, tid in chunk:
            t = data.tickets.get(tid) or data.deleted.get(tid)
            if t is not None:
                out.append({k: v for k, v in t.items() if not k.startswith("_")})
        last = chunk[-1] if chunk else (order[pos - 1] if pos else (int(q.get("start_time", 0)), 0))
        cursor = _b64([last[0], last[1]])
        eos = pos + per >= len(order)
        return {"tickets": out, "after_cursor": cursor,
                "after_url": f"{base}?cursor={cursor}", "before_cursor": None,
                "end_of_stream": eos}

    def ticket_events(self, name: str, q: dict[str, str], base: str) -> dict[str, Any]:
        data = self.tenant(name)
        per = max(1, min(int(q.get("per_page", 1000)), self.config.max_page_size))
        start = int(q.get("start_time", 0))
        audits = sorted(data.audits, key=lambda a: (a["timestamp"], a["id"]))
        stamps = [a["timestamp"] for a in audits]
        pos = bisect.bisect_left(stamps, start)
        chunk = audits[pos: pos + per]
        eos = pos + per >= len(audits)
        end_time = chunk[-1]["timestamp"] if chunk else start
        if not eos and end_time == start:  # a full page within one second: step past it
            end_time += 1
        return {"ticket_events": chunk, "count": len(chunk), "end_time": end_time,
                "next_page": None if eos else f"{base}?start_time={end_time}&per_page={per}",
                "end_of_stream": eos}

    def conversation(self, t: dict[str, Any]) -> dict[str, Any]:
        state = {"new": "open", "open": "open", "pending": "snoozed", "hold": "snoozed",
                 "solved": "closed", "closed": "closed"}.get(t["status"], "open")
        ch = t["via"]["channel"]
        return {
            "type": "conversation", "id": str(t["id"]),
            "created_at": int(datetime.fromisoformat(t["created_at"].replace("Z", "+00:00")).timestamp()),
            "updated_at": t["_u"], "state": state, "open": state != "closed",
            "priority": "priority" if t.get("priority") in ("urgent", "high") else "not_priority",
            "title": t["subject"],
            "source": {"type": "email" if ch == "email" else "conversation",
                       "delivered_as": "customer_initiated", "subject": t["subject"],
                       "body": f"<p>{t['description']}</p>",
                       "author": {"type": "user", "id": str(t["requester_id"])}},
            "tags": {"type": "tag.list", "tags": [{"type": "tag", "id": str(i), "name": n}
                                                  for i, n in enumerate(t.get("tags") or [])]},
            "admin_assignee_id": t.get("assignee_id"), "team_assignee_id": t.get("group_id"),
        }

    def conversations(self, name: str, since: int, per: int, after: str | None) -> dict[str, Any]:
        data = self.tenant(name)
        per = max(1, min(per, 150))
        rows = [(u, i) for u, i in data.by_update() if u > since and i in data.tickets]
        pos = bisect.bisect_right(rows, tuple(_unb64(after))) if after else 0
        chunk = rows[pos: pos + per]
        has_more = pos + per < len(rows)
        total_pages = max(1, math.ceil(len(rows) / per))
        pages: dict[str, Any] = {"type": "pages", "page": pos // per + 1, "per_page": per,
                                 "total_pages": total_pages}
        if has_more:
            pages["next"] = {"page": pos // per + 2, "starting_after": _b64(list(chunk[-1]))}
        return {"type": "conversation.list",
                "conversations": [self.conversation(data.tickets[i]) for _, i in chunk],
                "total_count": len(rows), "pages": pages}

    async def notify(self, key: str | None) -> tuple[int, dict[str, Any]]:
        self.notify_attempts += 1
        cfg = self.config
        if cfg.notify_latency > 0:
            await asyncio.sleep(cfg.notify_latency)
        fail = False
        if self.fail_next_notify > 0:
            self.fail_next_notify -= 1
            fail = True
        elif cfg.notify_fail_rate > 0 and random.random() < cfg.notify_fail_rate:
            fail = True
        if fail:
            self.notify_failures += 1
            return cfg.notify_status, {"error": "notification service unavailable"}
        if key:
            self.delivered[key] = self.delivered.get(key, 0) + 1
            return 200, {"ok": True, "duplicate": self.delivered[key] > 1}
        return 200, {"ok": True}


class _Fault(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def create_simulator_app(config: SimConfig | None = None,
                         clock: Callable[[], float] = time.time) -> Starlette:
    """The simulator as an ASGI app; its state is ``app.state.sim``."""
    sim = Simulator(config, clock)

    def limited(handler: Callable[[Request, str], Any], *, auth: bool = False) -> Callable[..., Any]:
        async def endpoint(request: Request) -> Response:
            tenant = request.path_params["tenant"]
            wait = sim.admit(request.url.path, tenant)
            if wait is not None:
                return JSONResponse({"error": "RateLimitExceeded",
                                     "description": "Too many requests"},
                                    status_code=429, headers={"Retry-After": str(int(wait))})
            if auth and sim.config.require_auth and not request.headers.get("authorization"):
                return JSONResponse({"error": "Couldn't authenticate you"}, status_code=401)
            if sim.config.page_latency > 0:
                await asyncio.sleep(sim.config.page_latency)
            try:
                out = await handler(request, tenant)
            except _Fault as f:
                return JSONResponse({"error": "simulated failure"}, status_code=f.status)
            if isinstance(out, bytes):
                return Response(out, media_type="application/json")
            return JSONResponse(out)
        return endpoint

    def base(request: Request) -> str:
        return str(request.url).split("?", 1)[0]

    async def tickets(request: Request, tenant: str) -> bytes:
        return sim.list_page(tenant, dict(request.query_params), base(request))

    async def count(request: Request, tenant: str) -> dict[str, Any]:
        return {"count": {"value": len(sim.tenant(tenant).tickets),
                          "refreshed_at": iso(sim.clock())}}

    async def incremental(request: Request, tenant: str) -> dict[str, Any]:
        return sim.incremental(tenant, dict(request.query_params), base(request))

    async def events(request: Request, tenant: str) -> dict[str, Any]:
        return sim.ticket_events(tenant, dict(request.query_params), base(request))

    async def search(request: Request, tenant: str) -> dict[str, Any]:
        body = await request.json()
        query = body.get("query") or {}
        since = int(query.get("value", 0)) if query.get("field") == "updated_at" else 0
        pag = body.get("pagination") or {}
        return sim.conversations(tenant, since, int(pag.get("per_page", 20)), pag.get("starting_after"))

    async def conv_list(request: Request, tenant: str) -> dict[str, Any]:
        q = request.query_params
        return sim.conversations(tenant, 0, int(q.get("per_page", 20)), q.get("starting_after"))

    async def notify(request: Request) -> Response:
        key = request.headers.get("idempotency-key")
        status, body = await sim.notify(key)
        return JSONResponse(body, status_code=status)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def admin(request: Request) -> Response:
        action = request.path_params["action"]
        body: dict[str, Any] = {}
        if request.method == "POST":
            raw = await request.body()
            body = json.loads(raw) if raw else {}
        if action == "reset":
            sim.tenants.clear()
            sim.calls.clear()
            sim._accepted.clear()
            sim.delivered.clear()
            sim.faults.clear()
            sim.listings.clear()
            sim.notify_attempts = sim.notify_failures = sim.fail_next_notify = 0
            sim.config = SimConfig(**{**asdict(SimConfig()), **body})
            return JSONResponse(asdict(sim.config))
        if action == "config":
            known = {f.name for f in fields(SimConfig)}
            for k, v in body.items():
                if k in known:
                    setattr(sim.config, k, v)
            return JSONResponse(asdict(sim.config))
        if action == "calls":
            return JSONResponse({"calls": [list(c) for c in sim.calls]})
        if action == "notify":
            if request.method == "POST":
                sim.fail_next_notify = int(body.get("fail_next", 0))
            return JSONResponse({"attempts": sim.notify_attempts, "failures": sim.notify_failures,
                                 "delivered": sim.delivered})
        if action == "faults":
            sim.faults[str(body["tenant"])] = {k: int(v) for k, v in body.items() if k != "tenant"}
            return JSONResponse(sim.faults)
        return JSONResponse({"error": f"unknown action {action}"}, status_code=404)

    async def tenant_admin(request: Request) -> Response:
        tenant = request.path_params["tenant"]
        action = request.path_params["action"]
        raw = await request.body() if request.method == "POST" else b""
        body = json.loads(raw) if raw else {}
        if action == "seed":
            data = sim.tenant(tenant, int(body.get("tickets", sim.config.tickets_per_tenant)),
                              body.get("seed"))
            for tid in data.ids():  # serialise now: a timed first listing measures the client
                data.encode(tid)
            return JSONResponse({"tickets": len(data.tickets)})
        if action == "mutate":
            return JSONResponse(sim.mutate(
                tenant, updates=int(body.get("updates", 0)), deletes=int(body.get("deletes", 0)),
                creates=int(body.get("creates", 0)), update_ids=body.get("update_ids"),
                delete_ids=body.get("delete_ids"), set_fields=body.get("set"),
                seed=body.get("seed")))
        if action == "tickets":
            data = sim.tenant(tenant)
            return JSONResponse({"live": {str(i): t["updated_at"] for i, t in data.tickets.items()},
                                 "deleted": sorted(data.deleted), "listings": sim.listings.get(tenant, 0)})
        return JSONResponse({"error": f"unknown action {action}"}, status_code=404)

    p = "/t/{tenant}"
    routes = [
        Route("/health", health),
        Route("/notify", notify, methods=["POST"]),
        Route("/_sim/{action}", admin, methods=["GET", "POST"]),
        Route("/_sim/tenants/{tenant}/{action}", tenant_admin, methods=["GET", "POST"]),
        Route(f"{p}/api/v2/tickets.json", limited(tickets)),
        Route(f"{p}/api/v2/tickets/count.json", limited(count)),
        Route(f"{p}/api/v2/incremental/tickets/cursor.json", limited(incremental, auth=True)),
        Route(f"{p}/api/v2/incremental/ticket_events.json", limited(events, auth=True)),
        Route(f"{p}/intercom/conversations/search", limited(search, auth=True), methods=["POST"]),
        Route(f"{p}/intercom/conversations", limited(conv_list, auth=True)),
    ]
    app = Starlette(routes=routes)
    app.state.sim = sim
    return app
