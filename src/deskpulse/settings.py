"""Typed runtime settings from the environment (``DESKPULSE_*``) and an optional ``.env`` file.

This is the only module that defines settings; every setting of deskpulse lives here, in four
groups: :class:`Settings` (store, tenant, config, API secret, build engine),
:class:`SyncSettings` (the ingestion service and its connectors), :class:`SmtpSettings`
(``DESKPULSE_SMTP_*``: where reports and alerts are mailed) and :class:`ReportSettings` (the
report worker and alerting). Secrets (JWT secret, SMTP password, helpdesk API tokens) are
``SecretStr`` values: they never appear in reprs or logs. ``.env.example`` lists them all.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Process-wide settings; CLI options override the matching fields."""

    model_config = SettingsConfigDict(
        env_prefix="DESKPULSE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = Field(
        "./deskpulse.duckdb",
        description="A file path (DuckDB) or postgresql+psycopg://user@host/db (PostgreSQL).",
    )
    tenant: str = Field("default", description="Tenant used by CLI commands.")
    config: Path = Field(Path("deskpulse.yaml"), description="SLA/threshold config file.")
    log_level: str = Field("WARNING", description="DEBUG, INFO, WARNING or ERROR.")
    jwt_secret: SecretStr = Field(
        SecretStr(""), description="HMAC secret for API tokens (required by `serve`)."
    )
    engine: str = Field("duckdb", description="Build engine: duckdb, postgres or spark.")
    spark_master: str = Field("local[*]", description="Spark master URL for --engine spark.")


def get_settings(**overrides: object) -> Settings:
    """Settings from env/.env with explicit overrides (None values are ignored)."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)  # type: ignore[arg-type]


class SyncSettings(BaseSettings):
    """Everything the ingestion service can be tuned with."""

    model_config = SettingsConfigDict(
        env_prefix="DESKPULSE_", env_file=".env", env_file_encoding="utf-8", extra="ignore",
        populate_by_name=True,
    )

    helpdesk_url: str = Field(
        "http://127.0.0.1:9000", description="Base URL of the helpdesk simulator."
    )
    notify_url: str | None = Field(
        None, description="Where high-urgency notifications go (default: HELPDESK_URL/notify)."
    )
    sync_connector: str = Field("simulator", description="Default connector of a run.")
    sync_page_size: int = Field(100, ge=1, le=1000, description="Tickets asked per page.")
    simulator_pagination: Literal["cursor", "page"] = Field(
        "cursor", description="How the simulator connector pages: by cursor or by page number."
    )
    sync_lock_ttl: float = Field(60.0, gt=0, description="A lock expires this long after its last heartbeat.")
    sync_heartbeat: float = Field(15.0, gt=0, description="Heartbeat period of a running job.")
    sync_rate_limit: int = Field(60, ge=0, description="Outbound calls per window (0 = unlimited).")
    sync_rate_window: float = Field(60.0, gt=0, description="The rate-limit window.")
    sync_rate_margin: float = Field(
        0.5, ge=0, description="Extra seconds added to the window (covers network delay)."
    )
    sync_http_timeout: float = Field(30.0, gt=0)
    sync_max_attempts: int = Field(5, ge=1, description="Attempts per page on 5xx/network errors.")
    sync_backoff_base: float = Field(0.5, gt=0)
    sync_backoff_cap: float = Field(30.0, gt=0)
    classification_rules: Path | None = Field(
        None, description="Classification rules YAML (default: the built-in rules)."
    )
    notify_enabled: bool = Field(True, description="Run the background notification sender.")
    notify_poll: float = Field(1.0, gt=0, description="Outbox polling period.")
    notify_batch: int = Field(20, ge=1)
    notify_timeout: float = Field(5.0, gt=0)
    notify_max_attempts: int = Field(12, ge=1)
    notify_backlog_max_age: float = Field(
        900.0, gt=0, description="/health fails when a pending notification is older than this."
    )
    notify_backoff_base: float = Field(1.0, gt=0)
    notify_backoff_cap: float = Field(300.0, gt=0)
    breaker_failures: int = Field(5, ge=1, description="Failures among the last N calls that open it.")
    breaker_window: int = Field(10, ge=1)
    breaker_open_seconds: float = Field(30.0, gt=0)
    health_connector_timeout: float = Field(2.0, gt=0)

    zendesk_subdomain: str | None = Field(
        None, validation_alias=AliasChoices("DESKPULSE_ZENDESK_SUBDOMAIN", "ZENDESK_SUBDOMAIN")
    )
    zendesk_email: str | None = Field(
        None, validation_alias=AliasChoices("DESKPULSE_ZENDESK_EMAIL", "ZENDESK_EMAIL")
    )
    zendesk_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices(
            "DESKPULSE_ZENDESK_TOKEN", "ZENDESK_API_TOKEN", "ZENDESK_TOKEN"
        ),
    )
    zendesk_url: str | None = Field(
        None,
        validation_alias=AliasChoices("DESKPULSE_ZENDESK_URL", "ZENDESK_URL"),
        description="Override of https://SUBDOMAIN.zendesk.com (tests point it at the simulator).",
    )
    intercom_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("DESKPULSE_INTERCOM_TOKEN", "INTERCOM_TOKEN")
    )
    intercom_url: str = Field(
        "https://api.intercom.io",
        validation_alias=AliasChoices("DESKPULSE_INTERCOM_URL", "INTERCOM_URL"),
    )

    @property
    def notify_target(self) -> str:
        return self.notify_url or self.helpdesk_url.rstrip("/") + "/notify"


def get_sync_settings(**overrides: object) -> SyncSettings:
    """Settings from env/.env with explicit overrides (None values are ignored)."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return SyncSettings(**clean)  # type: ignore[arg-type]


