"""Reports (issue 9): schedules, their run history, alert rules, alert state and alert events.

- ``report_schedules``: one row per schedule of a tenant (cron + timezone, report, formats,
  recipients, window, filters, missed-run policy) with ``next_run_at`` and a ``version`` that
  every claim compares and bumps;
- ``report_runs``: one row per due run; the primary key (tenant, schedule, slot) makes a slot
  claimable once, whatever number of workers race for it; status running → sent | failed |
  skipped, with attempts, error, lease and what was sent;
- ``alert_rules``: rules (metric, comparison, threshold, filters, channel and target, quiet
  hours, repeat interval) with a lease so one worker evaluates a rule at a time;
- ``alert_state``: per rule and key (the rule itself, or one SLA clock) whether it is firing,
  when it was last notified (deduplication) and whether quiet hours held it back;
- ``alert_events``: what happened (sent, failed, suppressed, resolved), for history.

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from deskpulse.store.migrations.columns import TS, is_postgres, text_column

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_schedules",
        text_column("tenant_id", False),
        text_column("schedule_id", False),
        text_column("name", False),
        text_column("report", False),
        text_column("formats", False),  # comma separated: pdf,csv
        text_column("cron", False),
        text_column("timezone", False),
        text_column("recipients", False),  # JSON list of addresses
        sa.Column("days", sa.Integer),
        text_column("filters", False),  # JSON object
        text_column("missed_policy", False),  # send_once | skip
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("next_run_at", TS, nullable=False),
        sa.Column("last_run_at", TS),
        text_column("last_status"),
        sa.Column("version", sa.BigInteger, nullable=False),
        text_column("created_by"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "schedule_id", name="pk_report_schedules"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_report_schedules_name"),
    )
    op.create_table(
        "report_runs",
        text_column("tenant_id", False),
        text_column("schedule_id", False),
        sa.Column("slot_at", TS, nullable=False),
        text_column("run_id", False),
        text_column("schedule_name", False),
        text_column("status", False),  # running, sent, failed, skipped
        text_column("worker"),
        sa.Column("claimed_at", TS, nullable=False),
        sa.Column("lease_until", TS),
        sa.Column("finished_at", TS),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("missed", sa.Integer, nullable=False),  # earlier slots coalesced or skipped
        text_column("recipients"),
        text_column("attachments"),  # JSON list of file names
        sa.Column("size_bytes", sa.BigInteger),
        text_column("error"),
        sa.PrimaryKeyConstraint("tenant_id", "schedule_id", "slot_at", name="pk_report_runs"),
    )
    op.create_table(
        "alert_rules",
        text_column("tenant_id", False),
        text_column("rule_id", False),
        text_column("name", False),
        text_column("metric", False),
        text_column("op", False),
        sa.Column("threshold", sa.Float(precision=53), nullable=False),
        text_column("filters", False),  # JSON object
        text_column("window_name"),  # today, 7d, 30d (sla_attainment)
        text_column("channel", False),  # email | webhook
        text_column("target", False),  # JSON list of addresses, or the webhook URL
        text_column("quiet_hours"),  # "22:00-07:00" local
        text_column("timezone", False),
        sa.Column("repeat_minutes", sa.Integer, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        text_column("lease_owner"),
        sa.Column("lease_until", TS),
        sa.Column("last_checked_at", TS),
        sa.Column("last_value", sa.Float(precision=53)),
        text_column("created_by"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "rule_id", name="pk_alert_rules"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_alert_rules_name"),
    )
    op.create_table(
        "alert_state",
        text_column("tenant_id", False),
        text_column("rule_id", False),
        text_column("alert_key", False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("last_sent_at", TS),
        sa.Column("suppressed_at", TS),
        sa.Column("value", sa.Float(precision=53)),
        text_column("detail"),
        sa.PrimaryKeyConstraint("tenant_id", "rule_id", "alert_key", name="pk_alert_state"),
    )
    op.create_table(
        "alert_events",
        text_column("tenant_id", False),
        text_column("event_id", False),
        text_column("rule_id", False),
        text_column("rule_name", False),
        sa.Column("event_at", TS, nullable=False),
        text_column("status", False),  # sent, failed, suppressed, resolved, deferred
        text_column("keys"),  # JSON list of the keys concerned
        sa.Column("value", sa.Float(precision=53)),
        text_column("message"),
        text_column("error"),
        sa.PrimaryKeyConstraint("tenant_id", "event_id", name="pk_alert_events"),
    )
    if is_postgres():  # DuckDB: secondary ART indexes only slow writes (as in 0001)
        op.create_index("ix_report_schedules_due", "report_schedules", ["enabled", "next_run_at"])
        op.create_index("ix_report_runs_schedule", "report_runs",
                        ["tenant_id", "schedule_id", "claimed_at"])
        op.create_index("ix_alert_events_rule", "alert_events", ["tenant_id", "rule_id", "event_at"])


def downgrade() -> None:
    for table in ("alert_events", "alert_state", "alert_rules", "report_runs", "report_schedules"):
        op.drop_table(table)
