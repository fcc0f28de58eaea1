"""deskpulse: support-operations analytics with exact business-hours SLA clocks.

Library first: the CLI, HTTP API and reports call these functions.

>>> from deskpulse import open_store, import_files, build, load_config   # doctest: +SKIP
>>> repo = open_store("deskpulse.duckdb").tenant("default")              # doctest: +SKIP
>>> import_files(repo, "tickets.csv", "events.csv")                      # doctest: +SKIP
>>> build(repo, load_config("deskpulse.yaml"))                           # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from deskpulse.errors import DeskpulseError

if TYPE_CHECKING:  # the public API, imported on first use (keeps `deskpulse --help` fast)
    from deskpulse.config import load_config
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
_LAZY = {
    "load_config": "deskpulse.config",
    "export_table": "deskpulse.pipeline",
    "import_files": "deskpulse.pipeline",
    "backtest": "deskpulse.sla",
    "build": "deskpulse.sla",
    "open_store": "deskpulse.store",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'deskpulse' has no attribute {name!r}")
