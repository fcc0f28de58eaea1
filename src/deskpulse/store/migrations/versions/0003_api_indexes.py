"""Indexes for the HTTP API's ticket list and tenant statistics (PostgreSQL only).

The list pages by keyset on (created_at, ticket_id) or (updated_at, ticket_id), newest first,
over tickets that are not soft-deleted, optionally for some statuses; the statistics count
tickets (and high-urgency ones) per status over a created_at window. Partial indexes on
``deleted_at IS NULL`` serve both with index scans (``Limit`` stops after one page) and
index-only status counts (``urgency``, from 0004, is an included column).
DuckDB gets none: it scans with zone maps, and ART indexes would only slow bulk loads (as in
0001). docs/performance.md ("API") shows the plans before and after.

The file is named 0003 (issue 6 planned it so); it follows the newest revision present when
it was written, 0004.

Revision ID: 0003
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

from deskpulse.store.migrations.columns import is_postgres, ticket_columns

revision = "0003"
down_revision = "0004"
branch_labels = None
depends_on = None

#: name -> (key columns, included columns, partial predicate); the bench drops and recreates
#: these for its before/after plans. Included columns that the schema lacks are skipped.
INDEXES: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    # list, newest/oldest first: an index scan that stops after one page
    "ix_tickets_api_created": (("tenant_id", "created_at", "ticket_id"), (), "deleted_at IS NULL"),
    "ix_tickets_api_updated": (("tenant_id", "updated_at", "ticket_id"), (), "deleted_at IS NULL"),
    # list filtered by status; statistics per status (index-only, urgency included)
    "ix_tickets_api_status": (("tenant_id", "status", "created_at", "ticket_id"), ("urgency",), "deleted_at IS NULL"),
}


def index_ddl(name: str, have: set[str]) -> str:
    """CREATE INDEX for one entry of INDEXES (names from this file, never from input)."""
    columns, include, where = INDEXES[name]
    extra = [c for c in include if c in have]
    inc = f" INCLUDE ({', '.join(extra)})" if extra else ""
    return f"CREATE INDEX IF NOT EXISTS {name} ON tickets ({', '.join(columns)}){inc} WHERE {where}"


def upgrade() -> None:
    if not is_postgres():
        return
    have = ticket_columns()
    for name in INDEXES:
        op.execute(index_ddl(name, have))


def downgrade() -> None:
    if not is_postgres():
        return
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
