"""SLA layer: policies, the clock engine, builds (full/incremental) and backtests."""

from deskpulse.instants import parse_instant
from deskpulse.sla.backtest import BacktestResult, backtest
from deskpulse.sla.build import BuildSummary, build
from deskpulse.sla.policies import Policy, SlaConfig, load_sla_config

__all__ = [
    "BacktestResult",
    "BuildSummary",
    "Policy",
    "SlaConfig",
    "backtest",
    "build",
    "load_sla_config",
    "parse_instant",
]
