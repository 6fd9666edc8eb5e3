"""shared/celery_app.py: task routing by name, the job a task works for, and failure marking."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest
import redis
from celery.exceptions import Ignore

import shared.celery_app as celery_app_module
import shared.jobs
from shared.celery_app import (
    EFFECT_TASK,
    FEATURIZE_TASK,
    PREDICTION_CHAIN,
    PROFILE_TASK,
    SCORE_TASK,
    TASK_ROUTES,
    TRAIN_TASK,
    WEBHOOKS_QUEUE,
    PipelineTask,
    payload_job_id,
    worker_queues,
)
from shared.config import QUEUES
from shared.jobs import MemoryJobStore, new_job_record
from shared.webhooks import WEBHOOK_TASK

REPO = Path(__file__).resolve().parents[2]


def route_of(task_name):
    queues = [route["queue"] for pattern, route in TASK_ROUTES.items() if fnmatch(task_name, pattern)]
    assert len(queues) == 1, queues
    return queues[0]


@pytest.mark.parametrize(("task", "queue"), [
    (FEATURIZE_TASK, "featurizer"),
    (SCORE_TASK, "scoring"),
    (TRAIN_TASK, "predictor"),
    (PROFILE_TASK, "causal"),
    (EFFECT_TASK, "causal"),
])
def test_each_task_routes_to_its_service_queue(task, queue):
    assert route_of(task) == queue


def test_every_declared_task_name_has_exactly_one_route():
    names = {value for key, value in vars(celery_app_module).items() if key.endswith("_TASK")}
    assert {FEATURIZE_TASK, SCORE_TASK} <= names
    for name in names:
        assert route_of(name) in QUEUES
    # no queue without a task, and none without a consumer: webhooks ride along with the scoring worker
    assert {route["queue"] for route in TASK_ROUTES.values()} == set(QUEUES) | {WEBHOOKS_QUEUE}
    assert {q for service in QUEUES for q in worker_queues(service)} == set(QUEUES) | {WEBHOOKS_QUEUE}
    assert route_of(WEBHOOK_TASK) == WEBHOOKS_QUEUE


def test_task_names_are_stable():
    assert (FEATURIZE_TASK, SCORE_TASK) == ("featurize.batch", "score.batch")


def test_the_online_path_is_two_hops():
    assert PREDICTION_CHAIN == (FEATURIZE_TASK, SCORE_TASK)
    assert [route_of(name) for name in PREDICTION_CHAIN] == ["featurizer", "scoring"]


@pytest.mark.parametrize(("args", "expected"), [
    (({"job_id": "j1", "chunk": 0},), "j1"),
    (({"chunk": 0},), None),
    ((), None),
    (("j1",), None),
])
def test_payload_job_id(args, expected):
    assert payload_job_id(args) == expected


class _Task(PipelineTask):
    name = "unit.pipeline_task"


@pytest.fixture
def store(monkeypatch):
    store = MemoryJobStore()
    monkeypatch.setattr(shared.jobs, "get_job_store", lambda: store)
    return store


def test_a_failed_task_marks_its_job_failed(store):
    store.create(new_job_record("j1", {"name": "akt1", "version": 1}, total=1, n_chunks=1))
    _Task().on_failure(ValueError("boom"), "task-id", ({"job_id": "j1", "chunk": 0},), {}, None)
    record = store.record("j1")
    assert record["status"] == "failed"
    # The exception text stays in the log, never in the job.
    assert record["error"] == {"code": "task_failed", "message": "unit.pipeline_task: the step failed unexpectedly; "
                                                                 "the error is in the service log"}


def test_a_failure_without_a_job_touches_nothing(store):
    _Task().on_failure(ValueError("boom"), "task-id", (), {}, None)  # must not raise


class _ChunkTask(PipelineTask):
    name = "featurize.batch"  # a step of the prediction chain, which the watchdog covers


def test_a_broker_outage_in_a_chunk_task_leaves_the_job_to_the_watchdog(store):
    store.create(new_job_record("j1", {"name": "akt1", "version": 1}, total=1, n_chunks=1))
    _ChunkTask().on_failure(redis.ConnectionError("gone"), "task-id", ({"job_id": "j1", "chunk": 0},), {}, None)
    assert store.record("j1")["status"] == "queued"
    _ChunkTask().on_failure(ValueError("boom"), "task-id", ({"job_id": "j1", "chunk": 0},), {}, None)
    assert store.record("j1")["status"] == "failed"  # any other error still fails it


def test_a_cancelled_jobs_task_is_skipped_at_entry(store):
    store.create(new_job_record("j1", {"name": "akt1", "version": 1}, total=1, n_chunks=1))
    _ChunkTask().before_start("task-id", ({"job_id": "j1", "chunk": 0},), {})  # queued: runs
    store.cancel("j1")
    with pytest.raises(Ignore):
        _ChunkTask().before_start("task-id", ({"job_id": "j1", "chunk": 0},), {})


def _configured(env):
    probe = ("import json; from shared.celery_app import configure_celery; from shared.config import load_settings;"
             "app = configure_celery(load_settings()); c = app.conf;"
             "print(json.dumps({'broker': c.broker_url, 'opts': c.broker_transport_options,"
             " 'serializer': c.task_serializer, 'accept': c.accept_content, 'acks_late': c.task_acks_late,"
             " 'prefetch': c.worker_prefetch_multiplier, 'soft': c.task_soft_time_limit, 'hard': c.task_time_limit,"
             " 'default': __import__('celery').current_app._get_current_object() is app}))")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CAUSALMOL_")} | env
    proc = subprocess.run([sys.executable, "-c", probe], env=full_env, cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_configure_celery_distributed_and_embedded():
    # in subprocesses: configure_celery changes the process-wide Celery app
    distributed = _configured({"CAUSALMOL_REDIS_URL": "redis://127.0.0.1:1/0", "CAUSALMOL_BROKER_TIMEOUT": "1.5",
                               "CAUSALMOL_TASK_TIME_LIMIT": "100", "CAUSALMOL_TRAINING_TIME_LIMIT": "150"})
    assert distributed["broker"] == "redis://127.0.0.1:1/0"
    assert distributed["opts"] == {"socket_connect_timeout": 1.5, "socket_timeout": 10.0, "visibility_timeout": 300}
    assert (distributed["serializer"], distributed["accept"]) == ("json", ["json"])
    assert distributed["acks_late"] is True and distributed["prefetch"] == 1
    assert (distributed["soft"], distributed["hard"]) == (300, 100)
    assert distributed["default"] is True

    embedded = _configured({})
    assert embedded["broker"] == "memory://"
    assert embedded["opts"] == {"polling_interval": 0.005}


class _CountingStore(MemoryJobStore):
    def __init__(self):
        super().__init__()
        self.reads = 0

    def record(self, job_id):
        self.reads += 1
        return super().record(job_id)


class _HandOnTask(PipelineTask):
    name = "unit.hand_on"
    ends_job_on_success = False


@pytest.fixture
def job_end(monkeypatch):
    """A store that counts its reads, and what the job's end was given to (audit, then callback)."""
    import services.audit.jobs
    import shared.webhooks

    store, calls = _CountingStore(), []
    monkeypatch.setattr(shared.jobs, "get_job_store", lambda: store)
    monkeypatch.setattr(services.audit.jobs, "audit_job_end", lambda s, j, r: calls.append(("audit", j, r["status"])))
    monkeypatch.setattr(shared.webhooks, "notify_if_finished", lambda s, j, r: calls.append(("notify", j, r["status"])))
    store.create(new_job_record("j1", {"name": "akt1", "version": 1}, total=1, n_chunks=1))
    store.reads = 0
    return store, calls


