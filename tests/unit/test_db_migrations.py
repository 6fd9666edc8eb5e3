"""shared/db.py and shared/migrations on SQLite: from an empty file to head, append-only audit records, and back.

The same migrations run on a real PostgreSQL in ``tests/integration/test_db_postgres.py``.
"""

from __future__ import annotations

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from services.audit.records import record
from shared.db import MIGRATIONS, get_engine, migrate, reset_caches
from tests.migrations import downgrade_then_upgrade


@pytest.fixture
def url(tmp_path):
    reset_caches()
    yield f"sqlite:///{tmp_path / 'nested' / 'causalmol.db'}"  # the folder does not exist yet
    reset_caches()


def head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def test_an_empty_database_is_migrated_to_head(url):
    migrate(url)
    engine = get_engine(url)
    assert {"api_keys", "webhook_secrets", "audit_records", "alembic_version"} <= set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head()
    migrate(url)  # once per process: a second call is a no-op


def test_audit_records_refuse_update_and_delete(url):
    assert record("key.created", {"scopes": ["predict"]}, database_url=url, project="p")
    engine = get_engine(url)
    for statement in ("UPDATE audit_records SET project = 'q'", "DELETE FROM audit_records"):
        with pytest.raises(IntegrityError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT project FROM audit_records")).scalars().all() == ["p"]


def test_a_dedup_key_is_written_once(url):
    assert record("prediction.succeeded", database_url=url, job_id="j", dedup_key="j:end")
    assert not record("prediction.succeeded", database_url=url, job_id="j", dedup_key="j:end")


def test_the_migrations_go_down_and_up_again(url):
    after_down, after_up = downgrade_then_upgrade(url)
    assert not {"api_keys", "webhook_secrets", "audit_records"} & after_down
    assert {"api_keys", "webhook_secrets", "audit_records"} <= after_up


def test_three_processes_migrate_one_empty_sqlite_file_at_once(url):
    import subprocess
    import sys

    from tests.conftest import REPO

    script = "import sys; from shared.db import migrate; migrate(sys.argv[1])"
    procs = [subprocess.Popen([sys.executable, "-c", script, url], cwd=REPO, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]  # as gunicorn's workers do on a one-machine distributed stack
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    assert "audit_records" in inspect(get_engine(url)).get_table_names()


def synchronous(connection) -> int:
    return connection.exec_driver_sql("PRAGMA synchronous").scalar_one()


def test_only_a_transaction_that_asks_skips_the_flush_and_the_pool_gets_durable_connections_back(url):
    from shared.db import begin

    full, normal = 2, 1  # SQLite's codes for FULL and NORMAL
    with begin(url) as connection:
        assert synchronous(connection) == full
    with begin(url, durable=False) as connection:
        assert synchronous(connection) == normal
        connection.execute(text("INSERT INTO alembic_version VALUES ('x')"))  # a write, committed on exit
    with begin(url) as connection:  # the same pooled connection, durable again
        assert synchronous(connection) == full
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 2
    with pytest.raises(RuntimeError), begin(url, durable=False):
        raise RuntimeError("a failed non-durable transaction")
    with begin(url) as connection:
        assert synchronous(connection) == full
