"""The names of the reports and their formats, for help texts and validation.

Kept apart from :mod:`.definitions` (which imports the whole analytics library) so that the CLI
and the API can describe the reports without loading them.
"""

from __future__ import annotations

import enum
from typing import Final

#: Every report, in the order help texts list them (definitions.REPORTS has the same keys).
REPORT_NAMES: Final = ("performance", "sla", "backlog", "agents", "bottlenecks", "dashboard")
#: The report names in words, for help texts (CLI options, API fields): defined once, here.
REPORT_NAMES_HELP: Final = ", ".join(REPORT_NAMES[:-1]) + " or " + REPORT_NAMES[-1]


class ReportFormat(enum.StrEnum):
    """The formats a report is rendered in."""

    html = "html"
    pdf = "pdf"
    xlsx = "xlsx"
    csv = "csv"


#: The formats in words, for help texts.
FORMATS_HELP: Final = ", ".join(f.value for f in ReportFormat)
