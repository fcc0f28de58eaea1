"""Find a timezone's UTC-offset segments over a span: where the offset changes, to the second.

The kernel maps local wall-clock intervals to UTC by splitting them at these changes. The
offsets always come from :mod:`zoneinfo` itself (the same source the rest of deskpulse uses);
the change instants come from two independent places so that none is missed: the explicit
transitions of the zone's TZif file (read from the same place :mod:`zoneinfo` reads it) and a
day-by-day probe of ``utcoffset`` with bisection to the exact second (which also covers the
years that a TZif footer rule describes instead of explicit transitions).
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.resources
import logging
import os
import struct
import zoneinfo
from typing import Final

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

_PROBE_STEP_SECONDS: Final = 86400
#: Offsets must stay below one day: the kernel relies on |wall - utc| < 24h.
_MAX_ABS_OFFSET_SECONDS: Final = 86400


def utc_offset_seconds(zone: zoneinfo.ZoneInfo, at_s: int) -> int:
    """The zone's UTC offset (wall minus UTC, in seconds) at the epoch second ``at_s``."""
    offset = dt.datetime.fromtimestamp(at_s, zone).utcoffset()
    if offset is None:  # pragma: no cover - ZoneInfo always answers
        return 0
    return offset.days * 86400 + offset.seconds


def _read_tzif(key: str) -> bytes | None:
    for base in zoneinfo.TZPATH:
        path = os.path.join(base, key)
        if os.path.isfile(path):
            try:
                with open(path, "rb") as fh:
                    return fh.read()
            except OSError:  # pragma: no cover - unreadable file: fall back to probing
                return None
    try:
        resource = importlib.resources.files("tzdata.zoneinfo").joinpath(*key.split("/"))
        return resource.read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, OSError, ValueError):  # pragma: no cover
        return None


@functools.lru_cache(maxsize=256)
def tzif_transitions(key: str) -> tuple[int, ...]:
    """Explicit transition instants (epoch seconds) of the zone's TZif file; () if unreadable."""
    data = _read_tzif(key)
    if data is None or data[:4] != b"TZif" or len(data) < 44:
        return ()
    try:
        isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt = struct.unpack(">6l", data[20:44])
        if data[4:5] in (b"2", b"3", b"4"):
            v1_len = 44 + timecnt * 5 + typecnt * 6 + charcnt + leapcnt * 8 + isstdcnt + isutcnt
            header = data[v1_len : v1_len + 44]
            if header[:4] != b"TZif":
                return ()
            timecnt = struct.unpack(">6l", header[20:44])[3]
            body = data[v1_len + 44 : v1_len + 44 + 8 * timecnt]
            return tuple(struct.unpack(f">{timecnt}q", body))
        return tuple(struct.unpack(f">{timecnt}l", data[44 : 44 + 4 * timecnt]))
    except struct.error:  # pragma: no cover - truncated file: fall back to probing
        logger.warning("could not parse the TZif data of %s; probing offsets only", key)
        return ()


def offset_segments(
    zone: zoneinfo.ZoneInfo, lo_s: int, hi_s: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Segments of constant UTC offset covering ``[lo_s, hi_s)``.

    Returns ``(segment_starts_s, offsets_seconds)``: segment k is
    ``[segment_starts_s[k], segment_starts_s[k+1])`` (the last one ends at ``hi_s``) and has the
    offset ``offsets_seconds[k]``; consecutive segments have different offsets.
    """
    candidates: set[int] = {t for t in tzif_transitions(zone.key) if lo_s < t < hi_s}
    probe_at = list(range(lo_s, hi_s, _PROBE_STEP_SECONDS)) + [hi_s]
    probe_offsets = [utc_offset_seconds(zone, t) for t in probe_at]
    for k in range(len(probe_at) - 1):
        before = probe_offsets[k]
        if probe_offsets[k + 1] == before:
            continue
        low, high = probe_at[k], probe_at[k + 1]  # offset(low) == before != offset(high)
        while high - low > 1:
            mid = (low + high) // 2
            if utc_offset_seconds(zone, mid) == before:
                low = mid
            else:
                high = mid
        candidates.add(high)
    starts: list[int] = []
    offsets: list[int] = []
    for t in [lo_s, *sorted(candidates)]:
        offset = utc_offset_seconds(zone, t)
        if abs(offset) >= _MAX_ABS_OFFSET_SECONDS:  # pragma: no cover - no such zone exists
            raise ValueError(f"UTC offset {offset} s of {zone.key} is a day or more")
        if offsets and offsets[-1] == offset:
            continue
        starts.append(t)
        offsets.append(offset)
    return np.asarray(starts, dtype=np.int64), np.asarray(offsets, dtype=np.int64)
