"""Classify tickets already in the store: what a file import wrote gets urgency, sentiment,
requires_action and classified_by, with the same rules as the sync (:mod:`.classify`).

``deskpulse import`` calls :func:`classify_imported` after its write, with the import's
``loaded_at``. The tickets to classify are the tenant's tickets that import wrote (``loaded_at``
from then on) and any never classified yet; tickets the import found unchanged keep their
classification (a re-import of the same file reads nothing back). It is set-based: one query
reads the columns the rules look at as Arrow, the rules run vectorised over it (one pass over
the text for a large import, see :mod:`.classify`), the results are staged in one temporary
table and one ``UPDATE … FROM`` writes the rows whose classification differs (``loaded_at`` is
left alone: classification changes no SLA figure). A file import queues no notifications:
those are for tickets arriving from a helpdesk (history loaded from a file is not news).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from deskpulse.ingest.sync.classify import CLASS_COLUMNS, RuleSet, load_rules
from deskpulse.model import TICKET_COLUMNS

log = logging.getLogger(__name__)

STAGE = "_dp_classify_stage"

_DIFFERS = (
    "(t.urgency IS DISTINCT FROM s.urgency OR t.sentiment IS DISTINCT FROM s.sentiment "
    "OR t.requires_action IS DISTINCT FROM s.requires_action "
    "OR t.classified_by IS DISTINCT FROM s.classified_by)"
)
_COUNT_SQL = (
    f"SELECT count(*) FROM {STAGE} s JOIN tickets t "  # noqa: S608 - fixed names
    f"ON t.tenant_id = $tenant AND t.ticket_id = s.ticket_id WHERE {_DIFFERS}"
)
_UPDATE_SQL = (
    "UPDATE tickets AS t SET urgency = s.urgency, sentiment = s.sentiment, "  # noqa: S608
    "requires_action = s.requires_action, classified_by = s.classified_by "
    f"FROM {STAGE} s WHERE t.tenant_id = $tenant AND t.ticket_id = s.ticket_id AND {_DIFFERS}"
)


def default_rules() -> RuleSet:
    """The rules the sync uses (``DESKPULSE_CLASSIFICATION_RULES`` or the built-in file)."""
    from deskpulse.settings import get_sync_settings

    return load_rules(get_sync_settings().classification_rules)


def _columns(rules: RuleSet) -> list[str]:
    """The ticket columns the rules read (text, plus any ``fields`` conditions)."""
    wanted = {"subject", "description", "tags"}
    for r in rules.rules:
        wanted.update(r.fields)
    return ["ticket_id", *(c for c in TICKET_COLUMNS if c in wanted)]


def classify_imported(repo: Any, loaded_at: datetime | None, rules: RuleSet | None = None) -> int:
    """Classify the tickets an import wrote at ``loaded_at`` (and any never classified).

    Returns how many stored tickets changed classification. ``repo`` is a
    :class:`~deskpulse.store.TenantStore`; every statement binds its tenant.
    """
    rules = rules or default_rules()
    cols = ", ".join('"' + c + '"' for c in _columns(rules))
    where = "classified_by IS NULL" + (" OR loaded_at >= $since" if loaded_at is not None else "")
    tickets = repo.query(
        f"SELECT {cols} FROM tickets WHERE {where}",  # noqa: S608 - names from our schema
        **({"since": loaded_at} if loaded_at is not None else {}),
    )
    if tickets.num_rows == 0:
        return 0
    classified = rules.classify(tickets).select(["ticket_id", *CLASS_COLUMNS])
    store = repo.store
    with store.transaction():
        store.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} (ticket_id VARCHAR, urgency VARCHAR, "
            "sentiment VARCHAR, requires_action BOOLEAN, classified_by VARCHAR)"
        )
        store.execute(f"DELETE FROM {STAGE}")  # noqa: S608 - fixed name
        store.insert_arrow(STAGE, classified)
        if store.dialect == "postgresql":
            store.execute(f"ANALYZE {STAGE}")
            changed = int(store.execute(_COUNT_SQL, {"tenant": repo.tenant_id})[0][0])
            if changed:
                store.execute(_UPDATE_SQL, {"tenant": repo.tenant_id})
        else:  # DuckDB's UPDATE returns its row count: no separate counting join
            changed = int(store.execute(_UPDATE_SQL, {"tenant": repo.tenant_id})[0][0])
        store.execute(f"DELETE FROM {STAGE}")  # noqa: S608 - fixed name
    log.info("classified %d imported ticket(s) of tenant %s (%d changed)",
             tickets.num_rows, repo.tenant_id, changed)
    return changed
