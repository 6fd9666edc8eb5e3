"""services/gateway/service.py: model resolution, chunking, enqueueing and reading jobs back.

Celery's ``chain`` is replaced by a recorder: this tests the gateway's side of the contract (what it enqueues,
and what it does when the broker refuses), with no broker and no workers.
"""

from __future__ import annotations

import threading
import time

import pytest
from kombu.exceptions import OperationalError

import shared.publish
from services.gateway import service
from shared.config import Settings
from shared.errors import BrokerUnavailable, JobNotFound, ModelNotFound, ModelRetired
from shared.jobs import MemoryJobStore, new_job_record
from shared.messages import CHUNK_REQUEST_VERSION
from shared.model_store import ModelStore

FEATURIZER = {"name": "morgan_counts", "params": {"radius": 2, "n_bits": 2048}}


class RecordingChain:
    sent: list = []
    fail_on: int | None = None  # raise on this call number, as a broker that goes away mid-batch

    def __init__(self, *signatures):
        self.signatures = signatures

    def apply_async(self):
        if RecordingChain.fail_on is not None and len(RecordingChain.sent) == RecordingChain.fail_on:
            raise OperationalError("Error 111 connecting to localhost:6379. Connection refused.")
        RecordingChain.sent.append(self.signatures)


@pytest.fixture
def chains(monkeypatch):
    RecordingChain.sent, RecordingChain.fail_on = [], None
    monkeypatch.setattr(shared.publish, "chain", RecordingChain)
    return RecordingChain


class SpyStore(MemoryJobStore):
    def __init__(self):
        super().__init__()
        self.created = []

    def create(self, record):
        self.created.append(record["job_id"])
        super().create(record)


@pytest.fixture
def models(tmp_path):
    store = ModelStore(tmp_path)
    for _ in range(2):
        store.write_version("akt1", lambda folder: {"featurizer": FEATURIZER})
    return store


def request_for(n, model="akt1"):
    return {"model": model, "molecules": [{"smiles": "C" * (i + 1)} for i in range(n)], "wait": 0.0}


