"""Intercom conversations: ``POST /conversations/search`` for ``updated_at`` after the last run.

Pagination is Intercom's cursor (``pages.next.starting_after``), looped here; ``total_pages``
from the first answer gives the progress. The newest ``updated_at`` seen is saved when the
stream ends, so the next run asks only for conversations changed since. Intercom does not
report deleted conversations, so this connector never soft-deletes. Token: ``INTERCOM_TOKEN``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from deskpulse.errors import ComponentMissingError
from deskpulse.ingest.sync.connectors.base import ConnectorError, HttpClient, Page
from deskpulse.ingest.sync.connectors.mapping import intercom_conversations
from deskpulse.settings import SyncSettings

API_VERSION = "2.11"


class IntercomConnector:
    name = "intercom"
    full_listing = False

    def __init__(self, base_url: str, *, token: str, page_size: int = 150) -> None:
        self.base = base_url.rstrip("/")
        self.page_size = page_size
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "Intercom-Version": API_VERSION,
        }

    @classmethod
    def from_settings(cls, s: SyncSettings) -> IntercomConnector:
        token = s.intercom_token.get_secret_value() if s.intercom_token else None
        if not token:
            raise ComponentMissingError("the intercom connector needs INTERCOM_TOKEN")
        return cls(s.intercom_url, token=token)

    async def ping(self, http: HttpClient) -> None:
        await http.client.get(self.base, timeout=2.0)

    async def pages(self, http: HttpClient, state: dict[str, Any] | None) -> AsyncIterator[Page]:
        since = int((state or {}).get("updated_after", 0))
        newest = since
        starting_after: str | None = None
        n = 0
        while True:
            body: dict[str, Any] = {
                "query": {"field": "updated_at", "operator": ">", "value": since},
                "pagination": {"per_page": self.page_size},
            }
            if starting_after:
                body["pagination"]["starting_after"] = starting_after
            doc = await http.post_json(f"{self.base}/conversations/search", body,
                                       headers=self._headers)
            convs = doc.get("conversations") if isinstance(doc, dict) else None
            if not isinstance(convs, list):
                raise ConnectorError("the answer has no 'conversations' list")
            n += 1
            tickets, rejected = intercom_conversations(c for c in convs if isinstance(c, dict))
            for c in convs:
                if isinstance(c, dict) and isinstance(c.get("updated_at"), int | float):
                    newest = max(newest, int(c["updated_at"]))
            pages = doc.get("pages") or {}
            nxt = (pages.get("next") or {}).get("starting_after") if isinstance(pages, dict) else None
            total = pages.get("total_pages") if isinstance(pages, dict) else None
            done = not nxt
            state_out = {"updated_after": newest if done else since}
            yield Page(tickets, total_pages=int(total) if total else None, state=state_out,
                       rejected=rejected)
            if done:
                return
            if nxt == starting_after:
                raise ConnectorError("the conversation cursor did not advance")
            starting_after = str(nxt)
