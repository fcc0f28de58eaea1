"""Business calendars: config specs, durations and the vectorised business-time kernel.

``parse_calendars`` turns the ``calendars:`` config section into :class:`CalendarSpec` objects;
``parse_duration`` turns ``1d4h`` into seconds; :class:`BusinessCalendar` answers business-time
questions (position, business_seconds, reach, add_business_seconds, next_business_instant,
is_business) on numpy int64 epoch-second arrays, exact to the second (CONTRACT §2, §3).
"""

from deskpulse.calendar.durations import (
    ALWAYS_DAY_LENGTH_SECONDS,
    DEFAULT_DAY_LENGTH_SECONDS,
    parse_day_length,
    parse_duration,
)
from deskpulse.calendar.kernel import (
    BusinessCalendar,
    CalendarSet,
    as_epoch_seconds,
    calendar_for,
    clear_calendar_cache,
)
from deskpulse.calendar.spec import (
    ALWAYS_CALENDAR_NAME,
    CalendarSpec,
    HolidaySpec,
    Interval,
    parse_calendars,
    parse_day_key,
    parse_interval,
)

__all__ = [
    "ALWAYS_CALENDAR_NAME",
    "ALWAYS_DAY_LENGTH_SECONDS",
    "DEFAULT_DAY_LENGTH_SECONDS",
    "BusinessCalendar",
    "CalendarSet",
    "CalendarSpec",
    "HolidaySpec",
    "Interval",
    "as_epoch_seconds",
    "calendar_for",
    "clear_calendar_cache",
    "parse_calendars",
    "parse_day_key",
    "parse_day_length",
    "parse_duration",
    "parse_interval",
]
