"""Helpers of the analytics tests (response/resolution, backlog, bottlenecks, agents, CLI):
small hand-made datasets loaded and built into a store of either backend.

Imported by the ``test_analytics_*`` modules (kept out of conftest.py so that it never clashes
with the insight tests' fixtures).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
GOLDEN_AS_OF = datetime(2026, 3, 4, 12, 0, 0)

TICKET_HEADER = (
    "ticket_id,created_at,updated_at,status,priority,channel,category,group,region,"
    "requester_id,assignee_id,subject,tags,satisfaction"
)
EVENT_HEADER = "ticket_id,event_at,kind,actor,actor_id,public,from_value,to_value,field"


@dataclass
class Loaded:
    """A store with a dataset imported and built."""

    store: Any
    repo: Any
    cfg: Any
    as_of: datetime

    def close(self) -> None:
        self.store.close()


def load(
    db_url: str,
    tmp_path: Path,
    *,
    tickets: Path | str,
    events: Path | str | None,
    config: Path | str,
    as_of: datetime,
    tenant: str = "acme",
) -> Loaded:
    """Import ``tickets``/``events`` (paths, or CSV text) with ``config`` (path or YAML text)
    into ``db_url`` and build as of ``as_of``."""
    from deskpulse.config import load_config
    from deskpulse.pipeline import import_files
    from deskpulse.sla.build import build
    from deskpulse.store import open_store

    def as_path(value: Path | str, name: str) -> Path:
        if isinstance(value, Path):
            return value
        path = tmp_path / name
        path.write_text(value, encoding="utf-8")
        return path

    t_path = as_path(tickets, "tickets.csv")
    e_path = as_path(events, "events.csv") if events is not None else None
    c_path = as_path(config, "deskpulse.yaml")
    store = open_store(db_url)
    repo = store.tenant(tenant)
    summary = import_files(repo, t_path, e_path)
    assert summary.rejected == 0, summary
    cfg = load_config(c_path)
    build(repo, cfg, as_of=as_of, full=True)
    return Loaded(store, repo, cfg, as_of)


def load_golden(db_url: str, tmp_path: Path) -> Loaded:
    """The hand-checked golden dataset of tests/fixtures/golden (tickets A, B, C)."""
    return load(
        db_url,
        tmp_path,
        tickets=GOLDEN / "tickets.csv",
        events=GOLDEN / "events.csv",
        config=GOLDEN / "deskpulse.yaml",
        as_of=GOLDEN_AS_OF,
    )
