"""The semantics every JobStore must keep, written once and run against each store.

Not collected by itself: ``test_jobs.py`` (memory store) and ``test_jobs_redis.py`` (memory and real Redis)
subclass ``JobStoreContract`` and provide a ``store`` fixture.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from shared.jobs import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, full_tally, new_job_record

MODEL = {"name": "akt1", "version": 1}


def results_for(chunk: int, n: int = 2) -> list[dict]:
    return [{"id": f"{chunk}-{i}", "chunk": chunk} for i in range(n)]


def new_job(store, total: int = 6, n_chunks: int = 3) -> str:
    job_id = uuid.uuid4().hex
    store.create(new_job_record(job_id, MODEL, total, n_chunks))
    return job_id


class JobStoreContract:
    def test_create_then_record(self, store):
        job_id = new_job(store)
        record = store.record(job_id)
        assert record["job_id"] == job_id
        assert record["status"] == QUEUED
        assert record["model"] == MODEL
        assert (record["total"], record["done"], record["n_chunks"], record["chunks_done"]) == (6, 0, 3, 0)
        assert record["finished_at"] is None and record["error"] is None
        assert "results" not in record

    def test_unknown_job(self, store):
        assert store.record("nope") is None
        assert store.get("nope") is None

    def test_get_has_no_results_before_success(self, store):
        job_id = new_job(store)
        store.save_chunk(job_id, 0, results_for(0))
        job = store.get(job_id)
        assert job["status"] != SUCCEEDED
        assert job["results"] == []
        assert job["done"] == 2

    def test_mark_running_from_queued(self, store):
        job_id = new_job(store)
        assert store.mark_running(job_id) == RUNNING
        assert store.record(job_id)["status"] == RUNNING
        assert store.mark_running(job_id) == RUNNING  # a second chunk starting changes nothing
        assert store.record(job_id)["status"] == RUNNING

    def test_mark_running_says_the_status_it_leaves(self, store):
        cancelled = new_job(store)
        store.cancel(cancelled)
        assert store.mark_running(cancelled) == CANCELLED
        assert store.record(cancelled)["status"] == CANCELLED
        assert store.mark_running("ghost") is None

    def test_mark_running_never_reopens_a_finished_job(self, store):
        done, failed = new_job(store, total=2, n_chunks=1), new_job(store)
        store.save_chunk(done, 0, results_for(0))
        store.mark_failed(failed, {"code": "task_failed", "message": "x"})
        assert (store.mark_running(done), store.mark_running(failed)) == (SUCCEEDED, FAILED)
        assert store.record(done)["status"] == SUCCEEDED
        assert store.record(failed)["status"] == FAILED

    def test_mark_running_unknown_job_creates_nothing(self, store):
        store.mark_running("ghost")
        assert store.record("ghost") is None

    def test_save_chunk_is_idempotent(self, store):
        job_id = new_job(store)
        assert store.save_chunk(job_id, 0, results_for(0)) is True
        assert store.save_chunk(job_id, 0, results_for(0)) is False  # a redelivered task
        record = store.record(job_id)
        assert record["done"] == 2
        assert record["chunks_done"] == 1

    def test_chunk_tallies_are_summed_once_each_and_whole_only_when_every_chunk_has_one(self, store):
        job_id = new_job(store)
        assert full_tally(store.record(job_id)) is None  # nothing stored yet: no whole tally
        store.save_chunk(job_id, 0, results_for(0), tally={"supported": 1, "caution": 1})
        store.save_chunk(job_id, 0, results_for(0), tally={"supported": 1, "caution": 1})  # a redelivery
        store.save_chunk(job_id, 1, results_for(1), tally={"caution": 2})
        assert full_tally(store.record(job_id)) is None  # chunk 2 not stored yet
        store.save_chunk(job_id, 2, results_for(2), tally={"error": 1, "unsupported": 1})
        record = store.record(job_id)
        assert full_tally(record) == {"supported": 1, "caution": 3, "error": 1, "unsupported": 1}
        assert record["tallied_chunks"] == 3 and record["status"] == SUCCEEDED

    def test_a_chunk_stored_without_a_tally_leaves_the_job_without_a_whole_one(self, store):
        job_id = new_job(store, total=4, n_chunks=2)
        store.save_chunk(job_id, 0, results_for(0), tally={"supported": 2})
        store.save_chunk(job_id, 1, results_for(1))  # an older worker's chunk: no counts
        record = store.record(job_id)
        assert record["status"] == SUCCEEDED and full_tally(record) is None
        assert record["tally"] == {"supported": 2}

    def test_a_record_is_a_copy_its_tally_too(self, store):
        job_id = new_job(store, total=2, n_chunks=1)
        store.save_chunk(job_id, 0, results_for(0), tally={"supported": 2})
        store.record(job_id)["tally"]["supported"] = 99
        assert store.record(job_id)["tally"] == {"supported": 2}

    def test_redelivery_does_not_replace_the_stored_chunk(self, store):
        job_id = new_job(store, total=2, n_chunks=1)
        store.save_chunk(job_id, 0, [{"id": "first"}, {"id": "first"}])
        store.save_chunk(job_id, 0, [{"id": "second"}, {"id": "second"}])
        assert [r["id"] for r in store.get(job_id)["results"]] == ["first", "first"]

    def test_save_chunk_for_unknown_job_is_dropped(self, store):
        assert store.save_chunk("ghost", 0, results_for(0)) is False
        assert store.record("ghost") is None

    def test_job_succeeds_when_the_last_chunk_lands_with_results_in_chunk_order(self, store):
        job_id = new_job(store)
        for index in (2, 0):
            store.save_chunk(job_id, index, results_for(index))
            assert store.record(job_id)["status"] != SUCCEEDED
        store.save_chunk(job_id, 1, results_for(1))
        job = store.get(job_id)
        assert job["status"] == SUCCEEDED
        assert isinstance(job["finished_at"], str) and job["finished_at"].endswith("Z")
        assert (job["done"], job["chunks_done"]) == (6, 3)
        assert [r["id"] for r in job["results"]] == ["0-0", "0-1", "1-0", "1-1", "2-0", "2-1"]

    def test_mark_failed(self, store):
        job_id = new_job(store)
        store.mark_running(job_id)
        store.mark_failed(job_id, {"code": "task_failed", "message": "predict.batch: boom"})
        job = store.get(job_id)
        assert job["status"] == FAILED
        assert job["error"] == {"code": "task_failed", "message": "predict.batch: boom"}
        assert job["finished_at"] is not None
        assert job["results"] == []

    def test_mark_failed_does_not_override_succeeded(self, store):
        job_id = new_job(store, total=2, n_chunks=1)
        store.save_chunk(job_id, 0, results_for(0))
        store.mark_failed(job_id, {"code": "task_failed", "message": "late"})
        job = store.get(job_id)
        assert job["status"] == SUCCEEDED
        assert job["error"] is None
        assert len(job["results"]) == 2

    def test_first_failure_wins(self, store):
        job_id = new_job(store)
        store.mark_failed(job_id, {"code": "first", "message": "a"})
        store.mark_failed(job_id, {"code": "second", "message": "b"})
        assert store.record(job_id)["error"]["code"] == "first"

    def test_chunks_after_failure_do_not_make_the_job_succeed(self, store):
        job_id = new_job(store, total=4, n_chunks=2)
        store.save_chunk(job_id, 0, results_for(0))
        store.mark_failed(job_id, {"code": "task_failed", "message": "chunk 1 died"})
        store.save_chunk(job_id, 1, results_for(1))
        job = store.get(job_id)
        assert job["status"] == FAILED
        assert job["results"] == []

    def test_delete(self, store):
        job_id = new_job(store)
        store.delete(job_id)
        assert store.record(job_id) is None

    def test_delete_drops_saved_chunks_and_attachments(self, store):
        """A job deleted part-way (the broker failed mid-publish) leaves nothing a later job could inherit."""
        job_id = new_job(store, total=4, n_chunks=2)
        store.save_chunk(job_id, 0, results_for(0))
        store.put_attachment(job_id, "sdf", "$$$$")
        store.delete(job_id)
        store.create(new_job_record(job_id, MODEL, 4, 2))
        store.save_chunk(job_id, 1, results_for(1))
        assert store.results(job_id, 2) == results_for(1)
        assert store.attachment(job_id, "sdf") is None

    def test_ping(self, store):
        assert store.ping() is True

    def test_kind_survives_the_round_trip(self, store):
        job_id = uuid.uuid4().hex
        store.create(new_job_record(job_id, None, 1, 1, kind="training"))
        record = store.record(job_id)
        assert (record["kind"], record["model"]) == ("training", None)

    def test_complete_finishes_a_single_result_job(self, store):
        job_id = uuid.uuid4().hex
        store.create(new_job_record(job_id, None, 1, 1, kind="training"))
        assert store.complete(job_id, {"model": "akt1@3"}) is True
        assert store.complete(job_id, {"model": "other"}) is False  # redelivery: the first result stays
        job = store.get(job_id)
        assert job["status"] == SUCCEEDED
        assert job["results"] == [{"model": "akt1@3"}]

    def test_attachments(self, store):
        job_id = new_job(store)
        assert store.attachment(job_id, "export.sdf") is None
        store.put_attachment(job_id, "export.sdf", "CCO\n$$$$\n")
        assert store.attachment(job_id, "export.sdf") == "CCO\n$$$$\n"
        assert store.attachment(job_id, "other.sdf") is None
        assert store.attachment("ghost", "export.sdf") is None

    def test_an_attachment_put_if_absent_is_put_once(self, store):
        job_id = new_job(store)
        assert store.put_attachment_if_absent(job_id, "metrics-counted", "1") is True
        assert store.put_attachment_if_absent(job_id, "metrics-counted", "1") is False  # a second reader
        assert store.put_attachment_if_absent(job_id, "metrics-counted", "2") is False
        assert store.attachment(job_id, "metrics-counted") == "1"

    def test_status_alone(self, store):
        job_id = new_job(store, total=2, n_chunks=1)
        assert store.status(job_id) == QUEUED
        store.mark_running(job_id)
        assert store.status(job_id) == RUNNING
        store.save_chunk(job_id, 0, results_for(0))
        assert store.status(job_id) == SUCCEEDED
        assert store.status("ghost") is None

    def test_open_job_keeps_its_messages_and_indexes_it(self, store):
        record = new_job_record(uuid.uuid4().hex, MODEL, 4, 2, extra={"project": "lab-a"})
        messages = [{"tasks": ["featurize.batch", "score.batch"], "message": {"chunk": i}} for i in range(2)]
        store.open_job(record, messages)
        assert store.record(record["job_id"])["status"] == QUEUED
        assert store.chunk_messages(record["job_id"]) == dict(enumerate(messages))
        assert record["job_id"] in store.active_jobs()
        assert any(record["job_id"] in member for member in store.index_page("lab-a", None, 10))
        single = new_job_record(uuid.uuid4().hex, None, 1, 1, "training", extra={"project": "lab-a"})
        store.open_job(single, None)  # a job of one result keeps no chunk messages
        assert store.chunk_messages(single["job_id"]) == {}
        assert any(single["job_id"] in member for member in store.index_page("lab-a", None, 10))

    @pytest.mark.parametrize("just_created", [False, True])
    def test_wait_returns_when_the_job_finishes(self, store, just_created):
        job_id = new_job(store, total=2, n_chunks=1)
        timer = threading.Timer(0.1, store.save_chunk, args=(job_id, 0, results_for(0)))
        timer.start()
        started = time.monotonic()
        try:
            record = store.wait(job_id, 5.0, just_created=just_created)
        finally:
            timer.join()
        assert record["status"] == SUCCEEDED
        assert time.monotonic() - started < 2.0  # returned at finish, long before the timeout

    def test_a_wait_on_a_job_just_created_sees_an_end_that_came_already_and_times_out_on_none(self, store):
        already = new_job(store, total=2, n_chunks=1)
        store.save_chunk(already, 0, results_for(0))
        started = time.monotonic()
        assert store.wait(already, 5.0, just_created=True)["status"] == SUCCEEDED
        assert time.monotonic() - started < 2.0  # not the timeout
        running = new_job(store)
        assert store.wait(running, 0.2, just_created=True)["status"] == QUEUED  # the timeout, then its record

    def test_wait_returns_a_failed_job_too(self, store):
        job_id = new_job(store)
        store.mark_failed(job_id, {"code": "x", "message": "y"})
        assert store.wait(job_id, 5.0)["status"] == FAILED

    def test_wait_times_out_on_an_unfinished_job(self, store):
        job_id = new_job(store)
        started = time.monotonic()
        record = store.wait(job_id, 0.2)
        elapsed = time.monotonic() - started
        assert record["status"] == QUEUED
        assert 0.2 <= elapsed < 1.5

    def test_wait_on_unknown_job_returns_none_at_once(self, store):
        started = time.monotonic()
        assert store.wait("ghost", 5.0) is None
        assert time.monotonic() - started < 1.0

    def test_every_waiter_of_a_job_wakes_when_it_finishes(self, store):
        job_id = new_job(store, total=2, n_chunks=1)
        records: list[dict] = []
        waiters = [threading.Thread(target=lambda: records.append(store.wait(job_id, 10.0))) for _ in range(5)]
        for waiter in waiters:
            waiter.start()
        time.sleep(0.2)  # all five are blocked by now
        store.save_chunk(job_id, 0, results_for(0))
        for waiter in waiters:
            waiter.join(5.0)
        assert [r["status"] for r in records] == [SUCCEEDED] * 5  # none left waiting for its timeout

    def test_a_failure_wakes_a_waiter(self, store):
        job_id = new_job(store)
        timer = threading.Timer(0.1, store.mark_failed, args=(job_id, {"code": "x", "message": "y"}))
        timer.start()
        try:
            record = store.wait(job_id, 10.0)
        finally:
            timer.join()
        assert record["status"] == FAILED
