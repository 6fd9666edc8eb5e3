"""Waiting clients do not hold a gateway thread each: the gunicorn gevent worker against real Redis.

The gateway here has one worker process with two threads' worth of settings, and its Redis database has no
Celery consumer, so every job stays queued: each POST with ``wait`` blocks for the whole wait. Forty of them
must all be waiting at once (their jobs all exist in Redis while none has answered), and the gateway must still
answer other requests meanwhile. With one OS thread per waiter (gthread, two threads) only two could wait at once.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import redis
import requests

from tests.conftest import start_gateway, stop_process, wait_until

pytestmark = pytest.mark.integration

CLIENTS = 40
WAIT_SECONDS = 6


@pytest.fixture(scope="module")
def idle_gateway(stack_env: dict[str, str], redis_url: str, tmp_path_factory: pytest.TempPathFactory):
    """A gateway on its own Redis database, which no worker consumes."""
    url = redis_url.rsplit("/", 1)[0] + "/9"
    redis.Redis.from_url(url).flushdb()
    env = {**stack_env, "CAUSALMOL_REDIS_URL": url}
    gateway = start_gateway(env, Path(tmp_path_factory.mktemp("idle-gateway")) / "gateway.log", workers=1, threads=2)
    yield gateway, redis.Redis.from_url(url)
    stop_process(gateway.proc)


def test_forty_clients_wait_at_once_and_the_gateway_still_answers(idle_gateway) -> None:
    gateway, broker = idle_gateway
    answers: list[tuple[int, str, float]] = []

    def post(i: int) -> None:
        body = {"model": "akt1", "molecules": [{"id": str(i), "smiles": "CCO"}], "wait": WAIT_SECONDS}
        response = requests.post(gateway.url("/v1/predictions"), json=body, timeout=60)
        answers.append((response.status_code, response.json().get("status", ""), time.monotonic()))

    clients = [threading.Thread(target=post, args=(i,)) for i in range(CLIENTS)]
    for client in clients:
        client.start()
    # Every client's job exists only once its POST is being handled: all forty are inside the gateway at once.
    def jobs() -> int:  # the job hashes only (causalmol:job:<id>), not the keys a job may hang below its own
        return sum(key.count(b":") == 2 for key in broker.keys("causalmol:job:*"))

    wait_until(lambda: jobs() >= CLIENTS, WAIT_SECONDS - 1, "forty waiting clients", interval=0.05)
    health = requests.get(gateway.url("/healthz"), timeout=WAIT_SECONDS - 1)
    answered_health = time.monotonic()
    for client in clients:
        client.join(60)

    assert health.status_code == 200
    assert answered_health < min(at for _, _, at in answers), "healthz waited behind the waiters"
    assert sorted((status, state) for status, state, _ in answers) == [(202, "queued")] * CLIENTS
