"""One ticket in full (``deskpulse tickets show``) reads the same on DuckDB and PostgreSQL."""

from __future__ import annotations

import pytest

from deskpulse.errors import NotFoundError
from deskpulse.tickets import add_ticket, show_ticket


def test_show_ticket_hides_bookkeeping_columns(repo) -> None:  # type: ignore[no-untyped-def]
    add_ticket(repo, ticket_id="T-1", subject="Printer on fire", category="hardware",
               priority="high", requester_id="ann@example.com")
    shown = show_ticket(repo, "T-1")
    assert shown["ticket"]["ticket_id"] == "T-1"
    assert shown["ticket"]["priority"] == "high"
    assert "tenant_id" not in shown["ticket"] and "row_hash" not in shown["ticket"]
    assert shown["events"] == [] and shown["sla"] == []


def test_show_unknown_ticket_is_not_found(repo) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFoundError, match="T-404"):
        show_ticket(repo, "T-404")
