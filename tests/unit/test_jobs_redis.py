"""shared/jobs.py: the same job-store semantics, run against a real redis-server and the memory store side by side.

The redis-server is started here on a free port, with persistence off, and stopped at the end of the module.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest
import redis

from shared.errors import BrokerUnavailable
from shared.jobs import MemoryJobStore, RedisJobStore, new_job_record
from tests.unit.jobstore_contract import JobStoreContract, new_job, results_for

REDIS_SERVER = shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def redis_server_url(tmp_path_factory):
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    port = _free_port()
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path_factory.mktemp("unit-redis"))],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"redis-server on port {port} did not start") from None
            time.sleep(0.02)
    yield url
    client.close()
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def redis_client(redis_server_url):
    client = redis.Redis.from_url(redis_server_url, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(params=["memory", "redis"], name="store")
def each_store(request):
    """``store`` in a test that takes it: a memory store, then a Redis one on a clean database. Modules that test
    both import it (``from tests.unit.test_jobs_redis import each_store``); a class's own ``store`` overrides it."""
    if request.param == "memory":
        return MemoryJobStore()
    request.getfixturevalue("redis_client")  # a clean database
    return RedisJobStore(request.getfixturevalue("redis_server_url"), ttl_seconds=60)


class TestBothStores(JobStoreContract):  # against each store: the module's ``store``
    pass


class TestRedisSpecifics:
    @pytest.fixture
    def store(self, redis_server_url, redis_client):
        return RedisJobStore(redis_server_url, ttl_seconds=60)

    def test_job_and_chunk_keys_expire_after_the_ttl(self, store, redis_client):
        job_id = new_job(store)
        store.save_chunk(job_id, 0, results_for(0))
        assert 0 < redis_client.ttl(f"causalmol:job:{job_id}") <= 60
        assert 0 < redis_client.ttl(f"causalmol:job:{job_id}:chunk:0") <= 60

    def test_expired_job_drops_late_chunks(self, store, redis_client):
        job_id = new_job(store)
        redis_client.delete(f"causalmol:job:{job_id}")  # as if the TTL had passed
        assert store.save_chunk(job_id, 0, results_for(0)) is False
        assert redis_client.exists(f"causalmol:job:{job_id}:chunk:0") == 0
        assert store.record(job_id) is None

    def test_attachments_expire_with_the_job(self, store, redis_client):
        job_id = new_job(store)
        store.put_attachment(job_id, "export.sdf", "text")
        assert 0 < redis_client.ttl(f"causalmol:job:{job_id}:attachments") <= 60

    def test_types_survive_the_round_trip(self, store):
        job_id = new_job(store, total=2, n_chunks=1)
        store.save_chunk(job_id, 0, [{"id": "a", "value": 1.5, "error": None}, {"id": "b", "value": None}])
        job = store.get(job_id)
        assert isinstance(job["total"], int) and isinstance(job["done"], int)
        assert job["model"] == {"name": "akt1", "version": 1}
        assert job["results"] == [{"id": "a", "value": 1.5, "error": None}, {"id": "b", "value": None}]

    def test_a_waiter_blocks_in_redis_instead_of_polling(self, store, redis_client):
        """Waiting 1 s on an unfinished job reads its record once or twice, not every few milliseconds."""
        job_id = new_job(store)
        redis_client.config_resetstat()
        assert store.wait(job_id, 1.0)["status"] == "queued"
        calls = redis_client.info("commandstats").get("cmdstat_hgetall", {}).get("calls", 0)
        assert calls <= 2

    def test_the_finished_signal_expires_with_the_job(self, store, redis_client):
        job_id = new_job(store, total=2, n_chunks=1)
        store.save_chunk(job_id, 0, results_for(0))
        assert 0 < redis_client.ttl(f"causalmol:job:{job_id}:finished") <= 60
        store.delete(job_id)
        assert redis_client.exists(f"causalmol:job:{job_id}:finished") == 0

    def test_two_store_objects_share_state(self, store, redis_server_url):
        # distributed mode: the gateway and each worker process hold their own store object
        job_id = new_job(store, total=2, n_chunks=1)
        other = RedisJobStore(redis_server_url, ttl_seconds=60)
        assert other.save_chunk(job_id, 0, results_for(0)) is True
        assert store.save_chunk(job_id, 0, results_for(0)) is False
        assert store.get(job_id)["status"] == "succeeded"


def test_delete_with_redis_unreachable_does_not_raise(caplog):
    """The gateway deletes a job after a broker failure, when Redis is often down too: the client still gets 503."""
    store = RedisJobStore(f"redis://127.0.0.1:{_free_port()}/0", ttl_seconds=60, timeout=0.2)
    store.delete("j")
    assert "job j not deleted" in caplog.text


def test_a_new_job_and_a_status_check_with_redis_unreachable_are_a_broker_error():
    """The gateway answers 503 (``BrokerUnavailable``) and a task's cancel check fails like any read: no half job."""
    store = RedisJobStore(f"redis://127.0.0.1:{_free_port()}/0", ttl_seconds=60, timeout=0.2)
    with pytest.raises(BrokerUnavailable):
        store.open_job(new_job_record("j", None, 1, 1), [{"message": {"chunk": 0}}])
    with pytest.raises(BrokerUnavailable):
        store.status("j")
    with pytest.raises(BrokerUnavailable):
        store.mark_running("j")  # the featurize step's check before it starts: left to on_failure as a broker outage