def test_chunked():
    assert service.chunked([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    assert service.chunked([1, 2], 5) == [[1, 2]]
    assert service.chunked([], 3) == []


def test_submit_creates_a_job_and_one_chain_per_chunk(chains, models):
    store = MemoryJobStore()
    body = request_for(5)
    body["molecules"][1]["id"] = "custom"
    record = service.submit_prediction(body, Settings(chunk_size=2), store, models)

    assert record["status"] == "queued"
    assert record["model"] == {"name": "akt1", "version": 2}  # the newest version, pinned for the whole job
    assert (record["total"], record["n_chunks"], record["done"]) == (5, 3, 0)
    assert len(chains.sent) == 3
    for index, signatures in enumerate(chains.sent):
        assert [s.task for s in signatures] == ["featurize.batch", "score.batch"]
        message = signatures[0].args[0]
        assert message["schema_version"] == CHUNK_REQUEST_VERSION
        assert message["job_id"] == record["job_id"]
        assert message["chunk"] == index
        assert message["model"] == {"name": "akt1", "version": 2, "featurizer": FEATURIZER}
        assert signatures[1].args == ()  # it receives the previous step's output
    ids = [m["id"] for sig in chains.sent for m in sig[0].args[0]["molecules"]]
    assert ids == ["0", "custom", "2", "3", "4"]  # ids default to the 0-based index
    smiles = [m["smiles"] for sig in chains.sent for m in sig[0].args[0]["molecules"]]
    assert smiles == ["C", "CC", "CCC", "CCCC", "CCCCC"]


def test_submit_pins_an_explicit_version(chains, models):
    record = service.submit_prediction(request_for(1, "akt1@1"), Settings(), MemoryJobStore(), models)
    assert record["model"] == {"name": "akt1", "version": 1}


def test_unknown_model_queues_nothing(chains, models):
    store = SpyStore()
    with pytest.raises(ModelNotFound):
        service.submit_prediction(request_for(1, "egfr"), Settings(), store, models)
    assert chains.sent == [] and store.created == []


def test_retired_model_queues_nothing(chains, models):
    models.retire("akt1", 1)
    with pytest.raises(ModelRetired):
        service.submit_prediction(request_for(1, "akt1@1"), Settings(), MemoryJobStore(), models)
    assert chains.sent == []


def test_broker_failure_drops_the_job(chains, models):
    chains.fail_on = 1  # the first chunk is queued, the second is refused
    store = SpyStore()
    with pytest.raises(BrokerUnavailable) as info:
        service.submit_prediction(request_for(4), Settings(chunk_size=2), store, models)
    assert "Connection refused" in info.value.details["reason"]
    assert len(store.created) == 1
    assert store.record(store.created[0]) is None  # no partial job is ever served


def test_start_job_publishes_one_chain_per_message(chains):
    store = MemoryJobStore()
    messages = [{"dataset_id": "ds_a"}, {"dataset_id": "ds_b"}]
    record = service.start_job(store, "dataset", messages, ("featurize.ingest", "causal.profile"), total=7)
    assert (record["kind"], record["model"], record["total"], record["n_chunks"]) == ("dataset", None, 7, 2)
    assert [[s.task for s in sigs] for sigs in chains.sent] == [["featurize.ingest", "causal.profile"]] * 2
    assert [sigs[0].args[0] for sigs in chains.sent] == [{"dataset_id": "ds_a", "job_id": record["job_id"]},
                                                         {"dataset_id": "ds_b", "job_id": record["job_id"]}]
    assert messages == [{"dataset_id": "ds_a"}, {"dataset_id": "ds_b"}]  # the caller's messages are not mutated


def test_start_job_total_defaults_to_the_number_of_messages(chains):
    record = service.start_job(MemoryJobStore(), "training", [{"x": 1}], ("predict.train",))
    assert (record["total"], record["n_chunks"]) == (1, 1)
    assert len(chains.sent[0]) == 1


def test_redis_error_while_publishing_is_broker_unavailable(monkeypatch, models):
    import redis

    class FailingChain(RecordingChain):
        def apply_async(self):
            raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(shared.publish, "chain", FailingChain)
    store = SpyStore()
    with pytest.raises(BrokerUnavailable):
        service.submit_prediction(request_for(1), Settings(), store, models)
    assert store.record(store.created[0]) is None


def test_single_result_job_is_read_back_with_one_result():
    store = MemoryJobStore()
    store.create(new_job_record("t", None, total=1, n_chunks=1, kind="training"))
    assert service.get_job(store, "t")["result"] is None  # not finished yet
    store.complete("t", {"model": "akt1@4"})
    job = service.get_job(store, "t")
    assert job["result"] == {"model": "akt1@4"}
    assert "results" not in job


def test_get_job_adds_progress():
    store = MemoryJobStore()
    store.create(new_job_record("j", {"name": "akt1", "version": 1}, total=4, n_chunks=2))
    store.save_chunk("j", 0, [{"id": "0"}, {"id": "1"}])
    job = service.get_job(store, "j")
    assert job["progress"] == {"done": 2, "total": 4}
    assert job["results"] == [] and "result" not in job  # predictions keep their list of results


def test_get_unknown_job():
    with pytest.raises(JobNotFound) as info:
        service.get_job(MemoryJobStore(), "nope")
    assert info.value.details == {"job_id": "nope"}


def test_wait_zero_does_not_wait():
    store = MemoryJobStore()
    store.create(new_job_record("j", {"name": "akt1", "version": 1}, total=1, n_chunks=1))
    store.save_chunk("j", 0, [{"id": "0"}])
    assert service.wait_for_job(store, "j", 0) is None  # even a finished job: wait=0 always answers 202


def test_wait_returns_the_finished_job():
    store = MemoryJobStore()
    store.create(new_job_record("j", {"name": "akt1", "version": 1}, total=1, n_chunks=1))
    timer = threading.Timer(0.05, store.save_chunk, args=("j", 0, [{"id": "0"}]))
    timer.start()
    job = service.wait_for_job(store, "j", 5.0)
    timer.join()
    assert job["status"] == "succeeded"
    assert job["results"] == [{"id": "0"}]
    assert job["progress"] == {"done": 1, "total": 1}


def test_a_finished_wait_reads_the_job_record_once_more_not_twice(monkeypatch):
    store = MemoryJobStore()
    store.create(new_job_record("j", {"name": "akt1", "version": 1}, total=1, n_chunks=1))
    store.save_chunk("j", 0, [{"id": "0"}])
    reads = []
    read = store.record
    monkeypatch.setattr(store, "record", lambda job_id: reads.append(job_id) or read(job_id))
    job = service.wait_for_job(store, "j", 5.0)
    assert reads == ["j"]  # the wait's own read; the answer is built from it
    assert job["status"] == "succeeded" and job["results"] == [{"id": "0"}]
    assert job["progress"] == {"done": 1, "total": 1}


@pytest.mark.parametrize("seconds", [float("nan"), -1.0])
def test_wait_that_is_not_a_positive_number_does_not_wait(seconds):
    store = MemoryJobStore()
    store.create(new_job_record("j", {"name": "akt1", "version": 1}, total=1, n_chunks=1))
    started = time.monotonic()
    assert service.wait_for_job(store, "j", seconds) is None  # NaN used to wait for as long as the job ran
    assert time.monotonic() - started < 1


def test_wait_is_capped(monkeypatch):
    waited = []
    store = MemoryJobStore()
    monkeypatch.setattr(store, "wait", lambda job_id, seconds, just_created=False: waited.append(seconds))
    service.wait_for_job(store, "j", 1e9)
    assert waited == [30]


def test_wait_times_out_with_none():
    store = MemoryJobStore()
    store.create(new_job_record("j", {"name": "akt1", "version": 1}, total=1, n_chunks=1))
    assert service.wait_for_job(store, "j", 0.1) is None


def succeeded_prediction_job(store, job_id="j"):
    store.create(new_job_record(job_id, {"name": "akt1", "version": 1}, total=1, n_chunks=1))
    store.save_chunk(job_id, 0, [{"id": "0"}])


def test_sdf_export_not_rendered_in_time_is_export_not_ready(chains):
    """No featurizer answers (none running, or it is slow): one render is asked for, and the caller is told to retry."""
    store = MemoryJobStore()
    succeeded_prediction_job(store)
    with pytest.raises(service.ExportNotReady) as info:
        service.export_results(store, "j", "sdf", timeout=0.1)
    assert (info.value.status, info.value.code, info.value.details) == (503, "export_not_ready", {"job_id": "j"})
    assert len(chains.sent) == 1 and chains.sent[0][0].task == service.EXPORT_SDF_TASK


def test_sdf_export_already_rendered_is_served_without_a_task(chains):
    store = MemoryJobStore()
    succeeded_prediction_job(store)
    store.put_attachment("j", "sdf", "rendered\n$$$$\n")
    assert service.export_results(store, "j", "sdf", timeout=0.1) == ("rendered\n$$$$\n", service.EXPORTS["sdf"])
    assert chains.sent == []
