"""Events are deduplicated on their natural-key columns: the stored md5 ``event_key`` goes.

CONTRACT §5: an event's natural key is its whole canonical row (ticket_id, event_at, kind,
actor, actor_id, public, from_value, to_value, field). Imports used to store an md5 of that
row's text as ``event_key`` and anti-join on it; they now compare the columns themselves
(NULL-safe), so the key cost an md5 and 32 stored characters per event for nothing else:
no reader used it. On PostgreSQL its index goes too; ``ix_events_tenant_ticket``
(tenant_id, ticket_id) serves the column comparison.

Downgrade adds the column back and fills it with the md5 the import computed (the
expression of ``deskpulse.store.tenant._hash_sql`` over these columns): the text of each
column, NULL as chr(0), joined by chr(31). PostgreSQL text cannot hold chr(0), so there the same bytes are assembled as bytea.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from deskpulse.store.migrations.columns import TS, is_postgres, text_column

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

#: The natural key in the order the md5 hashed it (frozen here: a migration keeps its meaning).
KEY_COLUMNS = (
    "ticket_id", "event_at", "kind", "actor", "actor_id", "public", "from_value", "to_value", "field",
)


def _md5_sql(postgres: bool) -> str:
    """SQL for the md5 event_key of a ticket_events row, as the import computed it."""
    if postgres:
        parts = [
            f"coalesce(convert_to(CAST(\"{c}\" AS TEXT), 'UTF8'), '\\x00'::bytea)" for c in KEY_COLUMNS
        ]
        return "md5(" + " || '\\x1f'::bytea || ".join(parts) + ")"
    parts = [f"coalesce(CAST(\"{c}\" AS VARCHAR), chr(0))" for c in KEY_COLUMNS]
    return "md5(concat_ws(chr(31), " + ", ".join(parts) + "))"


def upgrade() -> None:
    if is_postgres():
        op.drop_index("ix_events_tenant_key", table_name="ticket_events")
    op.drop_column("ticket_events", "event_key")


def downgrade() -> None:
    if is_postgres():
        op.add_column("ticket_events", sa.Column("event_key", sa.Text, nullable=True))
        op.execute(f"UPDATE ticket_events SET event_key = {_md5_sql(True)}")  # noqa: S608 - fixed names
        op.alter_column("ticket_events", "event_key", existing_type=sa.Text, nullable=False)
        op.create_index("ix_events_tenant_key", "ticket_events", ["tenant_id", "event_key"])
        return
    # DuckDB refuses SET NOT NULL on a table updated in the same transaction: rebuild the
    # table as 0009 had it (same columns, order and constraints) and fill it in one INSERT.
    op.create_table(
        "_dp_events_0009",
        text_column("tenant_id", False),
        text_column("ticket_id", False),
        sa.Column("event_at", TS, nullable=False),
        text_column("kind", False),
        text_column("actor", False),
        text_column("actor_id"),
        sa.Column("public", sa.Boolean, nullable=False),
        text_column("from_value"),
        text_column("to_value"),
        text_column("field"),
        sa.Column("seq", sa.BigInteger, nullable=False),
        text_column("event_key", False),
        sa.Column("loaded_at", TS, nullable=False),
        text_column("extra"),
    )
    kept = ", ".join(f'"{c}"' for c in ("tenant_id", *KEY_COLUMNS, "seq"))
    op.execute(
        f"INSERT INTO _dp_events_0009 ({kept}, event_key, loaded_at, extra) "  # noqa: S608
        f"SELECT {kept}, {_md5_sql(False)}, loaded_at, extra FROM ticket_events"
    )
    op.drop_table("ticket_events")
    op.rename_table("_dp_events_0009", "ticket_events")
