"""Plumbing shared by the insight modules (risk, forecast, staffing, text): the build's ``as_of``,
epoch-second conversion of Arrow timestamps, the SLA context (calendars and pause statuses per
policy) and human formatting of business minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from deskpulse.config import AppConfig
from deskpulse.errors import UsageError
from deskpulse.store import TenantStore

if TYPE_CHECKING:  # imported when used: the SLA package pulls in the engine (and pandas)
    from deskpulse.calendar.kernel import BusinessCalendar
    from deskpulse.sla.policies import SlaConfig

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
ObjArray = npt.NDArray[np.object_]

#: The message every insight prints for an empty window (exit code 0).
NO_TICKETS: Final = "no tickets in range"
SECONDS_PER_DAY: Final = 86400
#: Ticket statuses in which no clock runs and the ticket is out of the queue.
DONE_STATUSES: Final = ("solved", "closed")
#: CONTRACT §1: P1..P4 map to urgent..low.
PRIORITY_LABELS: Final = {"urgent": "P1", "high": "P2", "normal": "P3", "low": "P4"}
METRIC_WORDS: Final = {
    "first_response": "first reply",
    "next_response": "next reply",
    "resolution": "resolution",
}


def build_as_of(repo: TenantStore) -> datetime | None:
    """The ``as_of`` of the tenant's last build (naive UTC), or None before the first build."""
    value = repo.scalar("SELECT max(as_of) FROM build_state")
    return value if isinstance(value, datetime) else None


def require_build(repo: TenantStore) -> datetime:
    """The last build's ``as_of``; a clear usage error when the tenant was never built."""
    as_of = build_as_of(repo)
    if as_of is None:
        raise UsageError("no SLA build for this tenant yet: run `deskpulse build` first")
    return as_of


def resolve_as_of(repo: TenantStore, as_of: datetime | None) -> datetime:
    """``as_of`` if given, else the last build's, else now (naive UTC, whole seconds)."""
    if as_of is not None:
        return as_of.replace(microsecond=0)
    built = build_as_of(repo)
    if built is not None:
        return built
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def epoch_s(value: datetime) -> int:
    """A naive-UTC datetime as epoch seconds."""
    return int(value.replace(tzinfo=UTC).timestamp())


def from_epoch_s(seconds: int | float) -> datetime:
    """Epoch seconds as a naive-UTC datetime."""
    return datetime.fromtimestamp(int(seconds), UTC).replace(tzinfo=None)


def ts_micros(column: pa.ChunkedArray | pa.Array) -> tuple[IntArray, BoolArray]:
    """An Arrow timestamp column as (epoch microseconds, valid mask); nulls become 0."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_timestamp(arr.type) and arr.type.tz is not None:
        arr = arr.cast(pa.timestamp(arr.type.unit))
    valid = np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False), dtype=bool)
    as_int = pc.fill_null(arr.cast(pa.timestamp("us")).cast(pa.int64()), 0)
    return np.asarray(as_int.to_numpy(zero_copy_only=False), dtype=np.int64), valid


def ts_seconds(column: pa.ChunkedArray | pa.Array) -> tuple[IntArray, BoolArray]:
    """An Arrow timestamp column as (epoch seconds, valid mask); nulls become 0."""
    micros, valid = ts_micros(column)
    return micros // 1_000_000, valid


def floats(column: pa.ChunkedArray | pa.Array, fill: float = np.nan) -> FloatArray:
    """A numeric Arrow column as float64 (nulls become ``fill``)."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    filled = pc.fill_null(arr.cast(pa.float64()), fill)
    return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=np.float64)


def strings(column: pa.ChunkedArray | pa.Array, fill: str = "") -> ObjArray:
    """A string Arrow column as a numpy object array (nulls become ``fill``)."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return np.asarray(pc.fill_null(arr.cast(pa.string()), fill).to_numpy(zero_copy_only=False),
                      dtype=object)


#: The last :meth:`SlaContext.load` (its config, the config's identity and fingerprint, the context).
_LAST_CONTEXT: dict[str, tuple[AppConfig, tuple[int, str], SlaContext]] = {}


@dataclass
class SlaContext:
    """The SLA config of a tenant as the insights need it: calendars and pause statuses."""

    sla: SlaConfig
    pause_on: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def load(cls, cfg: AppConfig) -> SlaContext:
        """The context of ``cfg``; the last one is kept (``next`` asks twice: queue and model)."""
        from deskpulse.sla.policies import load_sla_config

        key = (id(cfg), cfg.fingerprint)
        last = _LAST_CONTEXT.get("last")
        if last is not None and last[0] is cfg and last[1] == key:
            return last[2]
        sla = load_sla_config(cfg)
        ctx = cls(sla=sla, pause_on={p.name: p.pause_on for p in sla.policies})
        _LAST_CONTEXT["last"] = (cfg, key, ctx)
        return ctx

    def calendar(self, name: str) -> BusinessCalendar:
        """The (process-wide cached) business calendar of a configured calendar name."""
        from deskpulse.calendar.kernel import calendar_for
        from deskpulse.calendar.spec import ALWAYS_CALENDAR_NAME

        if name == ALWAYS_CALENDAR_NAME:
            return calendar_for(ALWAYS_CALENDAR_NAME)
        return calendar_for(name, self.sla.calendars)

    def positions(self, calendar_names: npt.NDArray[np.object_], at_s: IntArray) -> IntArray:
        """F(t) per row on each row's calendar (one vectorised kernel call per calendar)."""
        out = np.zeros(at_s.shape, dtype=np.int64)
        if at_s.size == 0:
            return out
        names, inverse = np.unique(calendar_names.astype(str), return_inverse=True)
        for k, name in enumerate(names.tolist()):
            rows = inverse == k
            out[rows] = self.calendar(name).position(at_s[rows])
        return out

    def is_business(self, calendar_names: npt.NDArray[np.object_], at_s: IntArray) -> BoolArray:
        """Whether business time runs at each row's instant on the row's calendar."""
        out = np.zeros(at_s.shape, dtype=bool)
        if at_s.size == 0:
            return out
        names, inverse = np.unique(calendar_names.astype(str), return_inverse=True)
        for k, name in enumerate(names.tolist()):
            rows = inverse == k
            out[rows] = self.calendar(name).is_business(at_s[rows])
        return out


def fmt_business_minutes(minutes: float) -> str:
    """``14 business min`` below two hours, ``21.5 business h`` above."""
    m = abs(float(minutes))
    if m < 120:
        return f"{m:.0f} business min"
    return f"{m / 60:.1f} business h"


def plain(value: Any) -> Any:
    """JSON-friendly scalars: datetimes as ISO 8601 with ``Z``, numpy numbers as Python ones."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def jsonable(value: Any) -> Any:
    """Dataclass dumps made JSON-friendly: tuples become lists, dates ISO strings (recursively)."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return plain(value)
