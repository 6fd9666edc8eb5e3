"""The one database of the service: API keys and the audit trail (SQLAlchemy 2, migrations by Alembic).

PostgreSQL (psycopg 3) in distributed mode, a SQLite file under ``CAUSALMOL_HOME`` in embedded mode; both are
created by the same Alembic migrations (``shared/migrations``), run by ``migrate`` when a process first needs the
database. The tables' models live with their capability (``services/accounts``, ``services/audit``) on ``Base``.

Every transaction is durable (its commit waits for the disk) unless it asks otherwise: an audit record written on
its own is not (``begin(durable=False)``), so a request or task does not wait for a disk flush to describe itself.
On PostgreSQL that is ``synchronous_commit = off`` for that transaction only: a crash of the database server (or of
its machine) can lose the last fraction of a second of such records (at most three ``wal_writer_delay``, 0.6 s by
default), never corrupt or reorder the table, and a crash of the service's own processes loses none. On SQLite
(WAL) it is ``synchronous = NORMAL`` for that commit: a crash of a process loses nothing; a power loss or an OS
crash can lose the records written since the last durable commit or WAL checkpoint. Key changes stay durable, and
a durable commit also makes every record committed before it durable.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from shared.config import get_settings

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x63617573  # a fixed PostgreSQL advisory-lock id, so concurrent starters migrate one at a time
_migrated: set[str] = set()
_migrate_lock = threading.Lock()


class Base(DeclarativeBase):
    pass


def normalize_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (SQLAlchemy's default driver for it is psycopg2, not installed)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def get_engine(url: str | None = None) -> Engine:
    """One engine (and pool) per URL and process."""
    url = normalize_url(url or get_settings().database_url)
    with _engines_lock:
        if url not in _engines:
            _engines[url] = _make_engine(url)
        return _engines[url]


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the one writer
    cursor.execute("PRAGMA synchronous=FULL")  # durable commits unless a transaction asks otherwise (begin)
    cursor.close()


def _forget_inherited_pools() -> None:
    # A forked worker must not share its parent's sockets: it opens its own connections.
    for engine in _engines.values():
        engine.dispose(close=False)
    _engines.clear()
    _sessions.cache_clear()


def migrate(url: str | None = None) -> None:
    """Bring the database to the newest schema (``alembic upgrade head``), once per process and URL."""
    url = normalize_url(url or get_settings().database_url)
    with _migrate_lock:
        if url in _migrated:
            return
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per plugin and step otherwise
        engine = get_engine(url)
        with _sqlite_file_lock(url), engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        _migrated.add(url)
        logger.info("database schema at head (%s)", engine.dialect.name)


@contextmanager
def _sqlite_file_lock(url: str) -> Iterator[None]:
    """SQLite has no advisory lock: two gunicorn workers starting together take turns on a lock file instead."""
    if not url.startswith("sqlite:///"):
        yield
        return
    with open(url[len("sqlite:///"):] + ".migrate-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session committed on success and rolled back on error; the schema is migrated on first use."""
    migrate(url)
    session = _sessions(get_engine(normalize_url(url or get_settings().database_url)))()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def begin(url: str | None = None, durable: bool = True) -> Iterator[Connection]:
    """A Core connection in one transaction, committed on success (no ORM: the hot path's lookups and audit
    inserts); ``durable=False`` lets the commit return before the disk flush (see the module's docstring)."""
    migrate(url)
    with get_engine(url).connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite and not durable:
            _sqlite_synchronous(connection, "NORMAL")
        try:
            with connection.begin():
                if not durable and connection.dialect.name == "postgresql":
                    connection.exec_driver_sql("SET LOCAL synchronous_commit = off")  # this transaction only
                yield connection
        finally:
            if sqlite and not durable:
                try:
                    _sqlite_synchronous(connection, "FULL")  # the pooled connection's next user expects durability
                except Exception:
                    connection.invalidate()  # never back to the pool with NORMAL
                    raise


def _sqlite_synchronous(connection: Connection, level: str) -> None:
    # A per-connection setting, changed outside any transaction (the driver opens none for a PRAGMA).
    connection.exec_driver_sql(f"PRAGMA synchronous={level}")
    connection.commit()


@lru_cache(maxsize=4)
def _sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def reset_caches() -> None:
    """Forget engines and the migrated mark (tests that point the settings at another database)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
    _sessions.cache_clear()
    _migrated.clear()


os.register_at_fork(after_in_child=_forget_inherited_pools)
