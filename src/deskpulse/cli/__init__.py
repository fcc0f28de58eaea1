"""Command-line adapters: ``deskpulse …`` (Typer). Importing this registers every command."""

from deskpulse.cli import data, sla  # noqa: F401 - side effect: command registration
from deskpulse.cli.main import app, run

__all__ = ["app", "run"]