def test_a_step_that_only_hands_its_chunk_on_does_not_look_for_the_jobs_end(job_end):
    store, calls = job_end
    _HandOnTask().after_return("SUCCESS", None, "task-id", ({"job_id": "j1", "chunk": 0},), {}, None)
    assert (store.reads, calls) == (0, [])


def test_a_step_that_failed_looks_for_the_jobs_end_once_for_audit_and_callback(job_end):
    store, calls = job_end
    store.mark_failed("j1", {"code": "task_failed", "message": "x"})
    _HandOnTask().after_return("FAILURE", None, "task-id", ({"job_id": "j1", "chunk": 0},), {}, None)
    assert store.reads == 1
    assert calls == [("audit", "j1", "failed"), ("notify", "j1", "failed")]


def test_a_step_that_can_end_its_job_records_the_end_only_once_it_has_come(job_end):
    store, calls = job_end
    _Task().after_return("SUCCESS", None, "task-id", ({"job_id": "j1", "chunk": 0},), {}, None)
    assert (store.reads, calls) == (1, [])  # still queued: nothing ended
    store.save_chunk("j1", 0, [{"id": "a"}])
    _Task().after_return("SUCCESS", None, "task-id", ({"job_id": "j1", "chunk": 0},), {}, None)
    assert store.reads == 2
    assert calls == [("audit", "j1", "succeeded"), ("notify", "j1", "succeeded")]


def test_a_cancel_check_reads_the_status_alone(job_end):
    store, _ = job_end
    _ChunkTask().before_start("task-id", ({"job_id": "j1", "chunk": 0},), {})
    assert store.reads == 0  # JobStore.status: one field, not the whole record


class _MarkingTask(_ChunkTask):
    marks_running = True


def test_a_task_that_marks_its_job_running_does_so_in_its_cancel_check(store):
    store.create(new_job_record("j1", {"name": "akt1", "version": 1}, total=1, n_chunks=1))
    _ChunkTask().before_start("task-id", ({"job_id": "j1", "chunk": 0},), {})
    assert store.record("j1")["status"] == "queued"  # a plain check reads the status and leaves it
    _MarkingTask().before_start("task-id", ({"job_id": "j1", "chunk": 0},), {})
    assert store.record("j1")["status"] == "running"
    store.cancel("j1")
    with pytest.raises(Ignore):
        _MarkingTask().before_start("task-id", ({"job_id": "j1", "chunk": 0},), {})
    assert store.record("j1")["status"] == "cancelled"


def test_the_online_featurize_step_marks_its_job_running_before_it_starts():
    import services.featurizer.tasks as featurizer_tasks

    assert featurizer_tasks.featurize_batch.marks_running is True


def test_a_store_that_is_down_when_a_task_ends_does_not_fail_the_task(job_end, monkeypatch, caplog):
    store, calls = job_end

    def down(job_id):
        raise redis.ConnectionError("gone")

    monkeypatch.setattr(store, "record", down)
    _Task().after_return("SUCCESS", None, "task-id", ({"job_id": "j1", "chunk": 0},), {}, None)  # must not raise
    assert calls == []
    assert "the end of job j1 was not looked for" in caplog.text


def test_an_audit_that_fails_still_lets_the_callback_go(job_end, monkeypatch, caplog):
    import services.audit.jobs

    store, calls = job_end
    store.save_chunk("j1", 0, [{"id": "a"}])

    def broken(*_args):
        raise RuntimeError("database down")

    monkeypatch.setattr(services.audit.jobs, "audit_job_end", broken)
    _Task().after_return("SUCCESS", None, "task-id", ({"job_id": "j1", "chunk": 0},), {}, None)
    assert calls == [("notify", "j1", "succeeded")]
    assert "the end of job j1 was not audited" in caplog.text
