"""The bundled simulator's Zendesk-style ticket list, paginated by cursor or by page number.

Every run lists all live tickets (``full_listing``): the job soft-deletes the connector's
tickets a complete, stable listing did not include. Cursor mode (``page[size]`` /
``page[after]``, keyset on id) is stable under concurrent changes; page mode (``page`` /
``per_page``) is what seed 004's mock API offers — when the total count moves between pages
the listing is marked unstable and nothing is swept (a shifted offset could hide a live
ticket). The total page count comes from ``tickets/count.json`` (cursor mode) or ``count``.

Pages are parsed and mapped by :func:`~.mapping.zendesk_page` in a worker thread (Arrow's JSON
reader, no Python object per ticket), so the event loop stays free for heartbeats and requests
while the next page downloads.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

import pyarrow as pa

from deskpulse.ingest.sync.connectors.base import ConnectorError, HttpClient, Page
from deskpulse.ingest.sync.connectors.mapping import PageFormatError, zendesk_page


class SimulatorConnector:
    name = "simulator"
    full_listing = True

    def __init__(self, base_url: str, tenant_id: str, *, page_size: int = 100,
                 mode: str = "cursor") -> None:
        if mode not in ("cursor", "page"):
            raise ValueError("mode must be cursor or page")
        self.base = f"{base_url.rstrip('/')}/t/{tenant_id}/api/v2"
        self.page_size = page_size
        self.mode = mode
        self.listing_stable = True

    async def ping(self, http: HttpClient) -> None:
        await http.client.get(self.base.rsplit("/t/", 1)[0] + "/health", timeout=2.0)

    async def pages(self, http: HttpClient, state: dict[str, Any] | None) -> AsyncIterator[Page]:
        self.listing_stable = True
        if self.mode == "page":
            async for p in self._by_page(http):
                yield p
            return
        count_doc = await http.get_json(f"{self.base}/tickets/count.json")
        total = int(count_doc.get("count", {}).get("value", 0))
        total_pages = max(1, math.ceil(total / self.page_size))
        after: str | None = None
        seen = 0
        while True:
            params: dict[str, Any] = {"page[size]": self.page_size}
            if after:
                params["page[after]"] = after
            body = await http.get_bytes(f"{self.base}/tickets.json", params=params)
            tickets, rejected, doc = await _parse(body)
            seen += 1
            meta = doc.get("meta") or {}
            has_more = bool(meta.get("has_more"))
            total_pages = max(total_pages, seen + (1 if has_more else 0))
            yield Page(tickets, total_pages=total_pages, rejected=rejected)
            if not has_more:
                return
            nxt = meta.get("after_cursor")
            if not nxt or nxt == after:
                raise ConnectorError("the ticket list's cursor did not advance")
            after = str(nxt)

    async def _by_page(self, http: HttpClient) -> AsyncIterator[Page]:
        page = 1
        first_count: int | None = None
        while True:
            body = await http.get_bytes(f"{self.base}/tickets.json",
                                        params={"page": page, "per_page": self.page_size})
            tickets, rejected, doc = await _parse(body)
            count = int(doc.get("count") or 0)
            if first_count is None:
                first_count = count
            elif count != first_count:
                self.listing_stable = False
            total_pages = max(page, math.ceil(count / self.page_size))
            yield Page(tickets, total_pages=total_pages, rejected=rejected)
            if not doc.get("next_page"):
                return
            page += 1
            if page > 1_000_000:
                raise ConnectorError("the ticket list did not end")


async def _parse(body: bytes) -> tuple[pa.Table, int, dict[str, Any]]:
    """Map a ticket-list page in a worker thread."""
    try:
        return await asyncio.to_thread(zendesk_page, body, "tickets")
    except PageFormatError as exc:
        raise ConnectorError(exc.message) from exc
