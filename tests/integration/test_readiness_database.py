"""/readyz and the service database: a gateway on its own real PostgreSQL server answers 503 ``not_ready`` (check
``database`` false, no address or driver error in the body) while that server is stopped, and ready again once it
is back, without a restart of the gateway."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.conftest import Gateway, free_port, start_gateway, stop_process, wait_until
from tests.postgres import PostgresServer

pytestmark = pytest.mark.integration


@pytest.fixture
def own_database() -> Iterator[PostgresServer]:
    server = PostgresServer(free_port())
    server.start()
    yield server
    server.remove()


@pytest.fixture
def gateway_on_own_database(stack_env, workers, own_database, tmp_path) -> Iterator[Gateway]:
    env = {k: v for k, v in stack_env.items() if k != "CAUSALMOL_API_KEY"}  # a key of this database is made
    gateway = start_gateway({**env, "CAUSALMOL_DATABASE_URL": own_database.url}, tmp_path / "gateway.log")
    yield gateway
    stop_process(gateway.proc)


def readiness(gateway: Gateway) -> requests.Response:
    return requests.get(gateway.url("/readyz"), timeout=10)


def test_readyz_follows_the_database_down_and_up(gateway_on_own_database, own_database) -> None:
    gateway = gateway_on_own_database
    ready = wait_until(lambda: (r := readiness(gateway)).status_code == 200 and r, 30, "a ready gateway")
    assert ready.json()["checks"]["database"] is True
    own_database.stop()
    for _ in range(4):  # every gunicorn worker (2) finds its pooled connection dead: each answers 503
        down = readiness(gateway)
        assert down.status_code == 503
        error = down.json()["error"]
        assert (error["code"], error["message"]) == ("not_ready", "not ready: database")
        assert error["details"]["checks"]["database"] is False
        assert str(own_database.port) not in down.text and "postgres" not in down.text.lower()
    own_database.start()
    back = wait_until(lambda: (r := readiness(gateway)).status_code == 200 and r, 30, "ready again")
    assert back.json()["checks"] == {**ready.json()["checks"], "database": True}
