"""Sample data: a realistic, deterministic helpdesk (tickets, events, agents) for demos and tests.

``deskpulse generate`` calls :func:`generate`; see :mod:`deskpulse.sample.generate`.
"""

from deskpulse.sample.generate import GenerateResult, default_start, generate

__all__ = ["GenerateResult", "default_start", "generate"]
