"""A Redis restart mid-job (AOF on) loses no accepted job: it completes, the watchdog publishing again any chunk
the restart swallowed; it never stays ``running``. Its own redis-server, workers and gateway: it restarts Redis."""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from tests.conftest import Workers, free_port, poll_job, start_gateway, stop_process, wait_until

pytestmark = pytest.mark.integration


class RestartableRedis:
    """A redis-server with AOF (fsync every second), as the stack runs it, that can be stopped and started."""

    def __init__(self, data: Path) -> None:
        self.port, self.data = free_port(), data
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.data), "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
             "--maxmemory-policy", "noeviction"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_until(lambda: redis.Redis.from_url(self.url).ping(), 10, "redis-server")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)  # a clean shutdown, as a restart by an operator
            self.proc.wait(30)

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="module")
def restartable(stack_env, tmp_path_factory) -> Iterator[tuple[RestartableRedis, object]]:
    server = RestartableRedis(tmp_path_factory.mktemp("aof-redis"))
    server.start()
    env = {**stack_env, "CAUSALMOL_REDIS_URL": server.url, "CAUSALMOL_CHUNK_DEADLINE": "5",
           "CAUSALMOL_WATCHDOG_INTERVAL": "1"}
    workers = Workers(env, tmp_path_factory.mktemp("restart-worker-logs"))
    workers.start()
    gateway = start_gateway(env, tmp_path_factory.mktemp("restart-gateway") / "gateway.log")
    yield server, gateway
    stop_process(gateway.proc)
    workers.stop()
    server.stop()



def test_a_job_survives_two_redis_restarts(restartable) -> None:
    server, gateway = restartable
    molecules = [{"id": f"r{i}", "smiles": "c1ccccc1" + "C" * (i % 9) + "N"} for i in range(300)]  # 150 chunks
    accepted = requests.post(gateway.url("/v1/predictions"), json={"model": "akt1", "molecules": molecules},
                             timeout=30)
    assert accepted.status_code == 202
    job_id = accepted.json()["job_id"]

    def done() -> int:
        return requests.get(gateway.url(f"/v1/jobs/{job_id}"), timeout=5).json()["progress"]["done"]

    for threshold in (40, 140):
        wait_until(lambda t=threshold: done() >= t, 90, f"{threshold} molecules done")
        server.restart()
    job = poll_job(gateway, job_id, timeout=150)
    assert job["status"] == "succeeded", job.get("error")
    assert job["progress"] == {"done": 300, "total": 300}
    assert [r["id"] for r in job["results"]] == [m["id"] for m in molecules]
