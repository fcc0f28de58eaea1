"""Alembic migrations of the operational store; they run on DuckDB and PostgreSQL alike."""
