"""shared/job_control.py: cancel, idempotency keys, callbacks, chunk messages, requeue claims and the job index,
run against the memory store and a real redis-server side by side."""

from __future__ import annotations

import time
import uuid

import pytest

from shared.job_control import NOTIFIED, InvalidCursor, decode_cursor, encode_cursor
from shared.jobs import CANCELLED, QUEUED, SUCCEEDED, new_job_record
from tests.unit.test_jobs_redis import each_store, redis_client, redis_server_url  # noqa: F401  (shared fixtures)

MODEL = {"name": "akt1", "version": 1}


def new_job(store, n_chunks: int = 2, **extra) -> dict:
    record = new_job_record(uuid.uuid4().hex, MODEL, 2 * n_chunks, n_chunks, extra=extra)
    store.create(record)
    store.index_job(record)
    return record


def test_cancel_a_queued_job_once(store):
    job = new_job(store)
    assert store.cancel(job["job_id"]) is True
    record = store.record(job["job_id"])
    assert record["status"] == CANCELLED and record["finished_at"]
    assert store.cancel(job["job_id"]) is False
    assert store.cancel("unknown") is False


def test_a_cancelled_job_never_turns_succeeded(store):
    job = new_job(store, n_chunks=1)
    store.cancel(job["job_id"])
    store.save_chunk(job["job_id"], 0, [{"id": "a"}, {"id": "b"}])
    assert store.record(job["job_id"])["status"] == CANCELLED


def test_a_finished_job_is_not_cancelled(store):
    job = new_job(store, n_chunks=1)
    store.save_chunk(job["job_id"], 0, [{"id": "a"}])
    assert store.cancel(job["job_id"]) is False
    assert store.record(job["job_id"])["status"] == SUCCEEDED


def test_an_idempotency_key_is_taken_once_per_scope(store):
    assert store.claim_key("p1", "k", "fp1", "job-1", 60) is None
    assert store.claim_key("p1", "k", "fp2", "job-2", 60) == {"fingerprint": "fp1", "job_id": "job-1"}
    assert store.claim_key("p2", "k", "fp2", "job-3", 60) is None  # another project's key space
    store.release_key("p1", "k")
    assert store.claim_key("p1", "k", "fp2", "job-4", 60) is None


def test_an_idempotency_key_expires(store):
    assert store.claim_key("p", "k", "fp", "job-1", 1) is None
    time.sleep(1.1)
    assert store.claim_key("p", "k", "fp", "job-2", 60) is None


def test_callback_attempts_in_order_and_one_notification(store):
    job = new_job(store)
    store.add_callback(job["job_id"], {"event": "job.succeeded", "attempt": 1, "status_code": 500, "at": "t1"})
    store.add_callback(job["job_id"], {"event": "job.succeeded", "attempt": 2, "status_code": 204, "at": "t2"})
    assert [a["status_code"] for a in store.callbacks(job["job_id"])] == [500, 204]
    assert store.claim_notification(job["job_id"], 60) is True
    assert store.claim_notification(job["job_id"], 60) is False
    assert store.claim_notification("unknown", 60) is False


def test_a_released_or_lapsed_claim_is_claimed_again_and_a_queued_callback_never(store):
    job_id = new_job(store)["job_id"]
    assert store.claim_notification(job_id, 60) is True
    assert job_id in store.active_jobs()  # a claimed callback is watched until it is queued
    store.release_notification(job_id)  # its publish failed
    assert store.claim_notification(job_id, 60) is True
    assert store.claim_notification(job_id, 60) is False  # held, within its lease
    time.sleep(0.05)
    assert store.claim_notification(job_id, 0.01) is True  # its claimant died: the lease lapsed
    store.mark_notified(job_id)
    assert store.record(job_id)["notified"] == NOTIFIED
    store.release_notification(job_id)  # too late: it is queued
    assert store.claim_notification(job_id, 0) is False
    store.mark_notified("unknown")
    store.release_notification("unknown")
    assert store.record("unknown") is None  # neither makes a record


def test_chunk_messages_missing_chunks_and_one_requeue_per_deadline(store):
    job = new_job(store, n_chunks=3)
    messages = [{"tasks": ["featurize.batch", "score.batch"], "message": {"chunk": i}, "priority": 9}
                for i in range(3)]
    store.keep_messages(job["job_id"], messages)
    assert store.chunk_messages(job["job_id"]) == dict(enumerate(messages))
    assert job["job_id"] in store.active_jobs()
    store.save_chunk(job["job_id"], 1, [{"id": "x"}, {"id": "y"}])
    assert store.missing_chunks(job["job_id"], 3) == [0, 2]
    assert store.chunk_results(job["job_id"], 1) == [{"id": "x"}, {"id": "y"}]
    assert store.chunk_results(job["job_id"], 0) is None

    seen = store.record(job["job_id"])["progress_at"]
    assert store.claim_requeue(job["job_id"], seen, 0) is True
    assert store.claim_requeue(job["job_id"], seen, 0) is False  # the second watchdog of the same deadline
    record = store.record(job["job_id"])
    assert record["requeues"] == 1 and float(record["progress_at"]) >= float(seen)
    store.forget_active(job["job_id"])
    assert job["job_id"] not in store.active_jobs()


def test_list_jobs_newest_first_in_pages_with_a_filter(store):
    jobs = []
    for i in range(5):
        jobs.append(new_job(store, client_reference=f"ref-{i % 2}"))
        time.sleep(0.002)  # distinct created_at
    ids = [j["job_id"] for j in reversed(jobs)]
    page, cursor = store.list_jobs(None, lambda r: True, None, 2)
    assert [r["job_id"] for r in page] == ids[:2] and cursor
    page2, cursor2 = store.list_jobs(None, lambda r: True, cursor, 2)
    page3, cursor3 = store.list_jobs(None, lambda r: True, cursor2, 2)
    assert [r["job_id"] for r in page2 + page3] == ids[2:]
    assert cursor3 is None
    refs, _ = store.list_jobs(None, lambda r: r.get("client_reference") == "ref-0", None, 10)
    assert [r["job_id"] for r in refs] == [ids[0], ids[2], ids[4]]
    assert store.list_jobs("another-project", lambda r: True, None, 10) == ([], None)


def test_an_expired_job_leaves_the_listing(store):
    kept, gone = new_job(store), new_job(store)
    store.delete(gone["job_id"])
    page, _ = store.list_jobs(None, lambda r: True, None, 10)
    assert [r["job_id"] for r in page] == [kept["job_id"]]


def test_jobs_are_listed_per_project(store):
    mine = new_job(store, project="p1")
    new_job(store, project="p2")
    page, _ = store.list_jobs("p1", lambda r: True, None, 10)
    assert [r["job_id"] for r in page] == [mine["job_id"]]


def test_cursors_round_trip_and_foreign_ones_are_refused():
    assert decode_cursor(encode_cursor("01796197201555000000|abc")) == "01796197201555000000|abc"
    for bad in ("!!!", encode_cursor("no separator")):
        with pytest.raises(InvalidCursor):
            decode_cursor(bad)


def test_new_records_start_queued_with_a_progress_stamp(store):
    record = store.record(new_job(store)["job_id"])
    assert record["status"] == QUEUED
    assert abs(float(record["progress_at"]) - time.time()) < 5
