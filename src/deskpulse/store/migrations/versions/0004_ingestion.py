"""Ingestion service (issue 7): jobs, per-tenant locks, audit logs, change history, outbox.

Tables: ``ingest_jobs`` (live job state: progress, cancel flag), ``ingest_locks`` (one row per
tenant holding an ingest; taken with INSERT … ON CONFLICT … WHERE expired), ``ingestion_logs``
(one audit row per run, written at start and updated per page and at the end),
``ingest_cursors`` (incremental position per tenant and connector), ``ticket_history``
(field-level changes), ``notification_outbox`` (at-least-once notifications keyed by an
idempotency key), ``rate_limits`` + ``rate_limit_calls`` (the global outbound sliding window)
and ``circuit_breakers`` (shared breaker state). Tickets gain the classification columns
(urgency, sentiment, requires_action, classified_by) and ``sync_source`` (the connector that
last wrote the row: a full listing soft-deletes only its own tickets).

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from deskpulse.store.migrations.columns import TS, is_postgres, text_column, ticket_columns

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Another migration may already have added a classification column (the API's filters use
    # them): add only what is missing, so the order of the two never matters.
    have = ticket_columns()
    for col in ("urgency", "sentiment", "classified_by", "sync_source"):
        if col not in have:
            op.add_column("tickets", sa.Column(col, sa.Text, nullable=True))
    if "requires_action" not in have:
        op.add_column("tickets", sa.Column("requires_action", sa.Boolean, nullable=True))
    if is_postgres():
        op.execute(
            "CREATE INDEX IF NOT EXISTS ix_tickets_tenant_urgency ON tickets (tenant_id, urgency)"
        )

    op.create_table(
        "ingest_jobs",
        text_column("job_id", False),
        text_column("tenant_id", False),
        text_column("connector", False),
        text_column("status", False),
        text_column("owner"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("heartbeat_at", TS),
        sa.Column("total_pages", sa.Integer),
        sa.Column("processed_pages", sa.Integer, nullable=False),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        text_column("error"),
        sa.PrimaryKeyConstraint("job_id", name="pk_ingest_jobs"),
    )
    if is_postgres():  # DuckDB: secondary ART indexes only slow writes (as in 0001)
        op.create_index("ix_ingest_jobs_tenant", "ingest_jobs", ["tenant_id", "created_at"])

    op.create_table(
        "ingest_locks",
        text_column("tenant_id", False),
        text_column("job_id", False),
        text_column("owner"),
        sa.Column("acquired_at", TS, nullable=False),
        sa.Column("heartbeat_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_ingest_locks"),
    )

    op.create_table(
        "ingestion_logs",
        text_column("log_id", False),
        text_column("tenant_id", False),
        text_column("job_id", False),
        text_column("connector", False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        text_column("status", False),
        sa.Column("pages", sa.Integer, nullable=False),
        sa.Column("tickets_new", sa.Integer, nullable=False),
        sa.Column("tickets_updated", sa.Integer, nullable=False),
        sa.Column("tickets_unchanged", sa.Integer, nullable=False),
        sa.Column("tickets_deleted", sa.Integer, nullable=False),
        sa.Column("events_new", sa.Integer, nullable=False),
        sa.Column("api_calls", sa.Integer, nullable=False),
        text_column("errors"),  # JSON list of messages
        sa.PrimaryKeyConstraint("log_id", name="pk_ingestion_logs"),
    )
    if is_postgres():
        op.create_index("ix_ingestion_logs_tenant", "ingestion_logs", ["tenant_id", "started_at"])

    op.create_table(
        "ingest_cursors",
        text_column("tenant_id", False),
        text_column("connector", False),
        text_column("state"),  # JSON: the connector's resume position
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "connector", name="pk_ingest_cursors"),
    )

    op.create_table(
        "ticket_history",
        text_column("tenant_id", False),
        text_column("ticket_id", False),
        text_column("field", False),
        text_column("old"),
        text_column("new"),
        sa.Column("changed_at", TS, nullable=False),
        text_column("job_id"),
        sa.Column("recorded_at", TS, nullable=False),
    )
    if is_postgres():
        op.create_index(
            "ix_ticket_history_ticket", "ticket_history", ["tenant_id", "ticket_id", "changed_at"]
        )

    op.create_table(
        "notification_outbox",
        text_column("idempotency_key", False),
        text_column("tenant_id", False),
        text_column("ticket_id", False),
        text_column("kind", False),
        text_column("subject"),
        text_column("rule"),
        text_column("job_id"),
        text_column("status", False),  # pending, sent, failed
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float(precision=53), nullable=False),  # epoch seconds
        sa.Column("lease_until", sa.Float(precision=53)),
        text_column("last_error"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS),
        sa.PrimaryKeyConstraint("idempotency_key", name="pk_notification_outbox"),
    )
    if is_postgres():
        op.create_index(
            "ix_outbox_status_due", "notification_outbox", ["status", "next_attempt_at"]
        )

    op.create_table(
        "rate_limits",
        text_column("name", False),
        sa.Column("blocked_until", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_rate_limits"),
    )
    op.create_table(
        "rate_limit_calls",
        text_column("name", False),
        sa.Column("called_at", sa.Float(precision=53), nullable=False),
    )
    if is_postgres():
        op.create_index("ix_rate_limit_calls", "rate_limit_calls", ["name", "called_at"])

    op.create_table(
        "circuit_breakers",
        text_column("name", False),
        text_column("state", False),
        text_column("results", False),  # the last calls, oldest first: "1" success, "0" failure
        sa.Column("opened_at", sa.Float(precision=53)),
        sa.Column("probe_until", sa.Float(precision=53)),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_circuit_breakers"),
    )


def downgrade() -> None:
    for table in (
        "circuit_breakers", "rate_limit_calls", "rate_limits", "notification_outbox",
        "ticket_history", "ingest_cursors", "ingestion_logs", "ingest_locks", "ingest_jobs",
    ):
        op.drop_table(table)
    if is_postgres():
        op.execute("DROP INDEX IF EXISTS ix_tickets_tenant_urgency")
    for col in ("requires_action", "sync_source", "classified_by", "sentiment", "urgency"):
        op.drop_column("tickets", col)
