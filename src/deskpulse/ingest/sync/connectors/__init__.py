"""Helpdesk connectors behind one interface (:class:`~.base.Connector`).

* ``simulator`` — the bundled helpdesk simulator's Zendesk-style ticket list (cursor or page
  pagination); a full listing each run, so tickets it no longer lists are soft-deleted;
* ``zendesk`` — Zendesk's Incremental Export API (tickets by cursor, ticket events by time),
  mapped by the Zendesk import preset; deletions arrive as ``status: deleted``;
* ``intercom`` — Intercom's conversations search (``updated_at`` after the last run).

:func:`make_connector` builds one from :class:`~deskpulse.settings.SyncSettings`.
"""

from deskpulse.ingest.sync.connectors.base import (
    Connector,
    ConnectorError,
    HttpClient,
    Page,
    make_connector,
)

__all__ = ["Connector", "ConnectorError", "HttpClient", "Page", "make_connector"]
