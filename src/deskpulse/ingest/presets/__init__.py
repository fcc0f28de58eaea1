"""Importers for source shapes other than the canonical tables, one module per preset.

* ``zendesk`` — Zendesk incremental export JSON (tickets and ticket events);
* ``eventlog`` — a generic process-mining helpdesk event log, configured by a mapping file.

Each module's ``run`` loads its inputs and hands canonical rows to the shared validator.
"""

PRESETS = ("zendesk", "event-log")
