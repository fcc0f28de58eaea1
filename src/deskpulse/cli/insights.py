"""Analytics commands (issue 5, part 2): next (breach risk queue), forecast, staffing, topics."""

from __future__ import annotations
