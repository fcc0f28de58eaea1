"""Sample data: a realistic, deterministic helpdesk (tickets, events, agents) for demos and tests.

``deskpulse generate`` calls :func:`generate`; see :mod:`deskpulse.sample.generate`.
"""

from deskpulse.sample.generate import AGENT_SCHEMA, GenerateResult, default_start, generate

__all__ = ["AGENT_SCHEMA", "GenerateResult", "default_start", "generate"]
