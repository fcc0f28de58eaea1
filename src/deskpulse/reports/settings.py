"""Settings of reports, schedules, email and alerts, from the environment.

``SmtpSettings`` reads ``DESKPULSE_SMTP_*`` (host, port, security, username, password, sender,
timeout, CA file); the password is a ``SecretStr`` read only from the environment (or ``.env``)
and never logged or shown. ``ReportSettings`` reads ``DESKPULSE_REPORTS_*`` /
``DESKPULSE_ALERTS_*`` (the worker's poll interval, the missed-run grace period, retries and
whether ``serve`` runs the worker too).
"""

from __future__ import annotations

import enum

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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
