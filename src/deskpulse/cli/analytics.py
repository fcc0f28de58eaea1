"""Analytics commands (issue 5, part 1): response-times, resolution, backlog, bottlenecks, agents."""

from __future__ import annotations
