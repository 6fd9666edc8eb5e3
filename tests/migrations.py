"""The migrations' round trip, shared by the SQLite (unit) and PostgreSQL (integration) tests."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect

from shared.db import MIGRATIONS, get_engine, migrate


def downgrade_then_upgrade(url: str) -> tuple[set[str], set[str]]:
    """Migrate ``url`` to head, down to base, up to head again: the table names after the downgrade and after."""
    migrate(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with get_engine(url).begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
        after_down = set(inspect(connection).get_table_names())
        command.upgrade(config, "head")
        after_up = set(inspect(connection).get_table_names())
    return after_down, after_up
