"""deskpulse: support-operations analytics with exact business-hours SLA clocks."""

__version__ = "0.1.0"
