"""shared/webhooks.py and services/webhooks/logic.py: signatures, one notification per job, one delivery attempt
against a real local HTTP receiver, recorded on the job."""

from __future__ import annotations

import json
import time
import uuid

import pytest

import shared.publish
from services.webhooks.logic import DeliveryFailed, deliver
from shared.config import Settings
from shared.jobs import MemoryJobStore, new_job_record
from shared.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, notify_if_finished, signature, verify
from tests.webhook_receiver import webhook_receiver

SECRET = "s3cret"
SETTINGS = Settings(webhook_secret=SECRET, webhook_timeout_seconds=2)


def finished_job(store, url: str, status: str = "succeeded") -> str:
    job_id = uuid.uuid4().hex
    store.create(new_job_record(job_id, {"name": "akt1", "version": 1}, 1, 1,
                                extra={"callback_url": url, "client_reference": "eln-42"}))
    if status == "succeeded":
        store.save_chunk(job_id, 0, [{"id": "a"}])
    else:
        store.mark_failed(job_id, {"code": "task_failed", "message": "x"})
    return job_id


def test_a_signature_verifies_and_a_changed_body_or_old_timestamp_does_not():
    now = str(int(time.time()))
    signed = signature(SECRET, now, b'{"a":1}')
    assert signed.startswith("sha256=") and len(signed) == 7 + 64
    assert verify(SECRET, now, b'{"a":1}', signed)
    assert not verify(SECRET, now, b'{"a":2}', signed)
    assert not verify("other", now, b'{"a":1}', signed)
    old = str(int(time.time()) - 3600)
    assert not verify(SECRET, old, b'{"a":1}', signature(SECRET, old, b'{"a":1}'))
    assert not verify(SECRET, "not-a-number", b"", signed)


def test_a_delivery_is_signed_and_recorded_on_the_job():
    store = MemoryJobStore()
    with webhook_receiver() as receiver:
        job_id = finished_job(store, receiver.url)
        assert deliver(store, SETTINGS, job_id, "job.succeeded", 1) == 204
    (call,) = receiver.calls
    assert verify(SECRET, call.headers[TIMESTAMP_HEADER], call.body, call.headers[SIGNATURE_HEADER])
    body = json.loads(call.body)
    assert (body["event"], body["job_id"], body["status"], body["client_reference"]) == (
        "job.succeeded", job_id, "succeeded", "eln-42")
    assert body["results_path"] == f"/v1/jobs/{job_id}/results" and "results" not in body
    (attempt,) = store.callbacks(job_id)
    assert (attempt["event"], attempt["attempt"], attempt["status_code"]) == ("job.succeeded", 1, 204)


def test_a_refusing_or_unreachable_receiver_fails_the_attempt_and_is_recorded():
    store = MemoryJobStore()
    with webhook_receiver([503]) as receiver:
        job_id = finished_job(store, receiver.url, status="failed")
        with pytest.raises(DeliveryFailed):
            deliver(store, SETTINGS, job_id, "job.failed", 1)
    with pytest.raises(DeliveryFailed):  # the receiver is gone now
        deliver(store, SETTINGS, job_id, "job.failed", 2)
    attempts = store.callbacks(job_id)
    assert [(a["attempt"], a["status_code"]) for a in attempts] == [(1, 503), (2, None)]
    assert attempts[1]["error"] == "ConnectionError"


class RecordingChain:
    sent: list = []

    def __init__(self, *signatures):
        self.signatures = signatures

    def apply_async(self):
        RecordingChain.sent.append((self.signatures[0].task, self.signatures[0].args[0]))


def test_a_finished_job_is_notified_once_and_an_active_one_not_at_all(monkeypatch):
    monkeypatch.setattr(shared.publish, "chain", RecordingChain)
    RecordingChain.sent = []
    store = MemoryJobStore()
    job_id = finished_job(store, "http://127.0.0.1:9/hook", status="failed")
    assert notify_if_finished(store, job_id) is True
    assert notify_if_finished(store, job_id) is False
    assert RecordingChain.sent == [("webhook.deliver", {"job_id": job_id, "event": "job.failed"})]
    active = uuid.uuid4().hex
    store.create(new_job_record(active, None, 1, 1, extra={"callback_url": "http://127.0.0.1:9/hook"}))
    assert notify_if_finished(store, active) is False


def project_job(store, url: str, project: str) -> str:
    job_id = uuid.uuid4().hex
    store.create(new_job_record(job_id, None, 1, 1, extra={"callback_url": url, "project": project}))
    store.save_chunk(job_id, 0, [{"id": "a"}])
    return job_id


def test_a_project_with_its_own_secret_is_signed_with_it_and_not_the_global_one(tmp_path):
    from services.accounts.webhook_secrets import rotate_secret

    database = f"sqlite:///{tmp_path / 'causalmol.db'}"
    own, _ = rotate_secret("lab-a", database)
    settings = Settings(webhook_secret=SECRET, webhook_timeout_seconds=2, database_url=database)
    store = MemoryJobStore()
    with webhook_receiver() as receiver:
        assert deliver(store, settings, project_job(store, receiver.url, "lab-a"), "job.succeeded", 1) == 204
        assert deliver(store, settings, project_job(store, receiver.url, "lab-b"), "job.succeeded", 1) == 204
    own_call, other_call = receiver.calls
    assert verify(own, own_call.headers[TIMESTAMP_HEADER], own_call.body, own_call.headers[SIGNATURE_HEADER])
    assert not verify(SECRET, own_call.headers[TIMESTAMP_HEADER], own_call.body, own_call.headers[SIGNATURE_HEADER])
    assert verify(SECRET, other_call.headers[TIMESTAMP_HEADER], other_call.body, other_call.headers[SIGNATURE_HEADER])


def test_without_any_secret_nothing_is_sent_unsigned_and_the_attempt_says_why(tmp_path):
    settings = Settings(webhook_secret=None, database_url=f"sqlite:///{tmp_path / 'causalmol.db'}")
    store = MemoryJobStore()
    with webhook_receiver() as receiver:
        job_id = project_job(store, receiver.url, "lab-a")
        assert deliver(store, settings, job_id, "job.succeeded", 1) is None
    assert receiver.calls == []
    (attempt,) = store.callbacks(job_id)
    assert (attempt["status_code"], attempt["error"]) == (None, "no_webhook_secret")


def test_an_unreadable_project_secret_is_retried_never_replaced_by_the_global_one(free_tcp_port):
    settings = Settings(webhook_secret=SECRET, database_url=f"postgresql://nobody@127.0.0.1:{free_tcp_port}/none")
    store = MemoryJobStore()
    with webhook_receiver() as receiver:
        job_id = project_job(store, receiver.url, "lab-a")
        with pytest.raises(DeliveryFailed, match="could not be read"):
            deliver(store, settings, job_id, "job.succeeded", 1)
    assert receiver.calls == []
    (attempt,) = store.callbacks(job_id)
    assert attempt["error"] == "secret_unavailable"


@pytest.fixture
def free_tcp_port() -> int:
    from tests.conftest import free_port

    return free_port()  # nothing listens there: the database connection is refused
