"""shared/jobs.py: the in-memory job store's semantics, the job record, and the store factory."""

from __future__ import annotations

import re
import time
from datetime import datetime

import pytest

from shared.config import load_settings
from shared.errors import BrokerUnavailable
from shared.jobs import (
    FINISHED,
    PREDICTION,
    SINGLE_RESULT_KINDS,
    MemoryJobStore,
    RedisJobStore,
    get_job_store,
    make_job_store,
    new_job_record,
    utc_now,
)
from tests.unit.jobstore_contract import MODEL, JobStoreContract, new_job

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"  # port 1: connection refused at once


class TestMemoryJobStore(JobStoreContract):
    @pytest.fixture
    def store(self):
        return MemoryJobStore()

    def test_record_is_a_copy(self, store):
        job_id = new_job(store)
        store.record(job_id)["status"] = "tampered"
        assert store.record(job_id)["status"] == "queued"


def test_utc_now_is_iso_utc_with_milliseconds():
    stamp = utc_now()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
    parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert abs(parsed.timestamp() - time.time()) < 5


def test_new_job_record_shape():
    record = new_job_record("j1", MODEL, total=5, n_chunks=2)
    assert record == {
        "job_id": "j1", "kind": "prediction", "status": "queued", "model": MODEL, "total": 5, "done": 0, "n_chunks": 2,
        "chunks_done": 0, "created_at": record["created_at"], "finished_at": None, "error": None,
        "progress_at": record["progress_at"],
    }
    assert record["created_at"].endswith("Z")
    assert abs(float(record["progress_at"]) - time.time()) < 5


def test_new_job_record_keeps_the_extra_fields_that_are_set():
    record = new_job_record("j1", MODEL, 1, 1, extra={"client_reference": "eln-7", "callback_url": None})
    assert record["client_reference"] == "eln-7"
    assert "callback_url" not in record


def test_new_job_record_of_another_kind():
    record = new_job_record("j2", None, total=1, n_chunks=1, kind="training")
    assert (record["kind"], record["model"]) == ("training", None)
    assert PREDICTION == "prediction"
    assert "training" in SINGLE_RESULT_KINDS and PREDICTION not in SINGLE_RESULT_KINDS


def test_finished_statuses():
    assert set(FINISHED) == {"succeeded", "failed", "cancelled"}


def test_make_job_store_embedded_is_memory():
    assert isinstance(make_job_store(load_settings({})), MemoryJobStore)


def test_make_job_store_distributed_is_redis():
    store = make_job_store(load_settings({"CAUSALMOL_REDIS_URL": UNREACHABLE_REDIS}))
    assert isinstance(store, RedisJobStore)  # constructing it does not connect


def test_embedded_jobs_expire_after_the_result_ttl():
    store = make_job_store(load_settings({"CAUSALMOL_RESULT_TTL": "1"}))
    job_id = new_job(store, total=2, n_chunks=1)
    time.sleep(1.1)
    assert store.record(job_id) is None


def test_get_job_store_is_one_shared_instance(settings_env):
    settings_env()
    assert get_job_store() is get_job_store()
    assert isinstance(get_job_store(), MemoryJobStore)


class TestUnreachableRedis:
    @pytest.fixture
    def store(self):
        return RedisJobStore(UNREACHABLE_REDIS, ttl_seconds=60, timeout=0.5)

    def test_create_raises_broker_unavailable(self, store):
        with pytest.raises(BrokerUnavailable) as info:
            store.create(new_job_record("j", MODEL, 1, 1))
        assert info.value.status == 503 and "reason" in info.value.details

    def test_record_raises_broker_unavailable(self, store):
        with pytest.raises(BrokerUnavailable):
            store.record("j")

    def test_ping_is_false(self, store):
        assert store.ping() is False
