"""shared/watchdog.py: a stalled job's missing chunks are published again, then the job fails with chunk_lost."""

from __future__ import annotations

import uuid

import pytest

import shared.publish
from shared import watchdog
from shared.config import Settings
from shared.jobs import FAILED, MemoryJobStore, new_job_record

PUBLISHED: list[tuple[tuple[str, ...], dict, dict]] = []


class RecordingChain:
    def __init__(self, *signatures):
        self.signatures = signatures

    def apply_async(self):
        first = self.signatures[0]
        PUBLISHED.append((tuple(s.task for s in self.signatures), first.args[0], first.options))


@pytest.fixture(autouse=True)
def recording(monkeypatch):
    PUBLISHED.clear()
    monkeypatch.setattr(shared.publish, "chain", RecordingChain)


def stalled_job(store, n_chunks: int = 3, kind: str = "prediction") -> str:
    job_id = uuid.uuid4().hex
    store.create(new_job_record(job_id, {"name": "akt1", "version": 1}, 2 * n_chunks, n_chunks, kind))
    store.keep_messages(job_id, [{"tasks": ["featurize.batch", "score.batch"],
                                  "message": {"job_id": job_id, "chunk": i}, "priority": 9} for i in range(n_chunks)])
    store.save_chunk(job_id, 1, [{"id": "a"}, {"id": "b"}])
    return job_id


NOW = Settings(chunk_deadline_seconds=0, chunk_max_requeues=2)  # every job is past its deadline
LATER = Settings(chunk_deadline_seconds=3600, chunk_max_requeues=2)


def test_a_job_within_its_deadline_is_left_alone():
    store = MemoryJobStore()
    job_id = stalled_job(store)
    assert watchdog.check_job(store, store.record(job_id), LATER) is None
    assert PUBLISHED == []


def test_only_the_missing_chunks_are_published_again_with_their_priority():
    store = MemoryJobStore()
    job_id = stalled_job(store)
    assert watchdog.check_job(store, store.record(job_id), NOW) == "requeued"
    assert [(tasks, message["chunk"], options["priority"]) for tasks, message, options in PUBLISHED] == [
        (("featurize.batch", "score.batch"), 0, 9),
        (("featurize.batch", "score.batch"), 2, 9),
    ]
    assert store.record(job_id)["requeues"] == 1


def test_after_the_last_requeue_the_job_fails_with_chunk_lost():
    store = MemoryJobStore()
    job_id = stalled_job(store)
    assert [watchdog.check_job(store, store.record(job_id), NOW) for _ in range(3)] == [
        "requeued", "requeued", "failed"]
    record = store.record(job_id)
    assert record["status"] == FAILED
    assert record["error"]["code"] == "chunk_lost"
    assert "2 of 3 chunks" in record["error"]["message"]
    assert watchdog.check_job(store, record, NOW) is None  # finished: nothing more to do


def test_a_stale_read_loses_the_race_to_requeue():
    store = MemoryJobStore()
    job_id = stalled_job(store)
    seen = store.record(job_id)
    assert watchdog.check_job(store, seen, NOW) == "requeued"
    assert watchdog.check_job(store, seen, NOW) is None  # the same deadline, seen by a second watchdog
    assert len(PUBLISHED) == 2


def test_other_kinds_and_jobs_without_messages_are_not_watched():
    store = MemoryJobStore()
    training = stalled_job(store, 1, kind="training")
    bare = uuid.uuid4().hex
    store.create(new_job_record(bare, None, 2, 2))
    assert watchdog.check_job(store, store.record(training), NOW) is None
    assert watchdog.check_job(store, store.record(bare), NOW) is None


def test_sweep_checks_active_jobs_and_forgets_finished_ones():
    store = MemoryJobStore()
    stalled, done = stalled_job(store), stalled_job(store, n_chunks=1)
    store.save_chunk(done, 0, [{"id": "x"}])
    store.save_chunk(done, 1, [{"id": "y"}])
    assert watchdog.sweep(store, NOW) == {"requeued": 1, "failed": 0}
    assert store.active_jobs() == [stalled]
