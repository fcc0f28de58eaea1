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

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=False)  # naive UTC everywhere


def _text(name: str, nullable: bool = True) -> sa.Column[str]:
    return sa.Column(name, sa.Text, nullable=nullable)


def _is_postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def upgrade() -> None:
    op.create_table(
        "report_schedules",
        _text("tenant_id", False),
        _text("schedule_id", False),
        _text("name", False),
        _text("report", False),
        _text("formats", False),  # comma separated: pdf,csv
        _text("cron", False),
        _text("timezone", False),
        _text("recipients", False),  # JSON list of addresses
        sa.Column("days", sa.Integer),
        _text("filters", False),  # JSON object
        _text("missed_policy", False),  # send_once | skip
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("next_run_at", TS, nullable=False),
        sa.Column("last_run_at", TS),
        _text("last_status"),
        sa.Column("version", sa.BigInteger, nullable=False),
        _text("created_by"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "schedule_id", name="pk_report_schedules"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_report_schedules_name"),
    )
    op.create_table(
        "report_runs",
        _text("tenant_id", False),
        _text("schedule_id", False),
        sa.Column("slot_at", TS, nullable=False),
        _text("run_id", False),
        _text("schedule_name", False),
        _text("status", False),  # running, sent, failed, skipped
        _text("worker"),
        sa.Column("claimed_at", TS, nullable=False),
        sa.Column("lease_until", TS),
        sa.Column("finished_at", TS),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("missed", sa.Integer, nullable=False),  # earlier slots coalesced or skipped
        _text("recipients"),
        _text("attachments"),  # JSON list of file names
        sa.Column("size_bytes", sa.BigInteger),
        _text("error"),
        sa.PrimaryKeyConstraint("tenant_id", "schedule_id", "slot_at", name="pk_report_runs"),
    )
    op.create_table(
        "alert_rules",
        _text("tenant_id", False),
        _text("rule_id", False),
        _text("name", False),
        _text("metric", False),
        _text("op", False),
        sa.Column("threshold", sa.Float(precision=53), nullable=False),
        _text("filters", False),  # JSON object
        _text("window_name"),  # today, 7d, 30d (sla_attainment)
        _text("channel", False),  # email | webhook
        _text("target", False),  # JSON list of addresses, or the webhook URL
        _text("quiet_hours"),  # "22:00-07:00" local
        _text("timezone", False),
        sa.Column("repeat_minutes", sa.Integer, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        _text("lease_owner"),
        sa.Column("lease_until", TS),
        sa.Column("last_checked_at", TS),
        sa.Column("last_value", sa.Float(precision=53)),
        _text("created_by"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "rule_id", name="pk_alert_rules"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_alert_rules_name"),
    )
    op.create_table(
        "alert_state",
        _text("tenant_id", False),
        _text("rule_id", False),
        _text("alert_key", False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("last_sent_at", TS),
        sa.Column("suppressed_at", TS),
        sa.Column("value", sa.Float(precision=53)),
        _text("detail"),
        sa.PrimaryKeyConstraint("tenant_id", "rule_id", "alert_key", name="pk_alert_state"),
    )
    op.create_table(
        "alert_events",
        _text("tenant_id", False),
        _text("event_id", False),
        _text("rule_id", False),
        _text("rule_name", False),
        sa.Column("event_at", TS, nullable=False),
        _text("status", False),  # sent, failed, suppressed, resolved, deferred
        _text("keys"),  # JSON list of the keys concerned
        sa.Column("value", sa.Float(precision=53)),
        _text("message"),
        _text("error"),
        sa.PrimaryKeyConstraint("tenant_id", "event_id", name="pk_alert_events"),
    )
    if _is_postgres():  # DuckDB: secondary ART indexes only slow writes (as in 0001)
        op.create_index("ix_report_schedules_due", "report_schedules", ["enabled", "next_run_at"])
        op.create_index("ix_report_runs_schedule", "report_runs",
                        ["tenant_id", "schedule_id", "claimed_at"])
        op.create_index("ix_alert_events_rule", "alert_events", ["tenant_id", "rule_id", "event_at"])


def downgrade() -> None:
    for table in ("alert_events", "alert_state", "alert_rules", "report_runs", "report_schedules"):
        op.drop_table(table)
