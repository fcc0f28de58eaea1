"""One exception hierarchy for deskpulse; adapters translate it into exit codes and HTTP errors.

Every error carries a stable ``code`` (used in the JSON error shape), a CLI ``exit_code``
(CONTRACT §6) and an HTTP ``status``. Library code raises these; it never prints or exits.
"""

from __future__ import annotations

from typing import Any


class DeskpulseError(Exception):
    """Base class of every error deskpulse raises on purpose."""

    code = "error"
    exit_code = 1
    http_status = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details

    def to_dict(self) -> dict[str, Any]:
        """The error in the one JSON shape used by the HTTP API and ``--format json``."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class UsageError(DeskpulseError):
    """The caller asked for something that makes no sense (bad option, unknown table)."""

    code = "usage_error"
    exit_code = 2
    http_status = 400


class BadInputError(DeskpulseError):
    """Input data (a file, a row, a value) failed validation."""

    code = "bad_input"
    exit_code = 3
    http_status = 422


class ConfigError(DeskpulseError):
    """A configuration file or setting does not validate; names the file, path and reason."""

    code = "config_error"
    exit_code = 4
    http_status = 422


class StorageError(DeskpulseError):
    """The store cannot be opened, migrated, read or written."""

    code = "storage_error"
    exit_code = 5
    http_status = 503


class ComponentMissingError(DeskpulseError):
    """A required component is missing or unreachable (Spark/Java, a browser, a remote API)."""

    code = "component_missing"
    exit_code = 6
    http_status = 503


class NotFoundError(DeskpulseError):
    """An object does not exist for this tenant (another tenant's object looks the same)."""

    code = "not_found"
    exit_code = 3
    http_status = 404


class ConflictError(DeskpulseError):
    """The operation conflicts with current state (e.g. an ingest already running)."""

    code = "conflict"
    exit_code = 3
    http_status = 409
