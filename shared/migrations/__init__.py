"""Alembic migrations of the service database, run by ``shared.db.migrate``."""
