"""The service database on a real PostgreSQL (the session's own server): migrations from an empty database, by
several processes at once (as gunicorn workers start), the append-only trigger, and down and up again."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from services.accounts.keys import authenticate, create_key
from services.audit.records import query, record
from shared.db import get_engine
from tests.conftest import REPO
from tests.migrations import downgrade_then_upgrade
from tests.postgres import create_database

pytestmark = pytest.mark.integration
MIGRATE = "import sys; from shared.db import migrate; migrate(sys.argv[1])"


@pytest.fixture
def fresh(database_url, request) -> str:
    return create_database(database_url, f"fresh_{request.node.name[:40].lower()}")


def test_three_processes_migrate_one_empty_database_at_once(fresh):
    procs = [subprocess.Popen([sys.executable, "-c", MIGRATE, fresh], cwd=REPO, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    tables = set(inspect(get_engine(fresh)).get_table_names())
    assert {"api_keys", "audit_records", "alembic_version"} <= tables


def test_keys_and_records_live_in_postgresql_and_records_are_append_only(fresh):
    token, key = create_key("pg-lab", ["predict", "train"], database_url=fresh)
    assert authenticate(token, fresh).project == "pg-lab"
    assert record("prediction.succeeded", {"verdicts": {"caution": 2}}, database_url=fresh, job_id="j", project="p")
    actions = [r["action"] for r in query(database_url=fresh)["records"]]
    assert actions == ["key.created", "prediction.succeeded"]
    for statement in ("UPDATE audit_records SET project = 'q'", "DELETE FROM audit_records"):
        with pytest.raises(DBAPIError, match="append-only"), get_engine(fresh).begin() as connection:
            connection.execute(text(statement))


def test_the_migrations_go_down_and_up_again(fresh):
    after_down, after_up = downgrade_then_upgrade(fresh)
    assert not {"api_keys", "webhook_secrets", "audit_records"} & after_down
    assert {"api_keys", "webhook_secrets", "audit_records"} <= after_up


def test_an_audit_record_skips_the_flush_for_its_own_transaction_only(fresh):
    from shared.db import begin

    def setting(connection) -> str:
        return connection.exec_driver_sql("SHOW synchronous_commit").scalar_one()

    # The test server runs with synchronous_commit off for speed: this database gets PostgreSQL's default back.
    with get_engine(fresh).connect() as connection:
        connection.exec_driver_sql(f'ALTER DATABASE "{fresh.rsplit("/", 1)[1]}" SET synchronous_commit = on')
        connection.commit()
    get_engine(fresh).dispose()  # new connections read the database's setting
    with begin(fresh) as connection:
        assert setting(connection) == "on"
    with begin(fresh, durable=False) as connection:
        assert setting(connection) == "off"
    with begin(fresh) as connection:  # SET LOCAL ended with its transaction
        assert setting(connection) == "on"
    assert record("prediction.succeeded", database_url=fresh, job_id="j", dedup_key="j:end")
    assert not record("prediction.succeeded", database_url=fresh, job_id="j", dedup_key="j:end")  # ON CONFLICT
    assert [r["job_id"] for r in query(database_url=fresh)["records"]] == ["j"]
