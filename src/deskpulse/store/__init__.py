"""The operational store: DuckDB (embedded) or PostgreSQL (server), one tenant-bound API."""

from deskpulse.store.backend import Store, describe_url, open_store
from deskpulse.store.tenant import TenantStore, UpsertCounts

__all__ = ["Store", "TenantStore", "UpsertCounts", "describe_url", "open_store"]
