"""Settings of the sync service, from ``DESKPULSE_*`` environment variables (and ``.env``).

Secrets (Zendesk and Intercom tokens) are ``SecretStr``: never in reprs or logs. The real
connectors also accept the names seed 003 uses (``ZENDESK_SUBDOMAIN``, ``ZENDESK_EMAIL``,
``ZENDESK_API_TOKEN``, ``INTERCOM_TOKEN``). Durations are seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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
