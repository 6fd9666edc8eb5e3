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
