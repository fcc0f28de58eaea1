"""``deskpulse build``: materialise ticket_metrics, ticket_sla and ticket_segments for a tenant.

Full or incremental. An incremental build recomputes only the tickets whose rows or events
were loaded since the last build, that were created after its ``as_of``, or whose clocks were
still open then (their elapsed time moves with ``as_of``); everything else is final, so the
result equals a full build. A changed config, an earlier ``as_of`` or ``--full`` forces a
full build.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa

from deskpulse.config import AppConfig
from deskpulse.errors import UsageError
from deskpulse.model import EVENT_COLUMNS, TICKET_DIMENSIONS
from deskpulse.sla.engine import TICKET_INPUT_COLUMNS, EngineResult, compute
from deskpulse.sla.policies import SlaConfig, load_sla_config
from deskpulse.store import TenantStore

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def parse_instant(text: str, *, now: datetime | None = None) -> datetime:
    """An instant as naive UTC: ISO 8601 (an offset is honoured; none means UTC), ``now``,
    ``today`` (00:00 UTC today) or ``yesterday`` (00:00 UTC yesterday)."""
    now = now or utcnow()
    word = text.strip().lower()
    if word == "now":
        return now
    if word == "today":
        return datetime.combine(now.date(), datetime.min.time())
    if word == "yesterday":
        return datetime.combine(now.date() - timedelta(days=1), datetime.min.time())
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            d = date.fromisoformat(text.strip())
        except ValueError as exc:
            raise UsageError(
                f"invalid instant {text!r}: use ISO 8601 (2026-03-06T09:30:00Z), now, today or yesterday"
            ) from exc
        return datetime.combine(d, datetime.min.time())
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.replace(microsecond=0)


@dataclass
class BuildSummary:
    """What a build did."""

    tenant: str
    as_of: datetime
    mode: str
    tickets_total: int = 0
    tickets_recomputed: int = 0
    sla_rows: int = 0
    sla_status: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    notes: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["as_of"] = self.as_of.strftime("%Y-%m-%dT%H:%M:%SZ")
        return d

    def describe(self) -> str:
        statuses = ", ".join(f"{k} {v:,}" for k, v in sorted(self.sla_status.items())) or "none"
        lines = [
            f"{self.mode} build of tenant {self.tenant} as of {self.as_of:%Y-%m-%dT%H:%M:%SZ}: "
            f"{self.tickets_recomputed:,} of {self.tickets_total:,} tickets recomputed in {self.seconds:.2f} s",
            f"SLA instances: {self.sla_rows:,} ({statuses})",
        ]
        for key, value in self.notes.items():
            if value:
                lines.append(f"note: {key.replace('_', ' ')}: {value:,}")
        return "\n".join(lines)


_CHANGED_SQL = """
WITH changed AS (
  SELECT ticket_id FROM tickets WHERE loaded_at > $since OR created_at > $prev_as_of
  UNION SELECT ticket_id FROM ticket_events WHERE loaded_at > $since
  UNION SELECT ticket_id FROM ticket_metrics WHERE solved_at IS NULL
  UNION SELECT ticket_id FROM ticket_sla WHERE stopped_at IS NULL AND status <> 'not_applicable'
)
"""


def _ticket_columns() -> str:
    cols = dict.fromkeys([*TICKET_INPUT_COLUMNS, *TICKET_DIMENSIONS])
    return ", ".join(f'"{c}"' for c in cols)


def load_inputs(
    repo: TenantStore, as_of: datetime, *, since: datetime | None, prev_as_of: datetime | None
) -> tuple[pa.Table, pa.Table, pa.Array]:
    """Tickets and events to compute (all, or the changed set) and the ids whose rows to replace."""
    tcols = _ticket_columns()
    ecols = ", ".join(f'"{c}"' for c in (*EVENT_COLUMNS, "seq"))
    if since is None:
        tickets = repo.query(
            f"SELECT {tcols} FROM tickets WHERE deleted_at IS NULL AND created_at <= $as_of",  # noqa: S608
            as_of=as_of,
        )
        events = repo.query(
            f"SELECT {ecols} FROM ticket_events WHERE event_at <= $as_of "  # noqa: S608
            "AND ticket_id IN (SELECT ticket_id FROM tickets WHERE deleted_at IS NULL AND created_at <= $as_of)",
            as_of=as_of,
        )
        return tickets, events, tickets.column("ticket_id").combine_chunks()
    params = {"since": since, "prev_as_of": prev_as_of, "as_of": as_of}
    ids_sql = _CHANGED_SQL + "SELECT ticket_id FROM changed"  # noqa: S608 - fixed text
    ids = repo.query(ids_sql, since=since, prev_as_of=prev_as_of)
    tickets = repo.query(
        _CHANGED_SQL + f"SELECT {tcols} FROM tickets WHERE deleted_at IS NULL AND created_at <= $as_of "  # noqa: S608
        "AND ticket_id IN (SELECT ticket_id FROM changed)",
        **params,
    )
    events = repo.query(
        _CHANGED_SQL + f"SELECT {ecols} FROM ticket_events WHERE event_at <= $as_of "  # noqa: S608
        "AND ticket_id IN (SELECT ticket_id FROM changed)",
        **params,
    )
    return tickets, events, ids.column("ticket_id").combine_chunks()


def run_engine(tickets: pa.Table, events: pa.Table, sla: SlaConfig, as_of: datetime) -> EngineResult:
    """Run the SLA engine on canonical Arrow inputs (used by build and backtest)."""
    as_of_s = int(as_of.replace(tzinfo=UTC).timestamp())
    return compute(tickets, events, sla, as_of_s)


def build(
    repo: TenantStore,
    cfg: AppConfig,
    *,
    as_of: datetime | None = None,
    full: bool = False,
) -> BuildSummary:
    """Build the SLA tables of ``repo``'s tenant as of ``as_of`` (default: now)."""
    started = time.perf_counter()
    sla = load_sla_config(cfg)  # config errors surface before any data is touched
    as_of = as_of or utcnow()
    prev = repo.rows("SELECT as_of, config_hash, loaded_through FROM build_state")
    loaded = repo.rows(
        "SELECT max(m) FROM (SELECT max(loaded_at) AS m FROM tickets "
        "UNION ALL SELECT max(loaded_at) FROM ticket_events) x"
    )
    loaded_through = loaded[0][0] if loaded else None
    incremental = (
        not full and bool(prev) and prev[0][1] == cfg.fingerprint and as_of >= prev[0][0]
    )
    since = (prev[0][2] or datetime.min) if incremental else None
    prev_as_of = prev[0][0] if incremental else None
    tickets, events, replace_ids = load_inputs(repo, as_of, since=since, prev_as_of=prev_as_of)
    result = run_engine(tickets, events, sla, as_of)
    with repo.store.transaction():
        ids = None if not incremental else replace_ids
        repo.replace_rows("ticket_metrics", result.ticket_metrics, ticket_ids=ids)
        repo.replace_rows("ticket_sla", result.ticket_sla, ticket_ids=ids)
        repo.replace_rows("ticket_segments", result.ticket_segments, ticket_ids=ids)
        total = int(repo.scalar("SELECT count(*) FROM ticket_metrics"))
        repo.store.execute("DELETE FROM build_state WHERE tenant_id = $t", {"t": repo.tenant_id})
        repo.store.execute(
            "INSERT INTO build_state (tenant_id, built_at, as_of, config_hash, loaded_through, tickets) "
            "VALUES ($t, $built, $as_of, $hash, $lt, $n)",
            {"t": repo.tenant_id, "built": utcnow(), "as_of": as_of, "hash": cfg.fingerprint,
             "lt": loaded_through, "n": total},
        )
    status_rows = repo.rows("SELECT status, count(*) FROM ticket_sla GROUP BY status")
    summary = BuildSummary(
        tenant=repo.tenant_id,
        as_of=as_of,
        mode="incremental" if incremental else "full",
        tickets_total=total,
        tickets_recomputed=tickets.num_rows,
        sla_rows=sum(int(n) for _, n in status_rows),
        sla_status={str(s): int(n) for s, n in status_rows},
        seconds=round(time.perf_counter() - started, 3),
        notes=result.notes,
    )
    log.info("build: %s", summary)
    return summary
