"""Alembic environment: run on the connection ``shared.db.migrate`` hands over (never a URL of its own)."""

from __future__ import annotations

from alembic import context

import services.accounts.models  # noqa: F401  (registers the tables on Base)
import services.audit.models  # noqa: F401
from shared.db import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
