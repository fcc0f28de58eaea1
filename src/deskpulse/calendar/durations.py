"""Parse SLA duration strings (``15m``, ``8h``, ``1d4h``, ``90``) into whole seconds (CONTRACT §2).

``Nd`` means one *business day* of the calendar the duration is measured on: 24 hours on a
24x7 calendar, the calendar's ``day_length`` (default 8 hours) on a business calendar. A plain
integer (or a string of digits) means minutes. Every invalid or non-positive duration raises
:class:`~deskpulse.errors.ConfigError` naming the file, the path inside it and the reason.
"""

from __future__ import annotations

import re
from typing import Final

from deskpulse.errors import ConfigError

SECONDS_PER_MINUTE: Final = 60
SECONDS_PER_HOUR: Final = 3600
SECONDS_PER_DAY: Final = 86400
#: What ``1d`` means on a business calendar that sets no ``day_length``.
DEFAULT_DAY_LENGTH_SECONDS: Final = 8 * SECONDS_PER_HOUR
#: What ``1d`` means on a 24x7 calendar.
ALWAYS_DAY_LENGTH_SECONDS: Final = SECONDS_PER_DAY

_DURATION_RE: Final = re.compile(
    r"^(?:(?P<days>\d+)\s*d)?\s*(?:(?P<hours>\d+)\s*h)?\s*(?:(?P<minutes>\d+)\s*m)?$",
    re.IGNORECASE,
)
_MINUTES_RE: Final = re.compile(r"^\d+$")


def _fail(text: object, reason: str, source: str | None, path: str | None) -> ConfigError:
    prefix = "".join(f"{part}: " for part in (source, path) if part)
    message = f"{prefix}invalid duration {text!r}: {reason}"
    return ConfigError(message, file=source, path=path, reason=reason, value=repr(text))


def parse_duration(
    text: str | int,
    day_length_seconds: int = DEFAULT_DAY_LENGTH_SECONDS,
    *,
    source: str | None = None,
    path: str | None = None,
) -> int:
    """Return the duration ``text`` in whole seconds.

    ``text`` is ``Nd``, ``Nh``, ``Nm`` or a combination in that order (``1d4h``, ``1h30m``),
    or a plain integer meaning minutes. ``Nd`` is ``N * day_length_seconds``: pass
    :data:`ALWAYS_DAY_LENGTH_SECONDS` for a 24x7 calendar and the calendar's ``day_length``
    for a business calendar. ``source``/``path`` only decorate the error message.
    """
    if day_length_seconds <= 0:
        raise _fail(text, f"day length must be positive, got {day_length_seconds} s", source, path)
    if isinstance(text, bool):
        raise _fail(text, "expected a duration such as 15m, 8h, 1d4h or minutes", source, path)
    if isinstance(text, int):
        total_seconds = text * SECONDS_PER_MINUTE
    elif isinstance(text, str):
        stripped = text.strip()
        if _MINUTES_RE.match(stripped):
            total_seconds = int(stripped) * SECONDS_PER_MINUTE
        else:
            match = _DURATION_RE.match(stripped)
            if not stripped or match is None:
                raise _fail(
                    text,
                    "expected Nd, Nh, Nm combined in that order (e.g. 1d4h, 1h30m) or minutes",
                    source,
                    path,
                )
            days = int(match.group("days") or 0)
            hours = int(match.group("hours") or 0)
            minutes = int(match.group("minutes") or 0)
            total_seconds = (
                days * day_length_seconds + hours * SECONDS_PER_HOUR + minutes * SECONDS_PER_MINUTE
            )
    else:
        raise _fail(
            text, f"expected a string or an integer, got {type(text).__name__}", source, path
        )
    if total_seconds <= 0:
        raise _fail(text, "a duration must be greater than zero", source, path)
    return total_seconds


def parse_day_length(
    text: str | int, *, source: str | None = None, path: str | None = None
) -> int:
    """Return a calendar's ``day_length`` in seconds: hours and minutes only, in (0, 24h]."""
    if isinstance(text, str) and "d" in text.lower():
        reason = "day_length is given in hours and minutes (e.g. 8h30m), not days"
        raise _fail(text, reason, source, path)
    seconds = parse_duration(text, SECONDS_PER_DAY, source=source, path=path)
    if seconds > SECONDS_PER_DAY:
        raise _fail(text, "day_length cannot exceed 24h", source, path)
    return seconds
