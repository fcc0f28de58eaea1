"""Column types and small helpers shared by the Alembic migrations (``versions/``).

Kept stable on purpose: a migration that ran must keep meaning the same thing, so helpers here
are only ever added, never changed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

#: Timestamps are naive UTC everywhere (decisions D2).
TS = sa.DateTime(timezone=False)
#: Minutes as double precision (business and calendar durations).
MIN = sa.Float(precision=53)


def text_column(name: str, nullable: bool = True) -> sa.Column[str]:
    """A TEXT column."""
    return sa.Column(name, sa.Text, nullable=nullable)


def is_postgres() -> bool:
    """Whether the migration runs on PostgreSQL (else DuckDB)."""
    return bool(op.get_bind().dialect.name == "postgresql")


def ticket_columns() -> set[str]:
    """The columns ``tickets`` has now (migrations that add columns add only missing ones)."""
    rows = op.get_bind().exec_driver_sql(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = 'tickets' AND table_schema = current_schema()"
    )
    return {str(r[0]) for r in rows}
