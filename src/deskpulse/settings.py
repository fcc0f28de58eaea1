"""Typed runtime settings from the environment (``DESKPULSE_*``) and an optional ``.env`` file.

This is the only place deskpulse reads its environment. Secrets (JWT secret, SMTP and
helpdesk API credentials) are ``SecretStr`` values: they never appear in reprs or logs.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
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
