"""Command-line adapters: ``deskpulse …`` (Typer). Importing this registers every command."""

from deskpulse.cli import agents, analytics, data, insights, query, reports, serve, sla, spark, sync  # noqa: F401 - command registration
from deskpulse.cli.main import app, run

__all__ = ["app", "run"]
