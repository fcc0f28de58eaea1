"""Read and validate an import (``deskpulse import``): files in, an :class:`ImportBatch` out.

The public surface of the ingest package's read + validate half. ``read_import`` reads the
canonical tickets/events files (CSV, ``.csv.gz``, Parquet, JSON Lines), a column-mapping YAML,
or a preset's inputs (Zendesk incremental exports, a process-mining event log), validates them
set-based in a private in-memory DuckDB connection and returns Arrow tables of valid rows plus
one reject row per failing row × column. ``staged_import`` does the same on a given DuckDB
connection (the store's own, for ``deskpulse import``) and leaves the valid rows there, in temp
views, for the store to write without a copy. See docs/import.md.
"""

from deskpulse.ingest.batch import (
    EVENT_OUT_SCHEMA,
    ImportBatch,
    StagedImport,
    read_import,
    staged_import,
)

__all__ = ["EVENT_OUT_SCHEMA", "ImportBatch", "StagedImport", "read_import", "staged_import"]