class SmtpSecurity(enum.StrEnum):
    """How the SMTP connection is protected."""

    starttls = "starttls"  # plain connect, then STARTTLS (port 587)
    tls = "tls"  # implicit TLS from the first byte (port 465)
    none = "none"  # no TLS (a local relay or a test server only)


class SmtpSettings(BaseSettings):
    """The SMTP server reports and alerts are sent through."""

    model_config = SettingsConfigDict(
        env_prefix="DESKPULSE_SMTP_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    host: str = Field("localhost", description="SMTP server host.")
    port: int = Field(587, ge=1, le=65535, description="SMTP server port.")
    security: SmtpSecurity = Field(SmtpSecurity.starttls, description="starttls, tls or none.")
    username: str = Field("", description="Login user; empty: no AUTH.")
    password: SecretStr = Field(SecretStr(""), description="Login password (environment only).")
    sender: str = Field("deskpulse@localhost", description="From address.")
    timeout: float = Field(20.0, gt=0, description="Seconds per SMTP operation.")
    ca_file: str | None = Field(None, description="CA bundle to verify the server (default: system).")
    attempts: int = Field(4, ge=1, le=20, description="Delivery attempts per email.")
    backoff_seconds: float = Field(2.0, ge=0, description="Base of the exponential backoff.")
    backoff_cap_seconds: float = Field(60.0, ge=0, description="Longest wait between attempts.")

    def describe(self) -> str:
        """Where mail goes, for logs and errors (no credentials)."""
        user = f"{self.username}@" if self.username else ""
        return f"smtp {self.security.value}://{user}{self.host}:{self.port}"


class ReportSettings(BaseSettings):
    """The report worker and alerting."""

    model_config = SettingsConfigDict(
        env_prefix="DESKPULSE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    reports_poll_seconds: float = Field(30.0, gt=0, description="Worker loop interval.")
    reports_missed_grace_seconds: float = Field(
        900.0, ge=0, description="A run picked up later than this after its slot is a missed run."
    )
    reports_lease_seconds: float = Field(
        900.0, gt=0, description="A running run whose worker stopped is taken over after this."
    )
    reports_worker_in_serve: bool = Field(False, description="Run the worker inside `serve` too.")
    alerts_enabled: bool = Field(True, description="The worker checks alert rules.")
    alerts_webhook_timeout: float = Field(10.0, gt=0, description="Seconds per webhook call.")
    alerts_webhook_attempts: int = Field(3, ge=1, le=20, description="Attempts per webhook call.")
    alerts_lease_seconds: float = Field(120.0, gt=0, description="How long a rule check may hold it.")


def load_report_settings(**overrides: object) -> ReportSettings:
    """ReportSettings from the environment / .env, with explicit overrides."""
    return ReportSettings(**overrides)  # type: ignore[arg-type]


def load_smtp_settings(**overrides: object) -> SmtpSettings:
    """SmtpSettings from the environment / .env, with explicit overrides."""
    return SmtpSettings(**overrides)  # type: ignore[arg-type]
