"""``deskpulse build``: materialise ticket_metrics, ticket_sla and ticket_segments for a tenant.

Full or incremental. An incremental build recomputes only the tickets whose rows or events
were loaded since the last build, that were created after its ``as_of``, or whose clocks were
still open then (their elapsed time moves with ``as_of``); everything else is final, so the
result equals a full build. A changed config, an earlier ``as_of`` or ``--full`` forces a
full build. Either way tickets are loaded, computed and written in ranges of ticket ids
(bounded memory), in one transaction.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from deskpulse.config import AppConfig
from deskpulse.instants import parse_instant as parse_instant  # re-exported (public API)
from deskpulse.instants import utcnow as utcnow
from deskpulse.model import EVENT_COLUMNS, TICKET_DIMENSIONS
from deskpulse.sla import engine
from deskpulse.sla.engine import TICKET_INPUT_COLUMNS, EngineResult, compute
from deskpulse.sla.policies import SlaConfig, load_sla_config
from deskpulse.store import TenantStore

log = logging.getLogger(__name__)


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


_LOADED_SQL = """
SELECT ticket_id FROM tickets WHERE loaded_at > $since OR created_at > $prev_as_of
UNION SELECT ticket_id FROM ticket_events WHERE loaded_at > $since
"""
#: Tickets whose results move with ``as_of`` alone: their clocks or timelines were still open.
_OPEN_SQL = """
UNION SELECT ticket_id FROM ticket_metrics WHERE solved_at IS NULL
UNION SELECT ticket_id FROM ticket_segments WHERE ended_at IS NULL AND status NOT IN ('solved', 'closed')
UNION SELECT ticket_id FROM ticket_sla WHERE stopped_at IS NULL AND status <> 'not_applicable'
"""
_CHANGED_SQL = _LOADED_SQL + _OPEN_SQL
#: Temp table holding the ticket ids an incremental build recomputes (not a tenant table).
_IDS_TABLE = "_dp_build_ids"
#: The tables a build writes, each keyed by ticket_id.
_OUTPUT_TABLES = ("ticket_metrics", "ticket_sla", "ticket_segments")
#: Event columns the engine reads (``actor_id`` and ``field`` stay in the store).
_ENGINE_EVENT_COLUMNS = ("ticket_id", "event_at", "kind", "actor", "public", "from_value", "to_value", "seq")


def _ticket_columns() -> str:
    cols = dict.fromkeys([*TICKET_INPUT_COLUMNS, *TICKET_DIMENSIONS])
    return ", ".join(f'"{c}"' for c in cols)


def load_inputs(
    repo: TenantStore, as_of: datetime, *, since: datetime | None, prev_as_of: datetime | None
) -> tuple[pa.Table, pa.Table, pa.Array]:
    """Tickets and events to compute (all, or the changed set) and the ids whose rows to replace.

    Loads everything at once (used by ``sla backtest``); :func:`build` loads and computes
    partition by partition instead.
    """
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
    changed = "WITH changed AS (" + _CHANGED_SQL + ")\n"
    ids = repo.query(changed + "SELECT ticket_id FROM changed", since=since, prev_as_of=prev_as_of)  # noqa: S608
    tickets = repo.query(
        changed + f"SELECT {tcols} FROM tickets WHERE deleted_at IS NULL AND created_at <= $as_of "  # noqa: S608
        "AND ticket_id IN (SELECT ticket_id FROM changed)",
        **params,
    )
    events = repo.query(
        changed + f"SELECT {ecols} FROM ticket_events WHERE event_at <= $as_of "  # noqa: S608
        "AND ticket_id IN (SELECT ticket_id FROM changed)",
        **params,
    )
    return tickets, events, ids.column("ticket_id").combine_chunks()


def run_engine(tickets: pa.Table, events: pa.Table, sla: SlaConfig, as_of: datetime) -> EngineResult:
    """Run the SLA engine on canonical Arrow inputs (used by build and backtest)."""
    as_of_s = int(as_of.replace(tzinfo=UTC).timestamp())
    return compute(tickets, events, sla, as_of_s)


@dataclass(frozen=True)
class _Partition:
    """Tickets ``lo <= ticket_id < hi`` (in the store's own order; ``hi`` None: no bound)."""

    lo: str
    hi: str | None


def _partitions(ids: pa.Array, size: int) -> list[_Partition]:
    """Ranges of ``size`` tickets over ``ids`` sorted by the store (its collation)."""
    firsts = [str(ids[i]) for i in range(0, len(ids), size)]
    return [_Partition(lo, firsts[k + 1] if k + 1 < len(firsts) else None) for k, lo in enumerate(firsts)]


def _load_partition(
    repo: TenantStore, part: _Partition, as_of: datetime, *, changed_only: bool
) -> tuple[pa.Table, pa.Table]:
    """One partition's tickets and the events the engine needs (only what it reads)."""
    tcols = _ticket_columns()
    ecols = ", ".join(f'e."{c}"' for c in _ENGINE_EVENT_COLUMNS)
    where = "t.deleted_at IS NULL AND t.created_at <= $as_of AND t.ticket_id >= $lo"
    params: dict[str, Any] = {"as_of": as_of, "lo": part.lo}
    if part.hi is not None:
        where += " AND t.ticket_id < $hi"
        params["hi"] = part.hi
    if changed_only:
        where += f" AND t.ticket_id IN (SELECT ticket_id FROM {_IDS_TABLE})"  # noqa: S608
    tickets = repo.query(f"SELECT {tcols} FROM tickets t WHERE {where}", **params)  # noqa: S608 - fixed text
    # Events by ticket range (and changed set) only: no join with tickets and no per-row kind
    # test over the whole events table; the engine drops events of tickets it was not given.
    ev_where = "e.event_at <= $as_of AND e.ticket_id >= $lo"
    if part.hi is not None:
        ev_where += " AND e.ticket_id < $hi"
    if changed_only:
        ev_where += f" AND e.ticket_id IN (SELECT ticket_id FROM {_IDS_TABLE})"  # noqa: S608
    events = repo.query(f"SELECT {ecols} FROM ticket_events e WHERE {ev_where}", **params)  # noqa: S608
    return tickets, events


def build(
    repo: TenantStore,
    cfg: AppConfig,
    *,
    as_of: datetime | None = None,
    full: bool = False,
) -> BuildSummary:
    """Build the SLA tables of ``repo``'s tenant as of ``as_of`` (default: now).

    Tickets are loaded, computed and written in partitions of
    :data:`~deskpulse.sla.engine.PARTITION_TICKETS` whole tickets (ranges of ticket ids), all
    in one transaction: memory stays bounded by one partition whatever the tenant's size.
    """
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
    as_of_s = int(as_of.replace(tzinfo=UTC).timestamp())
    store = repo.store
    notes: dict[str, int] = {}
    recomputed = 0
    with store.transaction():
        if incremental:
            since = prev[0][2] or datetime.min
            # the same as_of as the last build: open clocks have not moved, so only what was
            # loaded since can differ
            changed_sql = _LOADED_SQL if as_of == prev[0][0] else _CHANGED_SQL
            changed = repo.query(
                "SELECT ticket_id FROM (" + changed_sql + ") c ORDER BY ticket_id",  # noqa: S608
                since=since, prev_as_of=prev[0][0],
            ).column("ticket_id").combine_chunks()
            store.execute(f"DROP TABLE IF EXISTS {_IDS_TABLE}")
            store.execute(f"CREATE TEMP TABLE {_IDS_TABLE} (ticket_id VARCHAR)")
            store.insert_arrow(_IDS_TABLE, pa.table({"ticket_id": changed}))
            ids = repo.query(
                f"SELECT ticket_id FROM tickets WHERE deleted_at IS NULL AND created_at <= $as_of "  # noqa: S608
                f"AND ticket_id IN (SELECT ticket_id FROM {_IDS_TABLE}) ORDER BY ticket_id",
                as_of=as_of,
            ).column("ticket_id")
            replace: pa.Array | None = changed
        else:
            ids = repo.query(
                "SELECT ticket_id FROM tickets WHERE deleted_at IS NULL AND created_at <= $as_of "
                "ORDER BY ticket_id",
                as_of=as_of,
            ).column("ticket_id")
            replace = None
        parts = _partitions(ids, engine.PARTITION_TICKETS)
        no_ids = pa.array([], pa.string())

        def clear() -> None:
            """Delete what this build replaces: all the tenant's rows, or the changed tickets'."""
            for table in _OUTPUT_TABLES:
                repo.delete_rows(table, ticket_ids=replace)

        def write(result: EngineResult) -> None:
            for key, value in result.notes.items():
                notes[key] = notes.get(key, 0) + value
            with store.serial_appends():  # partitions fill row groups instead of ending their own
                for table in _OUTPUT_TABLES:
                    repo.replace_rows(table, getattr(result, table), ticket_ids=no_ids)  # appends

        if not parts:  # nothing to compute: still clear what has to go (and report zero notes)
            clear()
            write(compute(_empty_tickets(), _empty_events(), sla, as_of_s))
        # Pipelined: the engine computes partition k (its own in-memory DuckDB, in a worker
        # thread) while this thread writes partition k-1 and loads k+1 through the store's
        # connection, which only this thread touches. Writes keep partition order.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="deskpulse-engine") as pool:
            pending: Future[EngineResult] | None = None
            for k, part in enumerate(parts):
                tickets, events = _load_partition(repo, part, as_of, changed_only=incremental)
                recomputed += tickets.num_rows
                future = pool.submit(compute, tickets, events, sla, as_of_s)
                del tickets, events
                if k == 0:  # the deletes overlap the first partition's engine run
                    clear()
                if pending is not None:
                    write(pending.result())
                    pending = None
                    pa.default_memory_pool().release_unused()  # hand freed Arrow buffers back
                pending = future
            if pending is not None:
                write(pending.result())
                pending = None
        if incremental:
            store.execute(f"DROP TABLE IF EXISTS {_IDS_TABLE}")
        total = int(repo.scalar("SELECT count(*) FROM ticket_metrics"))
        store.execute("DELETE FROM build_state WHERE tenant_id = $t", {"t": repo.tenant_id})
        store.execute(
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
        tickets_recomputed=recomputed,
        sla_rows=sum(int(n) for _, n in status_rows),
        sla_status={str(s): int(n) for s, n in status_rows},
        seconds=round(time.perf_counter() - started, 3),
        notes=notes,
    )
    log.info("build: %s", summary)
    return summary


def _empty_tickets() -> pa.Table:
    from deskpulse.model import TICKET_SCHEMA

    return TICKET_SCHEMA.empty_table()


def _empty_events() -> pa.Table:
    from deskpulse.model import EVENT_SCHEMA

    return EVENT_SCHEMA.empty_table().append_column("seq", pa.array([], pa.int64()))
