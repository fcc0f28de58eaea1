"""deskpulse: support-operations analytics with exact business-hours SLA clocks.

Library first: the CLI, HTTP API and reports call these functions.

>>> from deskpulse import open_store, import_files, build, load_config   # doctest: +SKIP
>>> repo = open_store("deskpulse.duckdb").tenant("default")              # doctest: +SKIP
>>> import_files(repo, "tickets.csv", "events.csv")                      # doctest: +SKIP
>>> build(repo, load_config("deskpulse.yaml"))                           # doctest: +SKIP
"""

from deskpulse.config import load_config
from deskpulse.errors import DeskpulseError
from deskpulse.pipeline import export_table, import_files
from deskpulse.sla import backtest, build
from deskpulse.store import open_store

__version__ = "0.1.0"
__all__ = [
    "DeskpulseError",
    "backtest",
    "build",
    "export_table",
    "import_files",
    "load_config",
    "open_store",
]
