"""File imports are classified too (seed 004 Task 2 on ``deskpulse import``): urgency,
sentiment, requires_action and classified_by, with the sync's rules, on both stores."""

from __future__ import annotations

from pathlib import Path

from deskpulse.pipeline import import_files

HEADER = "ticket_id,created_at,updated_at,status,priority,subject,description,tags\n"
ROWS = [
    "1,2026-03-02T09:00:00Z,2026-03-02T10:00:00Z,open,normal,I want a refund now,,billing",
    "2,2026-03-02T09:00:00Z,2026-03-02T10:00:00Z,open,normal,Thanks for the refund,all good,",
    "3,2026-03-02T09:00:00Z,2026-03-02T10:00:00Z,open,urgent,hello,,",
    "4,2026-03-02T09:00:00Z,2026-03-02T10:00:00Z,open,normal,How do I export?,,",
    "5,2026-03-02T09:00:00Z,2026-03-02T10:00:00Z,open,normal,Our lawyer will file a lawsuit,,",
]
# hand-checked against examples/classification_rules.yml
EXPECTED = {
    "1": ("high", "negative", True, "refund"),
    "2": ("low", "positive", False, "positive"),
    "3": ("high", "neutral", True, "helpdesk_priority_urgent"),
    "4": ("low", "neutral", True, "question"),
    "5": ("high", "negative", True, "legal_threat"),
}


def _classes(store, tenant: str) -> dict[str, tuple]:
    rows = store.execute(
        "SELECT ticket_id, urgency, sentiment, requires_action, classified_by, loaded_at "
        "FROM tickets WHERE tenant_id = $t", {"t": tenant})
    return {r[0]: tuple(r[1:]) for r in rows}


def test_import_classifies_tickets(store, tmp_path: Path):
    f = tmp_path / "tickets.csv"
    f.write_text(HEADER + "\n".join(ROWS) + "\n")
    repo = store.tenant("acme")
    import_files(repo, f)
    got = _classes(store, "acme")
    assert {k: v[:4] for k, v in got.items()} == EXPECTED
    # another tenant with the same ids is not touched
    other = tmp_path / "other.csv"
    other.write_text(HEADER + ROWS[3].replace("How do I export?", "I want a refund") + "\n")
    import_files(store.tenant("bravo"), other)
    assert _classes(store, "bravo")["4"][:4] == ("high", "negative", True, "refund")
    assert _classes(store, "acme")["4"][:4] == EXPECTED["4"]
    # re-import: nothing changes (not even loaded_at); an edited ticket is re-classified
    import_files(repo, f)
    assert _classes(store, "acme") == got
    edited = ROWS[3].replace("How do I export?", "The export is broken").replace(
        "2026-03-02T10:00:00Z", "2026-03-03T10:00:00Z")
    f.write_text(HEADER + "\n".join([*ROWS[:3], edited, ROWS[4]]) + "\n")
    import_files(repo, f)
    after = _classes(store, "acme")
    assert after["4"][:4] == ("medium", "negative", True, "broken")
    assert {k: v for k, v in after.items() if k != "4"} == {k: v for k, v in got.items() if k != "4"}
