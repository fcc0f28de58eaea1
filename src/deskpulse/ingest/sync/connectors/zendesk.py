"""Zendesk Incremental Export: tickets by cursor, ticket events by time, mapped by the preset.

* Tickets: ``GET /api/v2/incremental/tickets/cursor.json?start_time=T`` then ``?cursor=C``
  until ``end_of_stream``; the last ``after_cursor`` is saved, so the next run asks only for
  what changed since. Deleted tickets arrive with ``status: deleted`` → soft delete.
* Events: ``GET /api/v2/incremental/ticket_events.json?start_time=T&include=comment_events``
  following ``next_page`` until ``end_of_stream``; the last ``end_time`` is saved.

Each page's JSON is written as received to a private temporary folder and mapped by the
Zendesk import preset (:func:`deskpulse.ingest.read_import` with ``preset="zendesk"``), the
same mapping ``deskpulse import --preset zendesk`` applies; events are validated against the
tickets fetched in the same run (an event updates its ticket, so the ticket is in the same
increment). Credentials: ``ZENDESK_SUBDOMAIN`` + ``ZENDESK_EMAIL`` + ``ZENDESK_API_TOKEN``
(basic auth ``email/token:…``), or an OAuth token in ``ZENDESK_API_TOKEN`` without an email.
"""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from deskpulse.errors import BadInputError, ComponentMissingError
from deskpulse.ingest.sync.connectors.base import ConnectorError, HttpClient, Page
from deskpulse.model import TICKET_SCHEMA
from deskpulse.settings import SyncSettings


class ZendeskConnector:
    name = "zendesk"
    full_listing = False

    def __init__(self, base_url: str, *, email: str | None, token: str | None,
                 page_size: int = 1000, start_time: int = 0, with_events: bool = True) -> None:
        self.base = base_url.rstrip("/") + "/api/v2"
        self.root = base_url.rstrip("/")
        self.page_size = page_size
        self.start_time = start_time
        self.with_events = with_events
        self._headers: dict[str, str] = {"Accept": "application/json"}
        if token and email:
            raw = f"{email}/token:{token}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        elif token:
            self._headers["Authorization"] = f"Bearer {token}"

    @classmethod
    def from_settings(cls, s: SyncSettings) -> ZendeskConnector:
        if s.zendesk_url:
            base = s.zendesk_url
        elif s.zendesk_subdomain:
            base = f"https://{s.zendesk_subdomain}.zendesk.com"
        else:
            raise ComponentMissingError(
                "the zendesk connector needs ZENDESK_SUBDOMAIN (and ZENDESK_EMAIL + ZENDESK_API_TOKEN)"
            )
        token = s.zendesk_token.get_secret_value() if s.zendesk_token else None
        if not token:
            raise ComponentMissingError("the zendesk connector needs ZENDESK_API_TOKEN")
        return cls(base, email=s.zendesk_email, token=token)

    async def ping(self, http: HttpClient) -> None:
        await http.client.get(self.root, timeout=2.0)

    async def pages(self, http: HttpClient, state: dict[str, Any] | None) -> AsyncIterator[Page]:
        state = dict(state or {})
        with tempfile.TemporaryDirectory(prefix="deskpulse-zendesk-") as tmp:
            tdir = Path(tmp) / "tickets"
            edir = Path(tmp) / "events"
            tdir.mkdir()
            edir.mkdir()
            n = 0
            params: dict[str, Any] = {"per_page": self.page_size}
            if state.get("tickets_cursor"):
                params["cursor"] = state["tickets_cursor"]
            else:
                params["start_time"] = int(state.get("start_time", self.start_time))
            while True:
                resp = await http.request("GET", f"{self.base}/incremental/tickets/cursor.json",
                                          params=params, headers=self._headers)
                doc = _doc(resp.content, "tickets")
                n += 1
                path = tdir / f"page-{n:06d}.json"
                path.write_bytes(resp.content)
                tickets = await asyncio.to_thread(_map_tickets, path)
                if doc.get("after_cursor"):
                    state["tickets_cursor"] = doc["after_cursor"]
                yield Page(tickets, state=dict(state))
                if doc.get("end_of_stream") or not doc.get("after_cursor"):
                    break
                params = {"per_page": self.page_size, "cursor": doc["after_cursor"]}
            if not self.with_events:
                return
            start = int(state.get("events_start", state.get("start_time", self.start_time)))
            url: str | None = f"{self.base}/incremental/ticket_events.json"
            eparams: dict[str, Any] | None = {"start_time": start, "include": "comment_events"}
            m = 0
            while url:
                resp = await http.request("GET", url, params=eparams, headers=self._headers)
                doc = _doc(resp.content, "ticket_events")
                m += 1
                path = edir / f"page-{m:06d}.json"
                path.write_bytes(resp.content)
                events = await asyncio.to_thread(_map_events, tdir, path)
                if doc.get("end_time") is not None:
                    state["events_start"] = int(doc["end_time"])
                yield Page(TICKET_SCHEMA.empty_table(), events=events, state=dict(state))
                if doc.get("end_of_stream") or not doc.get("next_page"):
                    break
                url, eparams = str(doc["next_page"]), None
                if m > 1_000_000:
                    raise ConnectorError("the ticket events did not end")


def _doc(content: bytes, key: str) -> dict[str, Any]:
    try:
        doc = json.loads(content)
    except ValueError as exc:
        raise ConnectorError("the answer is not JSON") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get(key), list):
        raise ConnectorError(f"the answer has no {key!r} list")
    return doc


def _map_tickets(path: Path) -> pa.Table:
    from deskpulse.ingest import read_import

    try:
        batch = read_import(path, preset="zendesk")
    except BadInputError as exc:
        raise ConnectorError(f"unusable ticket page: {exc.message}") from exc
    return batch.tickets if batch.tickets is not None else TICKET_SCHEMA.empty_table()


def _map_events(tickets_dir: Path, events_path: Path) -> pa.Table | None:
    from deskpulse.ingest import read_import

    tickets: Path = tickets_dir
    if not any(tickets_dir.iterdir()):
        tickets = tickets_dir / "empty.json"
        tickets.write_text('{"tickets": [], "end_of_stream": true}')
    try:
        batch = read_import(tickets, events_path, preset="zendesk")
    except BadInputError as exc:
        raise ConnectorError(f"unusable ticket events page: {exc.message}") from exc
    return batch.events
